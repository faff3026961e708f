"""``COPY`` and ``ADD``: files from the context (or another stage) written into the image's root.

The destination is the root file system of the step's snapshot, mounted on a directory of the
host; every path in it is resolved **inside** that root, following the image's own symlinks as
the container would see them (``/lib -> usr/lib``), never out of it. Docker's rules:

* a **directory** source copies its *contents*, not itself, into the destination directory;
* a **file** source lands *in* the destination when that ends with ``/`` or is an existing
  directory, else *at* it (``COPY app.conf /etc/app.conf``); several sources need a
  directory destination;
* a source that is a symlink is followed (its target is copied); symlinks *inside* a copied
  directory are copied as symlinks;
* files keep their mode bits and modification time; owners become ``0:0``, or the
  ``--chown`` user and group (names looked up in the image's ``/etc/passwd`` and
  ``/etc/group``; a user without a group uses the same number for the group), or, for
  ``COPY --from``, stay what they were in the source stage. ``--chmod`` sets the mode bits
  of everything copied (octal), or changes each one's own (symbolic: ``go-w``);
* missing parent directories of the destination are created (``0755``, owned like the
  copied files); existing directories keep their owner and mode;
* ``ADD`` of a local **tar archive** (plain, gzip, bzip2, xz or zstd, recognised by its
  content, not its name) extracts it into the destination directory with the same safe
  extraction as image layers (:func:`boxen.image.layers.apply_layer`); ``--unpack=false``
  copies it as it is, ``--unpack=true`` extracts a downloaded one too. Its entries keep their
  owners unless ``--chown`` gives them all one.

BuildKit's ``--parents`` copies ``a/b/c.txt`` to ``DEST/a/b/c.txt`` (and a directory ``a/b``
into ``DEST/a/b/``) instead of ``DEST/c.txt``, or, given as ``a/./b/c.txt``, to ``DEST/b/c.txt``
(what follows the pivot ``/./``); a symbolic ``--chmod`` (``go-w``) changes each
file's own mode bits (:mod:`.modes`).
"""

from __future__ import annotations

import errno
import os
import stat

from boxen.common.errors import InvalidArgument, NotFound, kernel_error
from boxen.common.record import Record
from boxen.image.build import modes
from boxen.image.build.settings import MAX_ID, digits, numeric_id
from boxen.image.build.context import Source, Tree
from boxen.image.build.plan import CopyStep
from boxen.image.bundle import read_database
from boxen.image.layers.paths import resolve

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class CopyResult(Record):
    """What a copy wrote: entries created and bytes of file data."""

    entries: int
    bytes: int


def chown_ids(spec: str, rootfs: str, *, field: str) -> tuple[int, int]:
    """``(uid, gid)`` for a ``--chown`` value (``user``, ``user:group``, numbers or names).

    A user given alone keeps its number for the group when numeric, and takes its primary
    group from ``/etc/passwd`` when named.
    """
    user, _, group = spec.partition(":")
    if not user:
        raise InvalidArgument(f"--chown={spec}: no user", field=field)
    for part in (user, group):
        if digits(part) and numeric_id(part) is None:
            raise InvalidArgument(f"--chown={spec}: {part} is not an ID (0 to {MAX_ID})", field=field)
    if digits(user):
        uid, primary = int(user), int(user)
    else:
        entry = next((e for e in read_database(rootfs, "/etc/passwd") if len(e) >= 4 and e[0] == user), None)
        if entry is None or not digits(entry[2]) or not digits(entry[3]):
            raise InvalidArgument(f"--chown={spec}: no user {user!r} in the image's /etc/passwd", field=field)
        uid, primary = int(entry[2]), int(entry[3])
    if not group:
        return uid, primary
    if digits(group):
        return uid, int(group)
    found = next((e for e in read_database(rootfs, "/etc/group") if len(e) >= 3 and e[0] == group), None)
    if found is None or not digits(found[2]):
        raise InvalidArgument(f"--chown={spec}: no group {group!r} in the image's /etc/group", field=field)
    return uid, int(found[2])


def _own(path: str, ids: tuple[int, int], *, follow_symlinks: bool = True) -> None:
    """Give ``path`` its owner; not being root, files stay the caller's (as a rootless unpack leaves them)."""
    if os.geteuid() == 0:
        os.chown(path, *ids, follow_symlinks=follow_symlinks)


