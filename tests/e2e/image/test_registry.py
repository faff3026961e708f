"""Pull and push against Debian's docker-registry on loopback, with skopeo on the other side."""

import json
import os
import subprocess

from support import images
from support.images import skopeo_digest


def test_pull_what_skopeo_pushed_with_identical_digests(boxen_image, registry, busybox_layout):
    ref = f"{registry.host}/interop/busybox:latest"
    images.push(*busybox_layout, ref)
    expected = skopeo_digest(f"docker://{ref}", "--tls-verify=false")
    out = boxen_image("pull", "--no-unpack", "--json", ref).stdout.splitlines()
    result = json.loads(out[-1])
    assert result["digest"] == expected
    assert boxen_image("inspect", ref).returncode == 0
    raw = boxen_image("inspect", "--raw", "manifest", ref).stdout.encode()
    assert json.loads(raw)["layers"]
    assert boxen_image("ls", "-q").stdout.split() == [ref]
    again = boxen_image("pull", "--no-unpack", ref).stderr
    assert "Image is up to date" in again


def test_pull_docker_schema2_manifest(boxen_image, registry, busybox_layout):
    ref = f"{registry.host}/interop/busybox-v2s2:latest"
    images.push(*busybox_layout, ref, fmt="v2s2")
    out = boxen_image("pull", "--no-unpack", "--json", ref).stdout.splitlines()
    assert json.loads(out[-1])["digest"] == skopeo_digest(f"docker://{ref}", "--tls-verify=false")
    manifest = json.loads(boxen_image("inspect", "--raw", "manifest", ref).stdout)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_push_is_read_back_by_skopeo(boxen_image, registry, busybox_layout, tmp_path):
    src = f"{registry.host}/interop/busybox:src"
    images.push(*busybox_layout, src)
    boxen_image("pull", "--no-unpack", src)
    digest = boxen_image("inspect", src).stdout
    digest = json.loads(digest)["Target"]["digest"]
    mounted = boxen_image("push", "--explain", src, f"{registry.host}/other/busybox:copy")
    assert "Mounted from interop/busybox" in mounted.stderr
    chunked = boxen_image("push", "--chunk-size", "65536", "-q", src, f"{registry.host}/chunked/busybox:c")
    assert chunked.stdout.strip() == digest
    for ref in (f"{registry.host}/other/busybox:copy", f"{registry.host}/chunked/busybox:c"):
        assert skopeo_digest(f"docker://{ref}", "--tls-verify=false") == digest
        inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                                 capture_output=True, text=True, check=True)
        assert json.loads(inspect.stdout)["Digest"] == digest
    out = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{registry.host}/chunked/busybox:c",
                    f"oci:{out}:c"], check=True, capture_output=True)
    assert (out / "index.json").exists()


def test_rm_and_prune_empty_the_store(boxen_image, registry, busybox_layout):
    ref = f"{registry.host}/interop/busybox:rm"
    images.push(*busybox_layout, ref)
    boxen_image("pull", "--no-unpack", "-q", ref)
    boxen_image("tag", ref, "mine:latest")
    boxen_image("rm", ref)
    assert boxen_image("ls", "-q").stdout.split() == ["docker.io/library/mine:latest"]
    assert boxen_image("prune", "--dry-run").stdout.startswith("Total")
    out = boxen_image("rm", "mine").stdout
    assert out.count("Deleted: sha256:") == 3
    blobs = os.path.join(boxen_image.root, "content", "blobs", "sha256")
    assert os.listdir(blobs) == []
    missing = boxen_image("rm", "mine", check=False)
    assert missing.returncode == 1 and "no image" in missing.stderr


def test_pull_debian(boxen_image, registry, debian_layout):
    ref = f"{registry.host}/interop/debian:bookworm"
    images.push(*debian_layout, ref)
    result = json.loads(boxen_image("pull", "--no-unpack", "--json", ref).stdout.splitlines()[-1])
    assert result["digest"] == skopeo_digest(f"docker://{ref}", "--tls-verify=false")


def test_unknown_reference_and_unreachable_registry(boxen_image, registry):
    missing = boxen_image("pull", f"{registry.host}/nothing/here:latest", check=False)
    assert missing.returncode == 1
    assert "MANIFEST_UNKNOWN" in missing.stderr or "NAME_UNKNOWN" in missing.stderr
    down = boxen_image("pull", "127.0.0.1:1/x:y", check=False)
    assert down.returncode == 1 and "no endpoint of 127.0.0.1:1 answered" in down.stderr


def test_docker_hub_names_through_a_mirror(boxen_image, registry, busybox_layout):
    images.push(*busybox_layout, f"{registry.host}/library/busybox:latest")
    os.makedirs(boxen_image.root, exist_ok=True)
    with open(os.path.join(boxen_image.root, "registries.json"), "w") as f:
        json.dump({"registries": {"docker.io": {"mirrors": [f"http://{registry.host}"]}}}, f)
    out = boxen_image("pull", "--no-unpack", "--explain", "busybox")
    assert f"using endpoint http://{registry.host} (a mirror)" in out.stderr
    assert boxen_image("ls", "-q").stdout.split() == ["docker.io/library/busybox:latest"]
    assert "busybox:latest" in boxen_image("ls").stdout


def test_pull_unpacks_and_rm_collects_the_snapshots(boxen_image, registry, busybox_layout):
    ref = f"{registry.host}/interop/busybox:unpack"
    images.push(*busybox_layout, ref)
    result = json.loads(boxen_image("pull", "--json", ref).stdout.splitlines()[-1])
    config = json.loads(boxen_image("inspect", "--raw", "config", ref).stdout)
    assert result["chainID"] == config["rootfs"]["diff_ids"][-1]  # one layer: its chain ID is its diff ID
    out = boxen_image("rm", ref).stdout
    assert f"Deleted snapshot: {result['chainID']}" in out
