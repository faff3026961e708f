"""HTTP/1.1 connections for the registry client (the wire format is :mod:`.http11`).

A registry is an HTTP server, and a pull is a handful of requests to it: a few small JSON
documents, then the layers, which may be large. What the client needs from HTTP/1.1:

* **persistent connections**: after an answer whose body has been read to its end, the
  TCP (and TLS) connection carries the next request (*keep-alive*), so a pull pays for one
  connection set-up, not one per request. A body has an end the client can find by itself
  when it has a ``Content-Length`` or comes in ``Transfer-Encoding: chunked`` pieces (each
  chunk prefixed by its size, a zero-size chunk last); :mod:`.http11` reads both. A
  connection whose answer was abandoned half way, or that says ``Connection: close``, is
  closed instead; one the server closed while it sat idle is noticed before it is used;
* **TLS** with the certificates of the system's CAs plus those the registry's ``certs.d``
  directory adds (and a client key pair when it has one), or no verification at all for
  an insecure registry; an SSL context is made only when a URL is ``https``;
* **timeouts**: 10 s to connect, 60 s of silence while waiting for bytes;
* bodies read and sent **in chunks**, so a layer never sits in memory whole.

Redirects, retries, ``Range`` and authentication are the registry client's business
(:mod:`.client`); this module sends one request and hands back a :class:`Reply`. The
interface is small (``send`` and ``close``) so tests plug in a fake
(:class:`boxen.image.testing.registry.FakeRegistry`).

Why neither httpx nor ``http.client``: on the 2-core test VM, loading the httpx-based client
took about 175 ms (hyperfine, over a bare interpreter; httpx's ``_auth`` module alone pulls
``urllib.request``, ``http.cookiejar``, ``email``, ``logging``, ``inspect``...), and
``http.client``, which brings ``ssl`` and ``email.parser`` with it, still 36 ms more than
everything else a pull loads, when a whole pull and unpack of the busybox image takes under
200 ms. :mod:`.http11` frames requests and answers itself and loads ``ssl`` only for https.
"""

from __future__ import annotations

import select
import sys
import threading
from collections.abc import Callable, Iterable, Iterator

from boxen.common.errors import InvalidArgument
from boxen.image.registry import http11
from boxen.image.registry.config import TLSFiles
from boxen.image.registry.urls import split

#: Bytes read from the socket at a time while streaming a body.
CHUNK = 1 << 18
#: Unread bodies up to this size are read to the end, so their connection can be reused.
DRAIN = 1 << 16
#: Idle connections kept per origin (pulls download a few layers at once).
KEEP_IDLE = 8

Body = bytes | Iterable[bytes] | None
NO_TLS_FILES = TLSFiles()


class TransportError(Exception):
    """No answer, or only part of one: the connection failed, timed out or was cut.

    ``transient`` is false when trying again cannot help (a TLS certificate that does not
    verify, a URL that is not HTTP).
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class Reply:
    """An answer whose body is still to be read: :meth:`chunks` or :meth:`read`, then :meth:`close`.

    ``headers`` has lowercase names; a header sent several times has its values joined by
    ``", "``. ``finish(complete)`` is called once, on close, with whether the body was read
    to its end (the transport then keeps the connection for the next request).
    """

    def __init__(self, status: int, headers: dict[str, str], chunks: Iterable[bytes] = (),
                 finish: Callable[[bool], None] | None = None) -> None:
        self.status = status
        self.headers = headers
        self._chunks = iter(chunks)
        self._finish = finish
        self._complete = False

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece; raises :class:`TransportError` if the connection breaks."""
        yield from self._chunks
        self._complete = True

    def read(self) -> bytes:
        """The whole body; the reply is closed afterwards."""
        try:
            return b"".join(self.chunks())
        finally:
            self.close()

    def close(self) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(self._complete)


class Transport:
    """What the registry client needs of HTTP: send one request, get a :class:`Reply`."""

    def send(self, method: str, url: str, headers: dict[str, str], body: Body = None) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        """Close idle connections (replies still open close theirs when they are closed)."""