class ImageRoot:
    """Paths inside the mounted root file system, resolved as the container would."""

    def __init__(self, rootfs: str, owner: tuple[int, int] | None) -> None:
        self.rootfs = rootfs.rstrip("/")
        self.owner = owner or (0, 0)
        self.created = 0

    def directory(self, path: str) -> str:
        """The host path of directory ``path``, creating what is missing (symlinks followed inside)."""
        return resolve(self.rootfs, path, make_directory=self._make_directory)

    def _make_directory(self, host: str) -> None:
        os.mkdir(host, 0o755)
        _own(host, self.owner)
        self.created += 1

    def is_directory(self, path: str) -> bool:
        try:
            return os.path.isdir(resolve(self.rootfs, path))
        except (NotFound, InvalidArgument):
            return False


def _clear(host: str, name: str) -> None:
    """Remove a non-directory at ``host`` so a file can take its place."""
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"cannot overwrite directory {name} with a non-directory", field=name)
    os.unlink(host)


def _copy_data(source: str, target: str, mode: int) -> int:
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(target, _CREATE, mode & 0o777)
        try:
            copied = 0
            while True:
                try:
                    n = os.copy_file_range(src, dst, 1 << 30)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    n = os.sendfile(dst, src, None, 1 << 30)
                if not n:
                    return copied
                copied += n
        finally:
            os.close(dst)
    finally:
        os.close(src)


class Copier:
    """Writes one ``COPY``/``ADD`` step's sources into a mounted root (see the module docstring)."""

    def __init__(self, rootfs: str, step: CopyStep, tree: Tree, *, owner: tuple[int, int] | None,
                 field: str) -> None:
        self.root = ImageRoot(rootfs, owner)
        self.step = step
        self.tree = tree
        self.keep_owner = owner is None
        self.owner = owner or (0, 0)
        self.field = field
        self.entries = 0
        self.bytes = 0

    def copy(self, sources: list[Source], *, kept: dict[str, str] | None = None) -> CopyResult:
        """Copy ``sources``; with ``--parents``, each keeps its path (or ``kept[source.rel]``)
        under the destination."""
        into = self.step.dest.endswith("/") or len(sources) > 1 or self.step.parents
        # (docker extracts local archives only: not those of another stage, nor downloads)
        unpack = self.step.unpack if self.step.unpack is not None else not self.step.urls
        for source in sources:
            dest = self.step.dest
            if self.step.parents:
                path = kept.get(source.rel, source.rel) if kept else source.rel
                path = path if source.is_dir else path.rpartition("/")[0]
                dest = f"{dest.rstrip('/')}/{path}/" if path else dest
            if source.is_dir:
                self._directory(source, self.root.directory(dest))
                continue
            st = os.stat(source.path)
            regular = stat.S_ISREG(st.st_mode)
            archive = regular and self.step.add and self.step.from_stage is None and unpack and archive_kind(source.path)
            if archive:
                self._extract(source, archive, self.root.directory(dest))
                continue
            if into or self.root.is_directory(dest):
                target = f"{self.root.directory(dest)}/{source.name}"
            else:
                head, _, name = dest.rstrip("/").rpartition("/")
                target = f"{self.root.directory(head or '/')}/{name}"
            if regular:
                self._file(source.path, st, target)
            elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                self._node(st, target)  # (never opened: a FIFO would wait for a writer for ever)
            else:
                raise InvalidArgument(f"{source.rel} is a socket: {'ADD' if self.step.add else 'COPY'} copies files, "
                                      "directories, links, FIFOs and device nodes", field=source.rel)
        return CopyResult(self.entries + self.root.created, self.bytes)

    def _ids(self, st: os.stat_result) -> tuple[int, int]:
        return (st.st_uid, st.st_gid) if self.keep_owner else self.owner

    def _mode(self, st: os.stat_result) -> int:
        if self.step.chmod is None:
            return stat.S_IMODE(st.st_mode)
        return modes.apply(self.step.chmod, stat.S_IMODE(st.st_mode), directory=stat.S_ISDIR(st.st_mode))

    def _file(self, source: str, st: os.stat_result, target: str) -> None:
        rel = target[len(self.root.rootfs):] or "/"
        _clear(target, rel)
        try:
            self.bytes += _copy_data(source, target, 0o600)
            _own(target, self._ids(st))
            os.chmod(target, self._mode(st))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        except OSError as exc:
            raise kernel_error(exc.errno or errno.EIO, "copy", rel, f"COPY of {source}") from None
        self.entries += 1

    def _node(self, st: os.stat_result, target: str) -> None:
        """A FIFO or device node like the one ``st`` describes, made anew at ``target``."""
        _clear(target, target[len(self.root.rootfs):])
        os.mknod(target, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
        _own(target, self._ids(st))
        os.chmod(target, self._mode(st))
        self.entries += 1

    def _directory(self, source: Source, target: str, tree: Tree | None = None) -> None:
        """The contents of directory ``source`` (of ``tree``, by default the step's) into the
        existing directory ``target``.

        Entries come parents first, and every directory on the way is made a real directory
        (an image's symlink in its place is replaced, as unpacking a layer replaces it), so no
        path below ``target`` ever passes through a symlink.
        """
        tree = tree or self.tree
        made: list[tuple[str, os.stat_result]] = []
        prefix = f"{source.rel}/" if source.rel else ""
        for rel, path, st in tree.entries(source, passages=True):
            host = f"{target}/{rel}"
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                passage = tree.excluded(prefix + rel)
                try:
                    existing = os.lstat(host)
                except FileNotFoundError:
                    existing = None
                if existing is None or not stat.S_ISDIR(existing.st_mode):
                    if existing is not None:
                        os.unlink(host)
                    os.mkdir(host, 0o755 if passage else 0o700)
                    _own(host, self.owner if passage else self._ids(st))
                    if not passage:
                        made.append((host, st))
                    self.entries += 1
            elif stat.S_ISREG(mode):
                self._file(path, st, host)
            elif stat.S_ISLNK(mode):
                _clear(host, host[len(self.root.rootfs):])
                os.symlink(os.readlink(path), host)
                _own(host, self._ids(st), follow_symlinks=False)
                os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
                self.entries += 1
            elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                self._node(st, host)
        for host, st in reversed(made):  # modes last: a read-only directory would refuse its children
            os.chmod(host, self._mode(st))
            os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns))

    def _extract(self, source: Source, kind: str, target: str) -> None:
        """Extract archive ``source`` into ``target``: its files keep the archive's owners, or,
        with ``--chown``, are extracted unowned beside the root and copied in as that owner."""
        if self.step.chown is None:
            self.entries += self._unpack(source, kind, target, rootless=os.geteuid() != 0)
            return
        import shutil
        import tempfile

        staging = tempfile.mkdtemp(prefix="add-", dir=os.path.dirname(self.root.rootfs))
        try:
            self._unpack(source, kind, staging, rootless=True)
            self._directory(Source("", staging, True, ""), target, Tree(staging, name=f"archive {source.rel}"))
        finally:
            shutil.rmtree(staging)

    def _unpack(self, source: Source, kind: str, target: str, *, rootless: bool) -> int:
        from boxen.image.layers import apply_layer

        with open(source.path, "rb") as raw, _decompressing(raw, kind) as blob:
            try:
                return apply_layer(blob, target, rootless=rootless).entries
            except InvalidArgument as exc:
                raise InvalidArgument(f"ADD {source.rel}: {exc.message}", field=exc.field) from None


