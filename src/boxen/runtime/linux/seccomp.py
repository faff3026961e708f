"""Compiling a seccomp plan with libseccomp and loading it with ``seccomp(2)``.

The kernel takes a seccomp filter as a classic BPF program: a list of 8-byte instructions
that load fields of ``struct seccomp_data`` (``nr``, ``arch``, ``args[6]``), compare and
jump, and finally return a ``SECCOMP_RET_*`` word. Writing that program by hand means
knowing every system call's number on every architecture, handling 32-bit halves of 64-bit
arguments, and checking ``arch`` first, since the same number means different calls on
x86-64, i386 and x32. libseccomp knows all of this: a filter context collects rules by
*name* (``seccomp_rule_add_array``) and compiles them for each architecture added to it
(``seccomp_arch_add``); names that do not exist on an architecture are left out there, and
names libseccomp does not know at all are skipped here (``seccomp_syscall_resolve_name``
answers ``__NR_SCMP_ERROR``), as runc does.

:func:`export_bpf` builds the context, has libseccomp write the program into a memfd
(``seccomp_export_bpf``) and frees the context; unless the default action lets unknown calls
through, it puts ``boxen.runtime.enosys``'s prefix in front, so that calls newer than the
profile fail with ``ENOSYS`` as under runc (the highest known number per architecture comes
from ``seccomp_syscall_resolve_name_arch``); :func:`load` then makes one ``seccomp(2)``
call with ``SECCOMP_SET_MODE_FILTER`` itself, rather than calling ``seccomp_load``:

* the container's process loads the filter just before ``execve``, so the filter in force
  must meet nothing but that ``execve``. The program and its ``struct sock_fprog`` are
  allocated, and libseccomp's memory freed, before the filter is loaded; the buffers stay
  referenced afterwards so that nothing is freed under the filter;
* ``seccomp_load`` sets ``no_new_privs`` unless told not to (``SCMP_FLTATR_CTL_NNP``), while
  the spec leaves that to ``process.noNewPrivileges``; loading directly never sets it.
  Without ``no_new_privs`` the kernel wants ``CAP_SYS_ADMIN`` for ``seccomp(2)``, so the
  caller loads the filter before dropping capabilities in that case, as runc does;
* the flags go straight to the kernel, so ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV``, which
  libseccomp 2.5 cannot set, works, and ``NEW_LISTENER`` returns the notify fd.

Compiling takes libseccomp 2.5 tens of milliseconds for a large profile over several ABIs,
so :func:`export_bpf` can keep programs in a cache directory, as crun does. The library is
opened when this module is imported: import it before ``pivot_root``, and call
:func:`export_bpf` there too, since neither the library nor the cache is reachable from
inside the container's root.

This binds ``libseccomp.so.2`` with ``boxen.runtime.linux.libc`` on ``_ctypes``.
"""

from __future__ import annotations

import errno
import struct
from _ctypes import addressof, get_errno
from _sha256 import sha256

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unimplemented, kernel_error
from boxen.runtime.enosys import prefix
from boxen.runtime.linux import libc
from boxen.runtime.linux.libc import Library, buffer_from, c_char_p, c_int, c_long, c_uint, c_void_p
from boxen.runtime.seccomp import ARCHITECTURES, OPERATORS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.seccomp import SeccompPlan

#: ``seccomp(2)`` numbers; libc has no wrapper for it.
_SECCOMP_NR = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine)
_SECCOMP_SET_MODE_FILTER = 1
#: The kernel refuses programs longer than this (``BPF_MAXINSNS``); an instruction is 8 bytes.
_BPF_MAXINSNS = 4096
#: libseccomp's filter attributes and the answer for an unknown name.
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1
#: What libseccomp answers when the kernel or the library lacks an action.
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOSYS)
#: runc asks for libseccomp's binary-tree optimisation above this many rules (2.5.4 misbehaves
#: with it and no rules at all).
_OPTIMIZE_ABOVE = 32


