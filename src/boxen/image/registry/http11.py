"""HTTP/1.1 on one TCP (or TLS) connection: what a registry client needs of it, and no more.

An HTTP/1.1 exchange is text framing around bytes::

    client: GET /v2/library/busybox/manifests/latest HTTP/1.1\\r\\n     request line
            Host: registry:5000\\r\\n                                   headers
            \\r\\n                                                       end of head
            [body]                                                     Content-Length bytes,
                                                                       or chunked
    server: HTTP/1.1 200 OK\\r\\n                                       status line
            Content-Type: application/vnd.oci.image.manifest.v1+json\\r\\n
            Content-Length: 1234\\r\\n
            \\r\\n
            {...1234 bytes...}

The answer's body ends where its framing says: after ``Content-Length`` bytes; at the
zero-size chunk of a ``Transfer-Encoding: chunked`` body (each chunk is a hex size line, the
bytes, a CRLF; trailer headers may follow the last); with no body at all for ``HEAD`` and for
1xx, 204 and 304 answers; otherwise when the server closes. A connection can carry the next
request (*keep-alive*) only once its answer has been read to that end and neither side said
``Connection: close``.

The reading is strict, because a lenient reader is how one answer's bytes get taken for
another's (*response splitting*) and how a value the server chose ends up in the next
request (*header injection*). Lines end in CRLF only (a bare CR or LF is refused); a header
is a token, a colon and a value free of control characters; a ``Content-Length`` is
digits, and several of them must agree; ``Transfer-Encoding`` may only be ``chunked``, and
not together with a ``Content-Length``; a chunk size is 1 to 16 hex digits and nothing else
(no sign, no ``0x``, no ``_``); a chunk ends in CRLF; trailers are headers too, and as
bounded as the head. Anything else ends in :class:`ProtocolError` and the connection is
dropped. What is sent is checked the same way: a target or header value holding a control
character (say a ``Location`` a server chose) is refused, not sent.
``tests/unit/image/test_http11_h11.py`` feeds the same byte streams to this reader and to
h11 and checks that this one never accepts what h11 refuses.

Why not ``http.client``: it loads ``email`` (to parse headers) and ``ssl`` even for plain
HTTP, a large part of a small image's whole pull (bench/RESULTS.md, "Import costs"). This module
parses the head itself and loads ``ssl`` only for ``https``. Nor h11, whose rules this reader
follows: importing it loads ``typing``, ``dataclasses`` and ``re``, about as costly.
"""

from __future__ import annotations

import socket
import time

from boxen.common.errors import InvalidArgument

#: Most bytes a head (status line and headers), or the trailers of a chunked body, may take.
MAX_HEAD = 64 * 1024
#: Most headers in a head (or in the trailers).
MAX_HEADERS = 256
#: Longest chunk-size line.
MAX_CHUNK_LINE = 4096
_READ = 1 << 16

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX = frozenset(b"0123456789abcdefABCDEF")
#: Control characters (all but horizontal tab): never in a header value, target or reason.
_CONTROLS = frozenset(range(0x20)) - {0x09} | {0x7F}


class ProtocolError(OSError):
    """The server's answer is not HTTP/1.1 as this client reads it, or ended too early."""


class Cut(ProtocolError):
    """The connection ended before the end of the answer (worth trying again, unlike a broken rule)."""


class Closed(Cut):
    """The server closed the connection before its answer began (an idle connection it dropped)."""


def _has_control(text: str) -> bool:
    return any(ord(ch) in _CONTROLS for ch in text)


def _is_token(text: str) -> bool:
    return bool(text) and text.isascii() and all(ord(ch) in _TOKEN for ch in text)