def _decompressing(raw, kind: str):
    """``raw`` decompressed for the layer reader, which itself reads gzip, zstd and plain tar."""
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(raw)
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw)
    import contextlib

    return contextlib.nullcontext(raw)


def _tar_header(block: bytes) -> bool:
    """Whether ``block`` (512 bytes) is a tar header: its checksum field matches its bytes."""
    if len(block) < 512 or not block[:100].strip(b"\0"):
        return False
    field = block[148:156].replace(b"\0", b" ").strip()
    try:
        recorded = int(field, 8)
    except ValueError:
        return False
    return recorded == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _decompressed_head(head: bytes) -> tuple[str, bytes]:
    """The archive's compression and its first uncompressed bytes."""
    import bz2
    import lzma
    import zlib

    if head.startswith(b"\x1f\x8b"):
        return "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 512)
    if head.startswith(b"BZh"):
        return "bzip2", bz2.BZ2Decompressor().decompress(head, 512)
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz", lzma.LZMADecompressor().decompress(head, 512)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard

        try:
            return "zstd", zstandard.ZstdDecompressor().decompressobj().decompress(head)[:512]
        except zstandard.ZstdError:
            return "zstd", b""
    return "tar", head[:512]


def archive_kind(path: str) -> str | None:
    """``tar``, ``gzip``, ``bzip2``, ``xz`` or ``zstd`` if ``path`` holds a (compressed) tar archive."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    import lzma
    import zlib

    try:
        kind, data = _decompressed_head(head)
    except (zlib.error, OSError, EOFError, lzma.LZMAError):
        return None
    return kind if _tar_header(data) else None
