"""CycloneDX 1.5 output, validated against the schema, and the table and JSON reports."""

import pathlib

import pytest

from boxen.common import jsonio
from boxen.image.scan import BomMetadata, inventory, licenses, load_advisories, match, report, to_cyclonedx
from boxen.image.scan.cyclonedx import bom_ref

DATA = pathlib.Path(__file__).resolve().parents[3] / "data" / "scan"
META = BomMetadata("registry.test/debian:12", "sha256:" + "ab" * 32, timestamp="2026-01-01T00:00:00Z",
                   serial_number="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79")


def _scan(rootfs):
    components = inventory(str(DATA / rootfs))
    return components, match(components, load_advisories(str(DATA / "osv")))


def _validate(bom):
    """Validate with the CycloneDX project's own validator and its bundled 1.5 schema."""
    pytest.importorskip("jsonschema", reason="jsonschema validates the BOM against the CycloneDX schema")
    validation = pytest.importorskip(
        "cyclonedx.validation.json", reason="cyclonedx-python-lib ships the CycloneDX 1.5 JSON schema"
    )
    from cyclonedx.schema import SchemaVersion

    error = validation.JsonStrictValidator(SchemaVersion.V1_5).validate_str(jsonio.dumps(bom))
    assert error is None, str(error)


@pytest.mark.parametrize("rootfs", ["debian-rootfs", "alpine-rootfs", "distroless-rootfs"])
def test_bom_is_valid_cyclonedx_1_5(rootfs):
    components, findings = _scan(rootfs)
    _validate(to_cyclonedx(components, META, findings))
    _validate(to_cyclonedx(components, BomMetadata(str(DATA / rootfs), type="file")))


def test_bom_structure():
    components, findings = _scan("debian-rootfs")
    bom = to_cyclonedx(components, META, findings)
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.5", 1)
    assert bom["serialNumber"] == META.serial_number
    subject = bom["metadata"]["component"]
    assert (subject["type"], subject["name"], subject["version"]) == ("container", META.name, META.version)
    assert bom["metadata"]["tools"]["components"][0]["name"] == "boxen-image"
    refs = [c["bom-ref"] for c in bom["components"]]
    assert len(refs) == len(set(refs)) == len(components)
    assert bom["dependencies"] == [{"ref": subject["bom-ref"], "dependsOn": refs}]
    ssl = next(c for c in bom["components"] if c["name"] == "libssl3")
    assert ssl["purl"] == ssl["bom-ref"]
    assert ssl["licenses"] == [{"license": {"id": "Apache-2.0"}}, {"license": {"id": "GPL-2.0-or-later"}},
                               {"license": {"id": "BSD-3-Clause"}}]
    props = {p["name"]: p["value"] for p in ssl["properties"]}
    assert props == {"boxen:package:sourceName": "openssl", "boxen:package:arch": "amd64",
                     "boxen:package:ecosystem": "Debian:12"}
    assert ssl["evidence"] == {"occurrences": [{"location": "/var/lib/dpkg/status"}]}
    os_component = bom["components"][0]
    assert (os_component["type"], os_component["name"], os_component["version"]) == ("operating-system", "debian", "12")


def test_bom_vulnerabilities_group_components_by_advisory():
    components, findings = _scan("debian-rootfs")
    vulns = {v["id"]: v for v in to_cyclonedx(components, META, findings)["vulnerabilities"]}
    assert set(vulns) == {"DSA-9001-1", "PYSEC-2099-11", "PYSEC-2099-7", "DEBIAN-CVE-2099-0004"}
    dsa = vulns["DSA-9001-1"]
    assert [a["ref"] for a in dsa["affects"]] == [bom_ref(f.component) for f in findings if f.id == "DSA-9001-1"]
    assert dsa["ratings"] == [{"severity": "critical", "score": 9.8, "method": "CVSSv31",
                               "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    assert dsa["recommendation"] == "Upgrade openssl to 3.0.13-1~deb12u1 or later"
    assert "recommendation" not in vulns["DEBIAN-CVE-2099-0004"]


def test_bom_defaults_timestamp_and_serial():
    bom = to_cyclonedx([], BomMetadata("x"))
    assert bom["serialNumber"].startswith("urn:uuid:")
    assert bom["metadata"]["timestamp"].endswith("Z")
    assert "vulnerabilities" not in bom


def test_every_spdx_id_boxen_emits_is_on_the_spdx_list():
    resources = pytest.importorskip("cyclonedx.schema._res", reason="cyclonedx-python-lib ships the SPDX list")
    spdx = jsonio.loads(pathlib.Path(resources.__file__).with_name("spdx.SNAPSHOT.schema.json").read_text())
    known = set(spdx["enum"])
    assert licenses.SPDX_IDS <= known
    assert {v for v in licenses.ALIASES.values()} <= known


# --- reports -----------------------------------------------------------------------------------


def test_findings_table():
    components, findings = _scan("debian-rootfs")
    text = report.findings_table(findings, components, width=100)
    lines = text.splitlines()
    assert lines[0].split() == ["PACKAGE", "INSTALLED", "FIXED", "IN", "ADVISORY", "SEVERITY", "SUMMARY"]
    assert lines[1].split()[:5] == ["libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "DSA-9001-1", "critical"]
    assert all(len(line) <= 100 for line in lines)
    assert any(line.endswith("…") for line in lines)
    assert lines[-1] == "5 findings (2 critical, 1 high, 1 medium, 1 low) in 5 of 9 packages"
    assert "-" in lines[5].split()  # bash has no fixed version
    assert report.findings_table([], components) == "no findings in 9 packages\n"


def test_inventory_table():
    components = inventory(str(DATA / "alpine-rootfs"))
    lines = report.inventory_table(components).splitlines()
    assert lines[0].split() == ["PACKAGE", "VERSION", "ECOSYSTEM", "SOURCE", "PURL"]
    assert lines[-1] == "6 packages (no advisories given)"
    crypto = next(line for line in lines if line.startswith("libcrypto3"))
    assert crypto.split()[1:4] == ["3.1.4-r2", "Alpine:v3.19", "openssl"]
    assert report.inventory_table([]) == "no packages found\n"


def test_json_report():
    components, findings = _scan("debian-rootfs")
    out = jsonio.loads(jsonio.dumps(report.to_json(findings, components, META)))
    assert out["summary"] == {"packages": 9, "findings": 5,
                              "bySeverity": {"critical": 2, "high": 1, "medium": 1, "low": 1}}
    first = out["findings"][0]
    assert first["id"] == "DSA-9001-1"
    assert first["component"]["source"] == {"name": "openssl", "version": "3.0.11-1~deb12u2"}
    assert first["advisoryPackage"] == {"ecosystem": "Debian:12", "name": "openssl"}
    assert (first["installed"], first["fixed"], first["score"]) == ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", 9.8)


@pytest.mark.parametrize(
    "fail_on, expected", [(None, True), ("low", True), ("high", True), ("critical", True)]
)
def test_fail_on_with_critical_findings(fail_on, expected):
    _, findings = _scan("debian-rootfs")
    assert report.fails(findings, fail_on) is expected


def test_fail_on_thresholds():
    _, findings = _scan("alpine-rootfs")  # one medium, one unknown
    assert report.fails(findings, None)
    assert report.fails(findings, "medium")
    assert not report.fails(findings, "high")
    assert not report.fails([f for f in findings if f.severity == "unknown"], "low")
    assert not report.fails([], None)
