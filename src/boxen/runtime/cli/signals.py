"""Signal names and numbers, as ``runc kill`` accepts them (``KILL``, ``SIGKILL``, ``9``)."""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

NUMBERS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGIOT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
    "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCLD": 17, "SIGCONT": 18,
    "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24,
    "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29,
    "SIGPWR": 30, "SIGSYS": 31,
}
_RTMIN, _RTMAX = 34, 64


def parse(text: str) -> int:
    """A signal number from a name (with or without SIG, any case) or a number.

    ``0`` is no signal: the kernel only checks that the process exists, so ``kill ID 0`` tells
    whether the container is alive (exit 0) or not (exit 1), as with runc.
    """
    if text.isdigit():
        number = int(text)
        if 0 <= number <= _RTMAX:
            return number
        raise InvalidArgument(f"invalid signal {text!r}", field="signal")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in NUMBERS:
        return NUMBERS[name]
    for base, start, sign in (("SIGRTMIN", _RTMIN, 1), ("SIGRTMAX", _RTMAX, -1)):
        if name == base:
            return start
        if name.startswith(base + ("+" if sign > 0 else "-")) and name[len(base) + 1 :].isdigit():
            number = start + sign * int(name[len(base) + 1 :])
            if _RTMIN <= number <= _RTMAX:
                return number
    raise InvalidArgument(f"unknown signal {text!r}", field="signal")
