"""Where a container's state lives between commands, and how its status is read.

An OCI runtime is not a daemon: ``create``, ``start``, ``kill`` and ``delete`` are separate
processes, so what one learns the next must find on disk. Each container has a directory
``<root>/<id>/`` (root: ``/run/boxen-runtime``, a tmpfs, so it vanishes at reboot as the
containers do) holding:

* ``state.json``: the bundle, the init's pid and start time, the cgroup, the namespaces and
  the config, written atomically (a temporary file renamed over the old one);
* ``exec.sock``: the unix socket on which the init waits for ``start``
  (``boxen.runtime.startsocket``). It exists exactly while the container is *created*.

A runtime may be killed at any instant (``kill -9`` of ``run``), so the directory never exists
without a ``state.json``: ``create`` claims the id by making the directory under a temporary
name (``<id>#<pid>``: ``#`` is never part of an id), writing a *creating* ``state.json`` into it
that names the creating process and the cgroup it is about to make, and renaming it to
``<id>``. ``create`` adds the init's pid as soon as it has one, so ``delete --force`` of an interrupted
creation finds everything to undo; ``delete`` sweeps the claims of dead processes. ``remove``
unlinks ``state.json`` first: a directory without it holds nothing to undo (an interrupted
``delete``, or an older version's leftover), and is one ``delete`` removes, as runc does, and
``create`` replaces.

The status is not stored but observed, as the spec's lifecycle describes:

* **creating**: ``create`` has not finished, and its init or the creating process is alive;
* **stopped**: the init process has exited (or its pid now belongs to another process: the
  kernel reuses pids, so the start time recorded at creation must match), or its creation
  was interrupted;
* **created**: the init is alive and ``exec.sock`` still exists;
* **paused**: the init is alive and its cgroup is frozen;
* **running**: otherwise.
"""

from __future__ import annotations

import errno
import time

from boxen.common import jsonio
from boxen.common import posixos as os
from boxen.common.errors import AlreadyExists, InvalidArgument, NotFound, kernel_error
from boxen.oci import CREATED, CREATING, OCI_VERSION, PAUSED, RUNNING, STOPPED

DEFAULT_ROOT = "/run/boxen-runtime"
STATE_FILE = "state.json"
EXEC_SOCKET = "exec.sock"

# Separates an id from the suffix of a directory being claimed: never part of an id.
_AWAY = "#"

# runc accepts ids matching ^[\w+-\.]+$ : letters, digits, underscore, and the range + to .
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+,-.")


def check_id(container_id: str) -> str:
    if not container_id or container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise InvalidArgument(f"invalid container id {container_id!r} (letters, digits and _ + , - . only)",
                              field="container id")
    return container_id


