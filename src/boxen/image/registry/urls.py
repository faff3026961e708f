"""The parts of URLs (RFC 3986) a registry client needs: split, resolve, percent-encode.

A URL is ``scheme://authority/path?query#fragment``; the *authority* is
``[userinfo@]host[:port]``, where an IPv6 host is written in brackets
(``http://[::1]:5000/v2/``). A ``Location`` header may hold a *reference* relative to the
request's URL (``/v2/x/blobs/uploads/<uuid>?_state=...``), resolved by the algorithm of
RFC 3986 section 5.2: take from the reference every part it has, from the base the rest,
and remove the ``.`` and ``..`` segments from the merged path.

Why not :mod:`urllib.parse`: importing it loads ``re``, ``enum`` and ``ipaddress``
(bench/RESULTS.md, "Import costs"), a tenth of a busybox pull. The functions here
are the few the registry client uses, and ``tests/unit/image/test_urls.py`` checks them
against :mod:`urllib.parse` on generated URLs.
"""

from __future__ import annotations

#: RFC 3986 unreserved characters: never percent-encoded.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.")


class Parts:
    """A URL split into its five components (each ``""`` when absent, as :func:`split` found them)."""

    __slots__ = ("fragment", "has_fragment", "has_netloc", "has_query", "netloc", "path", "query", "scheme")

    def __init__(self, scheme: str, netloc: str | None, path: str, query: str | None, fragment: str | None) -> None:
        self.scheme = scheme
        self.netloc = netloc or ""
        self.path = path
        self.query = query or ""
        self.fragment = fragment or ""
        self.has_netloc = netloc is not None
        self.has_query = query is not None
        self.has_fragment = fragment is not None

    @property
    def _host_port(self) -> tuple[str, str | None]:
        hostport = self.netloc.rpartition("@")[2]
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            return host, rest[1:] if rest.startswith(":") else None
        host, sep, port = hostport.partition(":")
        return host, port if sep else None

    @property
    def hostname(self) -> str | None:
        """The host, lower-cased, without brackets or user information; ``None`` if there is none."""
        host = self._host_port[0]
        return host.lower() if host else None

    @property
    def port(self) -> int | None:
        """The port as a number, ``None`` if not given; ``ValueError`` if it is not one (0 to 65535)."""
        port = self._host_port[1]
        if not port:
            return None
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise ValueError(f"port {port!r} is not a number from 0 to 65535")
        return int(port)

    @property
    def target(self) -> str:
        """What an HTTP request line names: the path (``/`` if empty) and the query."""
        return (self.path or "/") + (f"?{self.query}" if self.query else "")


def split(url: str) -> Parts:
    """Split ``url`` into scheme, authority, path, query and fragment (RFC 3986 appendix B)."""
    scheme = ""
    colon = url.find(":")
    if colon > 0 and url[0].isascii() and url[0].isalpha() and all(c in _SCHEME_CHARS for c in url[:colon]):
        scheme, url = url[:colon].lower(), url[colon + 1:]
    url, hash_, fragment = url.partition("#")
    url, question, query = url.partition("?")
    netloc = None
    if url.startswith("//"):
        slash = url.find("/", 2)
        netloc, url = (url[2:], "") if slash < 0 else (url[2:slash], url[slash:])
    return Parts(scheme, netloc, url, query if question else None, fragment if hash_ else None)


def unsplit(parts: Parts) -> str:
    """The URL made of ``parts`` (RFC 3986 section 5.3)."""
    out = f"{parts.scheme}:" if parts.scheme else ""
    if parts.has_netloc:
        out += f"//{parts.netloc}"
    out += parts.path
    if parts.has_query:
        out += f"?{parts.query}"
    if parts.has_fragment:
        out += f"#{parts.fragment}"
    return out


def remove_dot_segments(path: str) -> str:
    """``/a/b/../c/./d`` -> ``/a/c/d`` (RFC 3986 section 5.2.4); ``..`` never climbs above the root."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1 or (out and out[0] != ""):
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _query(parts: Parts) -> str | None:
    return parts.query if parts.has_query else None


def join(base: str, reference: str) -> str:
    """Resolve ``reference`` (absolute, or relative such as a ``Location`` header) against ``base``."""
    b, r = split(base), split(reference)
    if r.scheme or r.has_netloc:
        scheme, netloc = r.scheme or b.scheme, (r.netloc if r.has_netloc else None)
        path, query = remove_dot_segments(r.path), _query(r)
    else:
        scheme, netloc = b.scheme, (b.netloc if b.has_netloc else None)
        if not r.path:
            path, query = b.path, (_query(r) if r.has_query else _query(b))
        elif r.path.startswith("/"):
            path, query = remove_dot_segments(r.path), _query(r)
        else:  # merge (section 5.2.3): the reference replaces the base's last segment
            directory = "/" if b.has_netloc and not b.path else b.path[: b.path.rfind("/") + 1]
            path, query = remove_dot_segments(directory + r.path), _query(r)
    return unsplit(Parts(scheme, netloc, path, query, r.fragment if r.has_fragment else None))


def quote(text: str, safe: str = "/") -> str:
    """Percent-encode the UTF-8 bytes of ``text`` except unreserved characters and ``safe``."""
    keep = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(byte) if byte in keep else f"%{byte:02X}" for byte in text.encode())


def urlencode(pairs: list[tuple[str, str]] | dict[str, str]) -> str:
    """``application/x-www-form-urlencoded``: ``k=v&k2=v2``, spaces as ``+``, the rest percent-encoded."""
    items = pairs.items() if isinstance(pairs, dict) else pairs

    def form(text: str) -> str:
        return quote(text, " ").replace(" ", "+")

    return "&".join(f"{form(key)}={form(value)}" for key, value in items)


def unquote(text: str) -> str:
    """Undo percent-encoding (``%40`` -> ``@``), reading the bytes as UTF-8; a stray ``%`` stays."""
    if "%" not in text:
        return text
    out = bytearray()
    data = text.encode()
    i = 0
    while i < len(data):
        if data[i] == 0x25 and i + 2 < len(data) and all(c in b"0123456789abcdefABCDEF" for c in data[i + 1:i + 3]):
            out.append(int(data[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("utf-8", "replace")
