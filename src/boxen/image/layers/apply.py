"""Applying one layer's entries onto a directory: files, links, devices, owners, whiteouts.

Each tar entry becomes a file system object under the target, named by a path resolved inside
it (:mod:`.paths`). The OCI layer spec's rules for an entry whose path exists already: if both
are directories the directory stays and takes the entry's attributes; otherwise the old object
is removed and the entry created in its place. Attributes are applied in the one order that
works: owner first (``chown`` clears the setuid and setgid bits and file capabilities), then
extended attributes (an unprivileged owner needs write permission for ``user.*``), then mode,
then times; directory modes and times are set last of all, because creating a child changes a
directory's mtime, and a read-only directory would refuse the children that follow it.

**Whiteouts** say what a layer deletes from the layers beneath it. The spec spells them as
empty files: ``dir/.wh.name`` deletes ``dir/name``, and ``dir/.wh..wh..opq`` (*opaque*) hides
everything ``dir`` held in lower layers while keeping what this layer puts there. A whiteout
affects only lower layers, whatever its position in the archive, so this module remembers the
paths the layer itself wrote. Two ways to apply them:

* **native**, onto a complete copy of the lower layers: delete the path, or every child of the
  directory that this layer did not write;
* **overlay**, onto an overlayfs upper directory: the lower layers are other directories, so
  deletions are recorded the way overlayfs reads them: a character device 0/0 named like
  the deleted path, and the ``trusted.overlay.opaque=y`` extended attribute on an opaque
  directory. Layers may not carry ``trusted.overlay.*`` attributes themselves: they would
  forge whiteouts.

A **hardlink** may only point at an entry this layer wrote earlier (layer writers emit the
first name of an inode as a file and later names as links to it); anything else, above all a
path outside the layer such as ``/etc/passwd``, is refused. **Rootless** (not root): owners are
left as the caller, device nodes are skipped, and ``trusted.*``/``security.*`` attributes the
kernel refuses are skipped; each skip is reported.
"""

from __future__ import annotations

import errno
import os
import stat

from boxen.common.errors import InvalidArgument, kernel_error
from boxen.image.layers import tarstream as tar
from boxen.image.layers.paths import OVERLAY_OPAQUE, Resolver, clean, is_whiteout
from boxen.image.layers.tree import remove_directory_at

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
_AUFS_META = ".wh..wh."

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_PATHS = "/proc/self/fd/"
_SYSCALL = {
    tar.REGULAR: "open", tar.DIRECTORY: "mkdir", tar.SYMLINK: "symlink", tar.HARDLINK: "link",
    tar.CHAR: "mknod", tar.BLOCKDEV: "mknod", tar.FIFO: "mkfifo",
}


