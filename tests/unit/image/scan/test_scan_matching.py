"""OSV loading, the OSV evaluation of ranges and versions, severity and CVSS scores."""

import json
import os
import pathlib

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.scan import Component, cvss, inventory, load_advisories, match
from boxen.image.scan.matching import affects
from boxen.image.scan.osv import Index, parse_advisory
from boxen.image.scan.severity import rate

DATA = pathlib.Path(__file__).resolve().parents[3] / "data" / "scan"


def _advisory(affected, **extra):
    return parse_advisory({"id": "TEST-1", "modified": "2026-01-01T00:00:00Z", "affected": affected, **extra}, "t.json")


def _range(ecosystem, name, *events, type="ECOSYSTEM", **more):
    return {"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": type, "events": list(events)}], **more}


# --- the fixtures end to end -----------------------------------------------------------------


def _summary(findings):
    return sorted((f.component.name, f.component.arch, f.id, f.severity, f.fixed) for f in findings)


def test_debian_rootfs_against_fixture_advisories():
    findings = match(inventory(str(DATA / "debian-rootfs")), load_advisories(str(DATA / "osv")))
    assert _summary(findings) == [
        ("bash", "amd64", "DEBIAN-CVE-2099-0004", "low", None),  # last_affected == installed
        ("idna", None, "PYSEC-2099-11", "high", "3.7"),  # second of two ranges; IDNA normalised
        ("libssl3", "amd64", "DSA-9001-1", "critical", "3.0.13-1~deb12u1"),  # by source package
        ("openssl", "amd64", "DSA-9001-1", "critical", "3.0.13-1~deb12u1"),
        ("requests", None, "PYSEC-2099-7", "medium", "2.31.0"),  # GIT range skipped, ECOSYSTEM used
    ]
    # zlib is fixed in exactly the installed source version; urllib3 in the installed SemVer;
    # six's advisory is withdrawn; bash's Debian 11 advisory is for another release.
    assert [f.severity for f in findings] == ["critical", "critical", "high", "medium", "low"]
    ssl = next(f for f in findings if f.component.name == "libssl3")
    assert ssl.aliases == ("CVE-2099-0001",)
    assert (ssl.ecosystem, ssl.package, ssl.rating.score) == ("Debian:12", "openssl", 9.8)


def test_alpine_rootfs_against_fixture_advisories():
    findings = match(inventory(str(DATA / "alpine-rootfs")), load_advisories(str(DATA / "osv")))
    assert _summary(findings) == [
        ("Jinja2", None, "GHSA-2099-0008", "medium", None),  # versions list only
        ("libcrypto3", "x86_64", "ALPINE-CVE-2099-0005", "unknown", "3.1.4-r3"),
    ]


def test_loader_skips_withdrawn_and_reads_subdirectories():
    index = load_advisories(str(DATA / "osv"))
    ids = {a.id for a in index.advisories}
    assert "PYSEC-2099-10" not in ids
    assert {"DSA-9001-1", "ALPINE-CVE-2099-0005", "GHSA-2099-0012"} <= ids
    assert all(a.file and a.file.endswith(f"{a.id}.json") for a in index.advisories)
    assert index.lookup("npm", "requests") == []  # an ecosystem boxen does not match is not indexed


