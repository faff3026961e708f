"""OCI image layouts: images as a directory (or a tar of one), both ways.

The image spec's layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
is a content store on a file system that any tool can read::

    oci-layout              {"imageLayoutVersion": "1.0.0"}
    index.json              an index whose manifests are the images, named by annotations
    blobs/sha256/<hex>      every blob, named by its digest

Each entry of ``index.json`` names its image with ``org.opencontainers.image.ref.name``;
skopeo and umoci put a bare tag there (``oci:dir:busybox``), containerd the tag and the full
name in ``io.containerd.image.name``. :func:`export` writes both (the tag, and the full
name), so ``skopeo copy oci:DIR:TAG`` and ``ctr import`` both find it. :func:`import_layout`
reads either; a bare tag becomes ``<name>:<tag>`` with a repository the caller chooses.

Exported blobs are hard links into the content store where the file system allows (no
copy) and copies otherwise. Imported blobs go through content-store writers, so a layout
whose blob does not match its file name is refused like a lying registry.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

from boxen.common import digest as digests
from boxen.common import jsonio, schema
from boxen.common.errors import AlreadyExists, InvalidArgument, NotFound
from boxen.image import content as contents
from boxen.image import reference
from boxen.image.store import Image, ImageStore, image_name, read_document, resolve
from boxen.oci import image as oci

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
CONTAINERD_NAME = "io.containerd.image.name"
Explain = Callable[[str], None]


def _closure(content, top: oci.Descriptor) -> list[oci.Descriptor]:
    """``top`` and every blob under it, parents before children."""
    out, seen, pending = [], set(), [top]
    while pending:
        d = pending.pop(0)
        if d.digest in seen:
            continue
        seen.add(d.digest)
        out.append(d)
        if d.mediaType in oci.INDEX_TYPES:
            pending.extend(read_document(content, d, oci.Index).manifests)
        elif d.mediaType in oci.MANIFEST_TYPES:
            m = read_document(content, d, oci.Manifest)
            pending.extend([m.config, *m.layers])
    return out


def exportable(content, image: Image, platform=None) -> oci.Descriptor:
    """The image's target, or its platform manifest when the index's other platforms are not stored."""
    if image.target.mediaType in oci.INDEX_TYPES:
        children = read_document(content, image.target, oci.Index).manifests
        if not all(contents.exists(content, c.digest) for c in children):
            return resolve(content, image.target, platform)[0]
    return image.target


def _place(content, digest: str, target: str) -> None:
    if os.path.exists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.link(content.path(digest), target)
    except OSError:
        with content.reader(digest) as src, open(target + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(target + ".tmp", target)


def export(content, images: Iterable[Image], directory: str, *, platform=None, explain: Explain | None = None
           ) -> list[oci.Descriptor]:
    """Write ``images`` into the layout ``directory`` (created, or added to); returns the index entries."""
    say = explain or (lambda text: None)
    os.makedirs(directory, exist_ok=True)
    index_path = os.path.join(directory, "index.json")
    entries: list[dict] = []
    if os.path.exists(index_path):
        with open(index_path, "rb") as f:
            existing = jsonio.loads(f.read(), source=index_path)
        if not isinstance(existing, dict) or not isinstance(existing.get("manifests", []), list):
            raise InvalidArgument("expected an index with a manifests array", field=index_path)
        entries = list(existing.get("manifests", []))
    for image in images:
        top = exportable(content, image, platform)
        for d in _closure(content, top):
            if not contents.exists(content, d.digest):
                raise NotFound(f"blob {d.digest} of {image.name} is not in the content store", field="image")
            algorithm, encoded = digests.split(d.digest)
            _place(content, d.digest, os.path.join(directory, "blobs", algorithm, encoded))
        ref = reference.parse(image.name) if "@" not in image.name.split("/")[-1] else None
        annotations = {CONTAINERD_NAME: image.name}
        if ref is not None and ref.tag:
            annotations[oci.ANNOTATION_REF_NAME] = ref.tag
        entry = {"mediaType": top.mediaType, "digest": top.digest, "size": top.size, "annotations": annotations}
        entries = [e for e in entries if (e.get("annotations") or {}).get(CONTAINERD_NAME) != image.name
                   and not (ref and ref.tag and (e.get("annotations") or {}).get(oci.ANNOTATION_REF_NAME) == ref.tag)]
        entries.append(entry)
        say(f"layout {directory}: {image.name} -> {top.mediaType} {top.digest}")
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        f.write(jsonio.dumps(LAYOUT_VERSION))
    with open(index_path + ".tmp", "w") as f:
        f.write(jsonio.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": entries}, indent=2))
    os.replace(index_path + ".tmp", index_path)
    return [schema.from_json(oci.Descriptor, e) for e in entries]


# --- reading --------------------------------------------------------------------------------


class Source:
    """Files of a layout or an archive, by relative name: a directory or a tar file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tar = None if os.path.isdir(path) else tarfile.open(path, "r:*")
        self._members = {}
        if self._tar is not None:
            self._members = {os.path.normpath(m.name).lstrip("/"): m for m in self._tar.getmembers()}

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def exists(self, name: str) -> bool:
        name = os.path.normpath(name).lstrip("/")
        if self._tar is None:
            return os.path.isfile(os.path.join(self.path, name))
        return name in self._members

    def open(self, name: str) -> BinaryIO:
        clean = os.path.normpath(name).lstrip("/")
        if clean.startswith(".."):
            raise InvalidArgument(f"{name!r} points outside the archive", field=self.path)
        if self._tar is None:
            try:
                return open(os.path.join(self.path, clean), "rb")
            except FileNotFoundError:
                raise NotFound(f"{clean} is missing", field=self.path) from None
        member = self._members.get(clean)
        f = self._tar.extractfile(member) if member is not None else None
        if f is None:
            raise NotFound(f"{clean} is missing or not a file", field=self.path)
        return f  # type: ignore[return-value]

    def read(self, name: str, limit: int = 16 << 20) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise InvalidArgument(f"{name} is larger than {limit} bytes", field=self.path)
        return data


