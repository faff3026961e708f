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
* **proxies** (:mod:`.proxy`): ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY``, as
  docker reads them; a request to a proxied ``http://`` URL goes to the proxy in absolute
  form, one to an ``https://`` URL through a ``CONNECT`` tunnel;
* **timeouts**: 10 s to connect, 60 s of silence while waiting for bytes; a body read whole
  must come within that timeout; a **streamed body** (a layer, an ``ADD <url>`` file) must
  keep a minimum pace, curl's *low-speed* rule (:class:`LowSpeed`): fewer than ``limit``
  bytes a second on average over ``time`` seconds ends the download (by default 1 KiB/s
  over 60 s), so a server that sends a trickle, each piece well within the timeout, cannot
  hold a pull for hours. ``BOXEN_HTTP_SPEED_LIMIT`` (bytes a second, 0 for no rule) and
  ``BOXEN_HTTP_SPEED_TIME`` (seconds) change it, as curl's ``--speed-limit`` and
  ``--speed-time`` do (docker and containerd rely on per-read timeouts alone; skopeo has
  none);
* **limits**: bodies read and sent **in chunks**, so a layer never sits in memory whole;
  a body read whole (a manifest, a token, an error) is read only up to a limit, and one
  whose ``Content-Length`` is over it is refused before a byte of it is read;
* **one value per header** where only one makes sense (``Location``, ``Content-Type``,
  ``Docker-Content-Digest``...): an answer that sends two different ones is refused, as
  the framing tricks :mod:`.http11` refuses are: the connection is dropped, and trying
  again does not help.

Redirects, retries, ``Range`` and authentication are the registry client's business
(:mod:`.client`); this module sends one request and hands back a :class:`Reply`. The
interface is small (``send`` and ``close``) so tests plug in a fake
(:class:`boxen.image.testing.registry.FakeRegistry`).

Why neither httpx nor ``http.client``: loading the httpx-based client took longer than a whole
pull and unpack of the busybox image (httpx's ``_auth`` module alone pulls ``urllib.request``,
``http.cookiejar``, ``email``, ``logging``, ``inspect``...), and ``http.client`` brings ``ssl``
and ``email.parser`` with it even for plain HTTP (bench/RESULTS.md, "Import costs"). :mod:`.http11` frames requests and answers itself and loads ``ssl`` only for https.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.registry import http11
from boxen.image.registry.config import TLSFiles
from boxen.image.registry.proxy import Proxies
from boxen.image.registry.urls import split

#: Bytes read from the socket at a time while streaming a body.
CHUNK = 1 << 18
#: Unread bodies up to this size are read to the end, so their connection can be reused.
DRAIN = 1 << 16
#: Most bytes of a body read whole, unless the caller says otherwise.
MAX_BODY = 4 << 20
#: Idle connections kept per origin (pulls download a few layers at once).
KEEP_IDLE = 8

Body = bytes | Iterable[bytes] | None
NO_TLS_FILES = TLSFiles()
#: Headers that carry one value: two different ones in an answer are refused.
SINGLE = frozenset({"location", "content-type", "content-range", "content-encoding", "docker-content-digest",
                    "retry-after", "last-modified"})


