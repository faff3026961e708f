"""``RUN``: a command executed in a container whose root file system is the step's snapshot.

Each ``RUN`` is an ordinary OCI container run by boxen-runtime: a **bundle** whose
``rootfs`` is the active snapshot (overlayfs: the image so far as read-only lower layers, an
empty upper directory that catches every change) and whose ``config.json`` this module
writes from the planned :class:`~boxen.image.build.plan.RunStep`:

* ``process``: the arguments (``SHELL`` + the command, or the JSON form), the stage's
  environment with its ``ARG`` values, the working directory, the user (names resolved in the
  image's ``/etc/passwd``), no terminal, docker's default capabilities (enough for package
  managers: ``CHOWN``, ``SETUID``, ``DAC_OVERRIDE``...), and the file-descriptor limit of the
  builder itself;
* namespaces: pid, ipc, uts and mount of its own, and a network namespace of its own (only a
  loopback interface) unless ``RUN --network=host``;
* ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname`` bind-mounted read-only from files
  the builder writes, as docker and buildah do, so that name resolution works without writing
  into the image.

What the runtime had to create for its mounts (``/proc``, ``/dev``, ``/sys``, ``/etc/hosts``...
in a root that lacked them) is removed again before the layer is taken, when still empty, so it
does not leak into the image. The command's stdout and stderr go to the build's progress
through a pipe; its stdin is ``/dev/null``. A non-zero exit fails the build with
:class:`RunFailed`, naming the step, the command and its exit code. ^C or SIGTERM during the
command kills the container (as process 1 of its PID namespace, a command ignores signals it
has no handler for) and stops the build.
"""

from __future__ import annotations

import os
import resource
import stat
import threading
from typing import Self

from boxen.common.errors import BoxenError, FailedPrecondition
from boxen.image.build.plan import RunStep

#: docker's default capability set for containers (and so for RUN steps).
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")


