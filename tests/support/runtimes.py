"""The OCI runtimes under test, driven through runc 1.1's command-line surface.

An OCI runtime is a program, not a library: the runtime spec defines the operations
(``create``, ``start``, ``state``, ``kill``, ``delete``) and runc's command line turned them into
the de-facto interface that podman, containerd and Kubernetes call. The conformance suite
therefore drives each runtime as a separate program, exactly as those clients do, and compares
what it sees: exit codes, ``state`` JSON, and the container observed from inside and outside.

Every :class:`Runtime` keeps its state under a private ``--root`` (a temporary directory), so
tests never see or touch containers made outside them. The runtimes are:

* ``boxen``: the project's ``boxen-runtime`` launcher in the venv;
* ``runc``: Debian's runc;
* ``crun``: Debian's crun. crun refuses this host's *hybrid* cgroup layout (cgroup v1
  controllers plus a cgroup2 mount that owns only hugetlb), so it runs through a generated
  wrapper that enters a private mount namespace (``unshare --mount --propagation slave``),
  lazily unmounts ``/sys/fs/cgroup/unified`` there, and execs crun. Mount propagation *slave*
  keeps the host's mounts visible while nothing made inside leaks out.

``BOXEN_TEST_RUNTIMES`` (comma-separated, default ``boxen,runc,crun``) selects them. A runtime
whose program is missing is skipped. One that is present but answers ``--version`` with an error
is skipped when selected by default and fails when named explicitly, so a broken build never
hides behind a skip that was asked for by name.

A runtime's own standard streams are redirected to files, never pipes: ``create`` and
``run --detach`` return while the container keeps the inherited descriptors open, and a pipe
would make the caller wait for the container to exit.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from boxen.common.record import Record

VENV_BIN = pathlib.Path(__file__).resolve().parents[2] / ".venv" / "bin"
DEFAULT_SELECTION = "boxen,runc,crun"

_CRUN_WRAPPER = """\
#!/bin/sh
# crun in a private mount namespace with the cgroup2 mount hidden (hybrid layout unsupported).
exec unshare --mount --propagation slave sh -c \\
  'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec {crun} "$@"' crun "$@"
