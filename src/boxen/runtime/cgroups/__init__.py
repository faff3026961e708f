"""Control groups: how a container's processes are counted and limited.

A *cgroup* is a directory in a special file system; the processes listed in its
``cgroup.procs`` belong to it, and the *controllers* enforce its files: ``memory`` reclaims and
finally OOM-kills above ``memory.max``, ``cpu`` schedules by ``cpu.weight`` and caps by
``cpu.max``, ``pids`` refuses ``fork`` beyond ``pids.max``, ``devices`` refuses to open device
nodes, ``freezer`` stops everything. Children inherit their parent's cgroup, so a container is
contained by putting its first process in before anything else runs; on cgroup2 the process
is even started there (``clone3`` with ``CLONE_INTO_CGROUP``), which spares the kernel's
costly move (see ``Manager.clone_init``).

Linux has two versions. v1 (2008) mounts one hierarchy per controller, so a container has a
directory in each; v2 (2016) has one tree for all, with stricter rules (processes only in leaves,
controllers enabled from parent to child). Hosts may mix them ("hybrid"). The OCI runtime
spec's ``linux.resources`` speaks v1's language; for v2 its values are converted the way runc
converts them, so a runc user gets the same cgroup from boxen. The package:

``layout``      where the hierarchies are mounted; where a container's cgroup goes (cgroupsPath)
``writes``      :class:`CgroupWrite`, the plan's unit, and the executor that performs a plan
``checks``      ranges every kernel enforces, reported with the spec field
``devices``     device rules, runc's defaults, and the v1 rule arithmetic
``devicefilter`` v2 device rules as an eBPF program
``convert``     v1 values to v2 (shares to weight, memory+swap to swap...)
``shared``      what both plans read and write in a cgroup2 tree
``v1plan``, ``v2plan``   resources to writes, per version
``manager``     :class:`Manager`: create, join, freeze, destroy...
``factory``     :func:`open_manager` (the manager for this host's layout), :func:`reopen` (from state.json)
``v1``, ``v2``  the two managers
``stats``       the numbers ``runc events --stats`` prints (imported when asked for)

The systemd driver is not implemented: this host's cgroups are not managed by systemd.
"""

from boxen.runtime.cgroups.factory import open_manager, reopen
from boxen.runtime.cgroups.manager import Manager
from boxen.runtime.cgroups.writes import CgroupWrite, DeviceFilter

__all__ = ["CgroupWrite", "DeviceFilter", "Manager", "V1Manager", "V2Manager", "open_manager", "reopen"]


def __getattr__(name: str):
    # A host uses one version: the other one's modules are imported only if asked for.
    if name == "V1Manager":
        from boxen.runtime.cgroups.v1 import V1Manager

        return V1Manager
    if name == "V2Manager":
        from boxen.runtime.cgroups.v2 import V2Manager

        return V2Manager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