class Applier:
    """Applies entries from a :class:`~.tarstream.TarReader` onto ``root``.

    ``overlay`` selects overlayfs whiteouts, with ``lowers`` the lower directories (top first);
    ``rootless`` skips what only root may do. Counters and ``skipped`` describe what was done.
    """

    def __init__(self, root: str, *, overlay: bool = False, lowers: tuple[str, ...] = (),
                 rootless: bool = False, explain=None) -> None:
        self.root = root.rstrip("/") or "/"
        self.overlay = overlay
        self.rootless = rootless
        self.explain = explain
        self.resolver = Resolver(self.root, lowers, overlay=overlay, on_create=self._created_parent,
                                 before_create=self._ensure_writable if rootless else None)
        self.cursor = self.resolver.cursor
        self.written: set[str] = {""}  # entries of this layer, with the directories holding them
        self.dir_meta: dict[str, tuple[int, int | None]] = {}  # rel -> (mode, mtime_ns) set at the end
        self.entries = 0
        self.whiteouts = 0
        self.opaques = 0
        self.skipped: list[str] = []
        self._writable_checked: set[str] = set()

    # --- driving -------------------------------------------------------------------------

    def apply(self, reader: tar.TarReader) -> None:
        """Apply every entry, then the deferred directory attributes."""
        try:
            self._apply(reader)
        finally:
            self.resolver.close()

    def _apply(self, reader: tar.TarReader) -> None:
        while True:
            entry = reader.next()
            if entry is None:
                break
            self.entries += 1
            try:
                self._entry(entry, reader)
            except InvalidArgument as exc:
                if exc.field is None or exc.field == "layer":
                    exc.field = entry.name
                raise
            except OSError as exc:
                where = exc.filename
                if not isinstance(where, str) or not where.startswith("/") or where.startswith(_FD_PATHS):
                    where = f"{self.root}/{entry.name}"  # not a bare name relative to the cursor
                raise kernel_error(exc.errno or errno.EIO, _SYSCALL[entry.type], where,
                                   f"layer entry {entry.name!r}") from exc
        for rel, (mode, mtime_ns) in self.dir_meta.items():
            # Through a descriptor opened without following a final symlink: the attributes
            # land on this directory or nowhere.
            if rel:
                parent, _, name = rel.rpartition("/")
                fd = os.open(name, _DIRECTORY, dir_fd=self.cursor.at(parent))
            else:
                fd = os.open(self.root, _DIRECTORY)
            try:
                os.fchmod(fd, mode)
                if mtime_ns is not None:
                    os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)

    def _host(self, rel: str) -> str:
        """A short path to ``rel`` through the cursor (see :mod:`.cursor`), valid until it moves."""
        if not rel:
            return self.root
        parent, _, name = rel.rpartition("/")
        return self.cursor.path(parent, name)

    def _note(self, line: str) -> None:
        if self.explain is not None:
            self.explain(line)

    # --- one entry ----------------------------------------------------------------------
    #
    # An entry is made as ``name`` in the directory descriptor ``here`` (the cursor's), with
    # the ``*at`` calls; the few calls without a directory argument (extended attributes) take
    # the short path ``/proc/self/fd/<here>/<name>`` (:func:`_at`).

    def _entry(self, entry: tar.TarEntry, reader: tar.TarReader) -> None:
        parts = clean(entry.name)
        if not parts:
            if entry.type != tar.DIRECTORY:
                raise InvalidArgument(f"a {entry.type} entry cannot replace the root directory", field=entry.name)
            self._directory_attributes(entry, "", None, self.root)
            return
        if parts[0].startswith(_AUFS_META) and parts[0] != WHITEOUT_OPAQUE:
            self._note(f"  ignored aufs metadata entry {entry.name}")  # .wh..wh.plnk/... and friends
            return
        base = parts[-1]
        parent = self.resolver.parent(parts[:-1], entry.name)
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, base, entry.name)
            return
        if self.rootless:
            self._ensure_writable(parent)
        if parent not in self.written:
            self._mark_written(parent)
        rel = f"{parent}/{base}" if parent else base
        if rel in self.resolver.walked_links:
            self.resolver.forget()
        if entry.xattrs:
            self._check_xattrs(entry)
        kind = entry.type
        if kind == tar.HARDLINK:
            self._hardlink(entry, rel)
            self.written.add(rel)
            return
        here = self.cursor.at(parent)
        if kind == tar.REGULAR:
            self._file(entry, reader, here, base, rel)
        elif kind == tar.DIRECTORY:
            self._directory(entry, here, base, rel)
        elif kind == tar.SYMLINK:
            self._create(here, base, rel, os.symlink, entry.linkname, base, dir_fd=here)
            self._attributes(entry, here, base, chmod=False)  # Linux has no symlink modes; chmod would follow it
        elif kind in (tar.CHAR, tar.BLOCKDEV):
            if self.rootless:
                self.skipped.append(f"{entry.name}: {kind} device {entry.devmajor}:{entry.devminor} (not root)")
                return
            file_type = stat.S_IFCHR if kind == tar.CHAR else stat.S_IFBLK
            self._create(here, base, rel, os.mknod, base, file_type | 0o600,
                         os.makedev(entry.devmajor, entry.devminor), dir_fd=here)
            self._attributes(entry, here, base)
        else:
            self._create(here, base, rel, os.mkfifo, base, 0o600, dir_fd=here)
            self._attributes(entry, here, base)
        self.written.add(rel)

    def _mark_written(self, rel: str) -> None:
        """Record a directory and its ancestors as holding entries of this layer."""
        while rel not in self.written:
            self.written.add(rel)
            rel = rel.rpartition("/")[0]

    def _clear(self, here: int, name: str, rel: str) -> None:
        """Remove what is at ``name`` in ``here`` (``rel``) so an entry can take its place."""
        try:
            st = os.lstat(name, dir_fd=here)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            remove_directory_at(here, name)  # the cursor is in its parent, never inside it
            self.resolver.forget()
            self._forget_attributes(rel)
        else:
            os.unlink(name, dir_fd=here)

    def _forget_attributes(self, rel: str) -> None:
        """Drop the deferred attributes of directory ``rel`` and those beneath it: they are gone,
        and a symlink may take their place."""
        prefix = rel + "/"
        for doomed in [r for r in self.dir_meta if r == rel or r.startswith(prefix)]:
            del self.dir_meta[doomed]
        self._writable_checked = {r for r in self._writable_checked if r != rel and not r.startswith(prefix)}

    def _create(self, here: int, name: str, rel: str, create, *args, **kwargs) -> None:
        """Call ``create(*args)``, which makes ``name`` in ``here``; if something is there, replace it."""
        try:
            create(*args, **kwargs)
        except FileExistsError:
            self._clear(here, name, rel)
            create(*args, **kwargs)

    def _file(self, entry: tar.TarEntry, reader: tar.TarReader, here: int, name: str, rel: str) -> None:
        try:
            fd = os.open(name, _CREATE, 0o600, dir_fd=here)
        except FileExistsError:
            self._clear(here, name, rel)
            fd = os.open(name, _CREATE, 0o600, dir_fd=here)
        try:
            if entry.size:
                reader.copy_data(fd, entry.name)
            if not self.rootless:
                os.fchown(fd, entry.uid, entry.gid)
            if entry.xattrs:
                self._set_xattrs(entry.name, entry.xattrs, fd)
            os.fchmod(fd, entry.mode)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def _directory(self, entry: tar.TarEntry, here: int, name: str, rel: str) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=here)
        except FileExistsError:
            st = os.lstat(name, dir_fd=here)
            if self.overlay and is_whiteout(st):
                os.unlink(name, dir_fd=here)
                os.mkdir(name, 0o700, dir_fd=here)
                self._set_opaque(_at(here, name), rel)
            elif not stat.S_ISDIR(st.st_mode):
                self._clear(here, name, rel)
                os.mkdir(name, 0o700, dir_fd=here)
        self._directory_attributes(entry, rel, here, name)

    def _directory_attributes(self, entry: tar.TarEntry, rel: str, here: int | None, name: str) -> None:
        """Owner and extended attributes now; mode and times at the end (``here`` None: ``name``
        is a path, the root's)."""
        if not self.rootless:
            os.chown(name, entry.uid, entry.gid, dir_fd=here, follow_symlinks=False)
        if entry.xattrs:
            self._check_xattrs(entry)
            self._set_xattrs(entry.name, entry.xattrs, name if here is None else _at(here, name))
        self.dir_meta[rel] = (entry.mode, entry.mtime_ns)
        self.written.add(rel)

    def _attributes(self, entry: tar.TarEntry, here: int, name: str, *, chmod: bool = True) -> None:
        if not self.rootless:
            os.chown(name, entry.uid, entry.gid, dir_fd=here, follow_symlinks=False)
        if entry.xattrs:
            self._set_xattrs(entry.name, entry.xattrs, _at(here, name))
        if chmod:
            os.chmod(name, entry.mode, dir_fd=here)  # never a symlink here
        os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=here, follow_symlinks=False)

    def _check_xattrs(self, entry: tar.TarEntry) -> None:
        for key in entry.xattrs or ():
            if key.startswith("trusted.overlay."):
                raise InvalidArgument(f"a layer may not set overlayfs's own attribute {key!r}", field=entry.name)

    def _set_xattrs(self, name: str, xattrs: dict[str, bytes], target: int | str) -> None:
        """Set ``xattrs`` on ``target``, an open file or a path (whose final symlink is not followed)."""
        follow = {} if isinstance(target, int) else {"follow_symlinks": False}
        shown = target if isinstance(target, str) else f"{self.root}/{name}"
        for key, value in xattrs.items():
            try:
                os.setxattr(target, key, value, **follow)
            except PermissionError:
                if not (self.rootless and key.startswith(("trusted.", "security."))):
                    raise kernel_error(errno.EPERM, "setxattr", shown, f"layer entry {name!r}, attribute {key}")
                self.skipped.append(f"{name}: extended attribute {key} (not root)")
            except OSError as exc:
                raise kernel_error(exc.errno or errno.EIO, "setxattr", shown,
                                   f"layer entry {name!r}, attribute {key}") from None

    def _hardlink(self, entry: tar.TarEntry, rel: str) -> None:
        parts = clean(entry.linkname)
        if not parts:
            raise InvalidArgument("a hardlink cannot point at the root directory", field=entry.name)
        parent = self.resolver.find(parts[:-1], entry.name)
        target = None if parent is None else (f"{parent}/{parts[-1]}" if parent else parts[-1])
        if target not in self.written:
            raise InvalidArgument(
                f"hardlink to {entry.linkname!r}, which is not an earlier entry of this layer "
                "(a layer may only link to files it contains)", field=entry.name,
            )
        if target == rel:
            return
        assert parent is not None  # target is an entry
        # The source's directory keeps a descriptor of its own while the cursor moves to the link's.
        source_dir = os.dup(self.cursor.at(parent))
        try:
            if stat.S_ISDIR(os.lstat(parts[-1], dir_fd=source_dir).st_mode):
                raise InvalidArgument(f"hardlink to directory {entry.linkname!r}", field=entry.name)
            link_parent, _, name = rel.rpartition("/")
            here = self.cursor.at(link_parent)
            self._create(here, name, rel, os.link, parts[-1], name, src_dir_fd=source_dir, dst_dir_fd=here,
                         follow_symlinks=False)
        finally:
            os.close(source_dir)

    # --- whiteouts ----------------------------------------------------------------------

    def _whiteout(self, parent: str, base: str, name: str) -> None:
        if base == WHITEOUT_OPAQUE:
            self._opaque(parent, name)
            return
        if base.startswith(_AUFS_META):
            self._note(f"  ignored aufs metadata entry {name}")
            return
        victim = base[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise InvalidArgument(f"whiteout of {victim!r} is not a file name", field=name)
        rel = f"{parent}/{victim}" if parent else victim
        here = self.cursor.at(parent)
        self.whiteouts += 1
        try:
            st = os.lstat(victim, dir_fd=here)
        except FileNotFoundError:
            st = None
        if rel in self.written:
            # Deletes only the lower layers' object: what this layer wrote there stays.
            if st is not None and stat.S_ISDIR(st.st_mode):
                self._hide_lower_children(rel, _at(here, victim))
            return
        if self.overlay:
            if st is not None:
                self._clear(here, victim, rel)
            os.mknod(victim, stat.S_IFCHR | 0o000, 0, dir_fd=here)
            self._note(f"  whiteout {rel}: character device 0/0 hides it in the lower layers")
        elif st is not None:
            self._clear(here, victim, rel)
            self._note(f"  whiteout {rel}: removed")
        if rel in self.resolver.walked_links:
            self.resolver.forget()

    def _opaque(self, parent: str, name: str) -> None:
        self.opaques += 1
        self._hide_lower_children(parent, self._host(parent))

    def _hide_lower_children(self, rel: str, host: str) -> None:
        """Hide what the lower layers hold in directory ``rel`` (at the path ``host``)."""
        if self.overlay:
            self._set_opaque(host, rel)
            self._note(f"  opaque {rel or '/'}: {OVERLAY_OPAQUE}=y hides the lower layers' contents")
            return
        removed = self._remove_unwritten(rel)
        self._note(f"  opaque {rel or '/'}: removed {removed} entries of lower layers")

    def _remove_unwritten(self, rel: str) -> int:
        """Remove everything under directory ``rel`` that this layer did not write."""
        removed = 0
        pending = [rel]
        while pending:
            rel = pending.pop()
            with os.scandir(self.cursor.path(rel) if rel else self.root) as it:
                children = [(child.name, child.is_dir(follow_symlinks=False)) for child in it]
            here = self.cursor.at(rel)
            for child, is_dir in children:
                child_rel = f"{rel}/{child}" if rel else child
                if child_rel in self.written:
                    if is_dir:
                        pending.append(child_rel)
                    continue
                self._clear(here, child, child_rel)
                removed += 1
        return removed

    def _set_opaque(self, host: str, rel: str) -> None:
        os.setxattr(host, OVERLAY_OPAQUE, b"y", follow_symlinks=False)
        self.resolver.opaque.add(rel)
        self.resolver.forget()

    # --- helpers ------------------------------------------------------------------------

    def _created_parent(self, rel: str, lower: str | None) -> None:
        """A parent directory the layer did not list was made: give it the right attributes."""
        host = self._host(rel)
        if lower is None:
            self.dir_meta.setdefault(rel, (0o755, None))
            return
        st = os.lstat(lower)
        if not self.rootless:
            os.chown(host, st.st_uid, st.st_gid, follow_symlinks=False)
        for key in os.listxattr(lower, follow_symlinks=False):
            if not key.startswith("trusted.overlay."):
                os.setxattr(host, key, os.getxattr(lower, key, follow_symlinks=False), follow_symlinks=False)
        self.dir_meta.setdefault(rel, (stat.S_IMODE(st.st_mode), st.st_mtime_ns))

    def _ensure_writable(self, rel: str) -> None:
        """Rootless: a lower layer's read-only directory is opened up until the layer is done."""
        if rel in self._writable_checked:
            return
        self._writable_checked.add(rel)
        host = self._host(rel)
        st = os.lstat(host)
        if st.st_mode & 0o300 != 0o300:
            self.dir_meta.setdefault(rel, (stat.S_IMODE(st.st_mode), st.st_mtime_ns))
            os.chmod(host, stat.S_IMODE(st.st_mode) | 0o700)


def _at(here: int, name: str) -> str:
    """The short path of ``name`` in the directory descriptor ``here``, for calls that take no
    directory argument (see :mod:`.cursor`)."""
    return f"{_FD_PATHS}{here}/{name}"
