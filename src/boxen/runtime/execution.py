"""``exec``: another process in a running container.

The process joins every namespace of the container's init (``/proc/<pid>/ns/*``, or the paths
the config named), its cgroup (born in its cgroup2 directory, as the init is: see
``Manager.clone_init``), and gets the container's seccomp filter, then the identity and
capabilities of its own process spec, which ``boxen-runtime exec`` builds from the container's
``process`` and the command line, or reads whole from ``--process``. The forks and messages are
those of ``create`` (see ``boxen.runtime.sync`` and ``boxen.runtime.init``), and so is the
hand-off before them (``boxen.runtime.handoff``).

:class:`boxen.runtime.container.Runtime` makes an :class:`Execution` once it has checked the
container's status; this module knows the runtime only through its public methods (``kernel``,
``container_cgroup``), so the dependency points one way: container, then execution.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.runtime import sync
from boxen.runtime.handoff import Handoff
from boxen.runtime.sealed import interpreter_file
from boxen.runtime.state import write_pid_file


class Execution:
    """One ``exec``: the runtime's side of the conversation in ``boxen.runtime.sync``."""

    def __init__(self, runtime, state, process) -> None:
        self.runtime = runtime
        self.state = state
        self.process = process

    def run(self, *, detach: bool, console_socket: str | None, pid_file: str | None, preserve_fds: int,
            cgroup: list[str] | None) -> int:
        from boxen.common.schema import from_json
        from boxen.oci.runtime import LinuxSeccomp
        from boxen.runtime import sealed
        from boxen.runtime.init import ExecContext, compile_seccomp, exec_setup_stage, preload
        from boxen.runtime.plan import plan_process
        from boxen.runtime.workdir import hold_preserved

        hold_preserved(preserve_fds)  # before opening anything: see workdir.hold_preserved
        runtime, state = self.runtime, self.state
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
        handoff = Handoff(runtime.kernel)
        try:
            ns_fds = handoff.open_namespaces(state.data.get("namespaces", {}).items())
            manager = runtime.container_cgroup(state)
            if manager is not None and cgroup:
                manager = manager.sub(cgroup)
            console_fd = handoff.console(console_socket) if process.terminal else None
            parent, channel = handoff.channel()
            preload(process)
            ctx = ExecContext(kernel=runtime.kernel, process=process, channel=channel, ns_fds=ns_fds,
                              cgroup=manager, console_fd=console_fd, preserve_fds=preserve_fds,
                              interpreter=interpreter_file(), setgroups=True, detach=detach,
                              container_id=state.id, seccomp_program=compile_seccomp(process),
                              bundle=state.data.get("bundle", ""))
            # Born in the cgroup (its cgroup2 part) unless the process names an initial CPU
            # affinity, which applies before it enters the cgroup (the cgroup's cpuset may not
            # offer those CPUs): that child forks, sets it, and joins every hierarchy.
            initial_affinity = (process.cpu_affinity or (None, None))[0]
            setup_pid = handoff.fork(exec_setup_stage, ctx, preserve_fds,
                                     born_in=None if initial_affinity else manager)
            pid = parent.expect(sync.INIT_PID)["pid"]
            os.waitpid(setup_pid, 0)
            master = handoff.console_master()
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

            handoff.close()
            with wait_foreground(pid, master) as waiter:
                return waiter.wait()
        finally:
            handoff.close()

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
