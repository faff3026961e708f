"""Image records: a name pointing at a manifest or index in the content store.

An *image*, for a container engine, is only a name bound to a descriptor: the name is a
normalised reference (``docker.io/library/busybox:latest``, or ``repo@sha256:...`` for an
image pulled by digest) and the target is the descriptor of what the registry answered for
it, an index (multi-platform) or a manifest. Everything else (the platform's manifest,
config, layers) is found by following digests from the target, so two names for one image
share all their content, and ``tag`` only adds a row. This is containerd's image store; the
records live in SQLite (``<root>/images.db``) so that concurrent ``boxen-image`` processes
update them atomically. A megabyte is kept allocated beside it (``<root>/reserve``) and given
up when a write finds the disk full, so that ``rm`` can still delete a name and then free space.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import time

from boxen.common import jsonio, schema
from boxen.common.errors import InvalidArgument, NotFound, Unimplemented
from boxen.common.record import Record
from boxen.image import reference
from boxen.image.content import read
from boxen.image.root import disk_full
from boxen.oci import image as oci
from boxen.oci.image import Descriptor, Platform

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_digest ON images(digest);
"""


class Image(Record):
    name: str
    target: Descriptor
    labels: dict[str, str]
    created: float
    updated: float


def _image(row: tuple) -> Image:
    name, media_type, digest, size, labels, created, updated = row
    return Image(name, Descriptor(media_type, digest, size), jsonio.loads(labels), created, updated)  # type: ignore[arg-type]


#: Bytes kept allocated beside ``images.db`` (in ``reserve``) so that a name can be deleted on a
#: full disk: SQLite needs room for its write-ahead log even to delete, and ``rm`` must delete
#: the name before it can free anything.
RESERVE = 1 << 20


class ImageStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._reserve = None if path == ":memory:" else os.path.join(os.path.dirname(os.path.abspath(path)), "reserve")
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._keep_reserve()

    def _keep_reserve(self) -> None:
        """Allocate the reserve if it is missing and there is room (see :data:`RESERVE`)."""
        if self._reserve is None or os.path.exists(self._reserve):
            return
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE)
        except OSError:  # no room now: a later command tries again
            os.unlink(self._reserve)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._db.close()

    def get(self, name: str) -> Image:
        row = self._db.execute("SELECT * FROM images WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no image {name!r}", field="image")
        return _image(row)

    def list(self) -> list[Image]:
        return [_image(r) for r in self._db.execute("SELECT * FROM images ORDER BY name")]

    def by_digest(self, digest: str) -> builtins.list[Image]:
        return [_image(r) for r in self._db.execute("SELECT * FROM images WHERE digest = ? ORDER BY name", (digest,))]

    def _write(self, sql: str, values: tuple) -> None:
        """Run one statement (its own transaction); on a full disk, give up the reserve and retry once."""
        try:
            self._db.execute(sql, values)
            return
        except sqlite3.OperationalError as exc:
            full = disk_full(exc, self.path)
            if full is None:
                raise
            try:
                os.unlink(self._reserve or "")
            except FileNotFoundError:
                raise full from exc
        try:
            self._db.execute(sql, values)
        except sqlite3.OperationalError as exc:
            full = disk_full(exc, self.path)
            if full is None:
                raise
            raise full from exc

    def put(self, name: str, target: Descriptor, labels: dict[str, str] | None = None) -> Image:
        """Create ``name`` or point it at ``target`` (keeping its creation time)."""
        now = time.time()
        self._write(
            "INSERT INTO images(name, media_type, digest, size, labels, created, updated) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET media_type=excluded.media_type, digest=excluded.digest, "
            "size=excluded.size, labels=excluded.labels, updated=excluded.updated",
            (name, target.mediaType, target.digest, target.size, jsonio.dumps(labels or {}), now, now),
        )
        return self.get(name)

    def delete(self, name: str) -> Image:
        image = self.get(name)
        self._write("DELETE FROM images WHERE name = ?", (name,))
        return image


def image_name(ref) -> str:
    """The name an image is stored under: with its tag, or by digest when it has no tag."""
    return f"{ref.name}:{ref.tag}" if ref.tag else f"{ref.name}@{ref.digest}"