class RunFailed(FailedPrecondition):
    """A ``RUN`` command exited with a non-zero status (``exit_code``)."""

    def __init__(self, message: str, *, exit_code: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.exit_code = exit_code


def etc_files(directory: str, hostname: str, *, host_network: bool) -> dict[str, str]:
    """Write the ``/etc`` files a RUN sees into ``directory``: destination -> host path."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts += f"127.0.1.1\t{hostname}\n"
    resolv = ""
    if host_network:
        try:
            with open("/etc/resolv.conf") as f:
                resolv = f.read()
        except OSError:
            resolv = ""
    files = {"/etc/hosts": hosts, "/etc/resolv.conf": resolv, "/etc/hostname": hostname + "\n"}
    out = {}
    for destination, text in files.items():
        path = os.path.join(directory, os.path.basename(destination))
        with open(path, "w") as f:
            f.write(text)
        out[destination] = path
    return out


def run_spec(step: RunStep, rootfs: str, *, hostname: str, files: dict[str, str], mounts=(), env=()) -> dict:
    """The ``config.json`` (a dict) of the container that runs ``step`` on ``rootfs``; ``mounts``
    are those of its ``--mount`` flags, already in ``config.json`` form, and ``env`` variables
    its secrets add to the environment (after the planned ones)."""
    from boxen.image.bundle import resolve_user
    from boxen.runtime.spec import default_spec

    spec = default_spec()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    spec["process"] = {
        "terminal": False,
        "user": resolve_user(step.user or None, rootfs),
        "args": list(step.args),
        "env": [*step.env, *step.proxy_env, *env],
        "cwd": step.workdir,
        "capabilities": {k: list(CAPABILITIES) for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": nofile[0], "hard": nofile[1]}],
        "noNewPrivileges": False,
    }
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["hostname"] = hostname
    spec["mounts"] = spec["mounts"] + [
        {"destination": destination, "type": "bind", "source": source, "options": ["rbind", "ro", "nosuid", "nodev"]}
        for destination, source in files.items()
    ] + list(mounts)
    namespaces = ["pid", "ipc", "uts", "mount"]
    if step.network != "host":
        namespaces.append("network")
    spec["linux"]["namespaces"] = [{"type": t} for t in namespaces]
    return spec


def missing_mountpoints(rootfs: str, spec: dict, leaves=()) -> list[str]:
    """For each mount destination the root lacks, the topmost missing path (what the runtime makes).

    For the destinations in ``leaves`` (a RUN's ``--mount`` targets) only the destination itself:
    the directories the runtime makes above it stay in the layer, as buildah leaves them.
    """
    missing = []
    for mount in spec["mounts"]:
        if mount["destination"] in leaves:
            rel = mount["destination"].strip("/")
            if not os.path.lexists(f"{rootfs}/{rel}") and rel not in missing:
                missing.append(rel)
            continue
        parts = [p for p in mount["destination"].split("/") if p]
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if not os.path.lexists(f"{rootfs}/{rel}"):
                if rel not in missing:
                    missing.append(rel)
                break
            if os.path.islink(f"{rootfs}/{rel}"):
                break  # the runtime resolves links inside the root: nothing it makes is here
    return missing


def _only_empty(path: str) -> bool:
    """Whether ``path`` holds nothing but empty directories and empty files."""
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    if not stat.S_ISDIR(st.st_mode):
        return False
    with os.scandir(path) as it:
        return all(_only_empty(e.path) for e in it)


def remove_mountpoints(rootfs: str, created: list[str]) -> list[str]:
    """Remove the mount points the runtime created (if the command left them empty)."""
    from boxen.image.layers import remove_tree

    removed = []
    for rel in created:
        path = f"{rootfs}/{rel}"
        parts = rel.split("/")
        through_link = any(os.path.islink(f"{rootfs}/{'/'.join(parts[:i])}") for i in range(1, len(parts)))
        if not through_link and os.path.lexists(path) and _only_empty(path):
            remove_tree(path)
            removed.append(rel)
    return removed


class CommandOutput:
    """The command's stdin, stdout and stderr while it runs: ``/dev/null`` in, a pipe out.

    The runtime gives the container this process's standard descriptors, so they are pointed
    at the pipe for the duration (and restored after); a thread hands what arrives to ``sink``.
    """

    def __init__(self, sink) -> None:
        self.sink = sink
        self._saved: list[int] = []
        self._thread: threading.Thread | None = None
        self._read = -1

    def __enter__(self) -> Self:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self._read, write = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._saved = [os.dup(fd) for fd in (0, 1, 2)]
        for fd in self._saved:
            os.set_inheritable(fd, False)
        os.dup2(null, 0)
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(null)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, name="build-output", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        while True:
            data = os.read(self._read, 65536)
            if not data:
                return
            self.sink(data)

    def __exit__(self, *exc: object) -> None:
        for fd, saved in zip((0, 1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        if self._thread is not None:
            self._thread.join()
        os.close(self._read)


class _Interrupted:
    """While a RUN container runs, ^C and SIGTERM kill it (its process 1 would ignore them) and
    abort the build once it is gone."""

    def __init__(self, runtime, container_id: str) -> None:
        self.runtime = runtime
        self.container_id = container_id
        self.signal: int | None = None
        self._saved: dict = {}

    def _handle(self, signum, frame) -> None:
        self.signal = signum
        try:
            self.runtime.kill(self.container_id, 9)
        except BoxenError:
            pass  # it is gone already

    def __enter__(self) -> Self:
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def execute(runtime, container_id: str, bundle: str, sink) -> int:
    """Run the bundle's container to its end; its output goes to ``sink``; returns its exit code
    (128 + the signal number if a signal ended it). Interrupted, it raises ``KeyboardInterrupt``
    once the container is deleted."""
    with CommandOutput(sink):
        creation = runtime.create(container_id, bundle)
        try:
            with _Interrupted(runtime, container_id) as interrupted:
                runtime.start(container_id)
                _, status = os.waitpid(creation.pid, 0)
        finally:
            runtime.delete(container_id, force=True)
    if interrupted.signal is not None:
        raise KeyboardInterrupt
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
