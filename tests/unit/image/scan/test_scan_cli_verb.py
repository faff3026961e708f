"""``boxen-image scan`` through the CLI dispatcher: formats, output file, exit statuses."""

import os
import pathlib
import shutil
import sys
import tempfile
import types

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
    code, out, err = scan(capsys)
    assert (code, out) == (2, "")
    assert err == "boxen-image: error: REF: give an image name, or --rootfs DIR\n"
    code, out, err = scan(capsys, "busybox", "--rootfs", DEBIAN)
    assert (code, out) == (2, "")
    assert "--rootfs: " in err and "not both" in err


def test_unknown_image_in_an_empty_root(capsys, tmp_path):
    code = main(["--root", str(tmp_path), "scan", "busybox"])
    err = capsys.readouterr().err
    assert code == 2
    assert "busybox" in err


def _store_image(root_dir, name):
    """An image record with an empty manifest and config in a fresh data root."""
    from boxen.common.schema import to_json
    from boxen.image import content as contents
    from boxen.image.content.local import LocalContentStore
    from boxen.image.root import resolve
    from boxen.image.store import ImageStore
    from boxen.oci import image as oci

    root = resolve(root_dir)
    store = LocalContentStore(root.content)
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    config_desc = contents.put(store, jsonio.dumps(config).encode(), oci.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": to_json(config_desc), "layers": []}
    manifest_desc = contents.put(store, jsonio.dumps(manifest).encode(), oci.OCI_MANIFEST)
    images = ImageStore(root.images_db)
    images.put(name, manifest_desc)
    images.close()
    return manifest_desc


def test_scan_by_name_unpacks_into_a_temporary_bundle(capsys, tmp_path, monkeypatch):
    digest = _store_image(str(tmp_path / "root"), "registry.test/app:1").digest
    bundles = []

    def unpack_bundle(content, manifest, config, bundle_dir, *, explain=None):
        """Stands in for the filesystem engineer's unpack: the bundle's rootfs is a fixture."""
        assert (manifest.layers, config.os) == ((), "linux")
        bundles.append(bundle_dir)
        shutil.copytree(DEBIAN, os.path.join(bundle_dir, "rootfs"), symlinks=True)
        os.chmod(os.path.join(bundle_dir, "rootfs", "etc"), 0o555)  # read-only dirs must not stop the cleanup

    monkeypatch.setitem(sys.modules, "boxen.image.unpack", types.SimpleNamespace(unpack_bundle=unpack_bundle))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code = main(["--root", str(tmp_path / "root"), "scan", "registry.test/app:1", "--advisories", OSV, "--format", "json"])
    report = jsonio.loads(capsys.readouterr().out)
    assert code == 1
    assert report["subject"] == {"name": "registry.test/app:1", "version": digest, "type": "container"}
    assert report["summary"]["findings"] == 5
    assert bundles and bundles[0].startswith(str(scratch))
    assert os.listdir(scratch) == []


def test_scan_by_name_without_unpack_says_what_to_do(capsys, tmp_path, monkeypatch):
    _store_image(str(tmp_path / "root"), "registry.test/app:1")
    monkeypatch.setitem(sys.modules, "boxen.image.unpack", None)  # import fails as if the module were absent
    code = main(["--root", str(tmp_path / "root"), "scan", "registry.test/app:1"])
    assert code == 2
    assert "--rootfs DIR" in capsys.readouterr().err
