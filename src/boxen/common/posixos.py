"""The ``os`` module as boxen's start-up paths use it, without importing ``os``.

On Linux, ``os`` is mostly a re-export of ``posix``, the C module that wraps the system calls
(``open``, ``read``, ``fork``, ``waitpid``...), plus ``os.path`` and a few helpers written in
Python. Importing it costs about a millisecond (bench/RESULTS.md, "Import costs"), most of it building
the abstract base classes of ``_collections_abc`` that ``os.environ`` needs, on commands such
as ``boxen-runtime state`` that take a few times the bare interpreter's start in all. So the runtime imports this module under the name ``os`` instead: the same C
functions, :mod:`boxen.common.paths` as ``path``, and the three helpers it needs.
"""

from __future__ import annotations

from posix import *  # noqa: F403 (everything os re-exports from posix)
from posix import _exit  # noqa: F401 (not exported by *)

# Not these: posix.environ is keyed by bytes, and putenv and unsetenv would not update it as
# os's wrappers do. Code that needs the environment imports os.
del environ, putenv, unsetenv  # noqa: F821

import posix as _posix
import sys as _sys

from boxen.common import paths as path  # noqa: F401 (os.path)

_ENCODING = _sys.getfilesystemencoding()
_ERRORS = _sys.getfilesystemencodeerrors()


def fsencode(name) -> bytes:
    """A file name as bytes, in the file system encoding (UTF-8 here; bytes that were not valid
    in it when the name was decoded come back from their lone surrogates)."""
    name = _posix.fspath(name)
    return name if isinstance(name, bytes) else name.encode(_ENCODING, _ERRORS)


def fsdecode(name) -> str:
    """A file name as str, the inverse of :func:`fsencode`."""
    name = _posix.fspath(name)
    return name if isinstance(name, str) else name.decode(_ENCODING, _ERRORS)


def makedirs(name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """``mkdir -p``: make ``name`` and any missing parent (parents with the default mode)."""
    try:
        _posix.mkdir(name, mode)
    except FileNotFoundError:
        parent = path.dirname(path.normpath(name))
        if not parent or parent == name:
            raise
        makedirs(parent, exist_ok=True)
        makedirs(name, mode, exist_ok)
    except FileExistsError:
        if not exist_ok or not path.isdir(name):
            raise
