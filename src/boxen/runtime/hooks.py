"""Hooks: programs the runtime runs at fixed points of a container's life.

The runtime spec defines six kinds. Each hook gets the container's state document on its
stdin; it may have ``args`` (``args[0]`` is its argv[0]), ``env`` and a ``timeout`` in seconds.

=================  ====================================  =======================  ===========
kind               when                                  namespace it runs in     on failure
=================  ====================================  =======================  ===========
prestart (old)     create, after namespaces exist,       runtime's                error
                   before pivot_root
createRuntime      same point, after prestart            runtime's                error
createContainer    same point, after createRuntime       container's              error
startContainer     start, just before the user process   container's              error
poststart          start, after the user process runs    runtime's                warning
poststop           delete, after the container is gone   runtime's                warning
=================  ====================================  =======================  ===========

"Runtime's namespace" hooks are run by the ``boxen-runtime`` process itself; "container's"
ones by the container's init, which is inside every namespace of the container. The spec does
not say in which directory a hook starts; runc runs ``createContainer`` hooks in the
container's root (still a host path: the root is switched after them), and hooks written for
runc rely on it, so boxen does the same. The classic
use is networking: a ``createRuntime`` hook learns the init's pid from the state and sets up
interfaces in ``/proc/<pid>/ns/net``.
"""

from __future__ import annotations

import select
import time

from boxen.common import posixos as os
from boxen.common import jsonio
from boxen.common.errors import BoxenError

_KILL = 9


class HookError(BoxenError):
    """A hook exited non-zero, was killed by its timeout, or could not be started."""


def run(hook, state: dict, kind: str, index: int, *, cwd: str | None = None) -> None:
    """Run one hook with ``state`` on stdin, in the directory ``cwd`` (default: ours); raise
    HookError if it fails.

    The timeout covers the whole hook, feeding its stdin included: the state is written
    without blocking, a piece whenever the pipe has room, in the same ``poll`` loop that
    collects the output and waits for the exit. A hook that never reads its stdin (and a
    state larger than the pipe's 64 KiB) is still killed on time.
    """
    name = f"hooks.{kind}[{index}] ({hook.path})"
    data = jsonio.dumps(state).encode()
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    args = list(hook.args) if hook.args else [hook.path]
    env = list(hook.env or ())
    pid = os.fork()
    if pid == 0:
        try:
            if cwd is not None:
                os.chdir(cwd)
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.closerange(3, 65536)
            os.execve(hook.path, args, dict(e.split("=", 1) for e in env))
        except BaseException as exc:
            os.write(2, f"cannot run hook: {exc}\n".encode())
        os._exit(127)
    os.close(stdin_r)
    os.close(out_w)
    output, status = _communicate(pid, stdin_w, data, out_r, hook.timeout)
    if status is None:
        raise HookError(f"{name} timed out after {hook.timeout} s")
    if status != 0:
        text = output.decode(errors="replace").strip()
        detail = f": {text}" if text else ""
        reason = f"signal {-status}" if status < 0 else f"exit status {status}"
        raise HookError(f"{name} failed with {reason}{detail}")


def _communicate(pid: int, in_fd: int, data: bytes, out_fd: int, timeout: int | None) -> tuple[bytes, int | None]:
    """Write ``data`` to ``in_fd`` and collect ``out_fd`` until the hook exits; kill it at the
    timeout (status None). Closes both descriptors."""
    deadline = time.monotonic() + timeout if timeout else None
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(out_fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    pending = memoryview(data)
    os.set_blocking(in_fd, False)
    poller.register(in_fd, select.POLLOUT)
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            wait_ms = -1
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(pid, _KILL)
                    timed_out = True
                    break
                wait_ms = int(left * 1000) + 1
            exited = False
            for fd, event in poller.poll(wait_ms):
                if fd == in_fd:
                    pending = _feed(in_fd, pending, event)
                    if not pending:
                        poller.unregister(in_fd)
                        os.close(in_fd)
                        in_fd = -1
                elif fd == out_fd:
                    chunk = os.read(out_fd, 65536)
                    if chunk:
                        chunks.append(chunk)
                    else:
                        poller.unregister(out_fd)
                else:
                    exited = True
            if exited:
                break
        _, status = os.waitpid(pid, 0)
        os.set_blocking(out_fd, False)  # a process the hook left behind may still hold the pipe
        while True:
            try:
                chunk = os.read(out_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if in_fd >= 0:
            os.close(in_fd)
        os.close(pidfd)
        os.close(out_fd)
    if timed_out:
        return b"".join(chunks), None
    code = os.waitstatus_to_exitcode(status)
    return b"".join(chunks), code


def _feed(fd: int, pending: memoryview, event: int) -> memoryview:
    """Write what the pipe takes of ``pending``; what is left (empty: done, or the hook
    closed its stdin, which is its right)."""
    if event & (select.POLLERR | select.POLLHUP):
        return pending[:0]
    try:
        written = os.write(fd, pending)
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return pending[:0]
    return pending[written:]


def run_all(hooks, kind: str, state: dict, *, cwd: str | None = None) -> None:
    """Run every hook of ``kind`` in order (in ``cwd``); the first failure raises."""
    for i, hook in enumerate(getattr(hooks, kind) or () if hooks else ()):
        run(hook, state, kind, i, cwd=cwd)
