"""The snapshotter conformance suite, an in-memory fake, and two ways to see a snapshot's files.

Every snapshotter must behave the same way (containerd runs one ``SnapshotterSuite`` against
each of its snapshotters; this is boxen's). :data:`CASES` maps a name to a check taking a
fresh, empty snapshotter and a **mounter**: a function that turns a snapshot's mounts into a
directory for the duration of a ``with`` block. Checks of the lifecycle rules need no
mounter; checks of file contents are skipped when it is ``None``. Run them with
:func:`check_snapshotter`, or one by one under pytest::

    @pytest.mark.parametrize("case", sorted(CASES))
    def test_native(case, tmp_path):
        CASES[case](NativeSnapshotter(str(tmp_path)), direct_mounter)

Mounters: :func:`direct_mounter` reads a writable or read-only bind mount's source directly
(no privilege needed: enough for the native snapshotter and for overlay snapshots without
parents); :func:`kernel_mounter` really mounts (root; overlayfs).

:class:`FakeSnapshotter` keeps only metadata, in memory, and follows the same rules: for
tests of code that uses a snapshotter (garbage collection, pull) without touching the disk.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator

from boxen.common.errors import AlreadyExists, FailedPrecondition, NotFound, Unimplemented
from boxen.image.snapshots import ACTIVE, COMMITTED, VIEW, WORK_LABEL, Mount, SnapshotInfo, Usage

Mounter = Callable[[list[Mount]], "contextlib.AbstractContextManager[str]"]


# --- mounters --------------------------------------------------------------------------------


@contextlib.contextmanager
def direct_mounter(mounts: list[Mount]) -> Iterator[str]:
    """The directory a single bind mount shows, without mounting it."""
    if len(mounts) != 1 or mounts[0].type != "bind":
        raise Unimplemented(f"direct_mounter reads only a single bind mount, not {mounts!r}")
    yield mounts[0].source


def kernel_mounter(workdir: str) -> Mounter:
    """A mounter that mounts on a fresh directory under ``workdir`` and unmounts after (root)."""
    from boxen.runtime.host import mount_all, unmount

    @contextlib.contextmanager
    def mounter(mounts: list[Mount]) -> Iterator[str]:
        target = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        mount_all(mounts, target)
        try:
            yield target
        finally:
            for _ in mounts:
                unmount(target)
            os.rmdir(target)

    return mounter


# --- the fake --------------------------------------------------------------------------------


class FakeSnapshotter:
    """Snapshot metadata in memory; mounts point at ``/fake/<n>`` and no file is ever written."""

    kind = "fake"

    def __init__(self) -> None:
        self._infos: dict[str, SnapshotInfo] = {}
        self._ids: dict[str, int] = {}
        self._next = itertools.count(1)

    def _get(self, key: str) -> SnapshotInfo:
        if key not in self._infos:
            raise NotFound(f"no snapshot named {key!r}", field="key")
        return self._infos[key]

    def stat(self, key: str) -> SnapshotInfo:
        return self._get(key)

    def _create(self, key: str, parent: str | None, kind: str, labels) -> list[Mount]:
        if key in self._infos:
            raise AlreadyExists(f"snapshot {key!r} already exists", field="key")
        if parent is not None and self._get(parent).kind != COMMITTED:
            raise FailedPrecondition(f"parent {parent!r} is not committed", field="parent")
        now = time.time()
        self._infos[key] = SnapshotInfo(key, parent, kind, dict(labels or {}), now, now)
        self._ids[key] = next(self._next)
        return self.mounts(key)

    def prepare(self, key: str, parent: str | None, labels=None) -> list[Mount]:
        return self._create(key, parent, ACTIVE, labels)

    def view(self, key: str, parent: str | None, labels=None) -> list[Mount]:
        return self._create(key, parent, VIEW, labels)

    def mounts(self, key: str) -> list[Mount]:
        info = self._get(key)
        if info.kind == COMMITTED:
            raise FailedPrecondition(f"snapshot {key!r} is committed", field="key")
        return [Mount("bind", f"/fake/{self._ids[key]}", ("rbind", "rw" if info.kind == ACTIVE else "ro"))]

    def commit(self, name: str, key: str, labels=None) -> None:
        info = self._get(key)
        if info.kind != ACTIVE:
            raise FailedPrecondition(f"snapshot {key!r} is {info.kind}", field="key")
        if name in self._infos:
            raise AlreadyExists(f"snapshot {name!r} already exists", field="name")
        del self._infos[key]
        self._ids[name] = self._ids.pop(key)
        merged = {k: v for k, v in {**info.labels, **(labels or {})}.items() if k != WORK_LABEL}
        self._infos[name] = info.replace(name=name, kind=COMMITTED, labels=merged, updated=time.time())

    def remove(self, key: str) -> None:
        self._get(key)
        if any(i.parent == key for i in self._infos.values()):
            raise FailedPrecondition(f"snapshot {key!r} has children", field="key")
        del self._infos[key]
        del self._ids[key]

    def walk(self) -> Iterator[SnapshotInfo]:
        yield from list(self._infos.values())

    def usage(self, key: str) -> Usage:
        self._get(key)
        return Usage(0, 0)

    def set_labels(self, key: str, labels: dict[str, str]) -> SnapshotInfo:
        self._infos[key] = self._get(key).replace(labels=dict(labels), updated=time.time())
        return self._infos[key]

    def reap(self) -> list[str]:
        return []  # every snapshot here is this process's own, and it is alive


# --- the cases -------------------------------------------------------------------------------


def _raises(kind: type[BaseException], call: Callable, *args) -> None:
    try:
        call(*args)
    except kind:
        return
    raise AssertionError(f"{call.__name__}{args!r} did not raise {kind.__name__}")


def _write(root: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _read(root: str) -> dict[str, bytes]:
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def check_lifecycle(s, mounter: Mounter | None) -> None:
    """prepare -> active; commit -> committed under a new name, the key gone."""
    mounts = s.prepare("key-1", None, labels={"a": "1"})
    assert mounts and all(isinstance(m, Mount) for m in mounts)
    info = s.stat("key-1")
    assert (info.name, info.parent, info.kind, info.labels) == ("key-1", None, ACTIVE, {"a": "1"})
    assert s.mounts("key-1") == mounts
    s.commit("layer-1", "key-1", labels={"b": "2"})
    _raises(NotFound, s.stat, "key-1")
    info = s.stat("layer-1")
    assert (info.name, info.parent, info.kind) == ("layer-1", None, COMMITTED)
    assert info.labels == {"a": "1", "b": "2"}
    s.prepare("key-2", "layer-1")
    assert s.stat("key-2").parent == "layer-1"


def check_names_are_unique(s, mounter: Mounter | None) -> None:
    s.prepare("k", None)
    _raises(AlreadyExists, s.prepare, "k", None)
    _raises(AlreadyExists, s.view, "k", None)
    s.commit("c", "k")
    s.prepare("k2", "c")
    _raises(AlreadyExists, s.commit, "c", "k2")
    _raises(AlreadyExists, s.prepare, "c", None)


def check_parent_must_be_committed(s, mounter: Mounter | None) -> None:
    _raises(NotFound, s.prepare, "k", "no-such-parent")
    s.prepare("active", None)
    _raises(FailedPrecondition, s.prepare, "k", "active")
    s.view("v", None)
    _raises(FailedPrecondition, s.view, "k", "v")
    _raises(NotFound, s.stat, "k")


def check_only_active_snapshots_commit(s, mounter: Mounter | None) -> None:
    s.prepare("k", None)
    s.commit("c", "k")
    s.view("v", "c")
    _raises(FailedPrecondition, s.commit, "c2", "v")
    _raises(FailedPrecondition, s.commit, "c2", "c")
    _raises(NotFound, s.commit, "c2", "missing")
    _raises(FailedPrecondition, s.mounts, "c")
    assert s.mounts("v")


def check_remove(s, mounter: Mounter | None) -> None:
    s.prepare("k", None)
    s.commit("base", "k")
    s.prepare("child", "base")
    s.view("look", "base")
    _raises(FailedPrecondition, s.remove, "base")
    s.remove("child")
    s.remove("look")
    s.remove("base")
    _raises(NotFound, s.remove, "base")
    assert list(s.walk()) == []


def check_walk_and_labels(s, mounter: Mounter | None) -> None:
    s.prepare("k", None)
    s.commit("base", "k")
    s.prepare("active", "base", labels={"x": "1"})
    s.view("view", "base")
    found = {i.name: (i.parent, i.kind) for i in s.walk()}
    assert found == {"base": (None, COMMITTED), "active": ("base", ACTIVE), "view": ("base", VIEW)}
    info = s.set_labels("active", {"y": "2"})
    assert info.labels == {"y": "2"} and s.stat("active").labels == {"y": "2"}
    _raises(NotFound, s.set_labels, "missing", {})


def check_live_work_is_kept(s, mounter: Mounter | None) -> None:
    """This process's work in progress is never reaped; commit makes it an ordinary snapshot."""
    s.prepare("base-key", None)
    s.commit("base", "base-key")
    s.prepare("work", "base", {WORK_LABEL: "extract", "other": "x"})
    s.view("work-view", "base", {WORK_LABEL: "diff"})
    assert s.reap() == []
    assert {i.name for i in s.walk()} == {"base", "work", "work-view"}
    s.commit("done", "work")
    assert s.stat("done").labels == {"other": "x"}
    s.remove("work-view")
    assert s.reap() == []
    assert {i.name for i in s.walk()} == {"base", "done"}


