"""The runtime as a Python library: the OCI lifecycle operations on containers by id.

The runtime spec defines a container's life as a few operations, each a separate command of an
OCI runtime and a method of :class:`Runtime` here::

    create(id, bundle) --> "created" --start(id)--> "running" --(process exits)--> "stopped"
                                                                                 --delete(id)-->

``kill`` sends a signal; ``state`` reports the status; runc adds ``run`` (create + start + wait
+ delete), ``exec`` (another process in the container), ``pause``/``resume`` (freeze the
cgroup), ``ps``, ``events``/``stats`` and ``update``. ``create`` refuses an id in use; which
operation is allowed in which status (``start`` needs a *created* container, ``kill`` a live
one, ``delete`` a *stopped* one unless forced) is one table, :mod:`boxen.runtime.lifecycle`.

A failed ``create`` leaves nothing behind: the state directory, the cgroup, and the forked
processes are removed before the error propagates.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import BoxenError, FailedPrecondition, InvalidArgument, NotFound
from boxen.oci import PAUSED, RUNNING, STOPPED
from boxen.runtime import lifecycle
from boxen.runtime.linux import constants as C
from boxen.runtime.state import DEFAULT_ROOT, ContainerState, process_start_time, rfc3339_nano, write_pid_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins  # Runtime.list shadows the builtin in its own annotations

    from boxen.runtime.plan import ContainerPlan


def _log(log, message: str) -> None:
    if log is not None:
        log(message)


class Runtime:
    """OCI runtime operations on the containers under ``root`` (``/run/boxen-runtime``)."""

    def __init__(self, root: str = DEFAULT_ROOT, *, systemd_cgroup: bool = False, kernel=None, warn=None,
                 debug=None) -> None:
        """``warn`` and ``debug`` take messages for the log (``--log``; debug lines with ``--debug``)."""
        self.root = root
        self.systemd_cgroup = systemd_cgroup
        self._kernel = kernel
        self.warn = warn
        self.debug = debug

    @property
    def kernel(self):
        """The Kernel the operations use (the real one unless a test passed another)."""
        if self._kernel is None:
            from boxen.runtime.linux.kernel import KERNEL

            self._kernel = KERNEL
        return self._kernel

    # --- planning ---------------------------------------------------------------------------------

    def plan(self, container_id: str, bundle: str, *, no_pivot: bool = False, no_new_keyring: bool = False,
             spec=None, needs_process: bool = True) -> tuple[object, ContainerPlan]:
        """Read, check and decide ``bundle``'s config.json: (spec, plan). Nothing is created."""
        from boxen.oci.runtime import load_config
        from boxen.runtime.plan import plan_container
        from boxen.runtime.state import check_id
        from boxen.runtime.validate import validate

        check_id(container_id)
        bundle = os.path.abspath(bundle)
        if spec is None:
            try:
                spec = load_config(os.path.join(bundle, "config.json"))
            except FileNotFoundError:
                raise NotFound(f"{bundle}/config.json does not exist", field="--bundle") from None
        validate(spec, bundle, needs_process=needs_process)
        return spec, plan_container(spec, container_id, bundle, no_pivot=no_pivot, no_new_keyring=no_new_keyring)

    def cgroup_manager(self, plan: ContainerPlan):
        from boxen.runtime import cgroups

        return cgroups.open_manager(plan.cgroups_path, plan.id, systemd=self.systemd_cgroup)

    # --- create --------------------------------------------------------------------------------------

    def create(self, container_id: str, bundle: str, *, console_socket: str | None = None,
               pid_file: str | None = None, no_pivot: bool = False, no_new_keyring: bool = False,
               preserve_fds: int = 0, _console_pair: bool = False, _run: bool = False,
               _foreground: bool = False) -> Creation:
        """Create the container: its init waits, in every namespace, for ``start``."""
        # The spec lets ``create`` succeed without a process; ``start`` must then fail.
        spec, plan = self.plan(container_id, bundle, no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                               needs_process=not _console_pair and not _run)
        terminal = plan.process is not None and plan.process.terminal
        if terminal and console_socket is None and not _console_pair:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket",
                                  field="--console-socket")
        if not terminal and console_socket is not None:
            raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty",
                                  field="--console-socket")
        if pid_file:
            check_pid_file(pid_file)
        creation = Creation(self, spec, plan)
        creation.run(console_socket=console_socket, console_pair=_console_pair, preserve_fds=preserve_fds,
                     foreground=_foreground)
        if pid_file:
            try:
                write_pid_file(pid_file, creation.pid)
            except BaseException:
                self._force_delete(creation.state)
                raise
        _log(self.debug, f"container {container_id} created from {plan.bundle}: init pid {creation.pid}, "
                          f"cgroup {plan.cgroups_path or '(default)'}")
        return creation

    # --- start -----------------------------------------------------------------------------------------

    def start(self, container_id: str) -> None:
        """Let the created container's process run, then run the poststart hooks."""
        self._start(ContainerState.load(self.root, container_id))

    def _start(self, state: ContainerState) -> None:
        lifecycle.check("start", state.status())
        from boxen.runtime import startsocket

        failure = startsocket.start(state.dir)
        try:
            os.unlink(state.exec_socket)
        except FileNotFoundError:
            pass
        if failure:
            raise BoxenError(f"unable to start container process: {failure}")
        _log(self.debug, f"container {state.id} started: pid {state.pid} runs the process")
        self._run_hooks(state, "poststart", RUNNING, fail=False)

    # --- observation ------------------------------------------------------------------------------------

    def load(self, container_id: str) -> ContainerState:
        return ContainerState.load(self.root, container_id)

    def container_cgroup(self, state: ContainerState):
        """The cgroup manager of the container ``state`` describes (``None``: it has no cgroup)."""
        saved = state.data.get("cgroup")
        if not saved:
            return None
        from boxen.runtime import cgroups

        return cgroups.reopen(saved)

    def status(self, state: ContainerState) -> str:
        manager = None

        def frozen() -> bool:
            nonlocal manager
            manager = manager or self.container_cgroup(state)
            return manager is not None and manager.frozen()

        return state.status(frozen)

    def state(self, container_id: str) -> dict:
        """What ``runc state`` prints."""
        state = self.load(container_id)
        return state.runc_state(self.status(state))

    def list(self) -> list[dict]:
        out = []
        for container_id in ContainerState.ids(self.root):
            try:
                state = self.load(container_id)
            except (NotFound, InvalidArgument):
                continue
            out.append(state.runc_state(self.status(state)))
        return out

    # --- signals ------------------------------------------------------------------------------------------

    def kill(self, container_id: str, signal: int = 15, *, all_processes: bool = False) -> None:
        """Signal the init, or with ``all_processes`` every process in the cgroup (even once stopped)."""
        state = self.load(container_id)
        status = self.status(state)
        lifecycle.check("kill-all" if all_processes else "kill", status)
        _log(self.debug, f"sending signal {signal} to container {container_id}"
                          + (" (every process)" if all_processes else f" (pid {state.pid})"))
        if all_processes:
            manager = self.container_cgroup(state)
            for pid in manager.pids() if manager else [state.pid] if status != STOPPED else []:
                try:
                    os.kill(pid, signal)
                except ProcessLookupError:
                    pass
        else:
            _signal_process(state, signal)
        if signal == 9 and status == PAUSED:
            # A frozen process dies only once thawed: runc thaws the cgroup for SIGKILL.
            self._require_manager(state).thaw()

    # --- delete -------------------------------------------------------------------------------------------

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Delete the container; with ``force``, kill it first, and an id that does not exist is no error."""
        ContainerState.sweep(self.root, container_id)
        try:
            state = self.load(container_id)
        except NotFound:
            # A directory without state.json holds nothing to undo: runc removes it too.
            ContainerState.discard(self.root, container_id)
            if force:
                return
            raise
        self._delete(state, force=force)

    def _delete(self, state: ContainerState, *, force: bool) -> None:
        status = self.status(state)
        if not force:
            lifecycle.check("delete", status, state.id)
        _log(self.debug, f"deleting container {state.id} ({status}{', forced' if force else ''})")
        if status != STOPPED:
            self._kill_all(state, status)
        if state.data.get("creating"):
            self._kill_unrecorded(state)
        self._destroy(state)

    def _kill_unrecorded(self, state: ContainerState) -> None:
        """Kill what an interrupted ``create`` put in the cgroup before it recorded the init's pid."""
        import time

        manager = self.container_cgroup(state)
        deadline = time.monotonic() + 10
        while manager is not None and time.monotonic() < deadline:
            try:
                pids = manager.pids()
            except (OSError, BoxenError):
                return
            if not pids:
                return
            _log(self.debug, f"killing what an interrupted create left in the cgroup: pids {pids}")
            if manager.frozen():
                manager.thaw()
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)

    def _kill_all(self, state: ContainerState, status: str) -> None:
        manager = self.container_cgroup(state)
        own_pid_ns = "pid" in state.data.get("new_namespaces", ())
        try:
            _signal_process(state, 9)
        except FailedPrecondition:
            pass
        if manager is not None:
            if not own_pid_ns:
                for pid in manager.pids():
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
            if status == PAUSED:
                manager.thaw()
        _wait_dead(state)

    def _destroy(self, state: ContainerState) -> None:
        manager = self.container_cgroup(state)
        if manager is not None:
            try:
                manager.destroy()
            except BoxenError as exc:
                # A cgroup another container shares keeps its processes: runc warns and goes on.
                _log(self.warn, f"container {state.id}: cannot remove its cgroup: {exc}")
        state.remove()
        self._run_hooks(state, "poststop", STOPPED, fail=False)

    def _run_hooks(self, state: ContainerState, kind: str, status: str, *, fail: bool) -> None:
        hooks_json = state.data.get("hooks")
        if not hooks_json or not hooks_json.get(kind):
            return
        from boxen.common.schema import from_json
        from boxen.oci.runtime import Hooks
        from boxen.runtime import hooks

        oci_state = state.oci_state(status)
        parsed = from_json(Hooks, hooks_json, "hooks")
        if fail:
            hooks.run_all(parsed, kind, oci_state)
            return
        # poststart and poststop: a failing hook is a warning, and the next hooks still run.
        for i, hook in enumerate(getattr(parsed, kind) or ()):
            try:
                hooks.run(hook, oci_state, kind, i)
            except BoxenError as exc:
                _log(self.warn, f"{kind} hook failed: {exc}")

    # --- pause, resume, ps, stats, update ---------------------------------------------------------------------

    def pause(self, container_id: str) -> None:
        state = self.load(container_id)
        lifecycle.check("pause", self.status(state))
        self._require_manager(state).freeze()

    def resume(self, container_id: str) -> None:
        state = self.load(container_id)
        lifecycle.check("resume", self.status(state))
        self._require_manager(state).thaw()

    def pids(self, container_id: str) -> builtins.list[int]:
        """The container's processes: none once it has stopped (runc's ``ps`` prints an empty table)."""
        state = self.load(container_id)
        if self.status(state) == STOPPED:
            return []
        return self._require_manager(state).pids()

    def stats(self, container_id: str) -> dict:
        state = self.load(container_id)
        lifecycle.check("stats", self.status(state))
        return self._require_manager(state).stats()

    def oom_watch(self, container_id: str):
        """Notifications of the kernel's OOM kills in the container's cgroup (``events``), or ``None``."""
        return self._require_manager(self.load(container_id)).oom_watch()

    def update(self, container_id: str, resources) -> None:
        state = self.load(container_id)
        lifecycle.check("update", self.status(state))
        self._require_manager(state).update(resources)

    def _require_manager(self, state: ContainerState):
        manager = self.container_cgroup(state)
        if manager is None:
            raise FailedPrecondition(f"container {state.id} has no cgroup")
        return manager

    # --- run and exec -------------------------------------------------------------------------------------------

    def run(self, container_id: str, bundle: str, *, detach: bool = False, keep: bool = False,
            console_socket: str | None = None, pid_file: str | None = None, no_pivot: bool = False,
            no_new_keyring: bool = False, preserve_fds: int = 0) -> int:
        """create + start; in the foreground also wait, forward signals, delete, and return the exit code."""
        foreground_tty = not detach and console_socket is None
        creation = self.create(container_id, bundle, console_socket=console_socket, pid_file=pid_file,
                               no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                               _console_pair=foreground_tty, _run=True, _foreground=not detach)
        if detach:
            self._start(creation.state)
            return 0
        from boxen.runtime.foreground import wait_foreground

        try:
            with wait_foreground(creation.pid, creation.console_master) as waiter:
                self._start(creation.state)
                code = waiter.wait()
        except BaseException:
            if not keep:
                self._force_delete(creation.state)
            raise
        _log(self.debug, f"container {container_id} exited with status {code}")
        if not keep:
            self._force_delete(creation.state)
        return code

    def _force_delete(self, state: ContainerState) -> None:
        """Delete what ``run`` made, from the state it holds (no second read of state.json)."""
        if os.path.isdir(state.dir):
            self._delete(state, force=True)

    def exec(self, container_id: str, process, *, detach: bool = False, console_socket: str | None = None,
             pid_file: str | None = None, preserve_fds: int = 0, ignore_paused: bool = False,
             cgroup: builtins.list[str] | None = None) -> int:
        """Start ``process`` (an ``oci.runtime.Process``) in the container; return its exit code (0 if detached)."""
        from boxen.runtime.execution import Execution

        state = self.load(container_id)
        lifecycle.check("exec-ignoring-paused" if ignore_paused else "exec", self.status(state))
        if pid_file:
            check_pid_file(pid_file)
        execution = Execution(self, state, process)
        return execution.run(detach=detach, console_socket=console_socket, pid_file=pid_file,
                             preserve_fds=preserve_fds, cgroup=cgroup)


