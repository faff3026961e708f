"""The cgroup v2 manager: one directory in the unified hierarchy.

In cgroup v2 every controller works on the same tree, so a container is one directory, and the
core files that v1 spread over controllers are there for every cgroup, enabled controllers or
not:

* ``cgroup.procs``: the processes in it (write a pid to move one in).
* ``cgroup.freeze``: write ``1`` to freeze everything below, ``0`` to thaw (Linux 5.2). Freezing
  takes effect asynchronously; ``cgroup.events`` reads ``frozen 1`` once every task stopped.
* ``cgroup.kill``: write ``1`` to SIGKILL everything below at once (Linux 5.14).
* ``cgroup.events``: ``populated`` (any process below?) and ``frozen``.

Device rules are an eBPF program attached to the directory (``devicefilter``), so they work
even when no controller is enabled.
"""

from __future__ import annotations

import time

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unavailable, Unimplemented
from boxen.runtime.cgroups.manager import Manager, check_sub, frozen_v2
from boxen.runtime.cgroups.shared import controllers
from boxen.runtime.cgroups.writes import read, write, write_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxResources
    from boxen.runtime.cgroups.writes import CgroupWrite


class V2Manager(Manager):
    """A container's cgroup ``path`` in the cgroup2 hierarchy mounted at ``mount``."""

    version = 2

    def __init__(self, path: str, mount: str, created=()) -> None:
        super().__init__(created)
        self.path = path
        self.mount = mount

    def saved(self) -> dict:
        return {"version": 2, "path": self.path, "mount": self.mount, "created": list(self.created)}

    def directories(self) -> list[tuple[str, str]]:
        return [(self.path, self.mount)]

    def _plan(self, resources: LinuxResources | None, devices: tuple[LinuxDevice, ...],
              with_devices: bool) -> list[CgroupWrite]:
        from boxen.runtime.cgroups.v2plan import plan_v2  # only create and update plan writes

        return plan_v2(resources, devices, self.path, self.mount, with_devices=with_devices)

    def _pids_root(self) -> str:
        return self.path

    def _cgroup2_directory(self) -> str | None:
        return self.path

    def _frozen_by(self) -> tuple[str, str] | None:
        return frozen_v2(self.path)

    # --- freezer ---------------------------------------------------------------------------------

    def _write(self, name: str, value: str) -> None:
        path = os.path.join(self.path, name)
        try:
            write(path, value)
        except FileNotFoundError:
            raise Unimplemented(f"{path} is missing: the kernel is older than this feature "
                                f"({name} needs Linux {'5.14' if name == 'cgroup.kill' else '5.2'})") from None
        except OSError as exc:
            raise write_error(path, value, exc) from None

    def freeze(self) -> None:
        self._write("cgroup.freeze", "1")
        for _ in range(1000):
            if self._event("frozen") == "1":
                return
            time.sleep(0.01)
        self._write("cgroup.freeze", "0")
        raise Unavailable(f"the cgroup {self.path} did not freeze within 10 s")

    def thaw(self) -> None:
        if os.path.exists(os.path.join(self.path, "cgroup.freeze")):
            self._write("cgroup.freeze", "0")

    def frozen(self) -> bool:
        return (read(os.path.join(self.path, "cgroup.freeze")) or "").strip() == "1"

    def kill(self) -> None:
        """SIGKILL every process in the cgroup and below, at once (``cgroup.kill``)."""
        self._write("cgroup.kill", "1")

    def _event(self, key: str) -> str | None:
        for line in (read(os.path.join(self.path, "cgroup.events")) or "").splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return value.strip()
        return None

    def populated(self) -> bool:
        """Is any process left in the cgroup or below (``cgroup.events``)?"""
        return self._event("populated") == "1"

    # --- observation -----------------------------------------------------------------------------

    def stats(self) -> dict:
        from boxen.runtime.cgroups.stats import v2_stats

        return v2_stats(self.path)

    def oom_watch(self):
        if not os.path.exists(os.path.join(self.path, "memory.events")):
            return None
        from boxen.runtime.cgroups.oom import watch_v2

        return watch_v2(self.path)

    def describe(self) -> list[str]:
        available = ", ".join(controllers(self.mount)) or "none"
        return [f"cgroup v2: one unified hierarchy at {self.mount} (controllers: {available})",
                f"the container's cgroup: {self.path}"]

    def sub(self, spec: str | list[str] | tuple[str, ...]) -> V2Manager:
        """The container's sub-cgroup named by ``exec --cgroup PATH`` (no controller prefix on v2)."""
        specs = [spec] if isinstance(spec, str) else list(spec)
        if len(specs) != 1 or ":" in specs[0]:
            raise InvalidArgument("cgroup v2 takes one sub-cgroup path, without a controller prefix",
                                  field="--cgroup")
        return V2Manager(check_sub(self.path, specs[0]), self.mount)

    def mount_sources(self) -> list[tuple[str, str]]:
        return [("", self.path)]
