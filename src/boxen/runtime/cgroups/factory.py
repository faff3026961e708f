"""Which manager a host needs: the factory of the cgroup managers.

A host's cgroups are v1, v2 or hybrid (v1 controllers beside a cgroup2 hierarchy), and only
``/proc/self/mountinfo`` tells which. :func:`open_manager` reads it and the container's
``cgroupsPath`` and returns the manager for that layout; :func:`reopen` rebuilds one from what
:meth:`~boxen.runtime.cgroups.manager.Manager.saved` kept in ``state.json``, for the commands
after ``create``. The factory sits above the managers: it imports ``v1`` and ``v2`` (only the
one the host uses), and they import ``manager``, so the imports point one way.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument, Unimplemented

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.cgroups.manager import Manager


def open_manager(cgroups_path: str | None, container_id: str, *, root: str = "/sys/fs/cgroup",
                 mountinfo: str | None = None, systemd: bool = False, proc_cgroup: str | None = None) -> Manager:
    """The manager for a container's cgroup on this host.

    The layout (v1, v2, hybrid) comes from ``mountinfo`` (default: /proc/self/mountinfo) for the
    hierarchies under ``root``; ``cgroups_path`` is resolved as runc does (see ``layout``), with
    our own cgroup from ``proc_cgroup`` (default: /proc/self/cgroup) for relative paths.
    """
    from boxen.runtime.cgroups.layout import detect, inner_path, parse_proc_cgroup, v1_paths, v2_path

    if systemd:
        raise Unimplemented("the systemd cgroup driver needs systemd, which does not manage this host's "
                            "cgroups; run without --systemd-cgroup (cgroupfs driver)", field="--systemd-cgroup")
    layout = detect(mountinfo if mountinfo is not None else _proc("mountinfo"), root)
    inner = inner_path(cgroups_path, container_id)
    own = {} if inner.startswith("/") else parse_proc_cgroup(proc_cgroup if proc_cgroup is not None
                                                              else _proc("cgroup"))
    if layout.version == 2:
        from boxen.runtime.cgroups.v2 import V2Manager

        return V2Manager(v2_path(layout, inner, own), layout.root)
    from boxen.runtime.cgroups.v1 import V1Manager

    paths, mounts = v1_paths(layout, inner, own)
    return V1Manager(paths, mounts)


def _proc(name: str) -> str:
    with open(f"/proc/self/{name}", "rb") as f:
        return f.read().decode()


def reopen(saved: dict) -> Manager:
    """The manager of an existing container, from :meth:`Manager.saved` (kept in state.json)."""
    field = "cgroup (in state.json)"
    if not isinstance(saved, dict) or saved.get("version") not in (1, 2):
        raise InvalidArgument(f"not a saved cgroup manager: {saved!r}", field=field)
    created = saved.get("created") or ()
    if saved["version"] == 2:
        from boxen.runtime.cgroups.v2 import V2Manager

        if not isinstance(saved.get("path"), str) or not isinstance(saved.get("mount"), str):
            raise InvalidArgument("a v2 cgroup needs path and mount", field=field)
        return V2Manager(saved["path"], saved["mount"], created)
    from boxen.runtime.cgroups.v1 import V1Manager

    paths, mounts = saved.get("paths"), saved.get("mounts")
    if not isinstance(paths, dict) or not isinstance(mounts, dict) or set(paths) != set(mounts):
        raise InvalidArgument("a v1 cgroup needs paths and mounts for the same controllers", field=field)
    return V1Manager(paths, mounts, created)
