"""Matching installed packages against advisories, as the OSV specification evaluates them.

For each component with an ecosystem boxen can order, :func:`match` looks up the affected
entries for its package (the *source* package for Debian and Alpine) and evaluates the
installed version (again the source package's) the way the OSV schema prescribes:

* it is affected if it equals one of the entry's ``versions``, or
* if it lies in one of the ``ranges``: the range's events are sorted in the range's
  version order (``introduced: "0"`` first) and walked; an ``introduced`` at or below the
  version makes it vulnerable, a ``fixed`` at or below it, or a ``last_affected`` below it,
  makes it safe again; ``limit`` events, when present, bound the whole range from above.

A ``GIT`` range needs the project's history and is not evaluated; a range whose order
cannot read the installed version (a Debian version in a SEMVER range) cannot contain it.
The version that fixes a finding is the first ``fixed`` event above the installed
version, if there is one. An advisory is reported once per component; when it has entries
for both the component's release (``Debian:12``) and the whole distribution (``Debian``),
the release's entry is evaluated first, so its fixed version is the one reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.scan import versions
from boxen.image.scan.component import Component
from boxen.image.scan.osv import Advisory, Affected, Index, Range
from boxen.image.scan.severity import Rating, rank, rate


class Finding(Record):
    """One advisory that affects one installed component."""

    component: Component
    id: str
    aliases: tuple[str, ...]
    summary: str
    rating: Rating
    fixed: str | None
    ecosystem: str
    package: str

    @property
    def severity(self) -> str:
        return self.rating.level


def _in_versions(affected: Affected, version: str, scheme: versions.Scheme) -> bool:
    for listed in affected.versions or ():
        if listed == version:
            return True
        try:
            if scheme.compare(listed, version) == 0:
                return True
        except InvalidArgument:
            continue  # a listed version this order cannot read is simply not this one
    return False


def _event_key(scheme: versions.Scheme, name: str, value: str) -> tuple[int, Any]:
    if name == "introduced" and value == "0":
        return (0, None)
    return (1, scheme.key(value))


def _in_range(rng: Range, version: str, scheme: versions.Scheme) -> tuple[bool, str | None]:
    """Whether ``version`` lies in ``rng``, and the fixed version above it if any."""
    try:
        v = scheme.key(version)
    except InvalidArgument:
        return False, None
    events = [e.kind() for e in rng.events]
    limits = [value for name, value in events if name == "limit"]
    if limits and not any(value == "*" or v < scheme.key(value) for value in limits):
        return False, None
    ordered = sorted((e for e in events if e[0] != "limit"), key=lambda e: _event_key(scheme, *e))
    vulnerable = False
    for name, value in ordered:
        if name == "introduced" and (value == "0" or v >= scheme.key(value)):
            vulnerable = True
        elif name == "fixed" and v >= scheme.key(value):
            vulnerable = False
        elif name == "last_affected" and v > scheme.key(value):
            vulnerable = False
    if not vulnerable:
        return False, None
    fixes = [value for name, value in ordered if name == "fixed" and scheme.key(value) > v]
    return True, fixes[0] if fixes else None


def affects(affected: Affected, version: str) -> tuple[bool, str | None]:
    """Whether ``version`` of the entry's package is affected, and the first fixed version above it."""
    ecosystem = affected.package.ecosystem if affected.package else ""
    fixed: str | None = None
    hit = False
    for rng in affected.ranges or ():
        scheme = versions.for_range(rng.type, ecosystem)
        if scheme is None:
            continue
        inside, fix = _in_range(rng, version, scheme)
        if inside:
            hit = True
            fixed = fixed or fix
    if not hit:
        scheme = versions.for_ecosystem(ecosystem)
        hit = scheme is not None and _in_versions(affected, version, scheme)
    return hit, fixed


def _finding(component: Component, advisory: Advisory, affected: Affected, fixed: str | None) -> Finding:
    package = affected.package
    assert package is not None  # the index holds only entries with a package
    return Finding(
        component=component,
        id=advisory.id,
        aliases=advisory.aliases or (),
        summary=(advisory.summary or advisory.details or "").strip().split("\n")[0],
        rating=rate(advisory, affected),
        fixed=fixed,
        ecosystem=package.ecosystem,
        package=package.name,
    )


def match(components: Iterable[Component], index: Index) -> list[Finding]:
    """Every (component, advisory) pair where the advisory affects the installed version.

    Sorted by severity (highest first), then package name and advisory id.
    """
    findings = []
    for component in components:
        if component.ecosystem is None:
            continue
        seen: set[str] = set()
        for advisory, affected in index.lookup(component.ecosystem, component.advisory_name):
            if advisory.id in seen:
                continue
            hit, fixed = affects(affected, component.advisory_version)
            if hit:
                seen.add(advisory.id)
                findings.append(_finding(component, advisory, affected, fixed))
    findings.sort(key=lambda f: (-rank(f.severity), f.component.name, f.component.arch or "", f.id))
    return findings
