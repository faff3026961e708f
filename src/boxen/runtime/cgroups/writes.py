"""Cgroup writes as values, and the small executor that performs them.

Every limit a cgroup enforces is a file in its directory: writing ``104857600`` to
``memory.limit_in_bytes`` (v1) or ``memory.max`` (v2) is the whole act of limiting memory.
So a plan is a list of :class:`CgroupWrite` (file, value, and a sentence for a learner), and
applying it is one ``write(2)`` per entry, in order. Each entry is one ``write`` call because
some files take one rule per call (``devices.allow``, ``io.max``).

Facts about these writes that the executor relies on:

* The kernel checks each value when it is written and answers ``EINVAL``, ``EBUSY`` or
  ``ENOENT`` (no such file: controller not enabled, feature not built in). Errors therefore
  name the file and the value, with a hint for the common cases.
* Some values constrain each other: the CFS period and quota, the realtime period and
  runtime, the memory limit and the memory+swap limit (``memsw`` must stay >= the limit). Which
  order works depends on the values already there. runc writes them in its usual order and, if
  the kernel refuses one with ``EINVAL``, retries it after its partner; the executor does the
  same for the files in :data:`INTERDEPENDENT`.
* Enabling controllers (``+cpu +memory ...`` to ``cgroup.subtree_control``) is all or nothing
  per write. If the kernel refuses the list, runc enables them one by one and lets the ones
  that fail go: a limit that needs such a controller then fails on its own file, clearly. The
  executor does the same.
* cgroup v2 has no device files: a :class:`DeviceFilter` entry carries an eBPF program that the
  executor attaches to the directory (see ``boxen.runtime.linux.bpf``), then detaches the
  programs that were there before, so the cgroup is never without a filter.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import BoxenError, KernelError, kernel_error
from boxen.common.record import Record

_EINVAL, _EBUSY, _ENOENT, _EPERM, _EACCES = 22, 16, 2, 1, 13


class CgroupWrite(Record):
    """Write ``value`` to the cgroup file ``path``; ``what`` says why, in words for a learner."""

    path: str
    value: str
    what: str


class DeviceFilter(CgroupWrite):
    """Attach an eBPF device filter (``instructions``) to the cgroup v2 directory ``path``.

    ``value`` lists the rules the program enforces, so a plan reads the same for v1 and v2.
    """

    instructions: bytes
    license: str = "Apache-2.0"


#: Files whose writes may be refused until their partner is written (retried once, at the end).
INTERDEPENDENT = frozenset({
    "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us",
    "cpu.max.burst", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
})

_HINTS = {
    ("memory.memsw.limit_in_bytes", _ENOENT): "the kernel has no swap accounting (boot with swapaccount=1)",
    ("memory.swap.max", _ENOENT): "the kernel has no swap accounting (boot with swapaccount=1)",
    ("memory.limit_in_bytes", _EBUSY): "the cgroup already uses more memory and the kernel could not reclaim it",
    ("memory.max", _EBUSY): "the cgroup already uses more memory and the kernel could not reclaim it",
    ("cgroup.subtree_control", _EBUSY): "a cgroup holding processes cannot give domain controllers to children",
    ("cgroup.procs", _EBUSY): "cgroup v2 allows processes only in cgroups that give no controllers to children",
}


def size_words(n: int) -> str:
    """A byte count for a reader: ``100 MiB``, or the number when no binary unit divides it."""
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def read(path: str) -> str | None:
    """The text of a cgroup file, or None if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks).decode()
            chunks.append(chunk)
    finally:
        os.close(fd)


def write(path: str, value: str) -> None:
    """One ``write(2)`` of ``value`` to ``path``; raises ``OSError`` as the kernel answers.

    ``O_TRUNC`` is what ``echo value > file`` asks for: cgroup files ignore it, plain files
    (a simulated tree in tests) then hold just the value.
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_error(path: str, value: str, exc: OSError) -> BoxenError:
    """The error for a refused write: names the file and the value, with a hint if one is known."""
    errno = exc.errno or 0
    hint = _HINTS.get((os.path.basename(path), errno))
    if hint is None and errno == _ENOENT:
        hint = "the kernel offers no such file here: controller not enabled, or feature not built in"
    detail = f"writing {value!r}" + (f": {hint}" if hint else "")
    return kernel_error(errno, "write", path, detail)


def perform(writes) -> None:
    """Perform ``writes`` in order (see the module docstring for the retry and the eBPF entries)."""
    retry = []
    for w in writes:
        if isinstance(w, DeviceFilter):
            _attach(w)
            continue
        try:
            write(w.path, w.value)
        except OSError as exc:
            name = os.path.basename(w.path)
            if exc.errno == _EINVAL and name in INTERDEPENDENT:
                retry.append(w)
                continue
            if name == "cgroup.subtree_control" and " " in w.value:
                _enable_one_by_one(w.path, w.value)
                continue
            raise write_error(w.path, w.value, exc) from None
    for w in retry:
        try:
            write(w.path, w.value)
        except OSError as exc:
            raise write_error(w.path, w.value, exc) from None


def _enable_one_by_one(path: str, value: str) -> None:
    for token in value.split():
        try:
            write(path, token)
        except OSError:
            pass


def _attach(w: DeviceFilter) -> None:
    """Attach the new device filter, then detach the ones attached before it."""
    from boxen.runtime.linux import bpf

    try:
        dirfd = os.open(w.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise kernel_error(exc.errno or 0, "open", w.path) from None
    try:
        old = bpf.prog_query(dirfd, bpf.BPF_CGROUP_DEVICE, path=w.path)
        prog = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, w.instructions, w.license, "boxen_devices")
        try:
            bpf.prog_attach(dirfd, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI, path=w.path)
        finally:
            os.close(prog)
        for prog_id in old:
            _detach(dirfd, prog_id, w.path)
    finally:
        os.close(dirfd)


def _detach(dirfd: int, prog_id: int, path: str) -> None:
    from boxen.runtime.linux import bpf

    try:
        fd = bpf.prog_get_fd_by_id(prog_id)
    except KernelError as exc:
        # Gone meanwhile, or guarded by a security module: extra filters only add restrictions.
        if exc.errno in (_ENOENT, _EPERM, _EACCES):
            return
        raise
    try:
        bpf.prog_detach(dirfd, fd, bpf.BPF_CGROUP_DEVICE, path=path)
    finally:
        os.close(fd)
