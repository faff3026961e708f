"""Image references: ``[registry/]repository[:tag][@digest]``, as docker spells them.

A reference names an image in a registry. Its grammar (from the distribution project's
``reference`` package, which every docker-compatible tool follows):

* the **repository** is ``/``-separated path components of lowercase letters and digits,
  joined inside a component by ``.``, ``_``, ``__`` or runs of ``-``;
* the first component is a **registry** (domain, with an optional ``:port``) when it contains
  a ``.`` or a ``:``, or is ``localhost``; otherwise the registry is Docker Hub, ``docker.io``,
  and a one-component repository on Docker Hub lives under ``library/``;
* a **tag** is up to 128 word characters, dots and dashes, not starting with ``.`` or ``-``;
* a **digest** (``@sha256:...``) pins the exact manifest; with neither tag nor digest the tag
  is ``latest``.

So ``busybox`` is ``docker.io/library/busybox:latest`` and ``127.0.0.1:5000/x/y@sha256:...``
names a manifest by digest in a local registry. :meth:`Reference.familiar` gives back the
short form people type. Docker Hub's API lives on ``registry-1.docker.io``
(:meth:`Reference.api_host`).
"""

from __future__ import annotations

from boxen.common import digest as digests
from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HUB_API_HOST = "registry-1.docker.io"

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WORD = _ALNUM | {"_"}  # Go's \w: ASCII only
_DIGITS = frozenset("0123456789")
_IPV6 = frozenset("0123456789abcdefABCDEF:.")
_MAX_NAME = 255


class Reference(Record):
    """A parsed, normalised reference. ``tag`` and ``digest`` may both be set."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``domain/path``: the repository, without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form: ``busybox:latest`` for ``docker.io/library/busybox:latest``."""
        name = self.name
        if self.domain == DEFAULT_REGISTRY:
            name = self.path.removeprefix("library/")
        out = name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def api_host(self) -> str:
        """The host whose ``/v2/`` API serves this repository."""
        return _HUB_API_HOST if self.domain == DEFAULT_REGISTRY else self.domain

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, _check_tag(tag, "tag"), None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, self.tag, digests.validate(digest))


def _is_component(text: str) -> bool:
    """``[a-z0-9]+`` runs joined by one separator: ``.``, ``_``, ``__`` or any run of ``-``."""
    if not text or text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    separator = ""
    for ch in text:
        if ch in _LOWER_ALNUM:
            if separator and separator not in (".", "_", "__") and separator.strip("-"):
                return False
            separator = ""
        elif ch in "._-":
            separator += ch
        else:
            return False
    return True


def _is_host(host: str) -> bool:
    """Dot-separated labels of letters, digits and inner ``-``; or an IPv6 address in brackets."""
    if host.startswith("["):
        return len(host) > 2 and host.endswith("]") and all(ch in _IPV6 for ch in host[1:-1])
    return all(
        label and label[0] in _ALNUM and label[-1] in _ALNUM and all(ch in _ALNUM or ch == "-" for ch in label)
        for label in host.split(".")
    )


def _is_tag(tag: str) -> bool:
    """A word character, then up to 127 word characters, ``.`` or ``-``."""
    return 0 < len(tag) <= 128 and tag[0] in _WORD and all(ch in _WORD or ch in ".-" for ch in tag)


def _check_tag(tag: str, field: str) -> str:
    if not _is_tag(tag):
        raise InvalidArgument(
            f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'",
            field=field,
        )
    return tag


def _is_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def _check_domain(domain: str, text: str, field: str) -> str:
    host, port = domain, None
    if not domain.startswith("["):
        host, sep, port = domain.partition(":")
        if not sep:
            port = None
    else:
        close = domain.find("]")
        host, rest = domain[: close + 1], domain[close + 1 :]
        port = rest[1:] if rest.startswith(":") else None
    if not _is_host(host) or (port is not None and not (port and all(ch in _DIGITS for ch in port))):
        raise InvalidArgument(f"invalid registry {domain!r} in reference {text!r}", field=field)
    return "docker.io" if domain in _HUB_ALIASES else domain


def parse(text: str, *, field: str = "reference") -> Reference:
    """Parse and normalise a reference; a bare name gets the tag ``latest``."""
    ref = parse_name(text, field=field)
    if ref.tag is None and ref.digest is None:
        return ref.replace(tag=DEFAULT_TAG)
    return ref


def parse_name(text: str, *, field: str = "reference") -> Reference:
    """Parse a reference without defaulting the tag (``busybox`` keeps ``tag=None``)."""
    if not isinstance(text, str) or not text:
        raise InvalidArgument("empty image reference", field=field)
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        digests.validate(digest, field=field)
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], _check_tag(rest[colon + 1 :], field)
    components = rest.split("/")
    domain = DEFAULT_REGISTRY
    if len(components) > 1 and _is_domain(components[0]):
        domain = _check_domain(components[0], text, field)
        components = components[1:]
    for component in components:
        if not _is_component(component):
            hint = " (repository names are lowercase)" if component.lower() != component else ""
            raise InvalidArgument(f"invalid repository name component {component!r} in {text!r}{hint}", field=field)
    if domain == DEFAULT_REGISTRY and len(components) == 1:
        components = ["library", *components]
    path = "/".join(components)
    if len(domain) + 1 + len(path) > _MAX_NAME:
        raise InvalidArgument(f"repository name longer than {_MAX_NAME} characters: {text!r}", field=field)
    return Reference(domain, path, tag, digest)


def is_loopback(domain: str) -> bool:
    """True for ``localhost`` and 127.0.0.0/8 (and ``[::1]``), with or without a port."""
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain[: domain.find("]") + 1]
    if host in ("localhost", "[::1]"):
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)
