"""Terminals for containers: the pseudo-terminal, the console socket, and the foreground proxy.

With ``process.terminal: true`` the container's stdio is a *pseudo-terminal*: a pair of
devices, the *master* (held by whoever shows the output, a terminal emulator, conmon, a
containerd shim) and the *slave* (the container's stdin, stdout and stderr, and its controlling
terminal, so that ^C becomes SIGINT for its foreground process group).

The pty is opened *inside* the container, after the root switch, so it belongs to the
container's own devpts instance. The runtime then has to hand the master to the caller, who
passed ``--console-socket PATH``: a unix socket to which the master's file descriptor is sent as
``SCM_RIGHTS`` ancillary data (with the name ``/dev/ptmx`` as the payload, as runc does). When a
caller runs ``run`` or ``exec`` in the foreground without a socket, the runtime keeps the master
itself and proxies between it and its own terminal (:class:`Proxy`).
"""

from __future__ import annotations

import _socket
import errno

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unavailable
from boxen.runtime.linux import constants as C

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FD_BYTES = 4


def connect(path: str) -> int:
    """Connect to the caller's console socket; the descriptor is handed to the container's init."""
    sock = _socket.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"cannot connect to console socket {path}: {os.strerror(exc.errno or 0)}",
                          field="--console-socket") from None
    return sock.detach()


def pair() -> tuple[int, int]:
    """A socket pair for the foreground case: (runtime's end, container's end)."""
    a, b = _socket.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC)
    return a.detach(), b.detach()


def send_fd(socket_fd: int, fd: int, name: str = "/dev/ptmx") -> None:
    sock = _socket.socket(fileno=socket_fd)
    try:
        sock.sendmsg([name.encode()], [(C.SOL_SOCKET, C.SCM_RIGHTS, fd.to_bytes(_FD_BYTES, "little"))])
    finally:
        sock.detach()


def recv_fd(socket_fd: int) -> int:
    sock = _socket.socket(fileno=socket_fd)
    try:
        _, ancillary, _, _ = sock.recvmsg(4096, 64)
    finally:
        sock.detach()
    for level, kind, data in ancillary:
        if level == C.SOL_SOCKET and kind == C.SCM_RIGHTS and len(data) >= _FD_BYTES:
            return int.from_bytes(data[:_FD_BYTES], "little")
    raise InvalidArgument("no file descriptor arrived on the console socket", field="--console-socket")


def set_size(fd: int, rows: int, columns: int) -> None:
    import fcntl

    fcntl.ioctl(fd, C.TIOCSWINSZ, rows.to_bytes(2, "little") + columns.to_bytes(2, "little") + bytes(4))


def setup_in_container(kernel, socket_fd: int | None, size: tuple[int, int] | None, mount_console: bool,
                       uid: int) -> None:
    """In the container (after the root switch): make the pty, send its master, adopt its slave.

    The slave is given to ``uid``, the container's user, so that it can use its own terminal
    (``mesg``, ``tty``, re-opening ``/dev/tty``); its group stays the one devpts gave it (``tty``,
    from the ``gid=5`` mount option), as runc does.
    """
    import fcntl

    if socket_fd is None:  # the runtime connects one (or makes a pair) whenever there is a terminal
        raise InvalidArgument("process.terminal is true but there is no console socket to send the pty to",
                              field="--console-socket")
    master, slave = os.openpty()
    slave_path = os.ttyname(slave)
    try:
        os.fchown(slave, uid, -1)
    except OSError as exc:
        # As runc: a uid not mapped in the user namespace (EINVAL), a slave whose owner is
        # not mapped (EPERM) or a read-only /dev (EROFS) leave the terminal to root.
        if exc.errno not in (errno.EINVAL, errno.EPERM, errno.EROFS):
            raise
    if size:
        set_size(master, *size)
    if mount_console:
        try:
            os.close(os.open("/dev/console", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError:
            pass
        kernel.mount(slave_path, "/dev/console", None, C.MS_BIND)
    send_fd(socket_fd, master)
    os.close(master)
    os.close(socket_fd)
    fcntl.ioctl(slave, C.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


class Proxy:
    """Foreground terminal: copies between our stdio and the container's pty master."""

    def __init__(self, master: int) -> None:
        self.master = master
        # termios attributes as tcgetattr returns them (typeshed: a list of Any), to restore on exit.
        self.saved: list[Any] | None = None

    def __enter__(self) -> Proxy:
        import termios

        if os.isatty(0):
            self.saved = termios.tcgetattr(0)
            raw = termios.tcgetattr(0)
            raw[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
            raw[1] &= ~termios.OPOST
            raw[2] = (raw[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
            raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
            termios.tcsetattr(0, termios.TCSAFLUSH, raw)
            self.resize()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSAFLUSH, self.saved)

    def resize(self) -> None:
        import fcntl

        try:
            size = fcntl.ioctl(0, C.TIOCGWINSZ, bytes(8))
            fcntl.ioctl(self.master, C.TIOCSWINSZ, size)
        except OSError:
            pass

    def pump(self, done) -> None:
        """Copy until the master hangs up or ``done()`` says the process has exited."""
        import select

        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        stdin_open = True
        try:
            poller.register(0, select.POLLIN)
        except (OSError, ValueError):
            stdin_open = False
        while True:
            try:
                events = poller.poll(200)
            except InterruptedError:
                continue
            if not events and done():
                break
            for fd, event in events:
                if fd == self.master:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    os.write(1, data)
                elif stdin_open:
                    data = os.read(0, 65536)
                    if not data:
                        poller.unregister(0)
                        stdin_open = False
                        continue
                    os.write(self.master, data)
