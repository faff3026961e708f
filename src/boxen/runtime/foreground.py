"""Waiting for a container in the foreground, as ``run`` and ``exec`` do without ``--detach``.

The runtime stays the parent of the container's process (it set itself as *child subreaper*,
so the process is re-parented to it when the intermediate setup process exits) and so can
``waitpid`` for it. Meanwhile it forwards the signals it receives (^C, ``kill`` of the runtime)
to the process, and, when the process has a terminal and no caller took the pty, it copies
between its own terminal and the pty (``boxen.runtime.console.Proxy``), passing on window size
changes (SIGWINCH).

The exit code is the process's own, or 128 + the signal number if a signal killed it, as a
shell reports it.
"""

from __future__ import annotations

import _signal

from boxen.common import posixos as os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _signal import Handler

    from boxen.runtime.console import Proxy

FORWARDED = (
    _signal.SIGHUP,
    _signal.SIGINT,
    _signal.SIGQUIT,
    _signal.SIGTERM,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGCONT,
    _signal.SIGWINCH,
)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class wait_foreground:
    """``with wait_foreground(pid, master) as waiter: ...; code = waiter.wait()``."""

    def __init__(self, pid: int, master: int | None = None) -> None:
        self.pid = pid
        self.master = master
        self.proxy: Proxy | None = None
        self.saved: dict[int, Handler] = {}
        self.status: int | None = None

    def _forward(self, sig: int, frame: object) -> None:
        if sig == _signal.SIGWINCH:
            if self.proxy is not None:
                self.proxy.resize()
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def __enter__(self) -> wait_foreground:
        for sig in FORWARDED:
            self.saved[sig] = _signal.signal(sig, self._forward)
        if self.master is not None:
            from boxen.runtime.console import Proxy

            self.proxy = Proxy(self.master).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proxy is not None:
            self.proxy.__exit__(*exc)
        if self.master is not None:
            os.close(self.master)
        for sig, handler in self.saved.items():
            _signal.signal(sig, handler)

    def _exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def wait(self) -> int:
        if self.proxy is not None:
            self.proxy.pump(self._exited)
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
        return exit_code(self.status)
