"""``docker save`` archives: images in one tar file, both ways.

A docker-save archive is a tar holding, for every image, its config and its layers as
**uncompressed** tars, tied together by ``manifest.json``::

    manifest.json       [{"Config": "blobs/sha256/<config>", "RepoTags": ["busybox:latest"],
                          "Layers": ["blobs/sha256/<diff id>", ...]}]
    repositories        {"busybox": {"latest": "<top layer>"}}   (for old docker versions)
    blobs/sha256/...    the config, each layer (named by its diff ID), the manifest

Since layers are stored uncompressed, each layer's file digest *is* its diff ID from the
config, so a loader can check every layer against the config it came with. Docker 25 and
later write their archives this way, with ``oci-layout`` and ``index.json`` beside
``manifest.json``, so that the same tar is also an OCI image layout: :func:`save` does the
same, and ``podman load``, ``docker load`` and ``skopeo copy oci-archive:`` all read it.

:func:`load` reads either kind of archive (and older ones with ``<id>/layer.tar`` paths,
compressed or not): layers are stored as they are in the archive, after checking that each
one's uncompressed digest is the diff ID its config lists. Nothing is written to the file
system outside the content store: members are read by name, never extracted.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

import zstandard

from boxen.common import digest as digests
from boxen.common import jsonio, schema
from boxen.common.errors import InvalidArgument, NotFound, Unimplemented
from boxen.image import content as contents
from boxen.image import layout, reference
from boxen.image.store import Image, ImageStore, image_name, resolve
from boxen.oci import image as oci

Explain = Callable[[str], None]
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


class Decompressor:
    """Streaming gzip/zstd/identity decompression that notices truncated input."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._z: Any = None
        if kind == "gzip":
            self._z = zlib.decompressobj(wbits=31)
        elif kind == "zstd":
            self._z = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        if self.kind == "tar":
            return data
        if self.kind == "gzip":
            out = self._z.decompress(data)
            while self._z.eof and self._z.unused_data:  # concatenated gzip members
                rest = self._z.unused_data
                self._z = zlib.decompressobj(wbits=31)
                out += self._z.decompress(rest)
            return out
        return self._z.decompress(data)

    def finish(self, what: str) -> None:
        if self.kind == "gzip" and not self._z.eof:
            raise InvalidArgument("truncated gzip stream", field=what)
        if self.kind == "zstd" and not self._z.eof:
            raise InvalidArgument("truncated zstd stream", field=what)


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head[:3] in (b"BZh", b"\xfd7z"):
        raise Unimplemented("bzip2 and xz layers are not supported (gzip, zstd or plain tar)")
    return "tar"


_KIND_OF = {oci.OCI_LAYER: "tar", oci.OCI_LAYER_NONDIST: "tar", oci.OCI_LAYER_ZSTD: "zstd"}
_MEDIA_TYPE = {"tar": oci.OCI_LAYER, "gzip": oci.OCI_LAYER_GZIP, "zstd": oci.OCI_LAYER_ZSTD}


# --- save ---------------------------------------------------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _uncompressed_layer(content, layer: oci.Descriptor, diff_id: str, tmp: BinaryIO) -> int:
    """Decompress ``layer`` into ``tmp``, checking it against ``diff_id``; returns the size."""
    d = Decompressor(_KIND_OF.get(layer.mediaType, "zstd" if "zstd" in layer.mediaType else "gzip"))
    h = hashlib.new(digests.split(diff_id)[0])
    size = 0
    with content.reader(layer.digest) as f:
        while chunk := f.read(_CHUNK):
            out = d.feed(chunk)
            h.update(out)
            tmp.write(out)
            size += len(out)
    d.finish(f"layer {layer.digest}")
    actual = f"{h.name}:{h.hexdigest()}"
    if actual != diff_id:
        raise InvalidArgument(f"layer {layer.digest} uncompresses to {actual}, but the config says {diff_id}",
                              field="rootfs.diff_ids")
    tmp.seek(0)
    return size


