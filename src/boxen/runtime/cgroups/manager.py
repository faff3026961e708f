"""The cgroup manager: one container's cgroup, from creation to removal.

A runtime uses a manager in this order (runc's ``cgroups.Manager``)::

    manager = open_manager(spec.linux.cgroupsPath, container_id)   # decide where (cgroups.factory)
    writes = manager.plan(spec.linux.resources, spec.linux.devices)  # decide what (only reads)
    manager.create()                                               # mkdir, in every hierarchy
    manager.apply(writes)                                          # write the limits
    pid = manager.clone_init(kernel, flags)                        # the init, born in it (cgroup2)
    ... the child calls manager.join(0) ...                        # and moves in (v1)
    state["cgroup"] = manager.saved()                              # later commands: reopen(saved)
    manager.freeze() / thaw() / frozen()                           # pause, resume
    manager.pids(); manager.stats(); manager.update(resources)     # ps, events, update
    manager.destroy()                                              # delete

Joining before ``exec`` matters: a process's children start in its cgroup, so everything the
container ever runs is counted and limited there. Writing a pid to ``cgroup.procs`` moves that
process (all its threads); writing ``0`` moves the writer itself.

:class:`Manager` holds what both versions share: making the directories (and remembering which
it made, so ``destroy`` removes those and nothing else), joining, listing processes, and removing
the cgroup, which the kernel allows only once no process is left in it (``EBUSY`` until the
last one is reaped, so removal is retried briefly, as runc does).
"""

from __future__ import annotations

import time

from boxen.common import posixos as os
from boxen.common.errors import FailedPrecondition, InvalidArgument, KernelError, NotFound, kernel_error
from boxen.runtime.cgroups.writes import perform, read, write, write_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxResources
    from boxen.runtime.cgroups.writes import CgroupWrite

_EPERM, _ENOENT, _E2BIG, _EACCES, _EBUSY, _EINVAL, _ENOSYS, _ENOTEMPTY, _EOPNOTSUPP = 1, 2, 7, 13, 16, 22, 38, 39, 95
#: clone3 errors after which a plain clone and a join still can work: no clone3 (ENOSYS), no
#: ``cgroup`` field (E2BIG), no CLONE_INTO_CGROUP (EINVAL); a cgroup that takes no process this
#: way (EBUSY, EOPNOTSUPP) or not from us (EPERM, EACCES): the join then reports the real reason.
_CANNOT_CLONE_INTO = (_ENOSYS, _E2BIG, _EINVAL, _EBUSY, _EOPNOTSUPP, _EPERM, _EACCES)


