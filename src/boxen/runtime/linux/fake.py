"""A recording stand-in for :class:`~boxen.runtime.linux.kernel.Kernel`, for unit tests.

It records every call as ``(name, args...)`` in :attr:`FakeKernel.calls` and changes nothing in
the kernel, so the order of a container's set-up can be checked without root. ``openat2`` is
emulated with a plain ``openat`` (no ``RESOLVE_*`` restrictions), which is enough to walk a
temporary root filesystem; mounts are recorded with the name they were made for (the
``display`` path), since the real target is a ``/proc/self/fd`` link.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import kernel_error


class FakeKernel:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            self.calls.append((name, *args, *kwargs.values()))
            return 0

        return record

    def mount(self, source, target, fstype, flags, data=None, *, display=None) -> None:
        self.calls.append(("mount", source, display or target, fstype, flags, data))

    def openat2(self, dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0, *, display=None) -> int:
        try:
            return os.open(path, flags, mode, dir_fd=dirfd)
        except OSError as exc:
            raise kernel_error(exc.errno or 0, "openat2", display or path) from None

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]