def save(content, images: list[Image], out_path: str, *, platform=None, explain: Explain | None = None) -> None:
    """Write ``images`` as a docker-save archive (that is also an OCI layout) to ``out_path``."""
    say = explain or (lambda text: None)
    directory = os.path.dirname(os.path.abspath(out_path))
    entries: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[dict] = []
    written: set[str] = set()
    fd, tmp_path = tempfile.mkstemp(prefix=".boxen-save-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for image in images:
                _, manifest, config = resolve(content, image.target, platform)
                config_bytes = contents.read(content, manifest.config.digest)
                config_name = "blobs/" + manifest.config.digest.replace(":", "/")
                if config_name not in written:
                    _add_bytes(tar, config_name, config_bytes)
                    written.add(config_name)
                layers = []
                for layer, diff_id in zip(manifest.layers, config.rootfs.diff_ids):
                    name = "blobs/" + diff_id.replace(":", "/")
                    with tempfile.TemporaryFile(dir=directory) as tmp:
                        size = _uncompressed_layer(content, layer, diff_id, tmp)
                        if name not in written:
                            info = tarfile.TarInfo(name)
                            info.size, info.mode = size, 0o644
                            tar.addfile(info, tmp)
                            written.add(name)
                            say(f"{image.name}: layer {layer.digest} -> {name} (uncompressed, {size} bytes, "
                                f"diff ID verified)")
                    layers.append(oci.Descriptor(oci.OCI_LAYER, diff_id, size))
                archive_manifest = jsonio.dumps(schema.to_json(oci.Manifest(
                    2, oci.Descriptor(oci.OCI_CONFIG, manifest.config.digest, len(config_bytes)), tuple(layers),
                    mediaType=oci.OCI_MANIFEST))).encode()
                manifest_digest = digests.of_bytes(archive_manifest)
                if "blobs/" + manifest_digest.replace(":", "/") not in written:
                    _add_bytes(tar, "blobs/" + manifest_digest.replace(":", "/"), archive_manifest)
                    written.add("blobs/" + manifest_digest.replace(":", "/"))
                ref = reference.parse(image.name) if "@" not in image.name else None
                tags = [ref.familiar()] if ref is not None and ref.tag else []
                entries.append({"Config": config_name, "RepoTags": tags, "Layers": [
                    "blobs/" + d.digest.replace(":", "/") for d in layers]})
                if ref is not None and ref.tag and layers:
                    repo = ref.familiar().rsplit(":", 1)[0]
                    repositories.setdefault(repo, {})[ref.tag] = layers[-1].digest.partition(":")[2]
                annotations = {layout.CONTAINERD_NAME: image.name}
                if ref is not None and ref.tag:
                    annotations[oci.ANNOTATION_REF_NAME] = ref.tag
                index.append({"mediaType": oci.OCI_MANIFEST, "digest": manifest_digest,
                              "size": len(archive_manifest), "annotations": annotations})
            _add_bytes(tar, "manifest.json", jsonio.dumps(entries).encode())
            _add_bytes(tar, "repositories", jsonio.dumps(repositories).encode())
            _add_bytes(tar, "oci-layout", jsonio.dumps(layout.LAYOUT_VERSION).encode())
            _add_bytes(tar, "index.json", jsonio.dumps(
                {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": index}).encode())
        os.replace(tmp_path, out_path)
    except BaseException:
        os.unlink(tmp_path)
        raise


# --- load ----------------------------------------------------------------------------------------


def _load_layer(content, source: layout.Source, path: str, diff_id: str, where: str) -> oci.Descriptor:
    ref = f"load-{hashlib.sha256(f'{source.path}:{path}'.encode()).hexdigest()}"
    with source.open(path) as f:
        head = f.read(_CHUNK)
        kind = sniff(head)
        d = Decompressor(kind)
        diff_hash = hashlib.new(digests.split(diff_id)[0])
        writer = content.writer(ref)
        try:
            if writer.offset:
                writer.close()
                content.abort(ref)
                writer = content.writer(ref)
            raw = hashlib.sha256()
            chunk = head
            while chunk:
                writer.write(chunk)
                raw.update(chunk)
                diff_hash.update(d.feed(chunk))
                chunk = f.read(_CHUNK)
            d.finish(f"{where}: {path}")
            actual = f"{diff_hash.name}:{diff_hash.hexdigest()}"
            if actual != diff_id:
                raise InvalidArgument(f"{path} uncompresses to {actual}, but the config lists {diff_id}", field=where)
            digest = f"sha256:{raw.hexdigest()}"
            writer.commit(writer.offset, digest)
        except BaseException:
            writer.close()
            try:
                content.abort(ref)
            except NotFound:  # a failed commit has dropped the ingest already
                pass
            raise
    return oci.Descriptor(_MEDIA_TYPE[kind], digest, writer.offset)


def load_docker(content, images: ImageStore, source: layout.Source, *, repository: str,
                explain: Explain | None = None) -> list[str]:
    """Store every image listed in the archive's ``manifest.json``; returns the names given."""
    say = explain or (lambda text: None)
    entries = jsonio.loads(source.read("manifest.json"), source="manifest.json")
    if not isinstance(entries, list):
        raise InvalidArgument("expected an array", field="manifest.json")
    names = []
    for i, entry in enumerate(entries):
        where = f"manifest.json[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or not isinstance(
                entry.get("Layers"), list):
            raise InvalidArgument("expected an object with Config and Layers", field=where)
        config_bytes = source.read(entry["Config"])
        config = schema.from_json(oci.ImageConfig, jsonio.loads(config_bytes, source=entry["Config"]), entry["Config"])
        paths = entry["Layers"]
        if len(paths) != len(config.rootfs.diff_ids):
            raise InvalidArgument(f"{len(paths)} layers, but the config lists {len(config.rootfs.diff_ids)} diff_ids",
                                  field=where)
        layers = []
        for path, diff_id in zip(paths, config.rootfs.diff_ids):
            layers.append(_load_layer(content, source, path, diff_id, where))
            say(f"layer {path}: {layers[-1].mediaType} {layers[-1].digest}, diff ID {diff_id} verified")
        config_desc = contents.put(content, config_bytes, oci.OCI_CONFIG)
        manifest = jsonio.dumps(schema.to_json(oci.Manifest(2, config_desc, tuple(layers),
                                                            mediaType=oci.OCI_MANIFEST))).encode()
        target = contents.put(content, manifest, oci.OCI_MANIFEST)
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        for name in [image_name(reference.parse(t, field=f"{where}.RepoTags")) for t in tags] or [
                f"{reference.parse(repository).name}@{target.digest}"]:
            images.put(name, target)
            say(f"loaded {name} -> {target.digest}")
            names.append(name)
    return names


def load(content, images: ImageStore, path: str, *, repository: str = "localhost/loaded",
         explain: Explain | None = None) -> list[str]:
    """Load a docker-save archive, an OCI archive (tar of a layout) or an OCI layout directory."""
    try:
        source = layout.Source(path)
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArgument(f"not a directory or a tar archive: {exc}", field=path) from None
    try:
        if source.exists("manifest.json"):
            return load_docker(content, images, source, repository=repository, explain=explain)
        if source.exists("index.json"):
            return layout.import_layout(content, images, source, repository=repository, explain=explain)
        raise InvalidArgument("neither a docker-save archive (manifest.json) nor an OCI layout (index.json)",
                              field=path)
    finally:
        source.close()
