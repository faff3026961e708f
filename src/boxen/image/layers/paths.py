"""Paths inside a root directory that nothing can climb out of: the one walker.

A layer is untrusted input that names paths: ``etc/passwd`` is fine, but ``../../etc/passwd``,
``/etc/passwd``, or ``lib/x`` after an entry made ``lib`` a symlink to ``/`` would, taken
naively, write over the host. The kernel's answer is ``openat2(2)`` with
``RESOLVE_IN_ROOT``: every lookup treats the directory as ``/``, so ``..`` at the root stays
at the root and an absolute symlink restarts at the root. :func:`walk` does the same walk in
user space, one component at a time, and is the only such walk in the image code: it asks a
*view* what each component is (``look``) and decides alone what follows from it:

* a **directory** is entered; ``..`` leaves it, never above the root;
* a **symlink**'s target is walked in its place, an absolute one from the root, and more
  than 40 of them (Linux's ``MAXSYMLINKS``) is a loop;
* a **missing** component is an error, or is made a directory when the caller creates;
* anything else (a file, a FIFO, a device) ends the walk: it is an error if more of the
  path goes through it (``etc/passwd/x``), as the kernel's ``ENOTDIR`` is.

The views: :func:`resolve` looks at a plain directory by path (the build's COPY, the build
context, the scanner's directory listings: trees that nobody changes while they are read);
:class:`Resolver` looks at an overlay layer being unpacked; and
:mod:`boxen.image.layers.rootfiles` looks through directory descriptors, for *opening* files
of a tree that may change meanwhile. Archive **entry names** (:func:`clean`) are normalised
lexically instead: an absolute name, or one whose ``..`` climbs above the root, is refused
as a crafted archive.

When :class:`Resolver` unpacks into an overlayfs **upper directory**, the file system a
container will see is the upper merged over its lower directories, so the walk looks at that
merged view: a parent missing from the upper but present below is found there (and created
in the upper with the lower directory's owner, mode and times, as overlayfs's copy-up would),
a symlink in a lower layer is followed, and whiteouts (a 0/0 character device) and opaque
directories (``trusted.overlay.opaque=y``) hide what lies beneath them, exactly as the
kernel's lookup does. The last component of an entry is never followed: an entry replaces
whatever is there.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from boxen.common.errors import InvalidArgument, NotFound, kernel_error
from boxen.image.layers.cursor import Cursor

MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS
#: Lower layers whose cursors an unpack keeps open at once (two descriptors each).
LOWER_CURSORS = 64
OVERLAY_OPAQUE = "trusted.overlay.opaque"


def clean(name: str) -> list[str]:
    """The components of an archive path, ``.`` and ``..`` resolved lexically; refuses escapes."""
    if name.startswith("/"):
        raise InvalidArgument("absolute path in a layer: entries must be relative to the root", field=name)
    components = name.split("/")
    if "" not in components and "." not in components and ".." not in components:
        return components  # the common case, checked without a loop over a deep entry's components
    parts: list[str] = []
    for part in components:
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


def is_opaque(path: str) -> bool:
    """Whether ``path`` is an overlayfs opaque directory (``trusted.overlay.opaque=y``)."""
    try:
        return os.getxattr(path, OVERLAY_OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


Look = Callable[[list[str], str], tuple[str, "str | None"]]

# What a component is, as a view's ``look`` reports it.
DIRECTORY = "dir"
SYMLINK = "link"  # detail: the link's target
MISSING = "missing"  # detail: where a copy-up would come from (overlay), or None
OTHER = "other"  # a file, device, FIFO or socket


class NotADirectory(InvalidArgument):
    """A component that the rest of the path goes through is not a directory."""


def walk(path: str, look: Look, *, field: str, create: Callable[[list[str], str, str | None], None] | None = None,
         leaf: bool = True, start: list[str] | None = None) -> list[str]:
    """The components of ``path`` resolved inside a root, as ``RESOLVE_IN_ROOT`` resolves them.

    This is the one walker every in-root lookup uses; ``look(stack, part)`` says what ``part``
    is in the directory ``stack`` of the view being walked (a plain directory, an overlay
    upper over its lowers, or directory descriptors) as ``(kind, detail)``. ``..`` pops a
    component (never above the root), a symlink's target is walked in its place (an absolute
    one from the root), and more than :data:`MAX_SYMLINKS` symlinks is a loop. A missing
    component is made by ``create(stack, part, detail)`` when given, else :class:`NotFound`;
    a non-directory with more to walk after it, or anywhere when ``leaf`` is false, is
    :class:`NotADirectory`. The last component is followed if it is a symlink. ``start``
    is where a relative ``path`` begins: the resolved components of a directory (the root's
    by default).
    """
    stack: list[str] = list(start or ())
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
        kind, detail = look(stack, part)
        if kind == SYMLINK:
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidArgument(f"too many levels of symbolic links (more than {MAX_SYMLINKS}) in {path!r}",
                                      field=field)
            target = detail or ""
            if target.startswith("/"):
                stack = []
            todo.extend(target.split("/")[::-1])
            continue
        if kind == MISSING:
            if create is None:
                raise NotFound(f"/{'/'.join([*stack, part])} does not exist", field=field)
            create(stack, part, detail)
        elif kind != DIRECTORY and (not leaf or any(todo)):
            raise NotADirectory(f"/{'/'.join([*stack, part])} is not a directory", field=field)
        stack.append(part)
    return stack


def look_in(root: str) -> Look:
    """The ``look`` of :func:`walk` for a plain directory ``root`` (``lstat`` and ``readlink``)."""

    def look(stack: list[str], part: str) -> tuple[str, str | None]:
        host = _host(root, [*stack, part])
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            return MISSING, None
        except OSError as exc:
            raise kernel_error(exc.errno or errno.EIO, "lstat", host) from None
        if stat.S_ISDIR(st.st_mode):
            return DIRECTORY, None
        if stat.S_ISLNK(st.st_mode):
            return SYMLINK, os.readlink(host)
        return OTHER, None

    return look


def resolve(root: str, path: str, *, make_directory=None) -> str:
    """The host path of ``path`` inside ``root``, following every symlink inside the root.

    For reading files of an unpacked root file system: raises NotFound if a component does
    not exist or one that the path goes through is not a directory. With
    ``make_directory(host_path)``, a missing component is made a directory instead (where a
    symlink leads, if one does), and every component must then be a directory (COPY's
    destination directories in a build; :class:`NotADirectory` otherwise). The result is a
    path string: use :mod:`boxen.image.layers.rootfiles` to *open* files of a tree that
    someone else may be changing.
    """
    if make_directory is None:
        try:
            stack = walk(path, look_in(root), field=path)
        except NotADirectory as exc:
            raise NotFound(exc.message, field=path) from None
    else:
        def create(stack: list[str], part: str, _detail: str | None) -> None:
            make_directory(_host(root, [*stack, part]))

        stack = walk(path, look_in(root), field=path, create=create, leaf=False)
    return _host(root, stack)


def _host(root: str, parts: list[str]) -> str:
    """The host path of the components ``parts`` below ``root``."""
    if not parts:
        return root
    return root.rstrip("/") + "/" + "/".join(parts)


class Resolver:
    """Resolves parent directories of layer entries inside ``root``, creating missing ones.

    ``lowers`` (top first) are overlayfs lower directories when ``root`` is an upper directory.
    Directories are remembered once resolved, and a walk starts from the deepest remembered
    ancestor, so a layer that nests directories thousands deep costs a step per entry, not a
    walk from the root. :meth:`forget` drops that memory after a change that could invalidate
    it (a directory removed, or a symlink that was walked replaced). ``root`` is looked at
    through a :class:`~boxen.image.layers.cursor.Cursor` (``cursor``, shared with whoever
    writes the entries) and each lower directory through one of its own (the
    :data:`LOWER_CURSORS` last used are kept open), so no path given to the kernel outgrows
    ``PATH_MAX``; :meth:`close` closes them.
    """

    def __init__(self, root: str, lowers: tuple[str, ...] = (), *, overlay: bool = False,
                 on_create=None, before_create=None) -> None:
        self.root = root
        self.lowers = lowers
        self.overlay = overlay
        self.opaque: set[str] = set()  # upper directories made opaque by this layer
        self.walked_links: set[str] = set()
        self.cursor = Cursor(root)
        self._lower_cursors: dict[int, Cursor] = {}  # least recently used first
        self._cache: dict[str, str] = {"": ""}
        self._lower_dirs: dict[str, list[int]] = {}
        self.forget()
        self._on_create = on_create  # called with (rel, lower directory or None) for each directory made
        self._before_create = before_create  # called with the parent's rel before a directory is made

    def close(self) -> None:
        self.cursor.close()
        for cursor in self._lower_cursors.values():
            cursor.close()
        self._lower_cursors = {}

    def forget(self) -> None:
        self._cache = {"": ""}
        self._lower_dirs = {"": [] if "" in self.opaque else list(range(len(self.lowers)))}
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
        known, start = key, ""  # the deepest ancestor already resolved, and its real path
        while True:
            cut = known.rfind("/")
            if cut < 0:
                rest = key
                break
            known = known[:cut]
            found = self._cache.get(known)
            if found is not None:
                start, rest = found, key[cut + 1:]
                break
        try:
            stack = walk(rest, self._look, field=name, create=self._create if create else None, leaf=False,
                         start=start.split("/") if start else None)
        except NotFound:
            return None
        except NotADirectory as exc:
            raise InvalidArgument(f"parent of {name!r}: {exc.message}", field=name) from None
        real = "/".join(stack)
        self._cache[key] = real
        return real

    def _create(self, stack: list[str], part: str, source: str | None) -> None:
        self._mkdir("/".join(stack), part, source)

    def _look(self, stack: list[str], part: str) -> tuple[str, str | None]:
        """What ``part`` is in directory ``stack`` of the view being built (see :func:`walk`);
        a missing directory's detail is the lower directory to copy it from, or ``None``."""
        key = "/".join(stack)
        here = self.cursor.at(key)
        try:
            st = os.lstat(part, dir_fd=here)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                return DIRECTORY, None
            if stat.S_ISLNK(st.st_mode):
                self.walked_links.add(f"{key}/{part}" if key else part)
                return SYMLINK, os.readlink(part, dir_fd=here)
            if self.overlay and is_whiteout(st):
                return MISSING, "whiteout"
            return OTHER, None
        if not self.overlay:
            return MISSING, None
        for lower in self._lowers_of(key):
            cursor = self._lower_cursor(lower)
            there = cursor.at(key)
            try:
                st = os.lstat(part, dir_fd=there)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                return MISSING, cursor.path(key, part)
            if stat.S_ISLNK(st.st_mode):
                self.walked_links.add(f"{key}/{part}" if key else part)
                return SYMLINK, os.readlink(part, dir_fd=there)
            if is_whiteout(st):
                return MISSING, None
            return OTHER, None
        return MISSING, None

    def _lowers_of(self, key: str) -> list[int]:
        """The lower layers (indexes into ``lowers``) whose directory ``key`` merges into the
        view, top first, found a level at a time below the deepest directory already known."""
        unknown = []
        found = self._lower_dirs.get(key)
        while found is None:
            unknown.append(key)
            key = key[:max(key.rfind("/"), 0)]
            found = self._lower_dirs.get(key)
        for rel in reversed(unknown):
            parent, _, name = rel.rpartition("/")
            below: list[int] = []
            if rel not in self.opaque:
                for lower in found:
                    cursor = self._lower_cursor(lower)
                    try:
                        st = os.lstat(name, dir_fd=cursor.at(parent))
                    except FileNotFoundError:
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        break  # a whiteout or a non-directory hides everything beneath it
                    below.append(lower)
                    if is_opaque(cursor.path(parent, name)):
                        break
            self._lower_dirs[rel] = found = below
        return found

    def _lower_cursor(self, lower: int) -> Cursor:
        """The cursor of lower layer ``lower``; only the :data:`LOWER_CURSORS` last used stay open."""
        cursor = self._lower_cursors.pop(lower, None)
        if cursor is None:
            if len(self._lower_cursors) >= LOWER_CURSORS:
                oldest = next(iter(self._lower_cursors))
                self._lower_cursors.pop(oldest).close()
            cursor = Cursor(self.lowers[lower])
        self._lower_cursors[lower] = cursor
        return cursor

    def _mkdir(self, parent: str, name: str, source: str | None) -> None:
        rel = f"{parent}/{name}" if parent else name
        if self._before_create is not None:
            self._before_create(parent)
        here = self.cursor.at(parent)
        if source == "whiteout":  # this layer deleted it, then puts something under it
            os.unlink(name, dir_fd=here)
            os.mkdir(name, 0o755, dir_fd=here)
            os.setxattr(self.cursor.path(parent, name), OVERLAY_OPAQUE, b"y", follow_symlinks=False)
            self.opaque.add(rel)
            self._on_create(rel, None)
            return
        os.mkdir(name, 0o755, dir_fd=here)
        self._on_create(rel, source)