def check_chain_of_layers(s, mounter: Mounter | None) -> None:
    """Three layers, each adding, changing and deleting files; each view shows its own state."""
    if mounter is None:
        return
    states = [{"a": b"1", "d/x": b"x"}, {"a": b"2", "b": b"b"}, {"c": b"c"}]
    deletions = [[], ["d/x"], ["b"]]
    parent = None
    for i, (files, gone) in enumerate(zip(states, deletions)):
        with mounter(s.prepare(f"k{i}", parent)) as root:
            _write(root, files)
            for name in gone:
                os.unlink(os.path.join(root, name))
        s.commit(f"l{i}", f"k{i}")
        parent = f"l{i}"
    expected = [{"a": b"1", "d/x": b"x"}, {"a": b"2", "b": b"b"}, {"a": b"2", "c": b"c"}]
    for i, want in enumerate(expected):
        with mounter(s.view(f"v{i}", f"l{i}")) as root:
            assert _read(root) == want, (i, _read(root))


def check_active_changes_are_isolated(s, mounter: Mounter | None) -> None:
    """Two active snapshots on one parent do not see each other's changes, nor change the parent."""
    if mounter is None:
        return
    with mounter(s.prepare("k", None)) as root:
        _write(root, {"shared": b"base"})
    s.commit("base", "k")
    with mounter(s.prepare("one", "base")) as root:
        _write(root, {"shared": b"one", "only-one": b"1"})
    with mounter(s.prepare("two", "base")) as root:
        assert _read(root) == {"shared": b"base"}
        os.unlink(os.path.join(root, "shared"))
    with mounter(s.mounts("one")) as root:
        assert _read(root) == {"shared": b"one", "only-one": b"1"}
    with mounter(s.view("v", "base")) as root:
        assert _read(root) == {"shared": b"base"}


