"""HTTP proxies: which requests go through one, and how (the ``*_PROXY`` variables).

Behind a corporate firewall, HTTP leaves only through a *proxy*. Programs learn of it from
the environment, a convention every HTTP stack of the container world follows (Go's
``net/http``, so docker, containerd and skopeo; curl; Python's ``urllib``):

* ``HTTP_PROXY`` names the proxy for ``http://`` URLs and ``HTTPS_PROXY`` the one for
  ``https://`` URLs, as ``http://[user:password@]host[:port]`` (a value without a scheme
  means ``http://``; the port defaults to 80). The lower-case spellings are read when the
  upper-case ones are unset or empty;
* ``NO_PROXY`` lists, separated by commas, where to go directly: ``*`` (everywhere), a host
  name (``example.com``, which also covers ``sub.example.com``), a domain suffix
  (``.example.com``, ``*.example.com``: subdomains only), an IP address, a CIDR block
  (``10.0.0.0/8``), each optionally with ``:port`` to match that port only. Host names
  match only host names and IP entries only IP addresses, as in Go's ``httpproxy``;
* ``localhost`` and loopback addresses are never proxied.

A request through a proxy takes one of two forms. For ``http://`` the client connects to
the proxy and names the whole URL in the request line (*absolute form*,
``GET http://registry:5000/v2/ HTTP/1.1``); the proxy forwards it. For ``https://`` it asks
the proxy for a tunnel (``CONNECT registry:443 HTTP/1.1``), and after ``200`` speaks TLS
through it to the server, so the proxy sees neither the requests nor the certificates'
secrets. Credentials in the proxy's URL go in ``Proxy-Authorization: Basic ...`` (with the
absolute-form requests, or with the ``CONNECT``), never to the server.

The variables are read from ``os.environ``: the ``-I`` the fast launcher starts Python
with makes it ignore ``PYTHON*`` variables, not these. Everything here decides;
:mod:`.transport` connects.
"""

from __future__ import annotations

import os

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.registry.urls import split, unquote


class Proxy(Record):
    """A proxy to send a request through: where it is and the ``Proxy-Authorization`` it wants."""

    host: str
    port: int
    authorization: str | None = None


def _lookup(environ, name: str) -> str:
    return environ.get(name.upper()) or environ.get(name.lower()) or ""


def parse_proxy(value: str, variable: str) -> Proxy:
    """``http://[user:password@]host[:port]`` (``http://`` may be left out)."""
    url = value if "://" in value else f"http://{value}"
    parts = split(url)
    if parts.scheme != "http":
        raise InvalidArgument(f"{value!r}: only http:// proxies are supported (a proxy's scheme is how the "
                              "client talks to it; https URLs still go through it in a tunnel)", field=variable)
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise InvalidArgument(f"{value!r}: {exc}", field=variable) from None
    if not parts.hostname or (parts.path not in ("", "/")) or parts.has_query:
        raise InvalidArgument(f"{value!r} is not http://[user:password@]host[:port]", field=variable)
    authorization = None
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        from boxen.image.registry.auth import basic_authorization

        user, _, password = userinfo.partition(":")
        authorization = basic_authorization(unquote(user), unquote(password))
    return Proxy(parts.hostname, port, authorization)


def _ip(text: str):
    """``text`` as an IP address (``ipaddress`` object), or ``None``."""
    import ipaddress

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _Rule(Record):
    """One ``NO_PROXY`` entry: ``kind`` is ``all``, ``cidr``, ``ip`` or ``domain``."""

    kind: str
    value: object = None
    port: str = ""
    match_host: bool = False


def _rules(no_proxy: str) -> list[_Rule]:
    import ipaddress

    rules = []
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return [_Rule("all")]
        if "/" in entry:
            try:
                rules.append(_Rule("cidr", ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                pass  # not a CIDR block: ignored, as Go's httpproxy does
            continue
        host, port = entry, ""
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        ip = _ip(host)
        if ip is not None:
            rules.append(_Rule("ip", ip, port))
            continue
        if not host:
            continue
        if host.startswith("*."):
            host = host[1:]
        match_host = not host.startswith(".")
        rules.append(_Rule("domain", host if not match_host else f".{host}", port, match_host))
    return rules


class Proxies:
    """The proxy rules of an environment: :meth:`for_url` says which proxy a URL goes through."""

    def __init__(self, http: str = "", https: str = "", no_proxy: str = "") -> None:
        self.http = parse_proxy(http, "HTTP_PROXY") if http else None
        self.https = parse_proxy(https, "HTTPS_PROXY") if https else None
        self._no_proxy = no_proxy
        self._rules: list[_Rule] | None = None

    @classmethod
    def from_environ(cls, environ=None) -> Proxies:
        """The rules ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` (or their lower-case forms) set."""
        environ = os.environ if environ is None else environ
        return cls(_lookup(environ, "HTTP_PROXY"), _lookup(environ, "HTTPS_PROXY"), _lookup(environ, "NO_PROXY"))

    def for_url(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for ``scheme://host:port``, or ``None`` to connect directly."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or not self._use_proxy(host.lower(), str(port)):
            return None
        return proxy

    def _use_proxy(self, host: str, port: str) -> bool:
        if host == "localhost":
            return False
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return False
        if self._rules is None:
            self._rules = _rules(self._no_proxy)
        for rule in self._rules:
            if rule.kind == "all":
                return False
            if ip is not None:
                if rule.kind == "cidr" and ip in rule.value:  # type: ignore[operator]
                    return False
                if rule.kind == "ip" and ip == rule.value and rule.port in ("", port):
                    return False
            elif rule.kind == "domain":
                domain = str(rule.value)
                if (host.endswith(domain) or (rule.match_host and host == domain[1:])) and rule.port in ("", port):
                    return False
        return True