def rfc3339_nano(ns: int) -> str:
    """A UTC timestamp as Go's RFC3339Nano writes it (trailing zeros of the fraction dropped)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        stamp += "." + f"{fraction:09d}".rstrip("0")
    return stamp + "Z"


def hook_state(plan, status: str, pid: int) -> dict:
    """The state document given to hooks run by the container's init (``plan``: a ContainerPlan)."""
    state = {"ociVersion": OCI_VERSION, "id": plan.id, "status": status, "pid": pid, "bundle": plan.bundle}
    if plan.annotations:
        state["annotations"] = plan.annotations
    return state


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _remove_directory(path: str) -> None:
    """Remove a state directory (files only, state.json first: the id is free from then on)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    names.sort(key=lambda name: name != STATE_FILE)
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except OSError as exc:
        # gone, or claimed again meanwhile by a create (it replaced the empty directory)
        if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            raise


class ContainerState:
    """One container's directory and ``state.json``."""

    __slots__ = ("data", "dir", "id", "root")

    def __init__(self, root: str, container_id: str, data: dict | None = None) -> None:
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.data = data if data is not None else {}

    # --- creation and loading -----------------------------------------------------------------

    @classmethod
    def new(cls, root: str, container_id: str, cgroup: dict | None = None) -> ContainerState:
        """Claim the id: its directory appears at once with a *creating* state.json naming us,
        and the ``cgroup`` (``Manager.saved()``) the creation is about to make, if given.

        Fails if the id is taken. A directory without state.json is not a container (one
        left by hand or by an older version): it is replaced.
        """
        check_id(container_id)
        os.makedirs(root, mode=0o711, exist_ok=True)
        me = os.getpid()
        data = {"id": container_id, "creating": True, "creator": me, "creator_start": process_start_time(me)}
        if cgroup is not None:
            data["cgroup"] = cgroup
        state = cls(root, container_id, data)
        claim = os.path.join(root, f"{container_id}{_AWAY}{me}")
        _remove_directory(claim)  # left by a process that had our pid before
        os.mkdir(claim, 0o711)
        try:
            state.save(claim)
            try:
                os.rename(claim, state.dir)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not cls.discard(root, container_id):
                    raise
                os.rename(claim, state.dir)
        except OSError as exc:
            _remove_directory(claim)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise AlreadyExists(f"container with id exists: {container_id}") from None
            raise kernel_error(exc.errno or 0, "rename", state.dir) from None
        return state

    @classmethod
    def load(cls, root: str, container_id: str) -> ContainerState:
        check_id(container_id)
        path = os.path.join(root, container_id, STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = jsonio.loads(f.read(), source=path)
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {container_id}") from None
        return cls(root, container_id, data)  # type: ignore[arg-type]

    @classmethod
    def ids(cls, root: str) -> list[str]:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _AWAY not in n and os.path.exists(os.path.join(root, n, STATE_FILE)))

    @classmethod
    def sweep(cls, root: str, container_id: str) -> None:
        """Remove the id's claims left by processes that died (``<id>#<pid>``)."""
        check_id(container_id)
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return
        prefix = container_id + _AWAY
        for name in names:
            pid = name[len(prefix):]
            if name.startswith(prefix) and pid.isdigit() and process_start_time(int(pid)) is None:
                _remove_directory(os.path.join(root, name))

    @classmethod
    def discard(cls, root: str, container_id: str) -> bool:
        """Remove the id's directory if it has no state.json (nothing in it to undo); True if it did."""
        check_id(container_id)
        state = cls(root, container_id)
        if not os.path.isdir(state.dir) or os.path.exists(os.path.join(state.dir, STATE_FILE)):
            return False
        state.remove()
        return True

    def save(self, claim: str | None = None) -> None:
        """Write ``state.json`` atomically (into a temporary file renamed over the old one).

        Into a ``claim`` directory (see ``new``) it is written in place: nobody reads it there.
        """
        path = os.path.join(claim or self.dir, STATE_FILE)
        tmp = path if claim else path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, jsonio.dumps(self.data).encode())
        finally:
            os.close(fd)
        if tmp != path:
            os.rename(tmp, path)

    def remove(self) -> None:
        """Delete the directory and everything in it, state.json first (see ``new``)."""
        _remove_directory(self.dir)

    # --- observation ----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    @property
    def exec_socket(self) -> str:
        """Where the created container's init waits for ``start`` (``boxen.runtime.startsocket``)."""
        return os.path.join(self.dir, EXEC_SOCKET)

    def alive(self) -> bool:
        pid = self.pid
        return pid > 0 and process_start_time(pid) == self.data.get("pid_start")

    def creator_alive(self) -> bool:
        """Whether the process that runs ``create`` is still at it."""
        pid = self.data.get("creator", 0)
        return pid > 0 and process_start_time(pid) == self.data.get("creator_start")

    def interrupted(self) -> bool:
        """A creation whose creating process died before it finished (``kill -9`` of ``run``)."""
        return bool(self.data.get("creating")) and not self.creator_alive()

    def status(self, frozen=None) -> str:
        """The lifecycle status; ``frozen()`` tells whether the cgroup is frozen."""
        if self.data.get("creating"):
            return CREATING if self.alive() or self.creator_alive() else STOPPED
        if not self.alive():
            return STOPPED
        if os.path.exists(self.exec_socket):
            return CREATED
        if frozen is not None and frozen():
            return PAUSED
        return RUNNING

    def oci_state(self, status: str) -> dict:
        """The state document of the runtime spec (what hooks read on stdin)."""
        state = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": self.pid if status != STOPPED else 0,
            "bundle": self.data.get("bundle", ""),
        }
        if status == STOPPED:
            del state["pid"]
        annotations = self.data.get("annotations")
        if annotations:
            state["annotations"] = annotations
        return state

    def runc_state(self, status: str) -> dict:
        """What ``runc state`` and ``runc list --format json`` print (runc's field order)."""
        state = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != STOPPED else 0,
            "status": status,
            "bundle": self.data.get("bundle", ""),
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
        }
        annotations = self.data.get("annotations")
        if annotations:
            state["annotations"] = annotations
        state["owner"] = self.data.get("owner", "")
        return state


def write_pid_file(path: str, pid: int) -> None:
    """``--pid-file``: write ``pid`` to ``path`` atomically (as runc does: no newline)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise InvalidArgument(f"cannot write pid file {path}: {os.strerror(exc.errno or 0)}", field="--pid-file") from None
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)