"""


class Result(Record):
    """One runtime invocation: its arguments, exit code and captured output."""

    args: tuple = ()
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> Result:
        """Return ``self`` if the command succeeded, else fail with its output."""
        if self.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, self.args))} exited {self.returncode}\n"
                                 f"stdout: {self.stdout}\nstderr: {self.stderr}")
        return self

    def json(self):
        return json.loads(self.stdout)


class Runtime:
    """A runc-compatible runtime program with a private ``--root``."""

    def __init__(self, name: str, program: list[str], root: pathlib.Path):
        self.name = name
        self.program = list(program)
        self.root = pathlib.Path(root)

    def __repr__(self) -> str:
        return f"Runtime({self.name!r}, root={str(self.root)!r})"

    @property
    def path(self) -> str:
        """The executable that clients (podman, ctr) should be given as the runtime."""
        return self.program[0]

    def __call__(self, *args: object, stdin=None, stdout=None, stderr=None, input: str | None = None,
                 timeout: float = 60, extra_fds=(), cwd=None, env=None) -> Result:
        """Run ``<runtime> --root <root> args...`` and return its :class:`Result`.

        ``stdout``/``stderr`` may be open files that the runtime (and a detached container)
        inherit; their content then is not captured. ``input`` is written to standard input.
        ``extra_fds`` become the runtime's descriptors 3, 4, ... (for ``--preserve-fds``).
        """
        argv = self.program + ["--root", str(self.root)] + [str(a) for a in args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            if input is not None:
                stdin_file = tempfile.TemporaryFile()
                stdin_file.write(input.encode())
                stdin_file.seek(0)
            else:
                stdin_file = stdin if stdin is not None else subprocess.DEVNULL
            try:
                proc = subprocess.run(argv, stdin=stdin_file, stdout=stdout or out,
                                      stderr=stderr or err, timeout=timeout, cwd=cwd, env=env,
                                      **_numbered_fds(extra_fds))
            finally:
                if input is not None:
                    stdin_file.close()
            out.seek(0)
            err.seek(0)
            return Result(tuple(argv), proc.returncode, out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))

    def popen(self, *args: object, **kw) -> subprocess.Popen:
        """Start ``<runtime> --root <root> args...`` without waiting (for ``run`` in the foreground)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        argv = self.program + ["--root", str(self.root)] + [str(a) for a in args]
        return subprocess.Popen(argv, **kw)

    # --- verbs ----------------------------------------------------------------------------

    def create(self, cid: str, bundle, *flags: object, **kw) -> Result:
        return self("create", "--bundle", bundle, *flags, cid, **kw)

    def start(self, cid: str, **kw) -> Result:
        return self("start", cid, **kw)

    def run(self, cid: str, bundle, *flags: object, **kw) -> Result:
        return self("run", "--bundle", bundle, *flags, cid, **kw)

    def exec(self, cid: str, *args: object, flags: tuple = (), **kw) -> Result:
        """``exec [flags] <id> [args]``; give ``--process file`` in ``flags`` and no args for a file."""
        return self("exec", *flags, cid, *args, **kw)

    def state(self, cid: str) -> dict:
        return self("state", cid).check().json()

    def status(self, cid: str) -> str | None:
        """The container's status, or None if the runtime does not know the id."""
        result = self("state", cid)
        return result.json()["status"] if result.ok else None

    def list(self, *flags: object) -> Result:
        return self("list", *flags)

    def kill(self, cid: str, sig: object = None, *flags: object) -> Result:
        return self("kill", *flags, cid, *([] if sig is None else [sig]))

    def delete(self, cid: str, *flags: object) -> Result:
        return self("delete", *flags, cid)

    def ps(self, cid: str, *flags: object) -> Result:
        return self("ps", *flags, cid)

    def pause(self, cid: str) -> Result:
        return self("pause", cid)

    def resume(self, cid: str) -> Result:
        return self("resume", cid)

    def events(self, cid: str, *flags: object, timeout: float = 30) -> Result:
        return self("events", *flags, cid, timeout=timeout)

    def update(self, cid: str, *flags: object, **kw) -> Result:
        return self("update", *flags, cid, **kw)

    def features(self) -> Result:
        return self("features")

    def spec(self, bundle, *flags: object) -> Result:
        return self("spec", "--bundle", bundle, *flags)

    def version(self) -> Result:
        argv = self.program + ["--version"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    # --- helpers ------------------------------------------------------------------------------

    def wait_status(self, cid: str, wanted: str, timeout: float = 20) -> str | None:
        """Poll ``state`` until the status is ``wanted`` (or the deadline passes); return the last."""
        deadline = time.monotonic() + timeout
        status = self.status(cid)
        while status != wanted and time.monotonic() < deadline:
            time.sleep(0.05)
            status = self.status(cid)
        return status

    def ids(self) -> list[str]:
        """Ids of the containers under this root, from the state directories on disk."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def cleanup(self) -> None:
        """Force-delete every container under this root, then remove the root."""
        for cid in self.ids():
            state = self("state", cid)
            if state.ok and state.json().get("status") == "paused":
                self.resume(cid)
            result = self.delete(cid, "--force")
            if not result.ok:
                self.kill(cid, "KILL", "--all")
                self.delete(cid, "--force")
        shutil.rmtree(self.root, ignore_errors=True)


def _numbered_fds(fds) -> dict:
    """subprocess arguments that give the child ``fds`` as descriptors 3, 4, ..."""
    if not fds:
        return {}
    fds = list(fds)

    def renumber():
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]  # out of the way of 3, 4...
        for number, fd in enumerate(high, start=3):
            os.dup2(fd, number)

    return {"preexec_fn": renumber, "pass_fds": tuple(range(3, 3 + len(fds)))}


# --- selection ------------------------------------------------------------------------------------


def _program(name: str, wrappers: pathlib.Path) -> list[str] | None:
    if name == "boxen":
        launcher = VENV_BIN / "boxen-runtime"
        return [str(launcher)] if launcher.exists() else None
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        return None
    if name == "crun" and _hybrid_cgroups():
        wrappers.mkdir(parents=True, exist_ok=True)
        wrapper = wrappers / "crun"
        wrapper.write_text(_CRUN_WRAPPER.format(crun=found))
        wrapper.chmod(0o755)
        return [str(wrapper)]
    return [found]


def _hybrid_cgroups() -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == "/sys/fs/cgroup/unified" for line in f)


def selected_names() -> tuple[list[str], bool]:
    """The runtime names from ``BOXEN_TEST_RUNTIMES`` and whether they were named explicitly."""
    value = os.environ.get("BOXEN_TEST_RUNTIMES")
    names = [n.strip() for n in (value or DEFAULT_SELECTION).split(",") if n.strip()]
    return names, value is not None


class Unavailable(Exception):
    """The runtime cannot be tested here; ``skip`` says whether that is a skip or a failure."""

    def __init__(self, message: str, skip: bool):
        super().__init__(message)
        self.skip = skip


_version_cache: dict[str, Result] = {}


def make_runtime(name: str, workdir: pathlib.Path, explicit: bool = False) -> Runtime:
    """A :class:`Runtime` for ``name`` with its root (and wrappers) under ``workdir``.

    Raises :class:`Unavailable` when the program is missing or does not answer ``--version``.
    """
    if name not in ("boxen", "runc", "crun"):
        raise Unavailable(f"unknown runtime {name!r} in BOXEN_TEST_RUNTIMES "
                          "(expected boxen, runc or crun)", skip=False)
    program = _program(name, workdir / "wrappers")
    if program is None:
        raise Unavailable(f"{name} is not installed", skip=True)
    runtime = Runtime(name, program, workdir / f"{name}-root")
    key = " ".join(program)
    if key not in _version_cache:
        _version_cache[key] = runtime.version()
    version = _version_cache[key]
    if not version.ok:
        raise Unavailable(f"{name} ({program[0]}) does not work yet: --version exited "
                          f"{version.returncode}: {version.stderr.strip()[:300]}", skip=not explicit)
    return runtime