def find_image(images: ImageStore, name: str, content=None) -> Image:
    """An image by any spelling of its name (``busybox`` finds ``docker.io/library/busybox:latest``),
    or by its digest or a unique prefix of it; with ``content``, also by its image ID (the digest of
    its config, which ``build`` prints and docker calls IMAGE ID) or a unique prefix of that."""
    hexdigits = name.removeprefix("sha256:")
    if len(hexdigits) >= 4 and all(c in "0123456789abcdef" for c in hexdigits):
        every = images.list()
        matches = {i.target.digest: i for i in every if i.target.digest.removeprefix("sha256:").startswith(hexdigits)}
        if not matches and content is not None:
            matches = {i.target.digest: i for i in every
                       if any(d.removeprefix("sha256:").startswith(hexdigits) for d in _config_digests(content, i.target))}
        if len(matches) == 1:
            return next(iter(matches.values()))
    return images.get(image_name(reference.parse(name, field="image")))


def _config_digests(content, target: Descriptor) -> list[str]:
    """The config digests under ``target`` (one per platform of an index), skipping missing blobs."""
    try:
        if target.mediaType in oci.INDEX_TYPES:
            return [d for m in read_document(content, target, oci.Index).manifests for d in _config_digests(content, m)]
        if target.mediaType in oci.MANIFEST_TYPES:
            return [read_document(content, target, oci.Manifest).config.digest]
    except NotFound:
        pass
    return []


# --- following an image's descriptors ----------------------------------------------------------


def read_document(content, descriptor: Descriptor, cls: type):
    """Parse a manifest, index or config blob into ``cls``; errors name the blob and JSON path."""
    data = read(content, descriptor.digest)
    source = f"{descriptor.mediaType or 'blob'} {descriptor.digest}"
    parsed = jsonio.loads(data, source=source)
    try:
        return schema.from_json(cls, parsed)
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message, field=f"{source}: {exc.field}" if exc.field else source) from None


def children(content, descriptor: Descriptor) -> list[Descriptor]:
    """What a descriptor points at: an index's manifests, a manifest's config and layers."""
    if descriptor.mediaType in oci.INDEX_TYPES:
        return list(read_document(content, descriptor, oci.Index).manifests)
    if descriptor.mediaType in oci.MANIFEST_TYPES:
        manifest = read_document(content, descriptor, oci.Manifest)
        return [manifest.config, *manifest.layers]
    return []


_MACHINE_TO_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
                      "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> Platform:
    """This host's platform in the image spec's (Go's) names: ``linux``/``amd64``."""
    machine = os.uname().machine
    return Platform(_MACHINE_TO_GOARCH.get(machine, machine), "linux", variant="v7" if machine == "armv7l" else None)


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]``, as ``--platform`` takes it."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f"expected os/arch[/variant], got {text!r}", field="--platform")
    return Platform(parts[1], parts[0], variant=parts[2] if len(parts) == 3 else None)


def format_platform(platform) -> str:
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)


def select_manifest(index, platform) -> Descriptor:
    """The index entry for ``platform`` (a variant, when asked for, must match too)."""
    candidates = [
        d for d in index.manifests
        if d.mediaType in oci.MANIFEST_TYPES and d.platform is not None
        and d.platform.os == platform.os and d.platform.architecture == platform.architecture
        and (platform.variant is None or d.platform.variant in (None, platform.variant))
    ]
    if not candidates:
        offered = ", ".join(format_platform(d.platform) for d in index.manifests if d.platform) or "none"
        raise NotFound(f"no manifest for {format_platform(platform)} in the index (it has: {offered})",
                       field="platform")
    return min(candidates, key=lambda d: d.platform.variant != platform.variant)


def resolve(content, target: Descriptor, platform=None):
    """``(manifest descriptor, Manifest, ImageConfig)`` of an image, choosing a platform from an index."""
    descriptor = target
    if descriptor.mediaType in oci.INDEX_TYPES:
        descriptor = select_manifest(read_document(content, descriptor, oci.Index), platform or host_platform())
    if descriptor.mediaType not in oci.MANIFEST_TYPES:
        raise Unimplemented(f"{descriptor.digest} is a {descriptor.mediaType!r}, not an image manifest")
    manifest = read_document(content, descriptor, oci.Manifest)
    config = read_document(content, manifest.config, oci.ImageConfig)
    return descriptor, manifest, config
