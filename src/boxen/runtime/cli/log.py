"""Log lines in logrus's formats, because runc's callers parse them.

containerd's shim and conmon pass ``--log FILE --log-format json`` and, when a runtime command
fails, read the last error from that file (``{"level":"error","msg":"...","time":"..."}``).
Without ``--log``, runc writes logrus' text format (``time="..." level=error msg="..."``) to
stderr. With ``--log``, the file is made when the runtime starts (a caller may watch it before
anything is logged), and an error also goes to stderr as plain text. ``--debug`` adds lines of
level ``debug``: what each operation did (the container's pid, its cgroup, a signal sent).

The file is opened for each line, never held: a descriptor on a host file must not be open in
the processes that become the container.
"""

from __future__ import annotations

import sys
import time

from boxen.common import jsonio
from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument

FORMATS = ("text", "json")


def _timestamp() -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
    offset = time.strftime("%z", time.localtime(now))
    return stamp + ("Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}")


def _quote(text: str) -> str:
    if text and all(c.isalnum() or c in "-._/@^+" for c in text):
        return text
    return jsonio.dumps(text)


def format_line(level: str, message: str, fmt: str) -> str:
    if fmt == "json":
        return jsonio.dumps({"level": level, "msg": message, "time": _timestamp()})
    return f"time={_quote(_timestamp())} level={level} msg={_quote(message)}"


class Logger:
    """Where messages go: ``--log`` file (or stderr), ``--log-format``, ``--debug``."""

    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt if fmt in FORMATS else "text"
        self.debug_enabled = debug

    @classmethod
    def open(cls, path: str | None, fmt: str, debug: bool) -> Logger:
        """The logger of the global flags: ``fmt`` checked and the ``path`` made, as runc does at start."""
        if fmt not in FORMATS:
            raise InvalidArgument(f"unknown log-format {fmt!r} (expected text or json)", field="--log-format")
        if path:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644))
            except OSError as exc:
                raise InvalidArgument(f"cannot open the log file {path}: {os.strerror(exc.errno or 0)}",
                                      field="--log") from None
        return cls(path, fmt, debug)

    def write(self, level: str, message: str) -> None:
        line = format_line(level, message, self.fmt) + "\n"
        if self.path:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            except OSError:
                sys.stderr.write(line)
                return
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        else:
            sys.stderr.write(line)

    def error(self, message: str) -> None:
        self.write("error", message)
        if self.path:
            sys.stderr.write(message + "\n")

    def warning(self, message: str) -> None:
        self.write("warning", message)

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self.write("debug", message)
