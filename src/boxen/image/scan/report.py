"""The scan's report: a table for people, JSON for scripts, and the exit-code rule.

Scanners in CI are judged by their exit code: ``0`` when nothing at or above the chosen
severity was found, ``1`` when something was (``--fail-on high`` ignores medium findings;
without it any finding fails), and another code when the scan itself could not run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from boxen.image.scan.component import Component
from boxen.image.scan.cyclonedx import BomMetadata
from boxen.image.scan.matching import Finding
from boxen.image.scan.severity import LEVELS, rank

FAIL_ON = LEVELS[2:]  # low, medium, high, critical
_MIN_SUMMARY = 20


def fails(findings: Sequence[Finding], fail_on: str | None) -> bool:
    """Whether the findings fail the scan: any finding, or one at or above ``fail_on``."""
    if fail_on is None:
        return bool(findings)
    return any(rank(f.severity) >= rank(fail_on) for f in findings)


def _columns(rows: Sequence[tuple[str, ...]], width: int) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    room = max(_MIN_SUMMARY, width - sum(w + 2 for w in widths))
    lines = []
    for row in rows:
        last = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + last)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _by_severity(findings: Sequence[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {level: counts[level] for level in reversed(LEVELS) if counts[level]}


def findings_table(findings: Sequence[Finding], components: Sequence[Component], width: int = 120) -> str:
    """One line per finding, highest severity first, and a summary line."""
    packages = [c for c in components if c.purl]
    if not findings:
        return f"no findings in {len(packages)} packages\n"
    rows = [("PACKAGE", "INSTALLED", "FIXED IN", "ADVISORY", "SEVERITY", "SUMMARY")]
    for f in findings:
        rows.append((f.component.name, f.component.version, f.fixed or "-", f.id, f.severity, f.summary))
    counts = ", ".join(f"{n} {level}" for level, n in _by_severity(findings).items())
    affected = len({f.component for f in findings})
    return _columns(rows, width) + f"\n{len(findings)} findings ({counts}) in {affected} of {len(packages)} packages\n"


def inventory_table(components: Sequence[Component], width: int = 120) -> str:
    """One line per package, for a scan without advisories."""
    packages = [c for c in components if c.purl]
    if not packages:
        return "no packages found\n"
    rows = [("PACKAGE", "VERSION", "ECOSYSTEM", "SOURCE", "PURL")]
    for c in packages:
        source = c.source_name if c.source_name and c.source_name != c.name else "-"
        rows.append((c.name, c.version, c.ecosystem or "-", source, c.purl or ""))
    return _columns(rows, width) + f"\n{len(packages)} packages (no advisories given)\n"


def _component_json(c: Component) -> dict[str, object]:
    out: dict[str, object] = {"name": c.name, "version": c.version, "purl": c.purl, "ecosystem": c.ecosystem}
    if c.source_name and (c.source_name != c.name or c.source_version != c.version):
        out["source"] = {"name": c.source_name, "version": c.source_version}
    out["locations"] = list(c.locations)
    return out


def to_json(findings: Sequence[Finding], components: Sequence[Component], metadata: BomMetadata) -> dict[str, object]:
    """The report as a JSON-ready dict: subject, summary counts and findings."""
    packages = [c for c in components if c.purl]
    return {
        "subject": {"name": metadata.name, "version": metadata.version, "type": metadata.type},
        "summary": {
            "packages": len(packages),
            "findings": len(findings),
            "bySeverity": _by_severity(findings),
        },
        "findings": [
            {
                "id": f.id,
                "aliases": list(f.aliases),
                "severity": f.severity,
                "score": f.rating.score,
                "vector": f.rating.vector,
                "summary": f.summary,
                "installed": f.component.version,
                "fixed": f.fixed,
                "advisoryPackage": {"ecosystem": f.ecosystem, "name": f.package},
                "component": _component_json(f.component),
            }
            for f in findings
        ],
    }
