"""What the v1 and v2 plans share: reading a cgroup2 tree, enabling controllers, raw files.

In cgroup v2 (and in a hybrid host's cgroup2 hierarchy) a controller is usable in a cgroup only
when every ancestor lists it in ``cgroup.subtree_control``; the hierarchy root's
``cgroup.controllers`` lists the controllers that exist. Enabling is a write of ``+name`` to
each ancestor, top-down. A cgroup that does not exist yet inherits from its nearest existing
ancestor, so before ``create()`` the plans read that one instead.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument
from boxen.runtime.cgroups.writes import CgroupWrite, read


def controllers(mount: str) -> list[str]:
    """The controllers a cgroup2 hierarchy offers (its root's ``cgroup.controllers``)."""
    return (read(os.path.join(mount, "cgroup.controllers")) or "").split()


def ancestors(directory: str, mount: str) -> list[str]:
    """The cgroups above ``directory``, from the mount's root down to its parent."""
    relative = os.path.relpath(os.path.dirname(directory), mount)
    if relative.startswith(".."):
        return []
    out = [mount]
    for part in () if relative == "." else relative.split("/"):
        out.append(os.path.join(out[-1], part))
    return out


def existing(directory: str, mount: str) -> str:
    """``directory`` if it exists, else its nearest existing ancestor (what a new cgroup inherits)."""
    while directory != mount and not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    return directory


def enabling(directory: str, mount: str, wanted: list[str]) -> list[CgroupWrite]:
    """Writes that give ``directory`` the ``wanted`` controllers, ancestor by ancestor."""
    out = []
    for level in ancestors(directory, mount):
        enabled = (read(os.path.join(level, "cgroup.subtree_control")) or "").split()
        missing = [c for c in wanted if c not in enabled]
        if missing:
            out.append(CgroupWrite(os.path.join(level, "cgroup.subtree_control"), " ".join("+" + c for c in missing),
                                   f"let the cgroups below {level} use the {', '.join(missing)} controller"
                                   f"{'s' if len(missing) > 1 else ''}"))
    return out


def unified_writes(directory: str, unified: dict[str, str], available: list[str], why: str) -> list[CgroupWrite]:
    """The raw ``linux.resources.unified`` files: ``<controller>.<name>`` of an available controller."""
    out = []
    for key in sorted(unified):
        field = f"linux.resources.unified[{key!r}]"
        controller, dot, name = key.partition(".")
        if "/" in key or not dot or not controller or not name or key in (".", ".."):
            raise InvalidArgument(f"{key!r} is not a cgroup file name of the form CONTROLLER.PARAMETER", field=field)
        if controller != "cgroup" and controller not in available:
            raise InvalidArgument(f"the {controller} controller is not available {why} "
                                  f"(available: {', '.join(available) or 'none'})", field=field)
        out.append(CgroupWrite(os.path.join(directory, key), unified[key], f"set {key} as given (unified)"))
    return out


def rdma_value(device: str, limits) -> str:
    value = device
    if limits.hcaHandles is not None:
        value += f" hca_handle={limits.hcaHandles}"
    if limits.hcaObjects is not None:
        value += f" hca_object={limits.hcaObjects}"
    return value