class _Libseccomp:
    """The libseccomp functions this module uses, bound once."""

    def __init__(self) -> None:
        try:
            lib = Library("libseccomp.so.2")
        except OSError:
            raise Unimplemented(
                "seccomp needs libseccomp.so.2, which is not installed (Debian package libseccomp2)"
            ) from None
        self.init = lib.function("seccomp_init", c_void_p, c_uint)
        self.release = lib.function("seccomp_release", None, c_void_p)  # type: ignore[arg-type]  # void
        self.arch_resolve_name = lib.function("seccomp_arch_resolve_name", c_uint, c_char_p)
        self.arch_exist = lib.function("seccomp_arch_exist", c_int, c_void_p, c_uint)
        self.arch_add = lib.function("seccomp_arch_add", c_int, c_void_p, c_uint)
        self.attr_set = lib.function("seccomp_attr_set", c_int, c_void_p, c_int, c_uint)
        self.syscall_resolve_name = lib.function("seccomp_syscall_resolve_name", c_int, c_char_p)
        self.syscall_resolve_name_arch = lib.function(
            "seccomp_syscall_resolve_name_arch", c_int, c_uint, c_char_p
        )
        self.arch_native = lib.function("seccomp_arch_native", c_uint)
        self.rule_add_array = lib.function(
            "seccomp_rule_add_array", c_int, c_void_p, c_uint, c_int, c_uint, c_void_p
        )
        self.export_bpf = lib.function("seccomp_export_bpf", c_int, c_void_p, c_int)
        self.version = lib.function("seccomp_version", c_void_p)

    def version_text(self) -> str:
        major, minor, micro = (c_uint * 3).from_address(self.version())
        return f"{major}.{minor}.{micro}"


try:
    _lib: _Libseccomp | None = _Libseccomp()
except Unimplemented as missing:
    _lib, _missing = None, missing
_seccomp = libc.libc.function("syscall", c_long, c_long, c_uint, c_uint, c_void_p)
#: The loaded program's buffers, kept so that nothing is freed while the filter is in force.
_loaded: list[object] = []


def _libseccomp() -> _Libseccomp:
    if _lib is None:
        raise _missing
    return _lib


def _conditions(alternative) -> tuple[object | None, int]:
    """A ``struct scmp_arg_cmp`` array for one alternative, and its length."""
    if not alternative:
        return None, 0
    packed = b"".join(
        struct.pack("@IIQQ", c.index, OPERATORS[c.op][0], c.value, c.value_two) for c in alternative
    )
    return buffer_from(packed), len(alternative)


def _tokens(lib: _Libseccomp, plan: SeccompPlan) -> list[int]:
    """libseccomp's tokens for the native architecture and the plan's."""
    tokens = [lib.arch_native()]
    for arch in plan.architectures:
        token = lib.arch_resolve_name(ARCHITECTURES[arch].encode())
        if token == 0:
            raise Unimplemented(
                f"libseccomp {lib.version_text()} on this host does not know {arch}",
                field=f"{plan.field}.architectures",
            )
        if token not in tokens:
            tokens.append(token)
    return tokens


def _highest(lib: _Libseccomp, plan: SeccompPlan, tokens: list[int]) -> dict[int, int]:
    """The highest number among the calls the profile names, per architecture token; an
    architecture where libseccomp knows none of them is left out. Negative numbers are
    libseccomp's stand-ins for calls an architecture lacks (or multiplexes) and are not counted."""
    highest: dict[int, int] = {}
    for token in tokens:
        numbers = [lib.syscall_resolve_name_arch(token, name.encode()) for name in plan.names]
        top = max(numbers, default=-1)
        if top >= 0:
            highest[token] = top
    return highest


def _build(lib: _Libseccomp, plan: SeccompPlan, ctx: int, tokens: list[int]) -> None:
    for token in tokens:
        if lib.arch_exist(ctx, token) != 0:
            rc = lib.arch_add(ctx, token)
            if rc < 0:
                raise kernel_error(-rc, "seccomp_arch_add", None, f"architecture token {token:#x}")
    if sum(len(rule.names) for rule in plan.rules) > _OPTIMIZE_ABOVE:
        lib.attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)
    for rule in plan.rules:
        arrays = [_conditions(alternative) for alternative in rule.alternatives]
        for name in rule.names:
            number = lib.syscall_resolve_name(name.encode())
            if number == _NR_SCMP_ERROR:
                continue
            for array, count in arrays:
                rc = lib.rule_add_array(ctx, rule.action.value, number, count, array)
                if rc < 0:
                    refused = Unimplemented if -rc in _UNSUPPORTED else InvalidArgument
                    raise refused(
                        f"libseccomp refused the rule for {name}: {os.strerror(-rc)}", field=rule.source
                    )


def _compile(plan: SeccompPlan) -> bytes:
    lib = _libseccomp()
    ctx = lib.init(plan.default_action.value)
    if not ctx:
        raise Unimplemented(
            f"libseccomp {lib.version_text()} or this kernel does not support the default action "
            f"{plan.default_action.name}",
            field=f"{plan.field}.defaultAction",
        )
    try:
        tokens = _tokens(lib, plan)
        _build(lib, plan, ctx, tokens)
        fd = os.memfd_create("boxen-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.export_bpf(ctx, fd)
            if rc < 0:
                raise kernel_error(-rc, "seccomp_export_bpf")
            program = os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)
    finally:
        lib.release(ctx)
    if plan.enosys:
        program = prefix(_highest(lib, plan, tokens)) + program
    return program


