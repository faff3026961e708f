"""Bindings to the C library, made with ``_ctypes`` alone.

Python 3.11's ``os`` module has no ``unshare``, ``setns``, ``mount`` or ``pivot_root``, so a
container runtime has to call the C library itself. The ``ctypes`` package is the usual way,
but its import costs several times that of the C extension underneath it, ``_ctypes``, on a
path where every millisecond shows (bench/RESULTS.md, "Import costs"). This module declares the few C
types boxen needs on top of ``_ctypes`` and binds functions with them.

Every binding uses ``errno``-saving calls (``FUNCFLAG_USE_ERRNO``), so :func:`check` can turn a
``-1`` return into a :class:`~boxen.common.errors.KernelError` that keeps the errno, the
syscall's name and the path it acted on.

System calls that the C library does not wrap (``pivot_root``, ``openat2``...) go through
:func:`syscall` with their number from :data:`SYSCALLS`, which knows x86-64 and arm64.
"""

from __future__ import annotations

from _ctypes import (
    FUNCFLAG_CDECL,
    FUNCFLAG_PYTHONAPI,
    FUNCFLAG_USE_ERRNO,
    RTLD_GLOBAL,
    CFuncPtr,
    _SimpleCData,
    dlopen,
    get_errno,
)

from boxen.common import posixos as os
from boxen.common.errors import kernel_error

# --- C types ------------------------------------------------------------------------------


class c_int(_SimpleCData):
    _type_ = "i"


class c_uint(_SimpleCData):
    _type_ = "I"


class c_long(_SimpleCData):
    _type_ = "l"


class c_ulong(_SimpleCData):
    _type_ = "L"


class c_char(_SimpleCData):
    _type_ = "c"


class c_char_p(_SimpleCData):
    """``const char *``: pass ``bytes`` or ``None``."""

    _type_ = "z"


class c_void_p(_SimpleCData):
    """``void *``: pass ``None``, an int address, or a buffer from :func:`buffer`."""

    _type_ = "P"


def buffer(size: int):
    """A zero-filled, writable C buffer of ``size`` bytes; ``.raw`` reads it back as bytes."""
    return (c_char * size)()


def buffer_from(data: bytes):
    """A writable C buffer holding a copy of ``data``."""
    return (c_char * len(data)).from_buffer_copy(data)


# --- loading and binding ------------------------------------------------------------------------


class Library:
    """A shared library opened with ``dlopen``; :meth:`function` binds one of its symbols."""

    def __init__(self, name: str | None, mode: int = RTLD_GLOBAL) -> None:
        self.name = name
        # dlopen(NULL) opens the running program itself; typeshed's stub of _ctypes.dlopen omits None.
        self._handle = dlopen(name, mode)  # type: ignore[arg-type]

    def function(self, name: str, restype: type | None, *argtypes: type, hold_gil: bool = False):
        """Bind ``name``. ``hold_gil`` keeps the interpreter lock during the call, as the
        interpreter's own C API needs, and as ``fork``-like calls need so that parent and child
        both return holding it (which is what ``os.fork`` does)."""
        fn = _function_type(restype, hold_gil)((name, self))
        fn.argtypes = argtypes
        return fn


_FUNCTION_TYPES: dict = {}


def _function_type(restype: type | None, hold_gil: bool) -> type:
    """One function-pointer class per (return type, GIL) pair: making a class costs far more
    than binding a function, and a runtime binds a few dozen."""
    key = (restype, hold_gil)
    cls = _FUNCTION_TYPES.get(key)
    if cls is None:
        flags = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO | (FUNCFLAG_PYTHONAPI if hold_gil else 0)
        cls = _FUNCTION_TYPES[key] = type("CFunction", (CFuncPtr,), {"_flags_": flags, "_restype_": restype})
    return cls


libc = Library("libc.so.6")


def check(result: int, syscall: str, path: str | None = None, detail: str = "") -> int:
    """Return ``result``, or raise the KernelError for ``errno`` if it is ``-1``."""
    if result == -1:
        raise kernel_error(get_errno(), syscall, path, detail)
    return result


# --- system call numbers ----------------------------------------------------------------------

_MACHINE = os.uname().machine

#: Numbers of the system calls boxen makes through :func:`syscall`, per architecture.
SYSCALLS: dict[str, int] = {
    "x86_64": {
        "clone": 56,
        "pivot_root": 155,
        "keyctl": 250,
        "ioprio_set": 251,
        "sched_setattr": 314,
        "seccomp": 317,
        "bpf": 321,
        "execveat": 322,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "clone3": 435,
        "close_range": 436,
        "openat2": 437,
        "mount_setattr": 442,
    },
    "aarch64": {
        "clone": 220,
        "pivot_root": 41,
        "keyctl": 219,
        "ioprio_set": 30,
        "sched_setattr": 274,
        "seccomp": 277,
        "bpf": 280,
        "execveat": 281,
        "pidfd_send_signal": 424,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "clone3": 435,
        "close_range": 436,
        "openat2": 437,
        "mount_setattr": 442,
    },
}.get(_MACHINE, {})

_syscall = libc.function("syscall", c_long, c_long, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)


def syscall(name: str, *args: object, path: str | None = None) -> int:
    """Make the raw system call ``name`` with up to six arguments.

    Each argument is an int, ``None`` (NULL), ``bytes`` (a pointer to a copy) or a buffer
    from :func:`buffer` (a pointer to it, so the kernel can write into it).
    """
    number = SYSCALLS.get(name)
    if number is None:
        raise kernel_error(38, name, path, f"no syscall number known for {_MACHINE}")  # ENOSYS
    return check(_syscall(number, *args, *(0,) * (6 - len(args))), name, path)
