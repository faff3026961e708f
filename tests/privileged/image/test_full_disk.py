"""Pulls into a data root on a small file system: a full disk ends in a clear error, and what the
failed work wrote is gone at once or after ``prune``; the data root stays usable.

The data root is a tmpfs of a few megabytes mounted for the test (and always unmounted after);
the registry is the in-process fake, so nothing leaves the process but the mount.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import random
import tarfile

import pytest

from boxen.common.errors import KernelError
from boxen.image import gc
from boxen.image.content.local import LocalContentStore
from boxen.image.progress import Progress
from boxen.image.pull import pull
from boxen.image.registry.client import RegistryClient
from boxen.image.snapshots import open_snapshotter
from boxen.image.store import ImageStore
from boxen.image.testing.registry import FakeRegistry, publish
from boxen.oci import image as oci
from boxen.runtime.host import mount, unmount

HOST = "registry.test"


def layer(name: str, size: int) -> tuple[bytes, str]:
    """A gzip layer holding one file of ``size`` incompressible bytes, and its diff ID."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(random.Random(size).randbytes(size)))
    data = buf.getvalue()
    return gzip.compress(data, compresslevel=1, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def small_disk(root_dir):
    """A 24 MiB tmpfs; unmounted after the test, whatever happens."""
    disk = root_dir / "disk"
    disk.mkdir()
    mount("tmpfs", "boxen-test-full", str(disk), ("size=24m", "mode=0700"))
    try:
        yield str(disk)
    finally:
        unmount(str(disk), lazy=True)


class DataRoot:
    def __init__(self, path: str) -> None:
        self.path = path
        self.content = LocalContentStore(os.path.join(path, "content"))
        self.images = ImageStore(os.path.join(path, "images.db"))
        self.snapshotter = open_snapshotter(os.path.join(path, "snapshots"), "overlay")

    def pull(self, registry: FakeRegistry, ref: str):
        client = RegistryClient(transport=registry.transport(), sleep=lambda s: None)
        return pull(ref, content=self.content, images=self.images, client=client, snapshotter=self.snapshotter,
                    progress=Progress())

    def prune(self):
        return gc.collect(self.content, self.images, self.snapshotter, ingest_grace=gc.NO_WRITERS)

    def used(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def leftovers(self) -> dict[str, list[str]]:
        return {
            "ingest": os.listdir(os.path.join(self.path, "content", "ingest")),
            "snapshot dirs": os.listdir(os.path.join(self.path, "snapshots", "overlay", "snapshots")),
            "snapshots": [i.name for i in self.snapshotter.walk()],
            "images": [i.name for i in self.images.list()],
        }

    def close(self) -> None:
        self.images.close()
        self.snapshotter.close()


@pytest.fixture
def data_root(small_disk):
    root = DataRoot(os.path.join(small_disk, "root"))
    yield root
    root.close()


def _registry_with(**images: list[tuple[bytes, str]]) -> FakeRegistry:
    registry = FakeRegistry(host=HOST)
    for repo, layers in images.items():
        publish(registry, repo, "v1", [blob for blob, _ in layers], layer_type=oci.OCI_LAYER_GZIP,
                diff_ids=[diff_id for _, diff_id in layers])
    return registry


NOTHING = {"ingest": [], "snapshot dirs": [], "snapshots": [], "images": []}


def test_full_disk_while_unpacking(data_root):
    """The 14 MB blob fits; its 14 MB of files beside it do not."""
    registry = _registry_with(big=[layer("big", 14 << 20)], small=[layer("small", 1 << 20)])
    with pytest.raises(KernelError) as caught:
        data_root.pull(registry, f"{HOST}/big:v1")
    assert caught.value.errno == errno.ENOSPC, caught.value
    assert data_root.leftovers() == NOTHING  # the unpack's snapshot went at once; only the blob stays
    data_root.prune()
    assert data_root.used() < 2 << 20, "prune left the failed pull's blobs"
    assert data_root.pull(registry, f"{HOST}/small:v1").chain_id  # the data root is still usable
    assert data_root.leftovers()["images"] == [f"{HOST}/small:v1"]


def test_full_disk_while_downloading(data_root):
    """Two layers of 14 MB cannot both be stored: the download fails, and its ingest goes at once."""
    registry = _registry_with(big=[layer("one", 14 << 20), layer("two", 14 << 20 | 1)],
                              small=[layer("small", 1 << 20)])
    with pytest.raises(KernelError) as caught:
        data_root.pull(registry, f"{HOST}/big:v1")
    assert caught.value.errno == errno.ENOSPC, caught.value
    assert data_root.leftovers() == NOTHING
    data_root.prune()
    assert data_root.used() < 2 << 20, "prune left the failed pull's blobs"
    assert data_root.pull(registry, f"{HOST}/small:v1").chain_id


def test_rm_and_prune_work_on_a_disk_filled_by_something_else(data_root, small_disk):
    """SQLite needs room even to delete a name: the data root's reserve gives it that room."""
    registry = _registry_with(app=[layer("app", 4 << 20)])
    data_root.pull(registry, f"{HOST}/app:v1")
    with open(os.path.join(small_disk, "filler"), "wb") as f, pytest.raises(OSError) as caught:
        while True:
            f.write(bytes(1 << 16))
            f.flush()
    assert caught.value.errno == errno.ENOSPC
    before = data_root.used()
    data_root.images.delete(f"{HOST}/app:v1")
    data_root.prune()
    assert data_root.leftovers() == NOTHING
    assert before - data_root.used() > 8 << 20  # the blob and the snapshot's files