class Manager:
    """One container's cgroup (see the module docstring for the order of calls)."""

    version = 0

    def __init__(self, created=()) -> None:
        #: Directories create() made, top-down; destroy() removes them.
        self.created: list[str] = list(created)
        #: The cgroup2 directory the init was born in (clone_init), which it need not join.
        self.born_in: str | None = None
        #: create() failed: it removed what it made, and what existed before is not ours to remove.
        self._create_failed = False

    # --- implemented per version -------------------------------------------------------------

    def saved(self) -> dict:
        """What :func:`reopen` needs, as JSON-able values."""
        raise NotImplementedError

    def directories(self) -> list[tuple[str, str]]:
        """(cgroup directory, mount point of its hierarchy) for every hierarchy, in joining order."""
        raise NotImplementedError

    def _plan(self, resources: LinuxResources | None, devices: tuple[LinuxDevice, ...],
              with_devices: bool) -> list[CgroupWrite]:
        raise NotImplementedError

    def _prepare(self, directory: str, mount: str) -> None:
        """Called for each directory below a mount point on the way down in create()."""

    def _frozen_by(self) -> tuple[str, str] | None:
        """(file, what it reads) if the cgroup is frozen, by us or a parent; None if it is not."""
        raise NotImplementedError

    def freeze(self) -> None:
        """Stop every process in the cgroup (``runc pause``); returns once all are frozen."""
        raise NotImplementedError

    def thaw(self) -> None:
        """Let the processes run again (``runc resume``)."""
        raise NotImplementedError

    def frozen(self) -> bool:
        """Did we freeze the cgroup (a parent's freezing does not count)?"""
        raise NotImplementedError

    def stats(self) -> dict:
        """The ``data`` of ``runc events --stats`` (see ``boxen.runtime.cgroups.stats``)."""
        raise NotImplementedError

    def oom_watch(self):
        """An :class:`~boxen.runtime.cgroups.oom.OOMWatch` of the cgroup, or ``None`` without a
        memory controller."""
        raise NotImplementedError

    def describe(self) -> list[str]:
        """Lines for ``--explain``: the layout and the container's directories."""
        raise NotImplementedError

    def sub(self, spec: str | list[str] | tuple[str, ...]) -> Manager:
        """A manager for existing sub-cgroups, as ``exec --cgroup`` names them; only for join()."""
        raise NotImplementedError

    def mount_sources(self) -> list[tuple[str, str]]:
        """(name under the container's /sys/fs/cgroup, host directory to bind there) per hierarchy."""
        raise NotImplementedError

    def _pids_root(self) -> str:
        """The directory whose tree holds every process of the container."""
        raise NotImplementedError

    def _cgroup2_directory(self) -> str | None:
        """The container's directory in the cgroup2 hierarchy (v2, or a hybrid host's), if any."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------------

    def plan(self, resources: LinuxResources | None,
             devices: tuple[LinuxDevice, ...] = ()) -> tuple[CgroupWrite, ...]:
        """The writes for ``linux.resources`` and the device rules; reads the hierarchy, changes nothing.

        ``devices`` is ``linux.devices``: a node defined there replaces runc's default rule for
        the same path. Call it after create() to see exactly the files the new cgroup offers.
        """
        return tuple(self._plan(resources, tuple(devices or ()), True))

    def apply(self, writes) -> None:
        """Perform planned writes; an error names the file and the value."""
        perform(writes)

    def update(self, resources: LinuxResources, devices: tuple[LinuxDevice, ...] = ()) -> None:
        """``runc update``: write the given resources; device rules only if ``resources.devices`` is given."""
        perform(self._plan(resources, tuple(devices or ()), resources.devices is not None))

    def create(self) -> None:
        """Make the cgroup's directory in every hierarchy; on failure remove what was made.

        The directories may exist already (a ``cgroupsPath`` shared with another container or
        made by a manager). A frozen one is refused, as runc refuses it: the init would stop
        as it joins, and ``create`` wait for it for ever.
        """
        made: list[str] = []
        try:
            for directory, mount in self.directories():
                relative = os.path.relpath(directory, mount)
                level = mount
                for part in relative.split("/"):
                    level = os.path.join(level, part)
                    try:
                        os.mkdir(level, 0o755)
                        made.append(level)
                    except FileExistsError:
                        pass
                    except OSError as exc:
                        raise kernel_error(exc.errno or 0, "mkdir", level) from None
                    self._prepare(level, mount)
            frozen = self._frozen_by()
            if frozen is not None:
                path, value = frozen
                raise FailedPrecondition(f"container's cgroup is unexpectedly frozen: {path} reads {value!r}, so "
                                         "its first process would stop as it joins; thaw it (or the parent that "
                                         "froze it) or use another cgroup", field="linux.cgroupsPath")
        except BaseException:
            for level in reversed(made):
                _rmdir_quietly(level)
            self._create_failed = True
            raise
        self.created.extend(made)

    def clone_init(self, kernel, flags: int) -> int:
        """Fork the container's init into new namespaces (``Kernel.clone``), born in the cgroup.

        On cgroup2 (a v2 host, or a hybrid host's unified hierarchy) the child is started in
        the container's directory by ``clone3(CLONE_INTO_CGROUP)``, as crun does: moving a
        process there afterwards, by anyone, waits for an RCU grace period (bench/RESULTS.md). The
        v1 hierarchies have nothing like it; there the init still moves itself (``tasks``,
        cheap). Where the kernel lacks it (ENOSYS, E2BIG, EINVAL) or the cgroup cannot take a
        process this way, this is a plain ``clone`` and the init joins as before. Returns 0 in
        the child and the child's pid in the parent, and both know afterwards (``born_in``)
        which happened.
        """
        directory = self._cgroup2_directory()
        if directory is not None:
            try:
                fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise kernel_error(exc.errno or 0, "open", directory) from None
            try:
                pid = kernel.clone(flags, cgroup_fd=fd)
            except KernelError as exc:
                if exc.errno not in _CANNOT_CLONE_INTO:
                    raise
            else:
                self.born_in = directory
                return pid
            finally:
                os.close(fd)
        return kernel.clone(flags)

    def _joined_directories(self) -> list[str]:
        """The directories a process of the container joins: all but the one the init was born in."""
        return [directory for directory, _mount in self.directories() if directory != self.born_in]

    def _self_files(self) -> list[str]:
        """Per hierarchy, the file whose write of ``0`` moves the writer in (see :meth:`join_later`)."""
        return [os.path.join(directory, "cgroup.procs") for directory in self._joined_directories()]

    def join_later(self):
        """Open now the files that move the calling process into the cgroup; return the mover.

        The returned function writes ``0`` ("me") to each and closes them; it is for a
        single-threaded process (a forked child), which may have left the host's mount table
        (``pivot_root``) by the time it moves. On v1 the file is ``tasks``, which moves only
        the writing thread, and for that the kernel skips its global ``cgroup_threadgroup_rwsem``,
        whose write side waits for an RCU grace period (5-15 ms measured here, for every move
        through ``cgroup.procs`` that does not follow another within about one grace period).
        """
        opened: list[tuple[str, int]] = []
        try:
            for path in self._self_files():
                opened.append((path, os.open(path, os.O_WRONLY | os.O_CLOEXEC)))
        except OSError as exc:
            for _, fd in opened:
                os.close(fd)
            raise write_error(path, "0", exc) from None

        def move() -> None:
            try:
                for path, fd in opened:
                    try:
                        os.write(fd, b"0")
                    except OSError as exc:
                        raise write_error(path, "0", exc) from None
            finally:
                for _, fd in opened:
                    os.close(fd)
                opened.clear()

        return move

    def join(self, pid: int) -> None:
        """Move process ``pid`` (0: the calling, single-threaded process) into the cgroup, in every hierarchy."""
        if pid == 0:
            self.join_later()()
            return
        for directory in self._joined_directories():
            path = os.path.join(directory, "cgroup.procs")
            for attempt in range(5):
                try:
                    write(path, str(pid))
                    break
                except OSError as exc:
                    # EINVAL: a task still being forked (TASK_NEW) cannot move yet.
                    if exc.errno == _EINVAL and attempt < 4:
                        time.sleep(0.03)
                        continue
                    raise write_error(path, str(pid), exc) from None

    def pids(self) -> list[int]:
        """Every process in the cgroup and the cgroups below it."""
        out: list[int] = []
        pending = [self._pids_root()]
        while pending:
            directory = pending.pop()
            out.extend(int(pid) for pid in (read(os.path.join(directory, "cgroup.procs")) or "").split())
            try:
                pending.extend(e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False))
            except OSError:
                pass
        return out

    def destroy(self) -> None:
        """Remove the cgroup (and cgroups made below it), then the parents create() made, if empty.

        After a failed create() there is nothing left to remove: it removed what it made, and
        directories that were there before (another container's, a frozen one) stay.
        """
        if self._create_failed:
            return
        leaves = [d for d, _m in self.directories()]
        for directory in leaves:
            _remove_tree(directory)
        for level in reversed(self.created):
            if level not in leaves:
                _rmdir_quietly(level)
        self.created = []


def _rmdir_quietly(path: str) -> None:
    """rmdir, leaving a directory that is gone or still in use (another container's parent)."""
    try:
        os.rmdir(path)
    except OSError as exc:
        if exc.errno not in (_ENOENT, _EBUSY, _ENOTEMPTY):
            raise kernel_error(exc.errno or 0, "rmdir", path) from None


def _remove_tree(path: str) -> None:
    """Remove a cgroup and its sub-cgroups, deepest first, retrying while processes leave (runc: 5 tries)."""
    delay = 0.01
    for attempt in range(5):
        try:
            _remove_once(path)
            return
        except OSError as exc:
            if exc.errno not in (_EBUSY, _ENOTEMPTY) or attempt == 4:
                detail = "processes are still in it" if exc.errno == _EBUSY else ""
                raise kernel_error(exc.errno or 0, "rmdir", exc.filename or path, detail) from None
        time.sleep(delay)
        delay *= 2


def _remove_once(path: str) -> None:
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (_EBUSY, _ENOTEMPTY):
            raise
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _remove_once(entry.path)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


def frozen_v2(directory: str) -> tuple[str, str] | None:
    """(file, what it reads) if the cgroup2 ``directory`` is frozen, by itself or an ancestor.

    ``cgroup.freeze`` is the cgroup's own request; ``cgroup.events`` says ``frozen 1`` once it
    is frozen for whatever reason (a cgroup made below a frozen one starts frozen).
    """
    events = os.path.join(directory, "cgroup.events")
    if "frozen 1" in (read(events) or "").splitlines():
        return events, "frozen 1"
    freeze = os.path.join(directory, "cgroup.freeze")
    if (read(freeze) or "").strip() == "1":
        return freeze, "1"
    return None


def check_sub(base: str, sub: str) -> str:
    """``base/sub`` for ``exec --cgroup``: it must stay below ``base`` and exist."""
    path = os.path.normpath(os.path.join(base, sub.lstrip("/")))
    if path != base and not path.startswith(base + "/"):
        raise InvalidArgument(f"{sub!r} is not a sub-cgroup path", field="--cgroup")
    if not os.path.isdir(path):
        raise NotFound(f"sub-cgroup {path} does not exist", field="--cgroup")
    return path