Origin = tuple[str, str, int]


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _is_tls_error(exc: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # loaded only if an https connection was made
    return ssl is not None and isinstance(exc, ssl.SSLError)


def _dropped(conn: http11.Connection) -> bool:
    """Whether an idle connection was closed by the server (it would read EOF, or junk)."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class HTTPTransport(Transport):
    """Keep-alive connections by origin (scheme, host, port), all with one TLS policy.

    ``verify`` false skips certificate checks (insecure registries); ``tls`` names the CA
    files and client key pair of the registry's ``certs.d`` directory. The same policy
    serves every origin the registry sends the client to (its token server, the storage a
    blob download is redirected to), as docker's transport does.
    """

    def __init__(self, tls: TLSFiles = NO_TLS_FILES, *, verify: bool = True, timeout: float = 60.0,
                 connect_timeout: float = 10.0) -> None:
        self.tls = tls
        self.verify = verify
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._idle: dict[Origin, list[http11.Connection]] = {}
        self._lock = threading.Lock()
        self._ssl = None  # an ssl.SSLContext, made for the first https URL
        self._closed = False

    # --- connections -------------------------------------------------------------------

    def _context(self):
        with self._lock:
            if self._ssl is None:
                self._ssl = self._make_context()
            return self._ssl

    def _make_context(self):
        import ssl

        if self.verify:
            context = ssl.create_default_context()  # the system's CAs
            for ca in self.tls.ca_files:
                try:
                    context.load_verify_locations(cafile=ca)
                except (OSError, ssl.SSLError) as exc:
                    raise InvalidArgument(f"not a usable CA certificate: {exc}", field=ca) from None
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls.client_cert:
            try:
                context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise InvalidArgument(f"not a usable client key pair: {exc}", field=self.tls.client_cert) from None
        return context

    def _connect(self, origin: Origin) -> http11.Connection:
        scheme, host, port = origin
        context = self._context() if scheme == "https" else None
        return http11.Connection(host, port, timeout=self.timeout, connect_timeout=self.connect_timeout,
                                 context=context)

    def _idle_connection(self, origin: Origin) -> http11.Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None or not _dropped(conn):
                return conn
            conn.close()

    def _release(self, origin: Origin, conn: http11.Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < KEEP_IDLE:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    # --- requests ------------------------------------------------------------------------

    def send(self, method: str, url: str, headers: dict[str, str], body: Body = None) -> Reply:
        parts = split(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"cannot send to {url!r}: not an http(s) URL", transient=False)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise TransportError(f"cannot send to {url!r}: bad port", transient=False) from None
        origin = (parts.scheme, parts.hostname, port)
        target = parts.target
        resendable = body is None or isinstance(body, bytes)
        conn = self._idle_connection(origin)
        while True:
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._connect(origin)
                conn.request(method, target, headers, body)
                response = conn.response(method)
            except (OSError, ValueError) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                if reused and resendable and isinstance(exc, (ConnectionError, http11.ProtocolError)):
                    continue  # the server closed the idle connection as we sent: once more on a new one
                raise TransportError(_message(exc), transient=not _is_tls_error(exc)) from exc
            return self._reply(origin, conn, response)

    def _reply(self, origin: Origin, conn: http11.Connection, response: http11.Response) -> Reply:
        headers: dict[str, str] = {}
        for name, value in response.headers:
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

        def body() -> Iterator[bytes]:
            try:
                while chunk := response.read(CHUNK):
                    yield chunk
            except OSError as exc:  # an early close is an http11.ProtocolError
                raise TransportError(_message(exc)) from exc

        def finish(complete: bool) -> None:
            if not complete and not response.chunked and response.length is not None and response.length <= DRAIN:
                try:
                    while response.read(CHUNK):
                        pass
                    complete = response.complete
                except OSError:
                    pass
            if complete and not response.will_close:
                self._release(origin, conn)
            else:
                conn.close()

        return Reply(response.status, headers, body(), finish)
