"""``boxen-image scan`` through the CLI dispatcher: formats, output file, exit statuses."""

import os
import pathlib

import pytest

from boxen.common import jsonio
from boxen.image.cli import main

DATA = pathlib.Path(__file__).resolve().parents[3] / "data" / "scan"
DEBIAN = str(DATA / "debian-rootfs")
ALPINE = str(DATA / "alpine-rootfs")
OSV = str(DATA / "osv")


def scan(capsys, *args):
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_findings_exit_1_and_table(capsys):
    code, out, err = scan(capsys, "--rootfs", DEBIAN, "--advisories", OSV)
    assert code == 1
    assert out.splitlines()[0].startswith("PACKAGE")
    assert "DSA-9001-1" in out and err == ""


@pytest.mark.parametrize("fail_on, code", [("low", 1), ("medium", 1), ("high", 0), ("critical", 0)])
def test_fail_on(capsys, fail_on, code):
    assert scan(capsys, "--rootfs", ALPINE, "--advisories", OSV, "--fail-on", fail_on)[0] == code  # medium + unknown


def test_inventory_only_exits_0(capsys):
    code, out, _ = scan(capsys, "--rootfs", ALPINE)
    assert code == 0
    assert out.splitlines()[-1] == "6 packages (no advisories given)"


def test_json_and_cyclonedx_formats(capsys):
    code, out, _ = scan(capsys, "--rootfs", DEBIAN, "--advisories", OSV, "--format", "json")
    assert code == 1
    report = jsonio.loads(out)
    assert report["subject"] == {"name": DEBIAN, "version": None, "type": "file"}
    assert report["summary"]["findings"] == 5
    code, out, _ = scan(capsys, "--rootfs", DEBIAN, "--format", "cyclonedx")
    bom = jsonio.loads(out)
    assert code == 0
    assert bom["specVersion"] == "1.5" and "vulnerabilities" not in bom
    assert bom["metadata"]["component"]["type"] == "file"


def test_output_file(capsys, tmp_path):
    target = tmp_path / "bom.json"
    code, out, _ = scan(capsys, "--rootfs", DEBIAN, "--advisories", OSV, "--format", "cyclonedx", "-o", str(target))
    assert (code, out) == (1, "")
    bom = jsonio.loads(target.read_text())
    assert {v["id"] for v in bom["vulnerabilities"]} >= {"DSA-9001-1"}
    assert os.listdir(tmp_path) == ["bom.json"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rootfs", "/nonexistent/rootfs"], "does not exist"),
        (["--rootfs", DEBIAN, "--advisories", "/nonexistent/osv"], "--advisories"),
        (["--rootfs", DEBIAN, "--fail-on", "high"], "--fail-on: needs --advisories"),
        (["--rootfs", DEBIAN, "--platform", "linux/amd64"], "--platform"),
    ],
)
def test_errors_exit_2_and_leave_no_output(capsys, tmp_path, args, message):
    target = tmp_path / "out.json"
    code, out, err = scan(capsys, *args, "-o", str(target))
    assert code == 2
    assert out == ""
    assert err.startswith("boxen-image: error: ") and message in err
    assert os.listdir(tmp_path) == []


def test_malformed_advisory_is_named(capsys, tmp_path):
    (tmp_path / "bad.json").write_text('{"id": "X", "modified": "t", "affected": [{"package": {"ecosystem": "PyPI"}}]}')
    code, _, err = scan(capsys, "--rootfs", DEBIAN, "--advisories", str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'bad.json'}: affected[0].package.name: is required" in err


def test_ref_or_rootfs_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["scan", "busybox", "--rootfs", DEBIAN])


def test_unknown_image_in_an_empty_root(capsys, tmp_path):
    code = main(["--root", str(tmp_path), "scan", "busybox"])
    err = capsys.readouterr().err
    assert code == 2
    assert "busybox" in err
