"""Find what a test left behind on the host: mounts, cgroups, network namespaces, processes.

A container runtime changes kernel state that outlives the process that made it. A mount stays
until it is unmounted; a cgroup directory stays until it is removed (and can be removed only
once it has no processes); a network namespace lives as long as a process is in it or a file
(``/run/netns/<name>``, an ``nsfs`` mount) pins it; a container's init process is re-parented
to the host's init when the runtime that forked it exits. ``delete`` must undo all of it.

:class:`Snapshot` records these before a test; :func:`check` compares after the test, removes
whatever is new (processes killed by pid, frozen cgroups thawed first, mounts lazily
unmounted, cgroups removed deepest first, netns files unmounted and removed) and returns a
description of the leaks so the caller can fail.

Other work may run on the same host at the same time, so only what is provably this session's
is looked at and touched: processes descended from this test process or sitting in cgroups
under :data:`support.bundle.CGROUP_PARENT` (one per session); mounts (``nsfs`` pins of network
namespaces included) below the directories the caller names (the session's temporary
directory, where bundles and runtime roots live); and ``/run/netns`` entries named
``boxen-test*``.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

from boxen.common.record import Record

from support.bundle import CGROUP_PARENT
from support.probe import cgroup_mounts, parse_mountinfo

NETNS_DIR = pathlib.Path("/run/netns")


NETNS_PREFIX = "boxen-test"


class Snapshot(Record):
    scope: tuple  # directories whose mounts are watched
    mounts: frozenset  # (mount_point, fstype, source)
    cgroups: frozenset  # directories below CGROUP_PARENT in every hierarchy
    netns: frozenset
    processes: frozenset  # pids of this process's descendants and of tasks in our cgroups


def _mounts(scope: tuple) -> frozenset:
    with open("/proc/self/mountinfo") as f:
        mounts = parse_mountinfo(f.read())
    return frozenset((m.mount_point, m.fstype, m.source) for m in mounts
                     if any(m.mount_point == d or m.mount_point.startswith(d + "/") for d in scope))


def _cgroup_roots() -> list[pathlib.Path]:
    return sorted({root / CGROUP_PARENT.lstrip("/") for root in cgroup_mounts().values()})


def _cgroups() -> frozenset:
    found = set()
    for top in _cgroup_roots():
        if top.is_dir():
            found.update(dirpath for dirpath, _, _ in os.walk(top) if dirpath != str(top))
    return frozenset(found)


def _netns() -> frozenset:
    if not NETNS_DIR.is_dir():
        return frozenset()
    return frozenset(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(NETNS_PREFIX))


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Live (non-zombie) descendants of ``pid``."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _cgroup_tasks() -> set[int]:
    tasks = set()
    for directory in _cgroups():
        try:
            text = pathlib.Path(directory, "cgroup.procs").read_text()
        except OSError:
            continue
        tasks.update(int(p) for p in text.split())
    return tasks


def _processes() -> frozenset:
    return frozenset(descendants(os.getpid()) | _cgroup_tasks())


def snapshot(*scope: str | os.PathLike) -> Snapshot:
    """Record the state now; mounts are watched below the ``scope`` directories."""
    dirs = tuple(os.path.realpath(d) for d in scope)
    return Snapshot(dirs, _mounts(dirs), _cgroups(), _netns(), _processes())


def _describe(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def _thaw(directory: str) -> None:
    state = pathlib.Path(directory, "freezer.state")
    if state.exists() and state.read_text().strip() != "THAWED":
        state.write_text("THAWED")


def check(before: Snapshot, ignore_pids: frozenset = frozenset(), grace: float = 10) -> list[str]:
    """Clean up and describe everything that appeared since ``before``; [] if nothing did.

    ``ignore_pids`` are long-lived helpers (a containerd daemon started by a fixture) that the
    caller stops itself. Clients finish some work after they return (podman's conmon and its
    ``container cleanup``), so new processes get ``grace`` seconds to exit by themselves.
    """
    def new_processes() -> frozenset:
        return _processes() - before.processes - ignore_pids - {os.getpid()}

    deadline = time.monotonic() + grace
    while new_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    leaks = []
    new_cgroups = sorted(_cgroups() - before.cgroups, key=len, reverse=True)
    for directory in new_cgroups:
        _thaw(directory)
    deadline = time.monotonic() + 5
    while True:
        pids = new_processes()
        for pid in pids:
            leaks.append(f"process {pid}: {_describe(pid)}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for mount_point, fstype, source in sorted(_mounts(before.scope) - before.mounts, reverse=True):
        leaks.append(f"mount {mount_point} ({fstype} from {source})")
        subprocess.run(["umount", "-l", mount_point], capture_output=True)
    for name in sorted(_netns() - before.netns):
        leaks.append(f"network namespace /run/netns/{name}")
        subprocess.run(["umount", "-l", str(NETNS_DIR / name)], capture_output=True)
        (NETNS_DIR / name).unlink(missing_ok=True)
    for directory in new_cgroups:
        leaks.append(f"cgroup {directory}")
        for _ in range(50):
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
    return sorted(set(leaks))


def remove_cgroup_parent() -> None:
    """Remove :data:`CGROUP_PARENT` (and its parent, if that is empty) from every hierarchy."""
    for top in _cgroup_roots():
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        try:
            os.rmdir(top.parent)
        except OSError:
            pass
