"""Cleaning up after a build that could not clean up after itself (killed, or the host crashed).

A build that fails cleans up on its way out: containers deleted, snapshots unmounted and
removed, temporary directories gone. A build that is *killed* (``kill -9``, a power cut) cannot,
and leaves behind what it was using. Everything a build makes carries its process ID, so the
next build recognises what belongs to a process that no longer exists:

* ``<root>/build/tmp/<pid>-<random>/``: the build's mount points, bundles and views; whatever
  is still mounted there is detached, then the directory is removed;
* RUN containers in the build's private runtime root whose bundle lies in such a directory:
  force-deleted (killed if still running, cgroup removed);
* active snapshots and views named ``build-<pid>-...`` / ``build-view-<pid>-...``: removed.

What belongs to a live build (two builds may share a data root) is left alone.
"""

from __future__ import annotations

import contextlib
import os

from boxen.common.errors import BoxenError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    """The build process ID in a name like ``1234-abcd``, ``build-1234-abcd ...``, ``build-view-1234-...``."""
    for prefix in ("build-view-", "build-", ""):
        if name.startswith(prefix):
            head = name[len(prefix):].split("-", 1)[0]
            if head.isdigit():
                return int(head)
    return None


def _detach_and_remove(path: str) -> None:
    from boxen.image.layers import remove_tree
    from boxen.runtime.host import unmount

    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == path or p.startswith(path + "/")), reverse=True):
        with contextlib.suppress(BoxenError):
            unmount(point, lazy=True)
    remove_tree(path)


def recover(directory: str, snapshotter, runtime, say=None) -> list[str]:
    """Remove what dead builds left under ``directory`` (``<root>/build``); returns what went.

    ``runtime()`` gives the build's :class:`boxen.runtime.Runtime` (only made when needed).
    """
    removed: list[str] = []
    tmp = os.path.join(directory, "tmp")
    dead = []
    if os.path.isdir(tmp):
        for name in os.listdir(tmp):
            pid = _owner(name)
            if pid is not None and not _alive(pid):
                dead.append(os.path.join(tmp, name))
    if dead and os.path.isdir(os.path.join(directory, "runtime")):
        rt = runtime()
        for container in rt.list():
            bundle = container.get("bundle", "")
            if any(bundle.startswith(path + "/") for path in dead):
                with contextlib.suppress(BoxenError):
                    rt.delete(container["id"], force=True)
                    removed.append(f"container {container['id']}")
    for path in dead:
        _detach_and_remove(path)
        removed.append(path)
    from boxen.image.snapshots import COMMITTED

    for info in list(snapshotter.walk()):
        pid = _owner(info.name) if info.name.startswith("build-") else None
        if info.kind != COMMITTED and pid is not None and not _alive(pid):
            with contextlib.suppress(BoxenError):
                snapshotter.remove(info.name)
                removed.append(f"snapshot {info.name!r}")
    if say is not None:
        for what in removed:
            say(f"cleaned up after a build that died: {what}")
    return removed
