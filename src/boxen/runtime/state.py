"""Where a container's state lives between commands, and how its status is read.

An OCI runtime is not a daemon: ``create``, ``start``, ``kill`` and ``delete`` are separate
processes, so what one learns the next must find on disk. Each container has a directory
``<root>/<id>/`` (root: ``/run/boxen-runtime``, a tmpfs, so it vanishes at reboot as the
containers do) holding:

* ``state.json``: the bundle, the init's pid and start time, the cgroup, the namespaces and
  the config, written atomically (a temporary file renamed over the old one);
* ``exec.fifo``: a named pipe the init blocks on until ``start`` writes to it. It exists
  exactly while the container is *created*.

The status is not stored but observed, as the spec's lifecycle describes:

* **stopped**: the init process has exited (or its pid now belongs to another process: the
  kernel reuses pids, so the start time recorded at creation must match);
* **created**: the init is alive and ``exec.fifo`` still exists;
* **paused**: the init is alive and its cgroup is frozen;
* **running**: otherwise.
"""

from __future__ import annotations

import time

from boxen.common import posixos as os
from boxen.common import jsonio
from boxen.common.errors import AlreadyExists, InvalidArgument, NotFound
from boxen.oci import CREATED, CREATING, OCI_VERSION, PAUSED, RUNNING, STOPPED

DEFAULT_ROOT = "/run/boxen-runtime"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"

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
    def new(cls, root: str, container_id: str) -> ContainerState:
        """Claim the id: make its directory (failing if it exists)."""
        check_id(container_id)
        os.makedirs(root, mode=0o711, exist_ok=True)
        state = cls(root, container_id)
        try:
            os.mkdir(state.dir, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container with id exists: {container_id}") from None
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
        return sorted(n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE)))

    def save(self) -> None:
        """Write ``state.json`` atomically."""
        path = os.path.join(self.dir, STATE_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, jsonio.dumps(self.data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def remove(self) -> None:
        """Delete the directory and everything in it."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass

    # --- observation ----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.dir, EXEC_FIFO)

    def alive(self) -> bool:
        pid = self.pid
        return pid > 0 and process_start_time(pid) == self.data.get("pid_start")

    def status(self, frozen=None) -> str:
        """The lifecycle status; ``frozen()`` tells whether the cgroup is frozen."""
        if not self.alive():
            return STOPPED
        if self.data.get("creating"):
            return CREATING
        if os.path.exists(self.fifo_path):
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