# --- the OSV evaluation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events, version, expected",
    [
        ([{"introduced": "0"}], "0.0.1", (True, None)),
        ([{"introduced": "0"}, {"fixed": "1.0.2"}], "1.0.1", (True, "1.0.2")),
        ([{"introduced": "0"}, {"fixed": "1.0.2"}], "1.0.2", (False, None)),
        ([{"introduced": "1.0.0"}, {"fixed": "1.0.2"}], "0.9", (False, None)),
        # two intervals, events given out of order (the evaluation sorts them)
        ([{"introduced": "3.0.0"}, {"fixed": "3.2.5"}, {"introduced": "1.0.0"}, {"fixed": "1.0.2"}], "1.0.1", (True, "1.0.2")),
        ([{"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}], "2.0", (False, None)),
        ([{"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}], "3.1", (True, "3.2.5")),
        ([{"introduced": "0"}, {"last_affected": "2.1.214"}], "2.1.214", (True, None)),
        ([{"introduced": "0"}, {"last_affected": "2.1.214"}], "2.1.215", (False, None)),
        ([{"introduced": "0"}, {"limit": "2.0"}], "1.9", (True, None)),
        ([{"introduced": "0"}, {"limit": "2.0"}], "2.0", (False, None)),
        ([{"introduced": "0"}, {"limit": "*"}], "99", (True, None)),
        ([{"introduced": "1.0.0rc1"}, {"fixed": "1.0.0"}], "1.0.0b2", (False, None)),  # PEP 440 order
        ([{"introduced": "1.0.0rc1"}, {"fixed": "1.0.0"}], "1.0.0rc2", (True, "1.0.0")),
    ],
)
def test_range_evaluation(events, version, expected):
    (entry,) = _advisory([_range("PyPI", "p", *events)]).affected
    assert affects(entry, version) == expected


def test_debian_tilde_ordering_decides_findings():
    (entry,) = _advisory([_range("Debian:12", "openssl", {"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"})]).affected
    assert affects(entry, "3.0.11-1~deb12u1") == (True, "3.0.11-1~deb12u2")
    assert affects(entry, "3.0.11-1") == (False, None)  # ~deb12u2 sorts before the bare revision
    assert affects(entry, "3.0.10-1+deb12u9") == (True, "3.0.11-1~deb12u2")


def test_semver_range_and_unreadable_installed_version():
    (entry,) = _advisory([_range("PyPI", "p", {"introduced": "1.0.0-rc.1"}, {"fixed": "1.0.0"}, type="SEMVER")]).affected
    assert affects(entry, "1.0.0-rc.2") == (True, "1.0.0")
    assert affects(entry, "1.0.0") == (False, None)
    assert affects(entry, "not.a.semver") == (False, None)  # cannot be in a range it cannot be read in


def test_versions_list_compares_in_the_ecosystem_order():
    (entry,) = _advisory([{"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1.0", "weird!"]}]).affected
    assert affects(entry, "1.0.0") == (True, None)
    assert affects(entry, "weird!") == (True, None)
    assert affects(entry, "1.1") == (False, None)


def test_ecosystem_scoping_and_one_finding_per_advisory():
    advisory = _advisory(
        [
            _range("Debian", "openssl", {"introduced": "0"}, {"fixed": "3.1"}),
            _range("Debian:12", "openssl", {"introduced": "0"}, {"fixed": "3.0.13"}),
            _range("Debian:11", "openssl", {"introduced": "0"}, {"fixed": "9"}),
        ]
    )
    index = Index([advisory])
    pkg = Component("library", "libssl3", "3.0.11", purl="pkg:deb/debian/libssl3@3.0.11", ecosystem="Debian:12",
                    source_name="openssl", source_version="3.0.11")
    (finding,) = match([pkg], index)
    assert (finding.fixed, finding.ecosystem) == ("3.0.13", "Debian:12")  # the release's own entry first
    assert len(index.lookup("Debian:12", "openssl")) == 2  # Debian:12 and unscoped Debian, not Debian:11
    unknown_release = pkg.replace(ecosystem="Debian")
    assert [f.fixed for f in match([unknown_release], index)] == ["3.1"]
    assert match([pkg.replace(ecosystem=None)], index) == []


# --- refusing malformed advisories ----------------------------------------------------------------


@pytest.mark.parametrize(
    "affected, field",
    [
        ([_range("PyPI", "p", {"introduced": "0", "fixed": "1"})], "t.json: affected[0].ranges[0].events[0]"),
        ([_range("PyPI", "p", {})], "t.json: affected[0].ranges[0].events[0]"),
        ([_range("PyPI", "p", {"fixed": "1"})], "t.json: affected[0].ranges[0].events"),
        ([_range("PyPI", "p", {"introduced": "0"}, type="DATE")], "t.json: affected[0].ranges[0].type"),
        ([_range("Debian:12", "p", {"introduced": "0"}, {"fixed": "1:"})], "t.json: affected[0].ranges[0].events[1].fixed"),
        ([_range("Alpine:v3.19", "p", {"introduced": "1.0-x"})], "t.json: affected[0].ranges[0].events[0].introduced"),
        ([_range("PyPI", "p", {"introduced": "0"}, {"fixed": "no way"})], "t.json: affected[0].ranges[0].events[1].fixed"),
        ([{"package": {"ecosystem": "PyPI"}}], "t.json: affected[0].package.name"),
        ([{"ranges": "everything"}], "t.json: affected[0].ranges"),
    ],
)
def test_malformed_advisories_name_file_and_json_path(affected, field):
    with pytest.raises(InvalidArgument) as exc:
        _advisory(affected)
    assert exc.value.field == field


def test_advisory_needs_id_and_modified():
    with pytest.raises(InvalidArgument) as exc:
        parse_advisory({"id": "X"}, "x.json")
    assert exc.value.field == "x.json: modified"
    with pytest.raises(InvalidArgument) as exc:
        parse_advisory([], "x.json")
    assert exc.value.field == "x.json"


def test_loader_errors(tmp_path):
    with pytest.raises(NotFound) as exc:
        load_advisories(str(tmp_path / "missing"))
    assert exc.value.field == "--advisories"
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(InvalidArgument) as exc:
        load_advisories(str(tmp_path))
    assert exc.value.field == str(tmp_path / "a.json")
    (tmp_path / "a.json").write_text(json.dumps({"id": "A", "modified": "x", "affected": [{"versions": "1.0"}]}))
    with pytest.raises(InvalidArgument) as exc:
        load_advisories(str(tmp_path))
    assert exc.value.field == f"{tmp_path / 'a.json'}: affected[0].versions"


# --- severity ------------------------------------------------------------------------------------


def _rated(severity=None, affected_extra=None, **top):
    extra = {"severity": severity} if severity else {}
    advisory = _advisory([_range("PyPI", "p", {"introduced": "0"}, **(affected_extra or {}))], **extra, **top)
    return rate(advisory, advisory.affected[0])


def test_severity_sources_in_order():
    v3 = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    assert _rated(v3).level == "critical"
    assert _rated(v3).method == "CVSSv31"
    # the database's own word wins over the score, and keeps the score
    rated = _rated(v3, {"ecosystem_specific": {"severity": "MODERATE"}})
    assert (rated.level, rated.score) == ("medium", 9.8)
    assert _rated(None, None, database_specific={"severity": "Important"}).level == "high"
    # the package's severity is preferred over the advisory's
    per_package = {"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:M/Au:N/C:N/I:P/A:N"}]}
    rated = _rated(v3, per_package)
    assert (rated.level, rated.score, rated.method) == ("medium", 4.3, "CVSSv2")
    assert _rated([{"type": "Ubuntu", "score": "negligible"}]).level == "low"
    v4 = _rated([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}])
    assert (v4.level, v4.method) == ("unknown", "CVSSv4")
    assert _rated([{"type": "CVSS_V3", "score": "garbage"}]).level == "unknown"
    assert _rated().level == "unknown"


@pytest.mark.parametrize(
    "vector, score, level",
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "critical"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "critical"),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8, "medium"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "high"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "medium"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3, "medium"),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, "low"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N/E:P", 0.0, "none"),
    ],
)
def test_cvss3_scores(vector, score, level):
    assert cvss.score_v3(vector) == score
    assert cvss.rating_v3(score) == level


@pytest.mark.parametrize(
    "vector, score", [("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5), ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
                      ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3), ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2),
                      ("AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0)],
)
def test_cvss2_scores(vector, score):
    assert cvss.score_v2(vector) == score


@pytest.mark.parametrize(
    "vector",
    ["CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
     "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AVN"],
)
def test_cvss3_refuses_malformed_vectors(vector):
    with pytest.raises(InvalidArgument):
        cvss.score_v3(vector)


def test_loader_ignores_special_files_named_json(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    os.symlink("/dev/zero", tmp_path / "zero.json")
    assert len(load_advisories(str(tmp_path))) == 0
