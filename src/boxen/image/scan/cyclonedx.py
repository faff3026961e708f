"""The inventory as a CycloneDX 1.5 SBOM (JSON), with the findings as its vulnerabilities.

CycloneDX is OWASP's format for bills of materials. A BOM is one JSON object:

* ``bomFormat: "CycloneDX"``, ``specVersion: "1.5"``, a ``serialNumber`` (``urn:uuid:...``)
  naming this document and a ``version`` counting its revisions;
* ``metadata``: when it was made, by which tool, and the **subject** (here the image, a
  component of type ``container``, or a scanned directory, of type ``file``);
* ``components``: one object per package, each with a ``bom-ref`` unique in the document
  (here its purl), ``name``, ``version``, ``purl``, ``licenses`` (SPDX ids, one SPDX
  expression, or names), ``properties`` for facts the schema has no field for (the source
  package, the OSV ecosystem) and ``evidence.occurrences`` (the files it was found in);
* ``dependencies``: the subject depends on every component;
* ``vulnerabilities``: one object per advisory, with ``ratings`` and ``affects`` pointing
  at the ``bom-ref`` of each affected component.

The unit tests validate the output against the CycloneDX 1.5 JSON schema.
"""

from __future__ import annotations

import datetime
import uuid
from importlib import metadata as dist_metadata

from boxen.common.record import Record
from boxen.image.scan import licenses
from boxen.image.scan.component import Component
from boxen.image.scan.matching import Finding

SPEC_VERSION = "1.5"
CONTAINER = "container"
FILE = "file"
_PROPERTY = "boxen:package:"


class BomMetadata(Record):
    """What was scanned and when: ``name`` is an image reference or a directory, ``version``
    the image's manifest digest, ``type`` ``container`` or ``file``. ``timestamp`` (RFC 3339)
    and ``serial_number`` (``urn:uuid:...``) default to now and a random UUID."""

    name: str
    version: str | None = None
    type: str = CONTAINER
    timestamp: str | None = None
    serial_number: str | None = None


def bom_ref(component: Component) -> str:
    """The component's identifier inside the BOM: its purl, or ``type:name@version``."""
    return component.purl or f"{component.type}:{component.name}@{component.version}"


def _component(c: Component) -> dict[str, object]:
    out: dict[str, object] = {"type": c.type, "bom-ref": bom_ref(c), "name": c.name}
    if c.version:
        out["version"] = c.version
    if c.description:
        out["description"] = c.description
    if c.licenses:
        out["licenses"] = licenses.cyclonedx(c.licenses)
    if c.purl:
        out["purl"] = c.purl
    facts = [
        ("sourceName", c.source_name if c.source_name != c.name else None),
        ("sourceVersion", c.source_version if c.source_version != c.version else None),
        ("arch", c.arch),
        ("ecosystem", c.ecosystem),
    ]
    properties = [{"name": _PROPERTY + k, "value": v} for k, v in facts if v]
    if properties:
        out["properties"] = properties
    if c.locations:
        out["evidence"] = {"occurrences": [{"location": loc} for loc in c.locations]}
    return out


def _vulnerabilities(findings: tuple[Finding, ...] | list[Finding]) -> list[dict[str, object]]:
    by_id: dict[str, dict[str, object]] = {}
    for f in findings:
        entry = by_id.get(f.id)
        if entry is None:
            rating: dict[str, object] = {"severity": f.severity}
            if f.rating.score is not None:
                rating["score"] = f.rating.score
            if f.rating.method:
                rating["method"] = f.rating.method
            if f.rating.vector:
                rating["vector"] = f.rating.vector
            entry = {"bom-ref": f"vulnerability:{f.id}", "id": f.id, "source": {"name": "OSV"}, "ratings": [rating]}
            if f.summary:
                entry["description"] = f.summary
            entry["affects"] = []
            by_id[f.id] = entry
        affects = entry["affects"]
        assert isinstance(affects, list)
        affects.append({"ref": bom_ref(f.component), "versions": [{"version": f.component.version, "status": "affected"}]})
        if f.fixed:
            entry["recommendation"] = f"Upgrade {f.package} to {f.fixed} or later"
    return list(by_id.values())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tool_version() -> str:
    try:
        return dist_metadata.version("boxen")
    except dist_metadata.PackageNotFoundError:
        return "unknown"


def to_cyclonedx(
    components: list[Component], metadata: BomMetadata, findings: tuple[Finding, ...] | list[Finding] = ()
) -> dict[str, object]:
    """The CycloneDX 1.5 BOM of ``components`` (and ``findings``) as a JSON-ready dict."""
    subject_ref = f"subject:{metadata.name}"
    subject: dict[str, object] = {"type": metadata.type, "bom-ref": subject_ref, "name": metadata.name}
    if metadata.version:
        subject["version"] = metadata.version
    bom: dict[str, object] = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": metadata.serial_number or uuid.uuid4().urn,
        "version": 1,
        "metadata": {
            "timestamp": metadata.timestamp or _now(),
            "tools": {"components": [{"type": "application", "name": "boxen-image", "version": _tool_version()}]},
            "component": subject,
        },
        "components": [_component(c) for c in components],
        "dependencies": [{"ref": subject_ref, "dependsOn": [bom_ref(c) for c in components]}],
    }
    if findings:
        bom["vulnerabilities"] = _vulnerabilities(findings)
    return bom
