"""The cgroup v1 manager (also for hybrid hosts).

With v1 a container has one directory per hierarchy (``cpu/<path>``, ``memory/<path>``...), and
its processes are moved into each. Two v1 rules shape this manager:

* **cpuset** refuses processes in a cgroup whose ``cpuset.cpus`` or ``cpuset.mems`` is empty,
  and a new cgroup starts empty. So every level made in the cpuset hierarchy first gets its
  parent's values (runc does the same on its way down).
* **freezer**: writing ``FROZEN`` to ``freezer.state`` freezes every task below; the state
  reads ``FREEZING`` until all have stopped, which can take a while if tasks keep forking,
  so runc writes, reads and, now and then, thaws and retries. ``freezer.self_freezing`` tells
  "we froze it" from "a parent froze it".

On a hybrid host the container also joins the cgroup2 hierarchy (key ``""`` in ``paths``, as in
runc's state), where systemd-style tools look, and where controllers that only v2 has live.
"""

from __future__ import annotations

import time

from boxen.common import posixos as os
from boxen.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from boxen.runtime.cgroups.manager import Manager, check_sub, frozen_v2
from boxen.runtime.cgroups.writes import read, write, write_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxResources
    from boxen.runtime.cgroups.writes import CgroupWrite


class V1Manager(Manager):
    """A container's cgroups on a v1 (or hybrid) host.

    ``paths`` maps each controller (``name=systemd`` for the named hierarchy, ``""`` for a hybrid
    host's cgroup2 hierarchy) to the container's directory; ``mounts`` to its hierarchy's mount.
    """

    version = 1

    def __init__(self, paths: dict[str, str], mounts: dict[str, str], created=()) -> None:
        super().__init__(created)
        self.paths = dict(paths)
        self.mounts = dict(mounts)

    def saved(self) -> dict:
        return {"version": 1, "paths": dict(self.paths), "mounts": dict(self.mounts), "created": list(self.created)}

    def directories(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for key, directory in self.paths.items():
            seen.setdefault(directory, self.mounts[key])
        return list(seen.items())

    def _self_files(self) -> list[str]:
        unified = self.paths.get("")  # a hybrid host's cgroup2 hierarchy has no tasks file
        return [os.path.join(directory, "cgroup.procs" if directory == unified else "tasks")
                for directory in self._joined_directories()]

    def _cgroup2_directory(self) -> str | None:
        return self.paths.get("")

    def _plan(self, resources: LinuxResources | None, devices: tuple[LinuxDevice, ...],
              with_devices: bool) -> list[CgroupWrite]:
        from boxen.runtime.cgroups.v1plan import plan_v1  # only create and update plan writes

        return plan_v1(resources, devices, self.paths, self.mounts, with_devices=with_devices)

    def _prepare(self, directory: str, mount: str) -> None:
        if mount != self.mounts.get("cpuset"):
            return
        parent = os.path.dirname(directory)
        for name in ("cpuset.cpus", "cpuset.mems"):
            path = os.path.join(directory, name)
            if (read(path) or "").strip():
                continue
            value = (read(os.path.join(parent, name)) or "").strip()
            try:
                write(path, value)
            except OSError as exc:
                raise write_error(path, value, exc) from None

    def _pids_root(self) -> str:
        return self.paths["devices"]

    def _frozen_by(self) -> tuple[str, str] | None:
        directory = self.paths.get("freezer")
        if directory is not None:  # FREEZING or FROZEN, by us or by a parent
            path = os.path.join(directory, "freezer.state")
            state = (read(path) or "").strip()
            if state and state != "THAWED":
                return path, state
        unified = self.paths.get("")
        if unified is not None:  # a hybrid host's cgroup2 hierarchy has a freezer of its own
            return frozen_v2(unified)
        return None

    # --- freezer ---------------------------------------------------------------------------------

    def _freezer(self) -> str:
        directory = self.paths.get("freezer")
        if directory is None:
            raise FailedPrecondition("cannot pause: the freezer controller is not mounted")
        return os.path.join(directory, "freezer.state")

    def _set_state(self, path: str, state: str) -> None:
        try:
            write(path, state)
        except OSError as exc:
            raise write_error(path, state, exc) from None

    def freeze(self) -> None:
        path = self._freezer()
        try:
            for attempt in range(1000):
                if attempt % 50 == 49:
                    # Tasks that keep forking can keep the cgroup FREEZING: thaw and start over.
                    self._set_state(path, "THAWED")
                    time.sleep(0.01)
                self._set_state(path, "FROZEN")
                if attempt % 25 == 24:
                    time.sleep(0.00001)
                state = (read(path) or "").strip()
                if state == "FROZEN":
                    return
                if state != "FREEZING":
                    raise Unavailable(f"unexpected freezer state {state!r} while freezing ({path})")
            raise Unavailable(f"the cgroup did not freeze ({path} stayed FREEZING)")
        except BaseException:
            self._set_state(path, "THAWED")
            raise

    def thaw(self) -> None:
        self._set_state(self._freezer(), "THAWED")

    def frozen(self) -> bool:
        directory = self.paths.get("freezer")
        if directory is None:
            return False
        for _ in range(1000):
            state = (read(os.path.join(directory, "freezer.state")) or "").strip()
            if state != "FREEZING":
                break
            time.sleep(0.001)
        if state == "THAWED" or not state:
            return False
        return (read(os.path.join(directory, "freezer.self_freezing")) or "").strip() == "1"

    # --- observation -----------------------------------------------------------------------------

    def stats(self) -> dict:
        from boxen.runtime.cgroups.stats import v1_stats

        return v1_stats(self.paths)

    def oom_watch(self):
        if "memory" not in self.paths:
            return None
        from boxen.runtime.cgroups.oom import watch_v1

        return watch_v1(self.paths["memory"])

    def describe(self) -> list[str]:
        roots = sorted({os.path.dirname(m) for k, m in self.mounts.items() if k})
        lines = [f"cgroup v1: one hierarchy per controller, mounted under {', '.join(roots)}"]
        if "" in self.paths:
            from boxen.runtime.cgroups.shared import controllers

            owned = ", ".join(controllers(self.mounts[""])) or "no controllers"
            lines.append(f"hybrid host: also the cgroup2 hierarchy at {self.mounts['']} ({owned}); "
                         "the container joins it too")
        by_dir: dict[str, list[str]] = {}
        for key, directory in self.paths.items():
            by_dir.setdefault(directory, []).append(key or "cgroup2")
        lines.extend(f"{', '.join(keys)}: {directory}" for directory, keys in by_dir.items())
        return lines

    def sub(self, spec: str | list[str] | tuple[str, ...]) -> V1Manager:
        """The container's sub-cgroups named by ``exec --cgroup`` (``path``, or ``ctrl[,ctrl]:path`` each)."""
        specs = [spec] if isinstance(spec, str) else list(spec)
        paths = dict(self.paths)
        for item in specs:
            controllers, colon, sub = item.partition(":")
            if not colon:
                if len(specs) != 1:
                    raise InvalidArgument(f"{item!r} lacks its <controller>: prefix", field="--cgroup")
                paths = {k: check_sub(d, item) for k, d in self.paths.items()}
                continue
            for controller in controllers.split(","):
                if controller not in self.paths:
                    raise InvalidArgument(f"unknown controller {controller!r}", field="--cgroup")
                paths[controller] = check_sub(self.paths[controller], sub)
        return V1Manager(paths, self.mounts)

    def mount_sources(self) -> list[tuple[str, str]]:
        """(directory name under /sys/fs/cgroup, the container's cgroup there) per v1 hierarchy."""
        seen: dict[str, str] = {}
        for key, directory in self.paths.items():
            if key:
                seen.setdefault(os.path.basename(self.mounts[key]), directory)
        return list(seen.items())