class TransportError(Exception):
    """No answer, or only part of one: the connection failed, timed out or was cut.

    ``transient`` is false when trying again cannot help (a TLS certificate that does not
    verify, a URL that is not HTTP).
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class BodyTooLarge(TransportError):
    """A body read whole is larger than the limit set for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class TooSlow(TransportError):
    """A streamed body came slower than the :class:`LowSpeed` rule allows."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class LowSpeed(Record):
    """curl's low-speed rule: a streamed body that brings fewer than ``limit`` bytes a second on
    average over any ``time`` seconds is abandoned (``limit`` 0: no rule)."""

    limit: int = 1024
    time: float = 60.0

    @classmethod
    def from_environ(cls, environ=None) -> LowSpeed:
        """The rule ``BOXEN_HTTP_SPEED_LIMIT`` and ``BOXEN_HTTP_SPEED_TIME`` set (see the module docstring)."""
        environ = os.environ if environ is None else environ
        rule = cls()
        text = environ.get("BOXEN_HTTP_SPEED_LIMIT", "")
        if text:
            if not text.isdigit():
                raise InvalidArgument(f"expected a number of bytes a second (0 for no rule), got {text!r}",
                                      field="BOXEN_HTTP_SPEED_LIMIT")
            rule = rule.replace(limit=int(text))
        text = environ.get("BOXEN_HTTP_SPEED_TIME", "")
        if text:
            try:
                seconds = float(text)
            except ValueError:
                seconds = 0.0
            if not 0 < seconds < 1e6:  # nan and inf fail this too
                raise InvalidArgument(f"expected a number of seconds above 0, got {text!r}",
                                      field="BOXEN_HTTP_SPEED_TIME")
            rule = rule.replace(time=seconds)
        return rule


class Pace:
    """Watches one streamed body for the :class:`LowSpeed` rule, window after window of ``time``
    seconds: each window must bring ``limit * time`` bytes. :meth:`timeout` shortens a read
    that would wait past the end of a window still short of them, so the rule is enforced
    even while the server sends nothing."""

    def __init__(self, rule: LowSpeed, read_timeout: float) -> None:
        self.rule = rule
        self.read_timeout = read_timeout
        self.need = rule.limit * rule.time
        self.start = time.monotonic()
        self.got = 0

    def timeout(self) -> float:
        """How long the next read may wait."""
        if self.got >= self.need:
            return self.read_timeout
        return max(0.001, min(self.read_timeout, self.start + self.rule.time - time.monotonic()))

    def check(self, size: int) -> None:
        """Count ``size`` bytes received; raises :class:`TooSlow` when a window ended with too few."""
        self.got += size
        now = time.monotonic()
        if now < self.start + self.rule.time:
            return
        if self.got < self.need:
            raise self.too_slow()
        self.start, self.got = now, 0

    def too_slow(self) -> TooSlow:
        return TooSlow(f"the server sent {self.got} bytes in {time.monotonic() - self.start:.1f} s, fewer than "
                       f"the {self.need:.0f} required (at least {self.rule.limit} bytes a second over "
                       f"{self.rule.time:g} s; see BOXEN_HTTP_SPEED_LIMIT and BOXEN_HTTP_SPEED_TIME)")


class Reply:
    """An answer whose body is still to be read: :meth:`chunks` or :meth:`read`, then :meth:`close`.

    ``headers`` has lowercase names; a header sent several times has its values joined by
    ``", "``. ``finish(complete)`` is called once, on close, with whether the body was read
    to its end (the transport then keeps the connection for the next request).
    """

    def __init__(self, status: int, headers: dict[str, str], chunks: Iterable[bytes] = (),
                 finish: Callable[[bool], None] | None = None, timeout: float | None = None) -> None:
        self.status = status
        self.timeout = timeout
        self.headers = headers
        self._chunks = iter(chunks)
        self._finish = finish
        self._complete = False

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece; raises :class:`TransportError` if the connection breaks."""
        yield from self._chunks
        self._complete = True

    def read(self, limit: int = MAX_BODY, *, truncate: bool = False) -> bytes:
        """The whole body, at most ``limit`` bytes; the reply is closed afterwards.

        A longer body raises :class:`BodyTooLarge` (refused at once if its
        ``Content-Length`` says so), or with ``truncate`` is cut at ``limit`` (for error
        messages, only read to be shown). The whole body must come within the reply's
        ``timeout``, so a server that sends a byte now and then cannot hold the client.
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            length = self.headers.get("content-length", "")
            if not truncate and length.isdigit() and int(length) > limit:
                raise BodyTooLarge(f"the answer's body is {int(length)} bytes, more than the {limit} allowed")
            data = bytearray()
            for chunk in self.chunks():
                data += chunk
                if deadline is not None and time.monotonic() > deadline:
                    raise TransportError(f"the answer's body did not come within {self.timeout:g} s (timed out)")
                if len(data) > limit:
                    if truncate:
                        return bytes(data[:limit])
                    raise BodyTooLarge(f"the answer's body is more than the {limit} bytes allowed")
            return bytes(data)
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


def _transient(exc: BaseException) -> bool:
    """Whether trying again may help: not after a TLS failure or an answer that breaks the rules."""
    if isinstance(exc, http11.ProtocolError):
        return isinstance(exc, http11.Cut)
    return not _is_tls_error(exc)


def _authority(host: str, port: int, default: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port == default else f"{host}:{port}"


def _merge(fields: list[tuple[str, str]]) -> dict[str, str]:
    """Headers by lowercase name, repeated ones joined by ``", "``; see :data:`SINGLE`."""
    headers: dict[str, str] = {}
    for name, value in fields:
        name = name.lower()
        if name not in headers:
            headers[name] = value
        elif name in SINGLE:
            if headers[name] != value:
                raise http11.ProtocolError(f"the answer has two different {name} headers: "
                                           f"{headers[name][:80]!r} and {value[:80]!r}")
        else:
            headers[name] = f"{headers[name]}, {value}"
    return headers


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
    blob download is redirected to), as docker's transport does. ``proxies`` and
    ``low_speed`` (the pace streamed bodies must keep) default to the environment's.
    """

    def __init__(self, tls: TLSFiles = NO_TLS_FILES, *, verify: bool = True, timeout: float = 60.0,
                 connect_timeout: float = 10.0, proxies: Proxies | None = None,
                 low_speed: LowSpeed | None = None) -> None:
        self.tls = tls
        self.proxies = Proxies.from_environ() if proxies is None else proxies
        self.low_speed = LowSpeed.from_environ() if low_speed is None else low_speed
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
        proxy = self.proxies.for_url(scheme, host, port)
        if proxy is None:
            return http11.Connection(host, port, timeout=self.timeout, connect_timeout=self.connect_timeout,
                                     context=context)
        conn = http11.Connection(proxy.host, proxy.port, timeout=self.timeout, connect_timeout=self.connect_timeout)
        if context is None:  # plain HTTP: each request names its whole URL (absolute form)
            conn.prefix = f"http://{_authority(host, port, 80)}"
            conn.host, conn.port = host, port
            if proxy.authorization:
                conn.extra_headers = {"Proxy-Authorization": proxy.authorization}
            return conn
        try:
            http11.tunnel(conn, _authority(host, port, None), proxy.authorization)
            sock, conn.sock = conn.sock, None  # type: ignore[assignment]
        except BaseException:
            conn.close()
            raise
        return http11.Connection(host, port, timeout=self.timeout, connect_timeout=self.connect_timeout,
                                 context=context, sock=sock)

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
                merged = _merge(response.headers)
            except InvalidArgument:  # a request that must not be sent (a control character in its target)
                if conn is not None:
                    conn.close()
                raise
            except (OSError, ValueError) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                if reused and resendable and isinstance(exc, (ConnectionError, http11.Closed)):
                    continue  # the server closed the idle connection as we sent: once more on a new one
                raise TransportError(_message(exc), transient=_transient(exc)) from exc
            return self._reply(origin, conn, response, merged)

    def _reply(self, origin: Origin, conn: http11.Connection, response: http11.Response,
               headers: dict[str, str]) -> Reply:
        def body() -> Iterator[bytes]:
            pace = Pace(self.low_speed, self.timeout) if self.low_speed.limit else None
            try:
                while True:
                    if pace is None:
                        chunk = response.read(CHUNK)
                    else:
                        chunk = self._paced_read(conn, response, pace)
                    if not chunk:
                        return
                    yield chunk
            except OSError as exc:  # an early close is an http11.ProtocolError
                raise TransportError(_message(exc), transient=_transient(exc)) from exc

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

        return Reply(response.status, headers, body(), finish, self.timeout)

    def _paced_read(self, conn: http11.Connection, response: http11.Response, pace: Pace) -> bytes:
        """The next piece of a streamed body, read within the time the :class:`Pace` leaves."""
        wait = pace.timeout()
        conn.sock.settimeout(wait)
        try:
            chunk = response.read(CHUNK)
        except TimeoutError:
            if wait < self.timeout:  # cut at the end of a window still short of bytes
                raise pace.too_slow() from None
            raise
        finally:
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout)
        pace.check(len(chunk))
        return chunk
