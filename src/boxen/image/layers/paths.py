"""Paths inside a root directory that nothing can climb out of.

A layer is untrusted input that names paths: ``etc/passwd`` is fine, but ``../../etc/passwd``,
``/etc/passwd``, or ``lib/x`` after an entry made ``lib`` a symlink to ``/`` would, taken
naively, write over the host. The kernel's answer is ``openat2(2)`` with
``RESOLVE_IN_ROOT``: every lookup treats the directory as ``/``, so ``..`` at the root stays
at the root and an absolute symlink restarts at the root. This module does the same walk in
user space (it runs beside the files it creates, so there is no racing writer to defend
against), one component at a time with ``lstat`` and ``readlink``:

* **entry names** (:func:`clean`) are normalised lexically; an absolute name, or one whose
  ``..`` climbs above the root, is refused as a crafted archive;
* **parent directories** are walked in the root (:meth:`Resolver.parent`): a symlink met on
  the way is followed *inside* the root, as ``RESOLVE_IN_ROOT`` would, so Debian's
  ``/lib -> usr/lib`` works and ``/evil -> /etc`` lands in the root's own ``etc``;
* the **last component** is never followed: an entry replaces whatever is there.

When the root is an overlayfs **upper directory**, the file system a container will see is the
upper merged over its lower directories, so the walk looks at that merged view: a parent
missing from the upper but present below is found there (and created in the upper with the
lower directory's owner, mode and times, as overlayfs's copy-up would), a symlink in a lower
layer is followed, and whiteouts (a 0/0 character device) and opaque directories
(``trusted.overlay.opaque=y``) hide what lies beneath them, exactly as the kernel's lookup does.
"""

from __future__ import annotations

import os
import stat

from boxen.common.errors import InvalidArgument, NotFound

MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS
OVERLAY_OPAQUE = "trusted.overlay.opaque"


def clean(name: str) -> list[str]:
    """The components of an archive path, ``.`` and ``..`` resolved lexically; refuses escapes."""
    if name.startswith("/"):
        raise InvalidArgument("absolute path in a layer: entries must be relative to the root", field=name)
    parts: list[str] = []
    for part in name.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if not parts:
                raise InvalidArgument("path climbs out of the root with '..'", field=name)
            parts.pop()
            continue
        parts.append(part)
    return parts


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def is_opaque(path: str) -> bool:
    """Whether ``path`` is an overlayfs opaque directory (``trusted.overlay.opaque=y``)."""
    try:
        return os.getxattr(path, OVERLAY_OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def resolve(root: str, path: str, *, make_directory=None) -> str:
    """The host path of ``path`` inside ``root``, following every symlink inside the root.

    For reading files of an unpacked root file system (``/etc/passwd`` for the image's user):
    raises NotFound if a component does not exist. With ``make_directory(host_path)``, a missing
    component is made a directory instead (where a symlink leads, if one does), and every
    component must then be a directory (COPY's destination directories in a build).
    """
    stack: list[str] = []
    todo = path.split("/")[::-1]
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
            continue
        host = os.path.join(root, *stack, part)
        st = _lstat(host)
        if st is None:
            if make_directory is None:
                raise NotFound(f"{'/'.join(stack + [part])} does not exist in {root}", field=path)
            make_directory(host)
            stack.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidArgument("too many levels of symbolic links", field=path)
            target = os.readlink(host)
            if target.startswith("/"):
                stack = []
            todo.extend(target.split("/")[::-1])
            continue
        if make_directory is not None and not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"/{'/'.join(stack + [part])} is not a directory in the image", field=path)
        stack.append(part)
    return os.path.join(root, *stack)


