"""One error taxonomy for every layer of boxen.

Errors are classified by *meaning*, not by where they happened, the way containerd's
``errdefs`` and gRPC status codes do: a caller asks "was it not found?" rather than "which
module raised it?". Every layer subclasses these classes for its own cases, and every server
(the Docker Engine API, the CRI, the Kubernetes API) maps the classes to its status codes in
one table.

A :class:`KernelError` keeps what the kernel said (``errno``), what was asked (the syscall)
and on what (the path), because "mount: Operation not permitted" is useless without the
path and the syscall, and the errno decides the class: ``ENOENT`` is a
:class:`NotFound`, ``EPERM`` a :class:`PermissionDenied`, and so on.

This module is imported on the runtime's start-up path, so it imports nothing but ``os``.
"""

from __future__ import annotations

from boxen.common import posixos as os


class BoxenError(Exception):
    """Base of every error boxen raises on purpose.

    ``field`` names what was wrong when the error is about input: a JSON path such as
    ``process.capabilities.bounding[2]``, a command-line argument such as ``--pid-file``,
    or a file name.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class NotFound(BoxenError):
    """The named thing (container, image, blob, file) does not exist."""


class AlreadyExists(BoxenError):
    """Something with that name or id exists already."""


class InvalidArgument(BoxenError):
    """The input is malformed: wrong type, unknown name, relative where absolute is needed."""


class FailedPrecondition(BoxenError):
    """The request is well formed but the object is in the wrong state for it
    (``start`` of a running container, ``delete`` of a running one without force)."""


class Conflict(BoxenError):
    """A concurrent change got there first (a lock is held, a version moved on)."""


class Unavailable(BoxenError):
    """A service or peer cannot be reached now; trying again later may work."""


class PermissionDenied(BoxenError):
    """The caller, or boxen itself, lacks the privilege for the operation."""


class Unimplemented(BoxenError):
    """The operation or option is not supported, by boxen or by this host."""


class KernelError(BoxenError):
    """A system call failed. Keeps ``errno``, the ``syscall`` name and the ``path`` it acted on.

    Use :func:`kernel_error` to build one: it picks the subclass that carries the meaning of
    the errno, so ``except NotFound`` also catches a failed ``open`` with ``ENOENT``.
    """

    def __init__(self, errno: int, syscall: str, path: str | None = None, detail: str = "") -> None:
        self.errno = errno
        self.syscall = syscall
        self.path = path
        where = f" {path}" if path else ""
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{syscall}{where}: {os.strerror(errno)}{extra}")


class KernelNotFound(KernelError, NotFound):
    """A system call failed with ENOENT, ESRCH or ENXIO."""


class KernelExists(KernelError, AlreadyExists):
    """A system call failed with EEXIST."""


class KernelPermissionDenied(KernelError, PermissionDenied):
    """A system call failed with EPERM or EACCES."""


class KernelInvalid(KernelError, InvalidArgument):
    """A system call failed with EINVAL, ENOTDIR, ELOOP or ENAMETOOLONG."""


class KernelUnsupported(KernelError, Unimplemented):
    """A system call failed with ENOSYS, EOPNOTSUPP or ENODEV: the host lacks the feature."""


class KernelBusy(KernelError, Conflict):
    """A system call failed with EBUSY or EAGAIN."""


_BY_ERRNO = {
    2: KernelNotFound,  # ENOENT
    3: KernelNotFound,  # ESRCH
    6: KernelNotFound,  # ENXIO
    17: KernelExists,  # EEXIST
    1: KernelPermissionDenied,  # EPERM
    13: KernelPermissionDenied,  # EACCES
    30: KernelPermissionDenied,  # EROFS
    22: KernelInvalid,  # EINVAL
    20: KernelInvalid,  # ENOTDIR
    21: KernelInvalid,  # EISDIR
    40: KernelInvalid,  # ELOOP
    36: KernelInvalid,  # ENAMETOOLONG
    38: KernelUnsupported,  # ENOSYS
    95: KernelUnsupported,  # EOPNOTSUPP
    19: KernelUnsupported,  # ENODEV
    16: KernelBusy,  # EBUSY
    11: KernelBusy,  # EAGAIN
}


def kernel_error(errno: int, syscall: str, path: str | None = None, detail: str = "") -> KernelError:
    """Build the KernelError subclass that matches ``errno``'s meaning."""
    return _BY_ERRNO.get(errno, KernelError)(errno, syscall, path, detail)


def from_oserror(exc: OSError, syscall: str) -> KernelError:
    """Convert an ``OSError`` raised by the ``os`` module into a KernelError."""
    return kernel_error(exc.errno or 0, syscall, exc.filename, "")
