import hashlib
import json

import pytest

from boxen.common.record import Record
from boxen.common.schema import to_json
from boxen.image import content as contents
from boxen.image import gc
from boxen.image.content.memory import MemoryContentStore
from boxen.image.store import ImageStore
from boxen.oci import image as oci


class SnapshotInfo(Record):
    name: str
    parent: str | None
    kind: str


class FakeSnapshotter:
    """Just enough of the Snapshotter interface for GC: walk, remove and reap."""

    def __init__(self, *infos: SnapshotInfo, dead: tuple[str, ...] = ()) -> None:
        self.infos = {i.name: i for i in infos}
        self.dead = dead  # the active snapshots whose process is gone

    def reap(self):
        for name in self.dead:
            del self.infos[name]
        return list(self.dead)

    def walk(self):
        return iter(list(self.infos.values()))

    def remove(self, key):
        assert not any(i.parent == key for i in self.infos.values()), f"{key} removed before its children"
        del self.infos[key]


def chain_ids(diff_ids):
    out = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def add_image(content, images, name, layers: list[bytes]):
    layer_descs = [contents.put(content, b, oci.OCI_LAYER) for b in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layer_descs]}}).encode()
    config_desc = contents.put(content, config, oci.OCI_CONFIG)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": to_json(config_desc), "layers": to_json(layer_descs)}).encode()
    target = contents.put(content, manifest, oci.OCI_MANIFEST)
    images.put(name, target)
    return target, [d.digest for d in layer_descs]


@pytest.fixture
def env(tmp_path):
    content = MemoryContentStore()
    images = ImageStore(str(tmp_path / "i.db"))
    yield content, images
    images.close()


def test_removes_only_unreferenced_content(env):
    content, images = env
    a, a_layers = add_image(content, images, "a", [b"shared", b"only-a"])
    b, b_layers = add_image(content, images, "b", [b"shared", b"only-b"])
    stray = contents.put(content, b"stray", "application/octet-stream")
    assert gc.plan(content, images).blobs == (stray.digest,)
    images.delete("a")
    p = gc.collect(content, images)
    assert b_layers[0] in {i.digest for i in content.walk()}
    assert a_layers[1] in p.blobs and a.digest in p.blobs and stray.digest in p.blobs
    assert b_layers[0] not in p.blobs
    assert gc.plan(content, images).blobs == ()
    images.delete("b")
    gc.collect(content, images)
    assert list(content.walk()) == []


def test_snapshots_chain_and_active_roots(env):
    content, images = env
    _, layers = add_image(content, images, "a", [b"l1", b"l2"])
    c1, c2 = chain_ids(layers)
    orphan_parent = "sha256:" + "e" * 64
    orphan = "sha256:" + "f" * 64
    snap = FakeSnapshotter(
        SnapshotInfo(c1, None, "committed"), SnapshotInfo(c2, c1, "committed"),
        SnapshotInfo(orphan_parent, None, "committed"), SnapshotInfo(orphan, orphan_parent, "committed"),
        SnapshotInfo("container-1", c2, "active"),
        SnapshotInfo("base-of-build", None, "committed"), SnapshotInfo("build-step", "base-of-build", "active"),
    )
    p = gc.collect(content, images, snap, chain_ids=chain_ids)
    assert p.snapshots == (orphan, orphan_parent)
    assert set(snap.infos) == {c1, c2, "container-1", "base-of-build", "build-step"}
    images.delete("a")
    del snap.infos["container-1"]
    gc.collect(content, images, snap, chain_ids=chain_ids)
    assert set(snap.infos) == {"base-of-build", "build-step"}


def test_stale_ingests_are_aborted(env):
    content, images = env
    with content.writer("old") as w:
        w.write(b"partial")
    assert gc.plan(content, images).ingests == ()
    assert gc.plan(content, images, now=10**12).ingests == ("old",)
    gc.collect(content, images, ingest_grace=-1)
    assert content.statuses() == []


def test_work_of_dead_processes_is_reaped_first_and_frees_its_parents(env):
    content, images = env
    snap = FakeSnapshotter(SnapshotInfo("base", None, "committed"), SnapshotInfo("extract-dead", "base", "active"),
                           dead=("extract-dead",))
    assert gc.plan(content, images, snap, chain_ids=chain_ids).snapshots == ()  # an active child keeps it
    p = gc.collect(content, images, snap, chain_ids=chain_ids)
    assert p.reaped == ("extract-dead",) and p.snapshots == ("base",) and snap.infos == {}


def test_with_no_writers_every_ingest_is_abandoned(env):
    content, images = env
    with content.writer("cut") as w:
        w.write(b"partial")
    assert gc.collect(content, images, ingest_grace=gc.NO_WRITERS).ingests == ("cut",)
    assert content.statuses() == []
