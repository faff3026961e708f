"""POSIX path names, for code that must start fast: ``os.path`` without ``os``.

A POSIX path name is a string of components separated by ``/``: a leading ``/`` makes it
absolute, empty components (``a//b``) and ``.`` mean nothing, and ``..`` names the parent. Most
operations here are pure string work on that grammar; :func:`normpath` applies the three rules
*lexically*, without asking the file system, so ``a/link/..`` becomes ``a`` even when ``link``
is a symbolic link to somewhere else. :func:`realpath` asks the kernel instead: it opens the
path (``O_PATH``: no read or write access, only a handle) and reads back the name the kernel
resolved, from ``/proc/self/fd``.

These behave as the standard library's ``posixpath`` does for ``str`` paths (property tests
compare them); ``boxen.common.posixos`` explains why boxen's start-up paths avoid it.
"""

from __future__ import annotations

import posix

_DIRECTORY = 0o040000  # S_IFDIR
_TYPE_MASK = 0o170000  # S_IFMT


def join(first: str, *rest: str) -> str:
    """Append each of ``rest`` to ``first`` with a ``/``; an absolute one starts over."""
    path = first
    for part in rest:
        if part.startswith("/"):
            path = part
        elif not path or path.endswith("/"):
            path += part
        else:
            path += "/" + part
    return path


def split(path: str) -> tuple[str, str]:
    """(everything up to the last ``/``, the last component); the head keeps a root of slashes."""
    cut = path.rfind("/") + 1
    head, tail = path[:cut], path[cut:]
    if head.strip("/"):
        head = head.rstrip("/")
    return head, tail


def dirname(path: str) -> str:
    return split(path)[0]


def basename(path: str) -> str:
    return path[path.rfind("/") + 1:]


def normpath(path: str) -> str:
    """Drop empty and ``.`` components and fold ``..`` into its parent, without the file system.

    POSIX lets an implementation give exactly two leading slashes a meaning of its own, so
    ``//`` is kept as it is, while three or more count as one.
    """
    if not path:
        return "."
    root = ""
    if path.startswith("/"):
        root = "//" if path.startswith("//") and not path.startswith("///") else "/"
    kept: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            kept.append(part)
        elif kept and kept[-1] != "..":
            kept.pop()
        elif not root:  # a relative path may climb above its start; "/.." is "/"
            kept.append(part)
    return root + "/".join(kept) or "."


def abspath(path: str) -> str:
    return normpath(path if path.startswith("/") else join(posix.getcwd(), path))


def relpath(path: str, start: str = ".") -> str:
    """``path`` as seen from the directory ``start`` (both made absolute first, lexically)."""
    if not path:
        raise ValueError("no path specified")
    to = [part for part in abspath(path).split("/") if part]
    origin = [part for part in abspath(start).split("/") if part]
    common = 0
    while common < min(len(to), len(origin)) and to[common] == origin[common]:
        common += 1
    parts = [".."] * (len(origin) - common) + to[common:]
    return join(*parts) if parts else "."


def realpath(path: str) -> str:
    """The absolute path with every symbolic link resolved, as the kernel resolves it.

    For a path that does not exist, the standard library's component-by-component walk
    gives the answer, as far as it can resolve it.
    """
    try:
        fd = posix.open(path, posix.O_PATH | posix.O_CLOEXEC)
        try:
            return posix.readlink(f"/proc/self/fd/{fd}")
        finally:
            posix.close(fd)
    except (OSError, ValueError):
        import posixpath

        return posixpath.realpath(path)


def exists(path: str) -> bool:
    """Whether ``path`` names something, following symbolic links (a dangling one: False)."""
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def lexists(path: str) -> bool:
    """Whether ``path`` names something, a dangling symbolic link included."""
    try:
        posix.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def isdir(path: str) -> bool:
    try:
        return posix.stat(path).st_mode & _TYPE_MASK == _DIRECTORY
    except (OSError, ValueError):
        return False
