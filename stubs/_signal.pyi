"""Type stub for ``_signal``, CPython's C signal module, which typeshed leaves out (it stubs ``signal``).

boxen's runtime imports ``_signal`` rather than ``signal`` because ``signal`` wraps it in enums and
``enum`` is too slow to import on the runtime's path. Here the signal numbers and the handler
constants are what ``_signal`` really holds: plain ints. Only the POSIX/Linux subset is declared.
"""

from collections.abc import Callable
from types import FrameType
from typing import Any

#: What ``signal`` takes and returns: a callable, ``SIG_DFL``/``SIG_IGN``, or None (installed from C).
Handler = Callable[[int, FrameType | None], Any] | int | None

SIG_DFL: int
SIG_IGN: int
SIG_BLOCK: int
SIG_UNBLOCK: int
SIG_SETMASK: int
NSIG: int

SIGABRT: int
SIGALRM: int
SIGBUS: int
SIGCHLD: int
SIGCONT: int
SIGFPE: int
SIGHUP: int
SIGILL: int
SIGINT: int
SIGIO: int
SIGKILL: int
SIGPIPE: int
SIGPROF: int
SIGPWR: int
SIGQUIT: int
SIGRTMAX: int
SIGRTMIN: int
SIGSEGV: int
SIGSTOP: int
SIGSYS: int
SIGTERM: int
SIGTRAP: int
SIGTSTP: int
SIGTTIN: int
SIGTTOU: int
SIGURG: int
SIGUSR1: int
SIGUSR2: int
SIGVTALRM: int
SIGWINCH: int
SIGXCPU: int
SIGXFSZ: int

def signal(signalnum: int, handler: Handler, /) -> Handler: ...
def getsignal(signalnum: int, /) -> Handler: ...
def default_int_handler(signalnum: int, frame: FrameType | None, /) -> None: ...
def pthread_sigmask(how: int, mask: set[int], /) -> set[int]: ...
def pthread_kill(thread_id: int, signalnum: int, /) -> None: ...
def sigwait(sigset: set[int], /) -> int: ...
def valid_signals() -> set[int]: ...
def strsignal(signalnum: int, /) -> str | None: ...
def set_wakeup_fd(fd: int, /, *, warn_on_full_buffer: bool = ...) -> int: ...
def raise_signal(signalnum: int, /) -> None: ...
def alarm(seconds: int, /) -> int: ...
def pause() -> None: ...