def request_head(method: str, target: str, host: str, headers: dict[str, str], chunked: bool) -> bytes:
    """The request line and headers, ``Host`` first (and ``Transfer-Encoding`` if ``chunked``).

    Every part is checked, since some come from servers (a ``Location``, a token realm): a
    target must be visible ASCII, a header value must hold no control character.
    """
    if not _is_token(method):
        raise InvalidArgument(f"not an HTTP method: {method!r}", field="method")
    if not target or not target.isascii() or any(ch <= " " or ch == "\x7f" for ch in target):
        raise InvalidArgument(f"request target {target[:80]!r} holds a space, a control character or "
                              "non-ASCII (expected a percent-encoded URL)", field="URL")
    lines = [f"{method} {target} HTTP/1.1"]
    for n, (name, value) in enumerate((("Host", host), *headers.items())):
        if n and name.lower() == "host":
            continue
        if not _is_token(name):
            raise InvalidArgument(f"not a header name: {name!r}", field=name)
        if _has_control(value) or value != value.strip(" \t"):
            raise InvalidArgument(f"header value {value[:80]!r} holds a control character or line break, or "
                                  "starts or ends with a space", field=name)
        lines.append(f"{name}: {value}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"a header holds a character beyond Latin-1: {exc.object[exc.start:exc.end]!r}",
                              field="headers") from None


def _check_lines(block: bytes, what: str) -> list[str]:
    """The CRLF-separated lines of ``block``; a bare CR or LF is refused."""
    lines = block.split(b"\r\n")
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise ProtocolError(f"{what} holds a bare CR or LF (lines must end in CRLF): {line[:80]!r}")
    return [line.decode("latin-1") for line in lines]


def parse_fields(lines: list[str], what: str = "header") -> list[tuple[str, str]]:
    """``(name, value)`` pairs of header (or trailer) lines.

    An obsolete folded line (one starting with a space or tab) continues the line above,
    joined by one space, as RFC 9112 section 5.2 lets a client read it.
    """
    if len(lines) > MAX_HEADERS:
        raise ProtocolError(f"more than {MAX_HEADERS} {what} lines")
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise ProtocolError(f"a continuation line starts the {what}s: {line[:80]!r}")
            unfolded[-1] += " " + line.lstrip(" \t")
        else:
            unfolded.append(line)
    fields: list[tuple[str, str]] = []
    for line in unfolded:
        name, sep, value = line.partition(":")
        value = value.strip(" \t")
        if not sep or not _is_token(name):
            raise ProtocolError(f"malformed {what} line: {line[:80]!r}")
        if _has_control(value):
            raise ProtocolError(f"{what} {name} holds a control character: {value[:80]!r}")
        fields.append((name, value))
    return fields


def parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    """(status, reason, headers) from a response head without its final empty line."""
    lines = _check_lines(head, "the answer's head")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    if _has_control(reason):
        raise ProtocolError(f"the status line holds a control character: {lines[0][:80]!r}")
    return int(code), reason, parse_fields(lines[1:])


def _tokens(values: list[str]) -> list[str]:
    return [token.strip(" \t").lower() for value in values for token in value.split(",") if token.strip(" \t")]


class Framing:
    """Where a body ends, from the status and headers (RFC 9112 section 6.3).

    ``kind`` is ``"length"`` (``length`` bytes), ``"chunked"`` or ``"close"`` (until the
    server closes); ``keep_alive`` says whether the connection may carry another request.
    """

    __slots__ = ("keep_alive", "kind", "length")

    def __init__(self, status: int, headers: list[tuple[str, str]], version_10: bool, method: str) -> None:
        lengths: list[str] = []
        encodings: list[str] = []
        connection: list[str] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                lengths.append(value)
            elif lowered == "transfer-encoding":
                encodings.append(value)
            elif lowered == "connection":
                connection.append(value)
        self.keep_alive = not version_10 and "close" not in _tokens(connection)
        self.length = 0
        self.kind = "length"
        if encodings:
            if len(encodings) > 1 or encodings[0].lower() != "chunked":
                raise ProtocolError(f"unsupported Transfer-Encoding {', '.join(encodings)!r} (expected chunked)")
            if lengths:
                raise ProtocolError("both Transfer-Encoding and Content-Length: the body's end is ambiguous")
            self.kind = "chunked"
        elif lengths:
            values = {piece.strip(" \t") for value in lengths for piece in value.split(",")}
            text = values.pop()
            if values or not (text.isascii() and text.isdigit()) or len(text) > 19:
                raise ProtocolError(f"bad or conflicting Content-Length {', '.join(lengths)!r}")
            self.length = int(text)
        else:
            self.kind = "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200 or (method == "CONNECT" and status < 300):
            self.kind, self.length = "length", 0
        elif self.kind == "close":
            self.keep_alive = False