class Resolver:
    """Resolves parent directories of layer entries inside ``root``, creating missing ones.

    ``lowers`` (top first) are overlayfs lower directories when ``root`` is an upper directory.
    Directories are remembered once resolved; :meth:`forget` drops that memory after a change
    that could invalidate it (a directory removed, or a symlink that was walked replaced).
    """

    def __init__(self, root: str, lowers: tuple[str, ...] = (), *, overlay: bool = False,
                 on_create=None, before_create=None) -> None:
        self.root = root
        self.lowers = lowers
        self.overlay = overlay
        self.opaque: set[str] = set()  # upper directories made opaque by this layer
        self.walked_links: set[str] = set()
        self._cache: dict[str, str] = {"": ""}
        self._lower_dirs: dict[str, list[str]] = {}
        self._on_create = on_create  # called with (rel, lower directory or None) for each directory made
        self._before_create = before_create  # called with the parent's rel before a directory is made

    def forget(self) -> None:
        self._cache = {"": ""}
        self._lower_dirs = {}
        self.walked_links = set()

    def parent(self, parts: list[str], name: str) -> str:
        """The real relative directory for the parent components ``parts`` (``""`` is the root),
        missing directories created. ``name`` is the entry, for errors."""
        found = self._walk(parts, name, create=True)
        assert found is not None
        return found

    def find(self, parts: list[str], name: str) -> str | None:
        """Like :meth:`parent`, but ``None`` instead of creating a missing directory."""
        return self._walk(parts, name, create=False)

    def _walk(self, parts: list[str], name: str, *, create: bool) -> str | None:
        key = "/".join(parts)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stack: list[str] = []
        todo = parts[::-1]
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if stack:
                    stack.pop()
                continue
            rel = "/".join(stack + [part])
            kind, detail = self._look(stack, part, rel)
            if kind == "dir":
                stack.append(part)
            elif kind == "link":
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise InvalidArgument("too many levels of symbolic links in the parent path", field=name)
                self.walked_links.add(rel)
                target = detail or ""
                if target.startswith("/"):
                    stack = []
                todo.extend(target.split("/")[::-1])
            elif kind == "missing":
                if not create:
                    return None
                self._mkdir(rel, detail)
                stack.append(part)
            else:
                raise InvalidArgument(f"parent {rel!r} is not a directory", field=name)
        real = "/".join(stack)
        self._cache[key] = real
        return real

    def _look(self, stack: list[str], part: str, rel: str) -> tuple[str, str | None]:
        """What ``rel`` is in the view being built: ``dir``, ``link`` (target), ``missing``
        (with the lower directory to copy from, or ``None``) or ``other``."""
        host = f"{self.root}/{rel}"
        st = _lstat(host)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                return "dir", None
            if stat.S_ISLNK(st.st_mode):
                return "link", os.readlink(host)
            if self.overlay and is_whiteout(st):
                return "missing", "whiteout"
            return "other", None
        if not self.overlay:
            return "missing", None
        for lower in self._lowers_of(stack):
            path = f"{lower}/{part}"
            st = _lstat(path)
            if st is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                return "missing", path
            if stat.S_ISLNK(st.st_mode):
                return "link", os.readlink(path)
            if is_whiteout(st):
                return "missing", None
            return "other", None
        return "missing", None

    def _lowers_of(self, stack: list[str]) -> list[str]:
        """Host paths of the lower directories that merge into directory ``stack``, top first."""
        key = "/".join(stack)
        found = self._lower_dirs.get(key)
        if found is not None:
            return found
        if key in self.opaque:
            found = []
        elif not stack:
            found = list(self.lowers)
        else:
            found = []
            for lower in self._lowers_of(stack[:-1]):
                path = f"{lower}/{stack[-1]}"
                st = _lstat(path)
                if st is None:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    break  # a whiteout or a non-directory hides everything beneath it
                found.append(path)
                if is_opaque(path):
                    break
        self._lower_dirs[key] = found
        return found

    def _mkdir(self, rel: str, source: str | None) -> None:
        host = f"{self.root}/{rel}"
        if self._before_create is not None:
            self._before_create(rel.rpartition("/")[0])
        if source == "whiteout":  # this layer deleted it, then puts something under it
            os.unlink(host)
            os.mkdir(host, 0o755)
            os.setxattr(host, OVERLAY_OPAQUE, b"y", follow_symlinks=False)
            self.opaque.add(rel)
            self._on_create(rel, None)
            return
        os.mkdir(host, 0o755)
        self._on_create(rel, source)
