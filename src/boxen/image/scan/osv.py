"""OSV advisories: the Open Source Vulnerability format, read from a directory.

OSV (https://ossf.github.io/osv-schema/) is the JSON format in which Debian, Alpine, the
Python Packaging Advisory Database, GitHub and others publish advisories; its data dumps
are one advisory per file. An advisory says *which versions of which packages* are
affected::

    {"id": "DSA-5585-1", "modified": "2023-12-19T00:00:00Z", "summary": "openssl security update",
     "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                   "ranges": [{"type": "ECOSYSTEM",
                               "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}]}

* ``package`` is an ecosystem (``Debian:12``, ``Alpine:v3.19``, ``PyPI``, ...) and a name
  (for distributions, the *source* package);
* each range is a timeline of ``events`` in the ecosystem's version order (``ECOSYSTEM``),
  in SemVer order (``SEMVER``) or in a git history (``GIT``, which a scanner of installed
  packages cannot evaluate): ``introduced`` opens an affected interval (``"0"`` means from
  the first version), ``fixed`` closes it, ``last_affected`` closes it after that version,
  ``limit`` bounds the whole range;
* ``versions`` may also list affected versions one by one;
* ``withdrawn`` marks an advisory that no longer stands.

:func:`load_advisories` reads every ``*.json`` file under a directory into typed records
(with JSON-path errors naming the file), checks what the evaluation relies on (one key per
event, at least one ``introduced`` per range, versions well formed in the ecosystems
boxen matches), skips withdrawn advisories, and builds an :class:`Index` from
(ecosystem, package name) to the affected entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from boxen.common import jsonio, schema
from boxen.common.errors import InvalidArgument, NotFound
from boxen.common.record import Record
from boxen.image.scan import versions
from boxen.image.scan.python import normalize_name

_FILE_LIMIT = 32 * 1024 * 1024
RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER", "GIT"})


class Package(Record):
    """``affected[].package``: an ecosystem and a name in it."""

    ecosystem: str
    name: str
    purl: str | None = None


class Event(Record):
    """One point of a range's timeline; exactly one field is set."""

    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None

    def kind(self) -> tuple[str, str]:
        """``("fixed", "1.0.2")``: which event this is and its version."""
        for name in self.__fields__:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise AssertionError("checked on load: every event has one key")


class Range(Record):
    """``affected[].ranges[]``: events in one version order (ECOSYSTEM, SEMVER or GIT)."""

    type: str
    events: tuple[Event, ...]
    repo: str | None = None


class Severity(Record):
    """A score of a named kind: ``CVSS_V3`` with a vector, ``Ubuntu`` with a priority."""

    type: str
    score: str


class Affected(Record):
    """One affected package and the versions of it that are affected."""

    package: Package | None = None
    severity: tuple[Severity, ...] | None = None
    ranges: tuple[Range, ...] | None = None
    versions: tuple[str, ...] | None = None
    ecosystem_specific: object | None = None
    database_specific: object | None = None


class Advisory(Record):
    """One OSV record; fields as the schema names them."""

    id: str
    modified: str
    schema_version: str | None = None
    published: str | None = None
    withdrawn: str | None = None
    aliases: tuple[str, ...] | None = None
    upstream: tuple[str, ...] | None = None
    summary: str | None = None
    details: str | None = None
    severity: tuple[Severity, ...] | None = None
    affected: tuple[Affected, ...] | None = None
    database_specific: object | None = None
    file: str | None = None  # where boxen read it (not an OSV field; always set by the loader)


