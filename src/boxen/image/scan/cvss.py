"""CVSS base scores from vector strings, and the qualitative ratings scanners report.

The Common Vulnerability Scoring System describes a flaw by a *vector* of metrics, and a
published formula turns the vector into a base score from 0.0 to 10.0. OSV advisories
carry the vector, not the score (``"severity": [{"type": "CVSS_V3", "score":
"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]``), so the scanner computes it:

* **exploitability** from how the flaw is reached: attack vector (network, adjacent, local,
  physical), attack complexity, privileges required, user interaction;
* **impact** from what it costs: confidentiality, integrity, availability (none, low,
  high), amplified when the scope changes (``S:C``: the flaw reaches beyond its component).

Version 3.x (3.0 and 3.1 share the formula; 3.1 rounds up in a way that avoids floating
point error) and version 2 are computed here. The rating bands of CVSS 3 are: 0.0 none,
0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical; CVSS 2 has no "critical"
(NVD's bands: below 4.0 low, below 7.0 medium, else high).
"""

from __future__ import annotations

import math

from boxen.common.errors import InvalidArgument

_V3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "PR": {"N": 0.85, "L": 0.62, "H": 0.27},
    "UI": {"N": 0.85, "R": 0.62},
    "S": {"U": 0.0, "C": 0.0},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}

_V2 = {
    "AV": {"L": 0.395, "A": 0.646, "N": 1.0},
    "AC": {"H": 0.35, "M": 0.61, "L": 0.71},
    "Au": {"M": 0.45, "S": 0.56, "N": 0.704},
    "C": {"N": 0.0, "P": 0.275, "C": 0.660},
    "I": {"N": 0.0, "P": 0.275, "C": 0.660},
    "A": {"N": 0.0, "P": 0.275, "C": 0.660},
}


def _metrics(vector: str, table: dict[str, dict[str, float]], skip_prefix: bool) -> dict[str, str]:
    parts = vector.split("/")
    if skip_prefix:
        parts = parts[1:]
    metrics: dict[str, str] = {}
    for part in parts:
        name, colon, value = part.partition(":")
        if not colon:
            raise InvalidArgument(f"{part!r} in CVSS vector {vector!r} is not METRIC:VALUE", field="score")
        if name in metrics:
            raise InvalidArgument(f"metric {name} appears twice in CVSS vector {vector!r}", field="score")
        if name in table and value not in table[name]:
            raise InvalidArgument(f"{name}:{value} is not a valid value in CVSS vector {vector!r}", field="score")
        metrics[name] = value  # temporal and environmental metrics are kept but not scored
    missing = [m for m in table if m not in metrics]
    if missing:
        raise InvalidArgument(f"CVSS vector {vector!r} lacks base metrics {', '.join(missing)}", field="score")
    return metrics


def _roundup_31(value: float) -> float:
    """CVSS 3.1's Roundup: the smallest number with one decimal >= value, without float error."""
    scaled = round(value * 100000)
    if scaled % 10000 == 0:
        return scaled / 100000.0
    return (math.floor(scaled / 10000) + 1) / 10.0


def score_v3(vector: str) -> float:
    """The base score of a ``CVSS:3.0/...`` or ``CVSS:3.1/...`` vector."""
    if not vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
        raise InvalidArgument(f"{vector!r} is not a CVSS 3.0 or 3.1 vector", field="score")
    m = _metrics(vector, _V3, skip_prefix=True)
    changed = m["S"] == "C"
    iss = 1 - (1 - _V3["C"][m["C"]]) * (1 - _V3["I"][m["I"]]) * (1 - _V3["A"][m["A"]])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    pr = (_PR_CHANGED if changed else _V3["PR"])[m["PR"]]
    exploitability = 8.22 * _V3["AV"][m["AV"]] * _V3["AC"][m["AC"]] * pr * _V3["UI"][m["UI"]]
    if impact <= 0:
        return 0.0
    total = min(1.08 * (impact + exploitability), 10) if changed else min(impact + exploitability, 10)
    if vector.startswith("CVSS:3.1/"):
        return _roundup_31(total)
    return math.ceil(total * 10) / 10


def score_v2(vector: str) -> float:
    """The base score of a CVSS 2 vector such as ``AV:N/AC:L/Au:N/C:P/I:P/A:P``."""
    m = _metrics(vector.removeprefix("(").removesuffix(")"), _V2, skip_prefix=False)
    impact = 10.41 * (1 - (1 - _V2["C"][m["C"]]) * (1 - _V2["I"][m["I"]]) * (1 - _V2["A"][m["A"]]))
    exploitability = 20 * _V2["AV"][m["AV"]] * _V2["AC"][m["AC"]] * _V2["Au"][m["Au"]]
    f_impact = 0 if impact == 0 else 1.176
    return round(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f_impact + 1e-9, 1)


def rating_v3(score: float) -> str:
    """The CVSS 3 qualitative rating of a base score."""
    if score == 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def rating_v2(score: float) -> str:
    """NVD's qualitative rating of a CVSS 2 base score."""
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    return "high"
