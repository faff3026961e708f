"""The conversation between the runtime and the processes it forks to build a container.

``boxen-runtime create`` (the *parent*) forks a *setup* process, which enters or creates the
namespaces and then forks the container's *init* process (it has to: a new pid namespace only
applies to children). Some steps need the parent, which stays outside every namespace: it
writes the user namespace's id maps, learns the init's pid, and runs the hooks that belong to
the runtime's namespace. They talk over a ``SOCK_SEQPACKET`` socket pair, one JSON object per
packet::

      [ setup / init ]                            [ parent ]
    setup  USERNS_READY  ------------------>  write /proc/<setup>/uid_map and gid_map
                         <------------------  USERNS_MAPPED
    setup  INIT_PID {pid} ----------------->  remember the init's pid (setup then exits and
                                              init is re-parented to the parent, a subreaper)
           (or, when no namespace is joined by path, the parent clones the init itself:)
                         <------------------  GO (id maps written, init put in its cgroup)
    init   HOOKS -------------------------->  run prestart and createRuntime hooks
                         <------------------  HOOKS_DONE
    init   CREATED ------------------------>  write state.json: the container is "created"
    any    ERROR {kind, message, field} --->  re-raise the error in the parent, clean up

``exec`` uses the same channel: ``INIT_PID`` for the exec'd process, then either an ``ERROR`` or
the end of the stream, which means ``execveat`` succeeded (the channel is close-on-exec). After
``CREATED`` the init waits on its socket for ``start`` (see ``boxen.runtime.startsocket``).

:func:`encode` and :func:`decode` are the whole protocol (pure); :class:`Channel` moves packets.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common import errors, jsonio
from boxen.runtime.linux import constants as C

USERNS_READY = "userns-ready"
USERNS_MAPPED = "userns-mapped"
INIT_PID = "init-pid"
HOOKS = "hooks"
HOOKS_DONE = "hooks-done"
CREATED = "created"
GO = "go"
ERROR = "error"

_MAX_PACKET = 65536


def encode(message_type: str, **fields: object) -> bytes:
    fields["type"] = message_type
    return jsonio.dumps(fields).encode()


def decode(packet: bytes) -> dict:
    message = jsonio.loads(packet, source="sync message")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise errors.InvalidArgument("malformed sync message", field="sync message")
    return message


_TAXONOMY = (
    errors.NotFound,
    errors.AlreadyExists,
    errors.InvalidArgument,
    errors.FailedPrecondition,
    errors.Conflict,
    errors.Unavailable,
    errors.PermissionDenied,
    errors.Unimplemented,
)


def error_message(exc: BaseException) -> bytes:
    """The ERROR packet for an exception raised in a child: its class of the taxonomy and text."""
    if isinstance(exc, errors.BoxenError):
        kind = next((c.__name__ for c in _TAXONOMY if isinstance(exc, c)), "BoxenError")
        return encode(ERROR, kind=kind, message=exc.message, field=exc.field)
    return encode(ERROR, kind="BoxenError", message=f"{type(exc).__name__}: {exc}", field=None)


def raise_error(message: dict) -> None:
    """Re-raise, in the parent, the error a child reported."""
    cls = next((c for c in _TAXONOMY if c.__name__ == message.get("kind")), errors.BoxenError)
    raise cls(message.get("message", "container set-up failed"), field=message.get("field"))


def close_all(fds: list[int], *channels: Channel | None) -> None:
    """Close what the parent kept around a fork: descriptors, then channels (``None`` skipped)."""
    for fd in fds:
        os.close(fd)
    fds.clear()
    for channel in channels:
        if channel is not None:
            channel.close()


class Channel:
    """One end of the socket pair. On a ``SOCK_SEQPACKET`` socket each ``write`` sends one
    packet and each ``read`` returns one whole packet (or ``b""`` once the other end is closed),
    so plain descriptors do, without the ``socket`` module."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def pair(cls, kernel) -> tuple[Channel, Channel]:
        a, b = kernel.socketpair(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.fd

    def send(self, message_type: str, **fields: object) -> None:
        os.write(self.fd, encode(message_type, **fields))

    def send_error(self, exc: BaseException) -> None:
        try:
            os.write(self.fd, error_message(exc))
        except OSError:
            pass

    def readable(self, timeout: float) -> bool:
        """Whether a message, or the end of the stream, is there within ``timeout`` seconds."""
        import select

        return bool(select.select([self.fd], [], [], timeout)[0])

    def recv(self, timeout: float | None = None) -> dict | None:
        """The next message, or None when the other side has closed (or exited), or when
        nothing came within ``timeout`` seconds."""
        if timeout is not None and not self.readable(timeout):
            return None
        try:
            packet = os.read(self.fd, _MAX_PACKET)
        except ConnectionResetError:
            # The other end closed with a message of ours unread (a child that failed before
            # reading GO): the kernel says so once, then delivers what it had sent.
            packet = os.read(self.fd, _MAX_PACKET)
        if not packet:
            return None
        return decode(packet)

    def expect(self, kind: str) -> dict:
        """The next message, which must be ``kind`` (an ERROR is re-raised)."""
        message = self.recv()
        if message is None:
            raise errors.BoxenError(f"the container process exited before sending {kind!r}")
        if message["type"] == ERROR:
            raise_error(message)
        if message["type"] != kind:
            raise errors.BoxenError(f"unexpected sync message {message['type']!r} (expected {kind!r})")
        return message

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

