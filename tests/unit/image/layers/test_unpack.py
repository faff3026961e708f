"""unpack(): layers onto snapshots named by chain ID; unpack_bundle(): an OCI bundle."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from boxen.common.errors import FailedPrecondition, InvalidArgument, Unimplemented
from boxen.image.content import put
from boxen.image.content.memory import MemoryContentStore
from boxen.image.snapshots import COMMITTED, Mount
from boxen.image.snapshots.native import NativeSnapshotter
from boxen.image.unpack import apply_target, chain_ids, unpack, unpack_bundle
from boxen.oci import image as oci

BASE = {"process": {"args": ["sh"], "env": ["PATH=/usr/bin:/bin", "TERM=xterm"], "cwd": "/"}, "root": {"path": "rootfs"}}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    """Layers put into a content store, with a manifest and a config that name them."""

    def __init__(self, store, *tars: bytes, gzip_layers: bool = True, diff_ids=None) -> None:
        import gzip

        layers = []
        for tar in tars:
            blob = gzip.compress(tar, mtime=0) if gzip_layers else tar
            media = oci.OCI_LAYER_GZIP if gzip_layers else oci.OCI_LAYER
            layers.append(put(store, blob, media))
        self.diff_ids = tuple(diff_ids or [sha(t) for t in tars])
        self.config = oci.ImageConfig("amd64", "linux", oci.RootFS("layers", self.diff_ids),
                                      config=oci.ContainerConfig(Cmd=("/bin/true",)))
        config_desc = put(store, b"{}", oci.OCI_CONFIG)
        self.manifest = oci.Manifest(2, config_desc, tuple(layers))


@pytest.fixture
def store():
    return MemoryContentStore()


@pytest.fixture
def snapshotter(tmp_path):
    s = NativeSnapshotter(str(tmp_path / "snapshots"))
    yield s
    s.close()


def test_chain_ids_follow_the_image_spec():
    a, b, c = (sha(x) for x in (b"a", b"b", b"c"))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


def test_layers_become_committed_snapshots_named_by_chain_id(layer, store, snapshotter):
    image = Image(store, layer().file("a", b"1").file("b", b"2").tar(),
                  layer().whiteout("a").file("c", b"3").tar())
    lines = []
    top = unpack(store, snapshotter, image.manifest, image.config, explain=lines.append)
    chains = chain_ids(image.diff_ids)
    assert top == chains[-1]
    infos = {i.name: i for i in snapshotter.walk()}
    assert set(infos) == set(chains)
    assert infos[chains[1]].parent == chains[0] and all(i.kind == COMMITTED for i in infos.values())
    with_files = snapshotter.view("look", top)[0].source
    assert sorted(os.listdir(with_files)) == ["b", "c"]
    assert any("whiteout a: removed" in line for line in lines)
    assert any(f"committed snapshot {top}" in line for line in lines)


def test_a_second_unpack_and_a_shared_base_reuse_snapshots(layer, store, snapshotter):
    base = layer().file("base", b"b").tar()
    first = Image(store, base, layer().file("one", b"1").tar())
    second = Image(store, base, layer().file("two", b"2").tar())
    unpack(store, snapshotter, first.manifest, first.config)
    events = []
    unpack(store, snapshotter, first.manifest, first.config, progress=events.append)
    assert [e.status for e in events] == ["exists", "exists"]
    events.clear()
    unpack(store, snapshotter, second.manifest, second.config, progress=events.append)
    assert [e.status for e in events if e.status != "applying"] == ["exists", "applied"]
    assert len(list(snapshotter.walk())) == 3


def test_progress_reports_bytes_of_each_layer(layer, store, snapshotter):
    image = Image(store, layer().file("f", os.urandom(3 << 20)).tar())
    events = []
    unpack(store, snapshotter, image.manifest, image.config, progress=events.append)
    applying = [e for e in events if e.status == "applying"]
    assert applying and applying[-1].done == image.manifest.layers[0].size == applying[-1].total
    assert events[-1].status == "applied"


def test_a_wrong_diff_id_is_refused_and_nothing_is_committed(layer, store, snapshotter):
    good = layer().file("ok").tar()
    image = Image(store, good, layer().file("bad").tar(), diff_ids=[sha(good), sha(b"something else")])
    with pytest.raises(InvalidArgument, match="image config says") as info:
        unpack(store, snapshotter, image.manifest, image.config)
    assert info.value.field == "rootfs.diff_ids[1]"
    assert [i.name for i in snapshotter.walk()] == [sha(good)]  # the good base stays, the bad layer is gone
    assert os.listdir(os.path.join(snapshotter.root, "snapshots")) == ["1"]


class LyingStore:
    """A content store whose blob bytes are not the ones its digest names."""

    def __init__(self, real, swap: bytes) -> None:
        self.real, self.swap = real, swap

    def reader(self, digest):
        return io.BytesIO(self.swap)


def test_blob_bytes_that_do_not_match_the_digest_are_refused(layer, store, snapshotter):
    image = Image(store, layer().file("f", b"real").tar())
    import gzip

    liar = LyingStore(store, gzip.compress(layer().file("f", b"evil").tar()))
    with pytest.raises(InvalidArgument):
        unpack(liar, snapshotter, image.manifest, image.config)
    assert list(snapshotter.walk()) == []


def test_manifest_and_config_must_agree(layer, store, snapshotter):
    image = Image(store, layer().file("f").tar())
    config = image.config.replace(rootfs=oci.RootFS("layers", ()))
    with pytest.raises(InvalidArgument, match="diff IDs"):
        unpack(store, snapshotter, image.manifest, config)
    weird = image.manifest.replace(layers=(image.manifest.layers[0].replace(mediaType="application/x-weird"),))
    with pytest.raises(Unimplemented) as info:
        unpack(store, snapshotter, weird, image.config)
    assert info.value.field == "layers[0].mediaType"
    empty = image.manifest.replace(layers=())
    with pytest.raises(InvalidArgument, match="no layers"):
        unpack(store, snapshotter, empty, config)


def test_empty_layers_and_docker_uncompressed_layers(store, snapshotter):
    import gzip

    empty_tar = bytes(1024)  # what docker writes for a step that changes nothing
    image = Image(store, empty_tar, b"", gzip_layers=False)
    docker = image.manifest.layers[0].replace(mediaType="application/vnd.docker.image.rootfs.diff.tar")
    manifest = image.manifest.replace(layers=(docker, image.manifest.layers[1]))
    top = unpack(store, snapshotter, manifest, image.config)
    assert top == chain_ids([sha(empty_tar), sha(b"")])[-1]
    gz = Image(store, empty_tar, gzip_layers=True)
    assert gzip.decompress(store.reader(gz.manifest.layers[0].digest).read()) == empty_tar
    unpack(store, snapshotter, gz.manifest, gz.config)


def test_apply_target_reads_bind_and_overlay_mounts():
    assert apply_target([Mount("bind", "/s/1/fs", ("rbind", "rw"))]) == ("/s/1/fs", False, ())
    overlay = Mount("overlay", "overlay", ("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"))
    assert apply_target([overlay]) == ("/u", True, ("/l1", "/l2"))
    with pytest.raises(Unimplemented):
        apply_target([Mount("bind", "/s/1/fs", ("rbind", "ro"))])
    with pytest.raises(Unimplemented):
        apply_target([Mount("overlay", "overlay", ("lowerdir=/a:/b",))])


def test_unpack_bundle_writes_rootfs_and_config(layer, store, tmp_path, monkeypatch):
    monkeypatch.setattr("boxen.runtime.spec.default_spec", lambda rootless=False: json.loads(json.dumps(BASE)))
    image = Image(store, layer().dir("etc").file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n").tar(),
                  layer().file("bin/true", b"\x7fELF", mode=0o755).tar(), gzip_layers=False)
    bundle = tmp_path / "bundle"
    unpack_bundle(store, image.manifest, image.config, str(bundle))
    assert sorted(os.listdir(bundle)) == ["config.json", "rootfs"]
    assert (bundle / "rootfs/bin/true").read_bytes() == b"\x7fELF"
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/true"]
    assert spec["annotations"]["org.opencontainers.image.architecture"] == "amd64"


def test_unpack_bundle_refuses_a_non_empty_directory_and_cleans_up_after_errors(layer, store, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    image = Image(store, layer().file("f").tar())
    with pytest.raises(FailedPrecondition):
        unpack_bundle(store, image.manifest, image.config, str(tmp_path / "full"))
    assert os.listdir(tmp_path / "full") == ["x"]

    bad = Image(store, layer().file("f").tar(), diff_ids=[sha(b"other")])
    with pytest.raises(InvalidArgument):
        unpack_bundle(store, bad.manifest, bad.config, str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument):
        unpack_bundle(store, bad.manifest, bad.config, str(tmp_path / "empty"))
    assert os.listdir(tmp_path / "empty") == []


def test_an_unpack_killed_midway_is_cleaned_up_by_the_next_one(layer, store, snapshotter):
    import signal

    image = Image(store, layer().file("base", b"b").tar(), layer().file("big", os.urandom(3 << 20)).tar())
    base = chain_ids(image.diff_ids)[0]

    def die_while_applying(event):
        if event.index == 1 and event.status == "applying":
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no finally, no atexit

    pid = os.fork()
    if pid == 0:
        try:
            unpack(store, NativeSnapshotter(snapshotter.root), image.manifest, image.config,
                   progress=die_while_applying)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    left = {i.name: i.kind for i in snapshotter.walk()}
    assert left[base] == COMMITTED and any(n.startswith("extract-") for n in left)  # what the dead one left
    lines = []
    top = unpack(store, snapshotter, image.manifest, image.config, explain=lines.append)
    assert {i.name for i in snapshotter.walk()} == {base, top}
    assert any("left by an unpack" in line for line in lines)
    assert sorted(os.listdir(os.path.join(snapshotter.root, "snapshots"))) == ["1", "3"]


def test_snapshots_as_deep_as_path_max_unpack_and_are_removed(layer, store, snapshotter):
    from boxen.image import gc
    from boxen.image.store import ImageStore

    builder = layer()
    prefix = os.path.join(snapshotter.root, "snapshots", "1", "fs")
    room = 4095 - len(prefix) - len("/f")  # the file's path just fits in PATH_MAX (4096 with its NUL)
    names = ["d" * 200] * (room // 201)  # each "/" + name: 201 bytes
    if room % 201 > 1:
        names.append("e" * (room % 201 - 1))
    for n in range(1, len(names) + 1):
        builder.dir("/".join(names[:n]))
    image = Image(store, builder.file("/".join(names) + "/f", b"x").tar())
    assert len(prefix + "/" + "/".join(names) + "/f") >= 4094  # "rm-1" for "1" takes it past PATH_MAX
    top = unpack(store, snapshotter, image.manifest, image.config)
    assert [i.name for i in snapshotter.walk()] == [top]
    images = ImageStore(os.path.join(snapshotter.root, "..", "images.db"))
    try:
        plan = gc.collect(store, images, snapshotter, chain_ids=chain_ids)  # no image names it
    finally:
        images.close()
    assert plan.snapshots == (top,)
    assert list(snapshotter.walk()) == [] and os.listdir(os.path.join(snapshotter.root, "snapshots")) == []