class Creation:
    """One ``create``: the parent's side of the conversation in ``boxen.runtime.sync``."""

    def __init__(self, runtime: Runtime, spec, plan: ContainerPlan) -> None:
        self.runtime = runtime
        self.spec = spec
        self.plan = plan
        self.pid = 0
        self.console_master: int | None = None
        self._sources: dict[int, int] = {}  # bind sources opened for the init, by mount index
        self.state: ContainerState  # made by run(), read only once it has returned

    def run(self, *, console_socket: str | None, console_pair: bool, preserve_fds: int,
            foreground: bool = False) -> None:
        from boxen.runtime import startsocket, sync
        from boxen.runtime.handoff import Handoff
        from boxen.runtime.init import InitContext, compile_seccomp, init_stage, preload, setup_stage
        from boxen.runtime.linux.kernel import single_threaded
        from boxen.runtime.sealed import interpreter_file
        from boxen.runtime.workdir import hold_preserved

        hold_preserved(preserve_fds)  # before opening anything: see workdir.hold_preserved
        runtime, plan, k = self.runtime, self.plan, self.runtime.kernel
        if "pid" not in plan.new_kinds:  # seen from inside before it execs (see boxen.runtime.sealed)
            from boxen.runtime import sealed

            sealed.require("the container's init")
        cgroup = runtime.cgroup_manager(plan)  # where the cgroup goes: only reads
        # The claim names the cgroup before it exists, so delete --force can undo an interrupted create.
        state = self.state = ContainerState.new(runtime.root, plan.id, cgroup.saved())
        manager = None  # set once its directories may be ours to remove
        setup_pid = 0
        handoff = Handoff(k)
        try:
            ns_fds = handoff.open_namespaces(plan.joined, "linux.namespaces")
            manager = cgroup
            manager.create()
            # The one-clone path is for a single-threaded process (see Kernel.clone); a threaded
            # caller (a daemon using this library) takes the two-stage path, whose os.fork runs
            # the C library's fork handling.
            cloned = not plan.joined and "time" not in plan.new_kinds and single_threaded()
            if not cloned:
                self._set_limits(manager)
            # The init waits for start on a socket that names no host file (see startsocket).
            start_fd = handoff.own(startsocket.listen(state.dir))
            console_fd = None
            if plan.process is not None and plan.process.terminal:
                console_fd = handoff.console(console_socket)
            idmap_fds = {}
            for op in plan.rootfs.mounts:
                if op.idmap is not None and op.idmap[1] is not None:
                    idmap_fds[op.destination] = handoff.own(_idmap_userns(k, op.idmap[1], op.idmap[2]))
            from boxen.runtime.mounter import idmap_sources, open_bind_sources

            source_fds = open_bind_sources(k, plan)  # with a user namespace: see there
            for fd in source_fds.values():
                handoff.own(fd)
            idmap_sources(k, plan, source_fds, idmap_fds)
            if "user" in ns_fds:
                idmap_sources(k, plan, source_fds, idmap_fds, ns_fds["user"])
            self._sources = source_fds
            parent, channel = handoff.channel()
            preload(plan.process, self.spec.hooks, rootfs=True)
            ctx = InitContext(
                kernel=k, plan=plan, channel=channel, ns_fds=ns_fds, start_fd=start_fd, cgroup=manager,
                cgroup_mounts=_cgroup_mounts(manager), cgroup_version=manager.version, console_fd=console_fd,
                preserve_fds=preserve_fds, interpreter=interpreter_file(),
                hooks=self.spec.hooks, seccomp_program=compile_seccomp(plan.process), setgroups=True,
                idmap_fds=idmap_fds, source_fds=source_fds, cloned=cloned, join_cgroup=cloned and "user" not in plan.new_kinds,
            )
            if ctx.cloned:
                # Nothing to join by path and no time namespace: one clone(2) makes the init
                # in its namespaces, and on cgroup2 in its cgroup (Manager.clone_init). While
                # it builds its mounts, we write the cgroup's limits
                # (a bad limit still undoes everything: see _rollback); then the init moves
                # itself into the cgroup (Manager.join_later: no RCU grace period to wait for
                # on v1), or, in a new user namespace, where it may not, we move it.
                self.pid = manager.clone_init(k, plan.new_namespaces & ~C.CLONE_NEWCGROUP)
                if self.pid == 0:
                    handoff.in_child(preserve_fds)
                    init_stage(ctx)
                handoff.child_forked()
                try:
                    if "user" in plan.new_kinds:
                        _write_id_maps(self.pid, plan)
                        self._idmap_in_new_userns(self.pid)
                    self._set_limits(manager)
                    if not ctx.join_cgroup:
                        manager.join(self.pid)
                    parent.send(sync.GO)
                except (OSError, BoxenError) as exc:
                    # The init may have failed already: its own error, waiting on the channel,
                    # explains more than ours does.
                    message = parent.recv(timeout=0.5)
                    if message is not None and message["type"] == sync.ERROR:
                        sync.raise_error(message)
                    raise exc
                self._save(state, manager, creating=True)
                if foreground:  # idle until the init reports: import what ``run`` does next
                    from boxen.runtime import foreground as _  # noqa: F401
            else:
                setup_pid = handoff.fork(setup_stage, ctx, preserve_fds)
            self._converse(parent, state, setup_pid, manager)
            setup_pid = 0
            self.console_master = handoff.console_master()
        except BaseException:
            self._rollback(state, manager, setup_pid)
            raise
        finally:
            handoff.close()

    def _idmap_in_new_userns(self, pid: int) -> None:
        """Idmap the binds that take the container's mapping, now that the new user namespace
        of ``pid`` has its id maps (see ``mounter.idmap_sources``)."""
        mounts = self.plan.rootfs.mounts
        if not any((idmap := mounts[i].idmap) is not None and idmap[1] is None for i in self._sources):
            return
        from boxen.runtime.mounter import idmap_sources

        userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        try:
            idmap_sources(self.runtime.kernel, self.plan, self._sources, {}, userns)
        finally:
            os.close(userns)

    def _set_limits(self, manager) -> None:
        """Write ``linux.resources`` into the container's cgroup (decided, then applied)."""
        linux = self.spec.linux
        manager.apply(manager.plan(linux.resources, tuple(linux.devices or ())))

    def _converse(self, channel, state: ContainerState, setup_pid: int, manager) -> None:
        from boxen.runtime import sync

        plan = self.plan
        while True:
            # Frozen after create() checked it, the cgroup stops the init where it stands: it
            # would never report, so the wait is a poll that looks at the freezer meanwhile.
            while not channel.readable(_FREEZE_POLL):
                _check_not_frozen(manager)
            message = channel.recv()
            if message is None:
                raise BoxenError("container init exited before the container was created")
            kind = message["type"]
            if kind == sync.ERROR:
                sync.raise_error(message)
            elif kind == sync.USERNS_READY:
                _write_id_maps(setup_pid, plan)
                self._idmap_in_new_userns(setup_pid)
                channel.send(sync.USERNS_MAPPED)
            elif kind == sync.INIT_PID:
                self.pid = message["pid"]
                os.waitpid(setup_pid, 0)
                self._save(state, manager, creating=True)
            elif kind == sync.HOOKS:
                hooks = self.spec.hooks
                from boxen.runtime import hooks as hook_runner

                # runtime-tools and crun give prestart hooks "created"; createRuntime is "creating".
                hook_runner.run_all(hooks, "prestart", state.oci_state("created"))
                hook_runner.run_all(hooks, "createRuntime", state.oci_state("creating"))
                channel.send(sync.HOOKS_DONE)
            elif kind == sync.CREATED:
                self._save(state, manager, creating=False)
                return

    def _save(self, state: ContainerState, manager, *, creating: bool) -> None:
        from boxen.common.schema import to_json

        plan, spec = self.plan, self.spec
        if "pid" not in state.data:
            namespaces = {}
            from boxen.runtime.namespaces import PROC_NAMES

            for kind in plan.new_kinds:
                namespaces[kind] = f"/proc/{self.pid}/ns/{PROC_NAMES[kind]}"
            for kind, path in plan.joined:
                namespaces[kind] = path
            state.data.update(
                id=plan.id,
                bundle=plan.bundle,
                rootfs=plan.rootfs.rootfs,
                pid=self.pid,
                pid_start=process_start_time(self.pid),
                created=rfc3339_nano(_now_ns()),
                owner="",
                annotations=plan.annotations,
                new_namespaces=list(plan.new_kinds),
                namespaces=namespaces,
                cgroup=manager.saved(),
                process=to_json(spec.process) if spec.process is not None else None,
                seccomp=to_json(spec.linux.seccomp) if spec.linux.seccomp else None,
                hooks=to_json(spec.hooks) if spec.hooks else None,
            )
        state.data["creating"] = creating
        if not creating:
            del state.data["creating"]
        state.save()

    def _rollback(self, state: ContainerState, manager, setup_pid: int) -> None:
        """Undo a failed create: no process, cgroup or state directory may remain.

        A process in a frozen cgroup v1 dies of SIGKILL only once thawed: the container's own
        cgroup is thawed first; one frozen by a parent (not ours to thaw) leaves the process
        to die when it thaws, and the wait for it is bounded.
        """
        if manager is not None and (setup_pid or self.pid):
            try:
                if manager.frozen():
                    manager.thaw()
            except (OSError, BoxenError):
                pass
        for pid in (setup_pid, self.pid):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
                _reap(pid, _REAP_TIMEOUT)
        if self.console_master is not None:
            os.close(self.console_master)
            self.console_master = None
        if manager is not None:
            try:
                manager.destroy()
            except BoxenError:
                pass
        state.remove()