def check_usage(s, mounter: Mounter | None) -> None:
    if mounter is None:
        s.prepare("k", None)
        assert s.usage("k").inodes >= 0
        return
    with mounter(s.prepare("k", None)) as root:
        _write(root, {"big": os.urandom(1 << 20), "small": b"s"})
    s.commit("c", "k")
    used = s.usage("c")
    assert used.size >= 1 << 20 and used.inodes >= 2, used
    with mounter(s.prepare("k2", "c")) as root:
        _write(root, {"more": b"m"})
    assert s.usage("k2").inodes >= 1
    _raises(NotFound, s.usage, "missing")


def check_layers_apply_through_the_mounts(s, mounter: Mounter | None) -> None:
    """Layers with whiteouts and an opaque directory, applied as unpack applies them."""
    if mounter is None:
        return
    from boxen.image.layers import apply_layer
    from boxen.image.unpack import apply_target

    def tar(entries: list[tuple[str, bytes | None]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE if data is None else tarfile.REGTYPE
                info.mode = 0o755 if data is None else 0o644
                info.size = len(data or b"")
                t.addfile(info, io.BytesIO(data or b""))
        return buf.getvalue()

    layers = [
        tar([("etc", None), ("etc/a", b"a"), ("etc/b", b"b"), ("var", None), ("var/d", None), ("var/d/old", b"o")]),
        tar([("etc", None), ("etc/.wh.a", b""), ("var", None), ("var/d", None), ("var/d/.wh..wh..opq", b""),
             ("var/d/new", b"n")]),
    ]
    parent = None
    for i, blob in enumerate(layers):
        directory, overlay, lowers = apply_target(s.prepare(f"k{i}", parent))
        apply_layer(io.BytesIO(blob), directory, overlay=overlay, lowers=lowers, rootless=os.geteuid() != 0)
        s.commit(f"l{i}", f"k{i}")
        parent = f"l{i}"
    with mounter(s.view("v", parent)) as root:
        assert _read(root) == {"etc/b": b"b", "var/d/new": b"n"}, _read(root)


CASES: dict[str, Callable] = {
    name[len("check_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("check_") and callable(fn)
}


def check_snapshotter(make: Callable[[], object], mounter: Mounter | None = None) -> None:
    """Run every case, each against a fresh snapshotter from ``make()``."""
    for case in CASES.values():
        case(make(), mounter)