def _check(advisory: Advisory, source: str) -> None:
    """Refuse what the OSV schema forbids and what the evaluation cannot read."""
    for i, affected in enumerate(advisory.affected or ()):
        ecosystem = affected.package.ecosystem if affected.package else ""
        for j, rng in enumerate(affected.ranges or ()):
            where = f"{source}: affected[{i}].ranges[{j}]"
            if rng.type not in RANGE_TYPES:
                raise InvalidArgument(f"unknown range type {rng.type!r} (expected one of {sorted(RANGE_TYPES)})",
                                      field=f"{where}.type")
            for k, event in enumerate(rng.events):
                keys = [f for f in event.__fields__ if getattr(event, f) is not None]
                if len(keys) != 1:
                    raise InvalidArgument(f"an event has exactly one of introduced, fixed, last_affected, limit; got "
                                          f"{keys or 'none'}", field=f"{where}.events[{k}]")
            if not any(e.introduced is not None for e in rng.events):
                raise InvalidArgument("a range needs at least one 'introduced' event", field=f"{where}.events")
            scheme = versions.for_range(rng.type, ecosystem)
            if scheme is None:
                continue
            for k, event in enumerate(rng.events):
                name, value = event.kind()
                if (name == "introduced" and value == "0") or (name == "limit" and value == "*"):
                    continue
                try:
                    scheme.key(value)
                except InvalidArgument as exc:
                    raise InvalidArgument(exc.message, field=f"{where}.events[{k}].{name}") from None


def parse_advisory(data: object, source: str) -> Advisory:
    """An advisory from its parsed JSON; errors name ``source`` and the JSON path."""
    try:
        advisory = schema.from_json(Advisory, data)
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message, field=f"{source}: {exc.field}" if exc.field else source) from None
    _check(advisory, source)
    return advisory.replace(file=source)


def _json_files(directory: str) -> Iterator[str]:
    for top, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".json"):
                yield os.path.join(top, name)


def package_key(ecosystem: str, name: str) -> tuple[str, str]:
    """How the index spells a package: PyPI names in PEP 503 form, others as they are."""
    if ecosystem.partition(":")[0] == "PyPI":
        return ecosystem, normalize_name(name)
    return ecosystem, name


class Index:
    """Affected entries by (ecosystem, package name), for the ecosystems boxen matches."""

    def __init__(self, advisories: list[Advisory]) -> None:
        self.advisories = advisories
        self._entries: dict[tuple[str, str], list[tuple[Advisory, Affected]]] = {}
        for advisory in advisories:
            for affected in advisory.affected or ():
                package = affected.package
                if package is None or versions.for_ecosystem(package.ecosystem) is None:
                    continue
                entries = self._entries.setdefault(package_key(package.ecosystem, package.name), [])
                entries.append((advisory, affected))

    def __len__(self) -> int:
        return len(self.advisories)

    def lookup(self, ecosystem: str, name: str) -> list[tuple[Advisory, Affected]]:
        """Entries for a package of ``ecosystem`` (``Debian:12`` also sees unscoped ``Debian``)."""
        family = ecosystem.partition(":")[0]
        found = list(self._entries.get(package_key(ecosystem, name), ()))
        if family != ecosystem:
            found += self._entries.get(package_key(family, name), ())
        return found


def load_advisories(directory: str) -> Index:
    """Read every ``*.json`` under ``directory`` (one OSV advisory per file) into an Index.

    Withdrawn advisories are left out. Raises NotFound if the directory does not exist and
    InvalidArgument, naming the file and JSON path, for a malformed advisory.
    """
    if not os.path.isdir(directory):
        raise NotFound(f"advisory directory {directory!r} does not exist or is not a directory", field="--advisories")
    advisories = []
    for path in _json_files(directory):
        if not os.path.isfile(path):
            continue  # a FIFO or device named *.json is not an advisory (and could block or never end)
        with open(path, "rb") as f:
            raw = f.read(_FILE_LIMIT + 1)
        if len(raw) > _FILE_LIMIT:
            raise InvalidArgument(f"advisory file is larger than {_FILE_LIMIT} bytes", field=path)
        data = jsonio.loads(raw, source=path)
        advisory = parse_advisory(data, path)
        if advisory.withdrawn is None:
            advisories.append(advisory)
    return Index(advisories)
