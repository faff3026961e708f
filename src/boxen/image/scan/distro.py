"""Which distribution a root filesystem is: ``/etc/os-release``.

``os-release`` (systemd's format, read by every distribution) is a list of shell-style
``KEY=value`` lines: ``ID=debian``, ``VERSION_ID="12"``, ``PRETTY_NAME="Debian GNU/Linux 12
(bookworm)"``. It is looked for at ``/etc/os-release`` and then ``/usr/lib/os-release``.

The release matters to a scanner because distributions backport fixes: Debian 12 fixes
OpenSSL in ``3.0.11-1~deb12u2`` while Debian 11 fixes the same flaw in ``1.1.1w-0+deb11u1``,
so advisories are scoped by release (OSV ecosystems ``Debian:12`` and ``Alpine:v3.19``) and
package URLs carry it as a qualifier (``distro=debian-12``).
"""

from __future__ import annotations

from boxen.common.record import Record
from boxen.image.scan.component import OPERATING_SYSTEM, Component
from boxen.image.scan.rootfs import RootFS

_PATHS = ("/etc/os-release", "/usr/lib/os-release")
_LIMIT = 64 * 1024


class Distro(Record):
    """What ``os-release`` says: ``id`` (``debian``, ``alpine``), ``version_id``, names."""

    id: str
    version_id: str | None = None
    pretty_name: str | None = None
    location: str | None = None

    @property
    def purl_distro(self) -> str | None:
        """The ``distro`` qualifier of this distribution's package URLs: ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else None

    def ecosystem(self) -> str | None:
        """The OSV ecosystem of this distribution's packages: ``Debian:12``, ``Alpine:v3.19``.

        None for distributions whose advisories boxen does not match.
        """
        if self.id == "debian":
            major = (self.version_id or "").split(".")[0]
            return f"Debian:{major}" if major.isdigit() else "Debian"
        if self.id == "alpine" and self.version_id:
            major_minor = ".".join(self.version_id.split(".")[:2])
            return f"Alpine:v{major_minor}"
        return None

    def component(self) -> Component:
        """The operating system as an SBOM component."""
        return Component(
            type=OPERATING_SYSTEM,
            name=self.id,
            version=self.version_id or "",
            description=self.pretty_name,
            locations=(self.location,) if self.location else (),
        )


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        quote, value = value[0], value[1:-1]
        if quote == '"':
            for escaped in ('\\"', "\\$", "\\`", "\\\\"):
                value = value.replace(escaped, escaped[1])
    return value


def parse_os_release(text: str) -> dict[str, str]:
    """The ``KEY=value`` pairs of an os-release file, quotes removed."""
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        fields[key.strip()] = _unquote(value)
    return fields


def detect(root: RootFS) -> Distro | None:
    """The distribution of ``root``, or None if it has no os-release file."""
    for path in _PATHS:
        text = root.read_text(path, _LIMIT)
        if text is None:
            continue
        fields = parse_os_release(text)
        distro_id = fields.get("ID", "").lower()
        if distro_id:
            return Distro(
                id=distro_id,
                version_id=fields.get("VERSION_ID") or None,
                pretty_name=fields.get("PRETTY_NAME") or None,
                location=path,
            )
    return None
