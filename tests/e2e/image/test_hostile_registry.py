"""A registry that lies: other bytes than the digest names, wrong sizes, wrong manifest digests.

Each pull must fail with a clear error, store nothing of the lie, and leave the store
usable: a pull of a good image into the same root works afterwards.
"""

import hashlib
import json
import os

import pytest

from support import images
from support.registry import StaticServer


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


LAYER = b"honest layer bytes" * 1000
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": [sha(b"whatever")]}}).encode()


def manifest(layer_size=len(LAYER), layer_digest=sha(LAYER)) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    }).encode()


def routes(manifest_bytes: bytes, layer_bytes: bytes, *, tag_digest: str | None = None):
    mt = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    m = json.loads(manifest_bytes)
    return {
        ("GET", "/v2/"): (200, {}, b"{}"),
        ("GET", "/v2/evil/manifests/latest"): (200, mt, manifest_bytes),
        ("GET", f"/v2/evil/manifests/{tag_digest or sha(manifest_bytes)}"): (200, mt, manifest_bytes),
        ("GET", f"/v2/evil/blobs/{sha(CONFIG)}"): (200, {}, CONFIG),
        ("GET", f"/v2/evil/blobs/{m['layers'][0]['digest']}"): (200, {}, layer_bytes),
    }


@pytest.fixture
def server():
    servers = []

    def start(r):
        s = StaticServer(r)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def assert_nothing_stored(boxen_image, *digests):
    blobs = os.path.join(boxen_image.root, "content", "blobs", "sha256")
    stored = set(os.listdir(blobs)) if os.path.isdir(blobs) else set()
    for d in digests:
        assert d.split(":")[1] not in stored
    assert boxen_image("ls", "-q").stdout.strip() == ""


def test_layer_bytes_that_do_not_match_the_digest(boxen_image, server):
    s = server(routes(manifest(), b"X" * len(LAYER)))
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1
    assert f"content does not match its digest: expected {sha(LAYER)}" in out.stderr
    assert_nothing_stored(boxen_image, sha(LAYER))
    assert os.listdir(os.path.join(boxen_image.root, "content", "ingest")) == []


def test_layer_larger_than_declared(boxen_image, server):
    s = server(routes(manifest(layer_size=100), LAYER))
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1 and "registry sends 18000 bytes, descriptor says 100" in out.stderr
    assert_nothing_stored(boxen_image, sha(LAYER))


def test_huge_declared_size_is_not_trusted(boxen_image, server):
    s = server(routes(manifest(layer_size=10**15), LAYER))
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1 and "descriptor says 1000000000000000" in out.stderr
    assert_nothing_stored(boxen_image, sha(LAYER))


def test_manifest_whose_digest_is_wrong(boxen_image, server):
    real = manifest()
    lie = sha(b"another manifest")
    s = server(routes(real, LAYER, tag_digest=lie))
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil@{lie}", check=False)
    assert out.returncode == 1 and f"expected {lie}" in out.stderr
    assert_nothing_stored(boxen_image, sha(real))


def test_store_usable_after_the_lies(boxen_image, server, registry, busybox_layout):
    s = server(routes(manifest(), b"X" * len(LAYER)))
    assert boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False).returncode == 1
    good = f"{registry.host}/good/busybox:latest"
    images.push(*busybox_layout, good)
    boxen_image("pull", "--no-unpack", good)
    assert boxen_image("ls", "-q").stdout.split() == [good]
    assert boxen_image("prune").returncode == 0