class Response:
    """An answer's status and headers, and its body to be read with :meth:`read`."""

    def __init__(self, conn: Connection, status: int, reason: str, headers: list[tuple[str, str]],
                 framing: Framing) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self.will_close = not framing.keep_alive
        self.chunked = framing.kind == "chunked"
        #: bytes of the body still to come, when known
        self.length: int | None = None if framing.kind == "close" else framing.length
        self._chunk_left = 0
        self._done = framing.kind == "length" and framing.length == 0

    @property
    def complete(self) -> bool:
        """Whether the body has been read to its end."""
        return self._done

    def read(self, size: int = _READ) -> bytes:
        """Up to ``size`` bytes of the body; ``b""`` at its end. An early close is an error."""
        if self._done:
            return b""
        conn = self.conn
        if self.chunked:
            if self._chunk_left == 0:
                self._chunk_left = self._chunk_size(conn.readline(MAX_CHUNK_LINE))
                if self._chunk_left == 0:
                    block = conn.read_block("the trailers")
                    if block:  # trailers are checked as headers are, and not used
                        parse_fields(_check_lines(block, "the trailers"), "trailer")
                    self._done = True
                    return b""
            data = conn.read_some(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and conn.read_exactly(2) != b"\r\n":
                raise ProtocolError("a chunk does not end with CRLF")
            return data
        if self.length is None:
            data = conn.read_some(size, eof_ok=True)
            if not data:
                self._done = True
            return data
        data = conn.read_some(min(size, self.length))
        self.length -= len(data)
        self._done = self.length == 0
        return data

    @staticmethod
    def _chunk_size(line: bytes) -> int:
        text = line[:-2].decode("latin-1")
        size, sep, extension = text.partition(";")
        if not sep:
            size = size.rstrip(" \t")
        if not 1 <= len(size) <= 16 or not all(ord(ch) in _HEX for ch in size) or _has_control(extension):
            raise ProtocolError(f"bad chunk size line {line[:40]!r} (expected 1 to 16 hex digits)")
        return int(size, 16)


def _bare_line_end(data: bytearray, start: int) -> bool:
    """Whether ``data`` from ``start`` holds a LF not after a CR, or a CR not before a LF."""
    i = data.find(b"\n", start)
    while i >= 0:
        if i == 0 or data[i - 1] != 0x0D:
            return True
        i = data.find(b"\n", i + 1)
    i = data.find(b"\r", start)
    while 0 <= i < len(data) - 1:
        if data[i + 1] != 0x0A:
            return True
        i = data.find(b"\r", i + 1)
    return False


class Connection:
    """One connection to ``host:port`` (TLS with ``context`` when given), reused request after request.

    ``sock`` may be given already connected (a tunnel through a proxy); ``host`` and
    ``port`` then name the server at its end, for ``Host`` and the TLS server name.
    """

    #: put before each request's target: ``http://host:port`` through a proxy (absolute form)
    prefix = ""
    #: sent with each request (``Proxy-Authorization`` through a proxy)
    extra_headers: dict[str, str] | None = None

    def __init__(self, host: str, port: int, *, timeout: float, connect_timeout: float, context=None,
                 sock: socket.socket | None = None) -> None:
        self.host = host
        self.port = port
        if sock is None:
            # An ASCII host name goes to getaddrinfo as bytes: a str would load the idna codec.
            address = host.encode("ascii") if host.isascii() else host
            sock = socket.create_connection((address, port), timeout=connect_timeout)  # type: ignore[arg-type]
        self.sock = sock
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                self.sock.settimeout(connect_timeout)
                self.sock = context.wrap_socket(self.sock, server_hostname=host)
            self.sock.settimeout(timeout)
        except BaseException:
            self.sock.close()
            raise
        self._buffer = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None  # type: ignore[assignment]

    # --- sending ----------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """``host[:port]`` as the ``Host`` header names it (the port left out when it is 80 or 443)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (80, 443) else f"{host}:{self.port}"

    def request(self, method: str, target: str, headers: dict[str, str], body=None) -> None:
        host = self.authority
        if self.prefix:
            target = self.prefix + target
        if self.extra_headers:
            headers = {**headers, **self.extra_headers}
        lowered = {name.lower() for name in headers}
        if isinstance(body, (bytes, bytearray)):
            if "content-length" not in lowered:
                headers = {**headers, "Content-Length": str(len(body))}
            self.sock.sendall(request_head(method, target, host, headers, False) + bytes(body))
            return
        if body is None:
            if method in ("POST", "PUT", "PATCH") and "content-length" not in lowered:
                headers = {**headers, "Content-Length": "0"}
            self.sock.sendall(request_head(method, target, host, headers, False))
            return
        chunked = "content-length" not in lowered
        self.sock.sendall(request_head(method, target, host, headers, chunked))
        for piece in body:
            if not piece:
                continue
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    # --- receiving --------------------------------------------------------------------------

    def _fill(self, deadline: float | None = None) -> bool:
        if deadline is not None:  # the whole head must come in time, not just each piece of it
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the answer's head did not come in time (timed out)")
            timeout = self.sock.gettimeout()
            if timeout is None or left < timeout:
                self.sock.settimeout(left)
        data = self.sock.recv(_READ)
        if not data:
            return False
        self._buffer += data
        return True

    def readline(self, limit: int) -> bytes:
        """The next line, with its CRLF; at most ``limit`` bytes."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                if end == 0 or self._buffer[end - 1] != 0x0D:
                    raise ProtocolError(f"a line of the answer ends in a bare LF: {bytes(self._buffer[:end])[:40]!r}")
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > limit:
                raise ProtocolError(f"a line of the answer is longer than {limit} bytes")
            if not self._fill():
                raise Cut("connection closed in the middle of a line")

    def read_block(self, what: str, deadline: float | None = None) -> bytes:
        """Bytes up to the next empty line (the end of a head or of trailers), without it."""
        while len(self._buffer) < 2 and self._fill(deadline):
            pass
        if not self._buffer and what == "the answer's head":
            raise Closed("connection closed before an answer")
        if self._buffer[:2] == b"\r\n":
            del self._buffer[:2]
            return b""
        checked = 0
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                if end > MAX_HEAD:
                    raise ProtocolError(f"{what} is larger than {MAX_HEAD} bytes")
                if _bare_line_end(self._buffer[: end + 4], max(0, checked - 1)):
                    raise ProtocolError(f"{what} holds a bare CR or LF (lines must end in CRLF)")
                block = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                return block
            if _bare_line_end(self._buffer, max(0, checked - 1)):
                raise ProtocolError(f"{what} holds a bare CR or LF (lines must end in CRLF)")
            checked = len(self._buffer)
            if checked > MAX_HEAD:
                raise ProtocolError(f"{what} is larger than {MAX_HEAD} bytes")
            if not self._fill(deadline):
                if not self._buffer and what == "the answer's head":
                    raise Closed("connection closed before an answer")
                raise Cut(f"connection closed in the middle of {what}")

    def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise Cut("connection closed before the end of the body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_some(self, size: int, *, eof_ok: bool = False) -> bytes:
        if not self._buffer and not self._fill():
            if eof_ok:
                return b""
            raise Cut("connection closed before the end of the body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def response(self, method: str) -> Response:
        """Read the next answer's head (skipping 1xx interim answers), within the socket's timeout."""
        timeout = self.sock.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return self._response(method, deadline)
        finally:
            if self.sock is not None:
                self.sock.settimeout(timeout)

    def _response(self, method: str, deadline: float | None) -> Response:
        while True:
            head = self.read_block("the answer's head", deadline)
            if not head:
                raise ProtocolError("the answer starts with an empty line, not a status line")
            status, reason, headers = parse_head(head)
            if status == 101:
                raise ProtocolError("the server switched protocols, which was not asked for")
            framing = Framing(status, headers, head.startswith(b"HTTP/1.0"), method)
            if status >= 200:
                return Response(self, status, reason, headers, framing)


def tunnel(conn: Connection, authority: str, authorization: str | None) -> None:
    """Ask the proxy at the other end of ``conn`` for a tunnel to ``authority`` (``CONNECT``)."""
    headers = {"Proxy-Authorization": authorization} if authorization else {}
    conn.sock.sendall(request_head("CONNECT", authority, authority, headers, False))
    response = conn.response("CONNECT")
    if not 200 <= response.status < 300:
        raise ProtocolError(f"the proxy refused a tunnel to {authority}: {response.status} {response.reason}")
    if conn._buffer:
        raise ProtocolError(f"the proxy sent bytes before the tunnel to {authority} was used")