def _problem(program: bytes) -> str | None:
    """Why ``program`` cannot be a seccomp filter, or None."""
    if not program or len(program) % 8:
        return f"{len(program)} bytes are not a BPF program of 8-byte instructions"
    if len(program) // 8 > _BPF_MAXINSNS:
        return (
            f"the filter has {len(program) // 8} BPF instructions; the kernel takes at most {_BPF_MAXINSNS}"
        )
    return None


def _check(program: bytes, field: str) -> bytes:
    problem = _problem(program)
    if problem:
        raise InvalidArgument(problem, field=field)
    return program


# --- the compiled-program cache ---------------------------------------------------------------

#: Bump when the way a plan is compiled changes, so old cache entries are no longer found.
_CACHE_FORMAT = 2
#: Entries kept; the oldest go when a new one would exceed this.
_CACHE_ENTRIES = 64


def _cache_key(lib: _Libseccomp, plan: SeccompPlan) -> str:
    rules = tuple((rule.names, rule.action.value, rule.alternatives) for rule in plan.rules)
    what = (
        _CACHE_FORMAT,
        lib.version_text(),
        os.uname().machine,
        plan.default_action.value,
        plan.architectures,
        rules,
        plan.enosys,
        plan.names,
    )
    return sha256(repr(what).encode()).hexdigest()


def _store(cache_dir: str, path: str, program: bytes) -> None:
    """Write a cache entry atomically and evict the oldest; a cache that cannot be written
    only costs speed, so errors are ignored."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, 0o700, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, program)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        entries = [entry for entry in os.scandir(cache_dir) if entry.is_file()]
        entries.sort(key=lambda entry: entry.stat().st_mtime)
        for entry in entries[: max(0, len(entries) - _CACHE_ENTRIES)]:
            os.unlink(entry.path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def export_bpf(plan: SeccompPlan, cache_dir: str | None = None) -> bytes:
    """Compile ``plan`` with libseccomp into the BPF program ``seccomp(2)`` takes.

    Compiling a profile such as podman's default for three x86 ABIs takes libseccomp tens of
    milliseconds, more than a whole ``runc run``. With ``cache_dir`` (crun keeps such a cache
    in its state directory too), the program is kept there under a hash of everything that
    shapes it (the rules, libseccomp's version, the machine) and read back next time.
    """
    if cache_dir is None:
        return _check(_compile(plan), plan.field)
    path = f"{cache_dir}/{_cache_key(_libseccomp(), plan)}"
    try:
        with open(path, "rb") as f:
            cached = f.read()
    except OSError:
        cached = b""
    if not _problem(cached):
        return cached
    program = _check(_compile(plan), plan.field)
    _store(cache_dir, path, program)
    return program


# --- loading ----------------------------------------------------------------------------------


def load(plan: SeccompPlan, program: bytes | None = None) -> int | None:
    """Load ``plan`` into the calling process (all its threads with TSYNC).

    ``program`` is the plan's compiled program from :func:`export_bpf`, made earlier (before
    ``pivot_root``, where the cache directory is still reachable); without it, the plan is
    compiled here. Returns the notify fd (close-on-exec) when the plan uses
    ``SCMP_ACT_NOTIFY``, else None. After a successful return the filter is in force and
    nothing else was called since.
    """
    if _SECCOMP_NR is None:
        raise Unimplemented(f"boxen does not know the seccomp(2) number on {os.uname().machine}")
    code = buffer_from(_check(program, plan.field) if program is not None else export_bpf(plan))
    fprog = buffer_from(struct.pack("@HP", len(code) // 8, addressof(code)))
    _loaded.append((code, fprog))
    result = _seccomp(_SECCOMP_NR, _SECCOMP_SET_MODE_FILTER, plan.filter_flags, fprog)
    if result == -1:
        _loaded.pop()
        error = get_errno()
        detail = f"flags {plan.filter_flags:#x}"
        if error == errno.EACCES:
            detail += "; without no_new_privs, loading a filter needs CAP_SYS_ADMIN"
        raise kernel_error(error, "seccomp", None, detail)
    if plan.notify:
        return result
    if result:
        # TSYNC without a listener: the id of a thread that could not take the filter.
        raise kernel_error(errno.EBUSY, "seccomp", None, f"TSYNC: thread {result} has a diverging filter")
    return None
