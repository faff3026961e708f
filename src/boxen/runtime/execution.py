"""``exec``: another process in a running container.

The process joins every namespace of the container's init (``/proc/<pid>/ns/*``, or the paths
the config named), its cgroup, and gets the container's seccomp filter, then the identity and
capabilities of its own process spec, which ``boxen-runtime exec`` builds from the container's
``process`` and the command line, or reads whole from ``--process``. The forks and messages are
those of ``create`` (see ``boxen.runtime.sync`` and ``boxen.runtime.init``).
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import NotFound
from boxen.runtime import sync
from boxen.runtime.linux import constants as C


class Execution:
    def __init__(self, runtime, state, process) -> None:
        self.runtime = runtime
        self.state = state
        self.process = process

    def run(self, *, detach: bool, console_socket: str | None, pid_file: str | None, preserve_fds: int,
            cgroup: list[str] | None) -> int:
        from boxen.common.schema import from_json
        from boxen.oci.runtime import LinuxSeccomp
        from boxen.runtime import sealed
        from boxen.runtime.container import write_pid_file
        from boxen.runtime.init import ExecContext, compile_seccomp, exec_setup_stage, preload
        from boxen.runtime.plan import plan_process

        runtime, state, k = self.runtime, self.state, self.runtime.kernel
        sealed.require("the exec'd process")
        if sealed.interpreter_of(state.pid) and not sealed.exe_is_sealed(state.pid):
            raise sealed.Unsealed(f"cannot exec in container {state.id}: its init, waiting for start, is the "
                                  "runtime's own writable interpreter, which the exec'd process could reach")
        seccomp_json = state.data.get("seccomp")
        seccomp = from_json(LinuxSeccomp, seccomp_json, "linux.seccomp") if seccomp_json else None
        process = plan_process(self.process, seccomp)
        if process.terminal and console_socket is None and detach:
            from boxen.common.errors import InvalidArgument

            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket",
                                  field="--console-socket")
        ns_fds: dict[str, int] = {}
        fds: list[int] = []
        parent = child = None
        console_parent = None
        try:
            for kind, path in state.data.get("namespaces", {}).items():
                try:
                    ns_fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    raise NotFound(f"cannot open namespace {path}: {os.strerror(exc.errno or 0)}") from None
                fds.append(ns_fds[kind])
            manager = runtime._manager(state)
            if manager is not None and cgroup:
                manager = manager.sub(cgroup)
            console_fd = None
            if process.terminal:
                from boxen.runtime import console

                if console_socket is not None:
                    console_fd = console.connect(console_socket)
                else:
                    console_parent, console_fd = console.pair()
                    fds.append(console_parent)
                fds.append(console_fd)
            interpreter = os.stat("/proc/self/exe")
            parent, child = sync.Channel.pair(k)
            k.prctl(C.PR_SET_CHILD_SUBREAPER, 1)
            preload(process)
            ctx = ExecContext(kernel=k, process=process, channel=child, ns_fds=ns_fds, cgroup=manager,
                              console_fd=console_fd, preserve_fds=preserve_fds,
                              interpreter=(interpreter.st_dev, interpreter.st_ino),
                              setgroups=True, detach=detach, container_id=state.id,
                              seccomp_program=compile_seccomp(process),
                              bundle=state.data.get("bundle", ""))
            setup_pid = os.fork()
            if setup_pid == 0:
                parent.close()
                exec_setup_stage(ctx)
            child.close()
            child = None
            pid = parent.expect(sync.INIT_PID)["pid"]
            os.waitpid(setup_pid, 0)
            master = None
            if console_parent is not None:
                from boxen.runtime.console import recv_fd

                master = recv_fd(console_parent)
            try:
                self._wait_ready(parent, pid)
            except BaseException:
                if master is not None:
                    os.close(master)
                raise
            if pid_file:
                write_pid_file(pid_file, pid)
            if detach:
                if master is not None:
                    os.close(master)
                return 0
            from boxen.runtime.foreground import wait_foreground

            sync.close_all(fds)
            with wait_foreground(pid, master) as waiter:
                return waiter.wait()
        finally:
            sync.close_all(fds, parent, child)

    @staticmethod
    def _wait_ready(channel: sync.Channel, pid: int) -> None:
        """The stream ends when execveat succeeds (close-on-exec); an ERROR means the process never ran."""
        message = channel.recv()
        if message is not None and message["type"] == sync.ERROR:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            sync.raise_error(message)
