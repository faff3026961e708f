"""``boxen-image scan`` on a real Debian root filesystem (debootstrap minbase bookworm).

dpkg itself is the oracle for the inventory: ``dpkg-query --admindir`` reads the same
database and must list the same packages, versions, architectures and source packages.
Advisories are written by the tests in OSV format, from the versions actually installed.
"""

import json
import os
import shutil
import subprocess

import pytest

from support import images


@pytest.fixture(scope="module")
def debian_rootfs(debian_layout, tmp_path_factory):
    """The debian test image unpacked with umoci (removed after the module)."""
    if os.geteuid() != 0:
        pytest.skip("umoci unpack keeps file owners only as root")
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed")
    layout, tag = debian_layout
    work = tmp_path_factory.mktemp("scan-debian")
    bundle = work / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)], check=True, capture_output=True)
    yield str(bundle / "rootfs")
    shutil.rmtree(work, ignore_errors=True)


def dpkg_query(rootfs):
    """(package, version, arch) -> (source, source version), for packages whose files are on disk."""
    fmt = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Status}\n"
    out = subprocess.run(["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W", "-f", fmt],
                         check=True, capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {(p, v, a): (s, sv) for p, v, a, s, sv, state in rows if state not in ("not-installed", "config-files")}


def write_advisory(directory, advisory):
    with open(os.path.join(directory, f"{advisory['id']}.json"), "w") as f:
        json.dump(advisory, f)


def test_inventory_matches_dpkg(boxen_image, debian_rootfs, tmp_path):
    bom_file = tmp_path / "bom.json"
    proc = boxen_image("scan", "--rootfs", debian_rootfs, "--format", "cyclonedx", "--output", str(bom_file))
    assert proc.stdout == ""
    bom = json.loads(bom_file.read_text())
    debs = [c for c in bom["components"] if c.get("purl", "").startswith("pkg:deb/")]
    props = [{p["name"]: p["value"] for p in c.get("properties", [])} for c in debs]
    mine = {
        (c["name"], c["version"], p["boxen:package:arch"]): (
            p.get("boxen:package:sourceName", c["name"]),
            p.get("boxen:package:sourceVersion", c["version"]),
        )
        for c, p in zip(debs, props)
    }
    assert mine == dpkg_query(debian_rootfs)
    assert len(mine) > 80
    assert all("distro=debian-12" in c["purl"] for c in debs)
    libc = next(c for c in debs if c["name"] == "libc6")
    assert "upstream=glibc" in libc["purl"]
    assert sum(1 for c in debs if c.get("licenses")) > len(debs) // 2  # DEP-5 copyright files
    os_component = bom["components"][0]
    assert (os_component["type"], os_component["name"], os_component["version"]) == ("operating-system", "debian", "12")


def test_bom_is_valid_cyclonedx(boxen_image, debian_rootfs):
    pytest.importorskip("jsonschema", reason="jsonschema validates the BOM")
    validation = pytest.importorskip("cyclonedx.validation.json", reason="cyclonedx-python-lib ships the 1.5 schema")
    from cyclonedx.schema import SchemaVersion

    out = boxen_image("scan", "--rootfs", debian_rootfs, "--format", "cyclonedx").stdout
    assert validation.JsonStrictValidator(SchemaVersion.V1_5).validate_str(out) is None


def test_findings_from_advisories_for_the_installed_versions(boxen_image, debian_rootfs, tmp_path):
    installed = dpkg_query(debian_rootfs)
    glibc_version = next(sv for (p, _, _), (s, sv) in installed.items() if s == "glibc")
    bash_version = next(sv for (p, _, _), (s, sv) in installed.items() if p == "bash")
    osv = tmp_path / "osv"
    osv.mkdir()
    cvss_high = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]
    write_advisory(osv, {  # glibc, fixed in a later security update: every glibc binary is affected
        "id": "DSA-TEST-1", "modified": "2026-01-01T00:00:00Z", "summary": "glibc - test advisory",
        "severity": cvss_high,
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": glibc_version + "+boxen1"}]}]}],
    })
    write_advisory(osv, {  # bash, fixed in exactly the installed version
        "id": "DSA-TEST-2", "modified": "2026-01-01T00:00:00Z", "summary": "bash - already fixed",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": bash_version}]}]}],
    })
    write_advisory(osv, {  # another Debian release
        "id": "DSA-TEST-3", "modified": "2026-01-01T00:00:00Z", "summary": "glibc in Debian 11",
        "affected": [{"package": {"ecosystem": "Debian:11", "name": "glibc"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
    })

    table = boxen_image("scan", "--rootfs", debian_rootfs, "--advisories", str(osv), check=False)
    assert table.returncode == 1, table.stderr
    assert "DSA-TEST-1" in table.stdout and "DSA-TEST-2" not in table.stdout and "DSA-TEST-3" not in table.stdout
    assert glibc_version + "+boxen1" in table.stdout

    report = boxen_image("scan", "--rootfs", debian_rootfs, "--advisories", str(osv), "--format", "json", check=False)
    assert report.returncode == 1
    findings = json.loads(report.stdout)["findings"]
    assert {(f["component"]["name"], f["id"], f["severity"]) for f in findings} == {
        (p, "DSA-TEST-1", "high") for (p, _, _), (s, _) in installed.items() if s == "glibc"
    }

    assert boxen_image("scan", "--rootfs", debian_rootfs, "--advisories", str(osv), "--fail-on", "critical").returncode == 0


def test_scan_image_by_name(boxen_image, registry, debian_layout, debian_rootfs, tmp_path):
    layout, tag = debian_layout
    ref = f"{registry.host}/scan/debian:12"
    images.push(layout, tag, ref)
    boxen_image("pull", "--quiet", ref)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    boxen_image.env["TMPDIR"] = str(scratch)
    report = json.loads(boxen_image("scan", ref, "--format", "json").stdout)
    assert report["subject"]["name"] == ref
    assert report["subject"]["version"].startswith("sha256:")
    assert report["summary"]["packages"] == len(dpkg_query(debian_rootfs))
    assert os.listdir(scratch) == []  # the temporary bundle is gone
