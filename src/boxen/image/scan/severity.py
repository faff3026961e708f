"""How severe a finding is: one qualitative level from whatever the advisory offers.

Advisories state severity in several ways, and scanners reduce them to one scale,
``unknown < none < low < medium < high < critical``, so findings can be sorted and a CI
job can fail "on high and above":

1. a qualitative level chosen by the database for this package, in
   ``affected[].ecosystem_specific.severity`` or ``affected[].database_specific.severity``,
   or for the whole advisory in ``database_specific.severity`` (GitHub's ``MODERATE``,
   Debian's urgency ``unimportant``, Red Hat's ``Important`` are mapped to the scale);
2. otherwise a score: the package's ``affected[].severity`` if given, else the advisory's
   ``severity``; a CVSS 3 vector is scored (preferred), then CVSS 2, then an ``Ubuntu``
   priority. CVSS 4 vectors are kept but not scored, as their formula is a large
   lookup table.

Without any of these the level is ``unknown``.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.scan import cvss
from boxen.image.scan.osv import Advisory, Affected, Severity

#: The scale, lowest first.
LEVELS = ("unknown", "none", "low", "medium", "high", "critical")
_RANK = {level: i for i, level in enumerate(LEVELS)}

#: Qualitative words used by advisory databases -> the scale.
_WORDS = {
    "critical": "critical",
    "high": "high", "important": "high",
    "medium": "medium", "moderate": "medium",
    "low": "low", "negligible": "low", "unimportant": "low",
    "none": "none",
}


class Rating(Record):
    """A level, and the score and vector it came from when it came from CVSS."""

    level: str
    score: float | None = None
    vector: str | None = None
    method: str | None = None  # CycloneDX rating method: CVSSv2, CVSSv3, CVSSv31, CVSSv4, other


def rank(level: str) -> int:
    """Position of ``level`` on the scale (``unknown`` is 0)."""
    return _RANK[level]


def _word(value: object) -> str | None:
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    return None


def _from_specific(*blocks: object) -> str | None:
    for block in blocks:
        if isinstance(block, dict):
            level = _word(block.get("severity"))
            if level:
                return level
    return None


def _from_scores(scores: tuple[Severity, ...]) -> Rating | None:
    by_type = {s.type: s.score for s in scores}
    vector = by_type.get("CVSS_V3")
    if vector:
        try:
            score = cvss.score_v3(vector)
        except InvalidArgument:
            pass  # an unreadable vector says nothing; try the other kinds
        else:
            method = "CVSSv31" if vector.startswith("CVSS:3.1/") else "CVSSv3"
            return Rating(cvss.rating_v3(score), score, vector, method)
    vector = by_type.get("CVSS_V2")
    if vector:
        try:
            score = cvss.score_v2(vector)
        except InvalidArgument:
            pass
        else:
            return Rating(cvss.rating_v2(score), score, vector, "CVSSv2")
    level = _word(by_type.get("Ubuntu"))
    if level:
        return Rating(level, method="other")
    if by_type.get("CVSS_V4"):
        return Rating("unknown", vector=by_type["CVSS_V4"], method="CVSSv4")
    return None


def rate(advisory: Advisory, affected: Affected) -> Rating:
    """The rating of ``advisory`` for the package of ``affected``."""
    level = _from_specific(affected.ecosystem_specific, affected.database_specific, advisory.database_specific)
    scored = _from_scores(affected.severity or advisory.severity or ())
    if level:
        if scored and scored.score is not None:
            return scored.replace(level=level)
        return Rating(level)
    return scored or Rating("unknown")