def ingest(content, stream: BinaryIO, descriptor: oci.Descriptor, ref: str) -> None:
    """Copy a blob into the content store, verified against ``descriptor``."""
    try:
        writer = content.writer(ref, descriptor)
    except AlreadyExists:
        return
    with writer:
        if writer.offset:
            writer.close()
            content.abort(ref)
            writer = content.writer(ref, descriptor)
        while chunk := stream.read(1 << 20):
            writer.write(chunk)
        writer.commit(descriptor.size, descriptor.digest)


def _blob_name(digest: str) -> str:
    algorithm, encoded = digests.split(digest)
    return f"blobs/{algorithm}/{encoded}"


def _copy_closure(content, source: Source, top: oci.Descriptor) -> None:
    pending = [top]
    seen = set()
    while pending:
        d = pending.pop(0)
        if d.digest in seen:
            continue
        seen.add(d.digest)
        with source.open(_blob_name(d.digest)) as f:
            ingest(content, f, d, f"load-{d.digest}")
        if d.mediaType in oci.INDEX_TYPES:
            pending.extend(read_document(content, d, oci.Index).manifests)
        elif d.mediaType in oci.MANIFEST_TYPES:
            m = read_document(content, d, oci.Manifest)
            pending.extend([m.config, *m.layers])


def entry_name(descriptor: oci.Descriptor, repository: str) -> str:
    """The image name for a layout entry: a full name if it has one, else ``repository:tag``."""
    annotations = descriptor.annotations or {}
    full = annotations.get(CONTAINERD_NAME)
    if full:
        return image_name(reference.parse(full, field=f"annotations[{CONTAINERD_NAME!r}]"))
    tag = annotations.get(oci.ANNOTATION_REF_NAME)
    if tag:
        try:
            ref = reference.parse_name(tag)
            if ref.tag or ref.digest or "/" in tag:
                return image_name(reference.parse(tag))
        except InvalidArgument:
            pass
        return image_name(reference.parse(repository).with_tag(tag))
    return f"{reference.parse(repository).name}@{descriptor.digest}"


def import_layout(content, images: ImageStore, source: Source, *, repository: str,
                  explain: Explain | None = None) -> list[str]:
    """Store every image of the layout in ``source``; returns the names given."""
    say = explain or (lambda text: None)
    if not source.exists("oci-layout"):
        raise InvalidArgument("not an OCI image layout (no oci-layout file)", field=source.path)
    version = jsonio.loads(source.read("oci-layout"), source="oci-layout")
    if not isinstance(version, dict) or version.get("imageLayoutVersion") != "1.0.0":
        raise InvalidArgument(f"unsupported imageLayoutVersion in {version!r}", field="oci-layout")
    index = schema.from_json(oci.Index, jsonio.loads(source.read("index.json"), source="index.json"), "index.json")
    names = []
    for i, entry in enumerate(index.manifests):
        digests.validate(entry.digest, field=f"index.json: manifests[{i}].digest")
        _copy_closure(content, source, entry)
        name = entry_name(entry, repository)
        images.put(name, oci.Descriptor(entry.mediaType, entry.digest, entry.size))
        say(f"loaded {name} -> {entry.mediaType} {entry.digest} (every blob verified)")
        names.append(name)
    return names


def write_tar(directory: str, out: BinaryIO) -> None:
    """A reproducible tar of a directory (sorted names, zero times and owners)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for base, dirs, files in os.walk(directory):
            dirs.sort()
            for name in dirs:
                info = tarfile.TarInfo(os.path.relpath(os.path.join(base, name), directory))
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for name in sorted(files):
                path = os.path.join(base, name)
                info = tar.gettarinfo(path, os.path.relpath(path, directory))
                info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                with open(path, "rb") as f:
                    tar.addfile(info, f)
