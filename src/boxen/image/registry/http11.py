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

Why not ``http.client``: it loads ``email`` (to parse headers) and ``ssl`` even for plain
HTTP, about 36 ms on the project's VM on top of everything else a pull loads; a pull of a
small image takes under 200 ms in all. This module parses the head itself and loads ``ssl``
only for ``https``.
"""

from __future__ import annotations

import socket

from boxen.common.errors import InvalidArgument

_MAX_HEAD = 64 * 1024
_MAX_LINE = 8 * 1024
_READ = 1 << 16


class ProtocolError(OSError):
    """The server's answer is not HTTP/1.1 as this client reads it, or ended too early."""


def request_head(method: str, target: str, host: str, headers: dict[str, str], chunked: bool) -> bytes:
    """The request line and headers, ``Host`` first (and ``Transfer-Encoding`` if ``chunked``)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if name.lower() != "host":
            if "\r" in value or "\n" in value:
                raise InvalidArgument(f"header {name} holds a line break", field=name)
            lines.append(f"{name}: {value}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    """(status, reason, headers) from a response head without its final empty line."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


class Response:
    """An answer's status and headers, and its body to be read with :meth:`read`."""

    def __init__(self, conn: Connection, status: int, reason: str, headers: list[tuple[str, str]],
                 version_10: bool, bodiless: bool) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        values = {name.lower(): value for name, value in headers}
        tokens = values.get("connection", "").lower()
        self.will_close = "close" in tokens or (version_10 and "keep-alive" not in tokens)
        self.chunked = False
        self.length: int | None = None  # bytes of the body still to come, when known
        self._chunk_left = 0
        self._done = bodiless
        if bodiless:
            self.length = 0
        elif "chunked" in values.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in values:
            text = values["content-length"].split(",")[0].strip()
            if not text.isdigit():
                raise ProtocolError(f"bad Content-Length {values['content-length']!r}")
            self.length = int(text)
            self._done = self.length == 0
        else:
            self.will_close = True  # the body ends when the server closes

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
                line = conn.readline()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    self._chunk_left = int(size_text, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
                if self._chunk_left == 0:
                    while conn.readline() not in (b"\r\n", b"\n"):  # trailer headers
                        pass
                    self._done = True
                    return b""
            data = conn.read_some(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                if conn.readline() not in (b"\r\n", b"\n"):
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


class Connection:
    """One connection to ``host:port`` (TLS with ``context`` when given), reused request after request."""

    def __init__(self, host: str, port: int, *, timeout: float, connect_timeout: float, context=None) -> None:
        self.host = host
        self.port = port
        # An ASCII host name goes to getaddrinfo as bytes: a str would load the idna codec.
        address = host.encode("ascii") if host.isascii() else host
        self.sock = socket.create_connection((address, port), timeout=connect_timeout)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
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

    def request(self, method: str, target: str, headers: dict[str, str], body=None) -> None:
        host = self.host if self.port in (80, 443) else f"{self.host}:{self.port}"
        if "[" not in host and ":" in self.host:
            host = f"[{self.host}]:{self.port}"
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

    def _fill(self) -> bool:
        data = self.sock.recv(_READ)
        if not data:
            return False
        self._buffer += data
        return True

    def readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise ProtocolError("a line of the answer is too long")
            if not self._fill():
                raise ProtocolError("connection closed in the middle of a line")

    def read_some(self, size: int, *, eof_ok: bool = False) -> bytes:
        if not self._buffer and not self._fill():
            if eof_ok:
                return b""
            raise ProtocolError("connection closed before the end of the body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def response(self, method: str) -> Response:
        """Read the next answer's head (skipping 1xx interim answers)."""
        while True:
            while True:
                end = self._buffer.find(b"\r\n\r\n")
                if end >= 0:
                    break
                if len(self._buffer) > _MAX_HEAD:
                    raise ProtocolError("the answer's head is too large")
                if not self._fill():
                    raise ProtocolError("connection closed before an answer")
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            status, reason, headers = parse_head(head)
            if 100 <= status < 200:
                continue
            bodiless = method == "HEAD" or status in (204, 304)
            return Response(self, status, reason, headers, head.startswith(b"HTTP/1.0"), bodiless)
