"""Opening a path *inside* a directory as if that directory were ``/``, done by the kernel.

``openat2(2)`` (Linux 5.6) takes, beside the usual flags, a ``resolve`` mask. With
``RESOLVE_IN_ROOT`` the kernel resolves the path as if the directory were the process's
root: ``..`` at the top stays at the top, and an absolute symlink (``/etc -> /host/etc``)
starts again at that directory. The walk happens inside one system call, so a symlink that
another process swaps in meanwhile cannot lead it out (the kernel retries with ``EAGAIN``
when a rename races with it). ``RESOLVE_NO_MAGICLINKS`` also refuses ``/proc/<pid>/fd/N``
style links, which point wherever the descriptor points.

This is the runtime's public face of that call for the layers above it (image files, the
engine's ``cp``); the mounter uses the kernel module directly. Where the kernel lacks
``openat2`` (``ENOSYS``), or a seccomp profile forbids it (``EPERM``), callers fall back to
walking the path one component at a time themselves (:mod:`boxen.image.layers.paths`).
"""

from __future__ import annotations

from boxen.runtime.linux import constants as C

RESOLVE = C.RESOLVE_IN_ROOT | C.RESOLVE_NO_MAGICLINKS


def open_in_root(root_fd: int, path: str, flags: int, *, display: str | None = None) -> int:
    """A descriptor for ``path`` resolved inside the directory open on ``root_fd``.

    Symlinks (the last component's too, unless ``flags`` has ``O_NOFOLLOW``) are followed
    inside the root. Raises :class:`~boxen.common.errors.KernelError` (``errno`` ENOSYS where
    the kernel has no ``openat2``).
    """
    from boxen.runtime.linux.kernel import KERNEL

    return KERNEL.openat2(root_fd, path, flags, 0, RESOLVE, display=display)