#: Seconds between two looks at the freezer while ``create`` waits for its init.
_FREEZE_POLL = 0.1
#: Seconds a failed ``create`` waits for a killed child (one in a cgroup a parent froze never dies).
_REAP_TIMEOUT = 5.0


def _check_not_frozen(manager) -> None:
    """Raise runc's error if the container's cgroup is frozen (by itself or a parent)."""
    frozen = manager._frozen_by() if manager is not None else None
    if frozen is not None:
        path, value = frozen
        raise FailedPrecondition(f"container's cgroup unexpectedly frozen: {path} reads {value!r} while its "
                                 "init was being set up; thaw it (or the parent that froze it) or use another "
                                 "cgroup", field="linux.cgroupsPath")


def _reap(pid: int, timeout: float) -> None:
    """Wait for the child ``pid`` to exit, at most ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.002)


def _now_ns() -> int:
    import time

    return time.time_ns()


def _cgroup_mounts(manager) -> tuple[tuple[str, str], ...]:
    """(directory name under /sys/fs/cgroup, host path of the container's cgroup) per hierarchy."""
    return tuple(manager.mount_sources())


def _write_id_maps(pid: int, plan: ContainerPlan) -> None:
    """Write the user namespace's id maps (the parent is root: any mapping is allowed)."""
    for name, maps in (("uid_map", plan.uid_mappings), ("gid_map", plan.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        except OSError as exc:
            raise InvalidArgument(f"the kernel refused the mapping {text.strip()!r}: {os.strerror(exc.errno or 0)}",
                                  field=f"linux.{name[:3]}Mappings") from None
        finally:
            os.close(fd)


def _idmap_userns(k, uid_maps, gid_maps) -> int:
    """A user namespace holding the mapping of an idmapped mount: a child makes it, we keep its fd."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            k.unshare(C.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise BoxenError("could not create the user namespace of an idmapped mount")
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("".join(f"{c} {h} {n}\n" for c, h, n in maps))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)


def _signal_process(state: ContainerState, signal: int) -> None:
    """Signal the init through a pidfd, after checking the pid still names our process."""
    if state.pid <= 0:
        raise FailedPrecondition("container not running")
    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        raise FailedPrecondition("container not running") from None
    try:
        if not state.alive():
            raise FailedPrecondition("container not running")
        from boxen.runtime.linux.kernel import KERNEL

        KERNEL.pidfd_send_signal(pidfd, signal)
    finally:
        os.close(pidfd)


def _wait_dead(state: ContainerState, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while state.alive():
        if time.monotonic() > deadline:
            raise BoxenError(f"container {state.id} did not die after SIGKILL")
        time.sleep(0.005)


def check_pid_file(path: str) -> None:
    """Refuse a ``--pid-file`` that cannot be written, before any process is made for it."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidArgument(f"cannot write pid file {path}: {directory} is not a directory", field="--pid-file")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidArgument(f"cannot write pid file {path}: {directory} is not writable", field="--pid-file")
