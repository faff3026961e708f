import gzip
import hashlib
import io
import json
import os
import random
import tarfile

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image import archive, layout
from boxen.image import content as contents
from boxen.image.content.local import LocalContentStore
from boxen.image.store import ImageStore, resolve
from boxen.oci import image as oci


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LAYER1 = tar_of({"bin/sh": random.Random(1).randbytes(20000)})
LAYER2 = tar_of({"etc/passwd": b"root:x:0:0::/root:/bin/sh\n"})


def make_store(path):
    return LocalContentStore(str(path / "content")), ImageStore(str(path / "images.db"))


def add_image(content, images, name, compress=True):
    layers = [gzip.compress(LAYER1, mtime=0), LAYER2] if compress else [LAYER1, LAYER2]
    types = [oci.OCI_LAYER_GZIP, oci.OCI_LAYER] if compress else [oci.OCI_LAYER, oci.OCI_LAYER]
    descs = [contents.put(content, b, t) for b, t in zip(layers, types)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(LAYER1), sha(LAYER2)]}}).encode()
    cdesc = contents.put(content, config, oci.OCI_CONFIG)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": cdesc.mediaType, "digest": cdesc.digest, "size": cdesc.size},
                           "layers": [{"mediaType": d.mediaType, "digest": d.digest, "size": d.size}
                                      for d in descs]}).encode()
    return images.put(name, contents.put(content, manifest, oci.OCI_MANIFEST))


def test_docker_archive_round_trip(tmp_path):
    content, images = make_store(tmp_path / "a")
    image = add_image(content, images, "docker.io/library/app:1")
    out = tmp_path / "app.tar"
    archive.save(content, [image], str(out))
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        entries = json.load(tar.extractfile("manifest.json"))
    assert {"manifest.json", "repositories", "index.json", "oci-layout"} <= names
    assert entries[0]["RepoTags"] == ["app:1"]
    assert entries[0]["Layers"] == ["blobs/" + sha(LAYER1).replace(":", "/"), "blobs/" + sha(LAYER2).replace(":", "/")]

    content2, images2 = make_store(tmp_path / "b")
    assert archive.load(content2, images2, str(out)) == ["docker.io/library/app:1"]
    _, manifest, config = resolve(content2, images2.get("docker.io/library/app:1").target)
    assert [d.digest for d in manifest.layers] == [sha(LAYER1), sha(LAYER2)]
    assert config.rootfs.diff_ids == (sha(LAYER1), sha(LAYER2))


def test_oci_layout_round_trip_keeps_digests(tmp_path):
    content, images = make_store(tmp_path / "a")
    image = add_image(content, images, "registry.test/x/app:v2")
    directory = tmp_path / "layout"
    layout.export(content, [image], str(directory))
    index = json.loads((directory / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"io.containerd.image.name": "registry.test/x/app:v2",
                                                    "org.opencontainers.image.ref.name": "v2"}
    assert (directory / "oci-layout").exists()
    content2, images2 = make_store(tmp_path / "b")
    assert archive.load(content2, images2, str(directory)) == ["registry.test/x/app:v2"]
    assert images2.get("registry.test/x/app:v2").target == image.target
    with open(tmp_path / "layout.tar", "wb") as f:
        layout.write_tar(str(directory), f)
    content3, images3 = make_store(tmp_path / "c")
    assert archive.load(content3, images3, str(tmp_path / "layout.tar")) == ["registry.test/x/app:v2"]


def test_bare_tag_names_use_the_repository(tmp_path):
    content, images = make_store(tmp_path / "a")
    image = add_image(content, images, "registry.test/x/app:v2")
    directory = tmp_path / "layout"
    layout.export(content, [image], str(directory))
    index = json.loads((directory / "index.json").read_text())
    del index["manifests"][0]["annotations"]["io.containerd.image.name"]
    (directory / "index.json").write_text(json.dumps(index))
    content2, images2 = make_store(tmp_path / "b")
    assert archive.load(content2, images2, str(directory), repository="localhost/mine") == ["localhost/mine:v2"]


def test_layout_blob_that_lies_is_refused(tmp_path):
    content, images = make_store(tmp_path / "a")
    image = add_image(content, images, "registry.test/x/app:v2")
    directory = tmp_path / "layout"
    layout.export(content, [image], str(directory))
    blob = directory / "blobs" / "sha256" / sha(LAYER2).split(":")[1]
    blob.unlink()
    blob.write_bytes(b"X" * len(LAYER2))
    content2, images2 = make_store(tmp_path / "b")
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        archive.load(content2, images2, str(directory))
    assert images2.list() == [] and content2.statuses() == []
    with pytest.raises(NotFound):
        content2.info(sha(LAYER2))


def _docker_archive(path, layers: dict[str, bytes], config_diff_ids, layer_paths):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": config_diff_ids}}).encode()
    files = {"c.json": config, **layers,
             "manifest.json": json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": layer_paths}]).encode()}
    path.write_bytes(tar_of(files))


@pytest.mark.parametrize("case, match", [
    ("wrong-diff-id", "uncompresses to"),
    ("truncated-gzip", "truncated gzip"),
    ("outside", "points outside the archive"),
    ("missing", "missing"),
    ("count", "diff_ids"),
])
def test_hostile_docker_archives(tmp_path, case, match):
    good = gzip.compress(LAYER1, mtime=0)
    layers, diff_ids, paths = {"l/layer.tar": good}, [sha(LAYER1)], ["l/layer.tar"]
    if case == "wrong-diff-id":
        diff_ids = [sha(LAYER2)]
    elif case == "truncated-gzip":
        layers = {"l/layer.tar": good[: len(good) // 2]}
    elif case == "outside":
        paths = ["../../etc/passwd"]
    elif case == "missing":
        paths = ["nope/layer.tar"]
    elif case == "count":
        diff_ids = [sha(LAYER1), sha(LAYER2)]
    _docker_archive(tmp_path / "evil.tar", layers, diff_ids, paths)
    content, images = make_store(tmp_path / "s")
    with pytest.raises((InvalidArgument, NotFound), match=match):
        archive.load(content, images, str(tmp_path / "evil.tar"))
    assert images.list() == [] and list(content.walk()) == [] and content.statuses() == []


def test_not_an_archive(tmp_path):
    (tmp_path / "x").write_bytes(b"hello")
    content, images = make_store(tmp_path / "s")
    with pytest.raises(InvalidArgument, match="not a directory or a tar archive"):
        archive.load(content, images, str(tmp_path / "x"))
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidArgument, match="neither"):
        archive.load(content, images, str(tmp_path / "d"))


def test_save_refuses_layers_that_do_not_match_their_diff_id(tmp_path):
    content, images = make_store(tmp_path / "a")
    image = add_image(content, images, "docker.io/library/app:1")
    _, manifest, _ = resolve(content, image.target)
    path = content.path(manifest.layers[1].digest)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(LAYER1)
    with pytest.raises(InvalidArgument, match="config says"):
        archive.save(content, [image], str(tmp_path / "out.tar"))
    assert not (tmp_path / "out.tar").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".boxen-save")] == []
