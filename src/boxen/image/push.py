"""Push: blobs first, then manifests, then the tag: the reverse of a pull.

A registry accepts a manifest only when every blob it points at is already in the
repository, so a push goes bottom-up::

    for each blob (config and layers, several at once):
        HEAD blobs/<digest>              200: the repository has it ("Layer already exists")
        POST uploads/?mount=<d>&from=<r> 201: mounted from another repository of the same
                                          registry without sending a byte ("Mounted from r")
        POST uploads/ -> PATCH ... -> PUT ?digest=<d>   upload ("Pushing", "Pushed")
    PUT manifests/<digest> for each platform manifest of an index
    PUT manifests/<tag>                  the image itself, under its tag

A cross-repository mount needs to know where the blob already is: the puller records, on
every blob, the repositories of each registry it was pulled from or pushed to, in the
content label ``boxen.io/distribution.source.<registry>`` (:mod:`.registry.sources`).

Uploads are monolithic (one ``PUT`` with the whole blob) unless a chunk size is given, in
which case the blob goes up in ``PATCH`` requests of that size with ``Content-Range``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from boxen.common.errors import NotFound
from boxen.common.record import Record
from boxen.image import content as contents
from boxen.image import reference as references
from boxen.image.progress import Progress, short_id
from boxen.image.registry.client import RegistryClient, Repository
from boxen.image.registry.sources import add_source, sources
from boxen.image.store import ImageStore, find_image, read_document, resolve
from boxen.oci import image as oci

Explain = Callable[[str], None]


class PushResult(Record):
    reference: str
    digest: str
    size: int
    uploaded: int = 0
    mounted: int = 0
    existed: int = 0


class Pusher:
    def __init__(self, content, repo: Repository, progress: Progress, explain: Explain | None,
                 chunk_size: int, jobs: int) -> None:
        self.content = content
        self.repo = repo
        self.progress = progress
        self.explain = explain
        self.chunk_size = chunk_size
        self.jobs = jobs
        self.counts = {"uploaded": 0, "mounted": 0, "existed": 0}

    def say(self, text: str) -> None:
        if self.explain is not None:
            self.explain(text)

    def blob(self, descriptor: oci.Descriptor) -> None:
        key = short_id(descriptor.digest)
        ref = self.repo.ref
        if self.repo.blob_exists(descriptor.digest):
            self.progress.status(key, "Layer already exists")
            self.counts["existed"] += 1
            self.say(f"{ref.path} already has {descriptor.digest}")
            return
        location = None
        for source in sources(self.content.info(descriptor.digest).labels, ref.domain):
            if source == ref.path:
                continue
            location = self.repo.mount_blob(descriptor.digest, source)
            if location is None:
                self.progress.status(key, f"Mounted from {source}")
                self.counts["mounted"] += 1
                self.say(f"mounted {descriptor.digest} from {source}: no bytes sent")
                add_source(self.content, descriptor.digest, ref.domain, ref.path)
                return
            self.say(f"the registry would not mount {descriptor.digest} from {source}; uploading")
            break
        self.progress.item(key, "Pushing", descriptor.size)
        self.repo.upload_blob(
            descriptor, lambda: self.content.reader(descriptor.digest), location=location,
            chunk_size=self.chunk_size, advance=lambda n: self.progress.advance(key, n),
        )
        self.progress.status(key, "Pushed")
        self.counts["uploaded"] += 1
        how = f"in chunks of {self.chunk_size} bytes" if self.chunk_size and descriptor.size > self.chunk_size else "in one request"
        self.say(f"uploaded {descriptor.digest} ({descriptor.size} bytes, {how})")
        add_source(self.content, descriptor.digest, ref.domain, ref.path)

    def blobs(self, descriptors: list[oci.Descriptor]) -> None:
        unique = list({d.digest: d for d in descriptors}.values())
        for d in unique:
            self.progress.item(short_id(d.digest), "Preparing")
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            futures = [pool.submit(self.blob, d) for d in unique]
        for future in futures:  # all have finished: re-raise the first failure
            future.result()

    def manifest(self, descriptor: oci.Descriptor, reference: str) -> None:
        data = contents.read(self.content, descriptor.digest)
        self.repo.put_manifest(reference, descriptor.mediaType, data)
        self.say(f"put {descriptor.mediaType} {descriptor.digest} as {reference}")


def _plan(content, target: oci.Descriptor, platform) -> tuple[oci.Descriptor, list[oci.Descriptor]]:
    """What to send: the top descriptor and the manifests under it that are all stored here."""
    if target.mediaType in oci.INDEX_TYPES:
        manifests = list(read_document(content, target, oci.Index).manifests)
        if all(contents.exists(content, m.digest) for m in manifests):
            return target, manifests
        manifest_desc, _, _ = resolve(content, target, platform)
        return manifest_desc, [manifest_desc]
    return target, [target]


def push(
    source: str,
    destination: str | None = None,
    *,
    content,
    images: ImageStore,
    client: RegistryClient,
    platform: oci.Platform | None = None,
    progress: Progress | None = None,
    explain: Explain | None = None,
    chunk_size: int = 0,
    jobs: int = 3,
) -> PushResult:
    """Push the local image ``source`` to ``destination`` (default: its own name)."""
    progress = progress or Progress()
    say = explain or (lambda text: None)
    image = find_image(images, source, content)
    ref = references.parse(destination or image.name, field="destination")
    top, manifests = _plan(content, image.target, platform)
    if top is not image.target:
        say(f"only the {platform or 'host'} platform of index {image.target.digest} is stored here; pushing "
            f"manifest {top.digest}")
    if ref.digest and ref.digest != top.digest:
        raise NotFound(f"{ref} names digest {ref.digest}, but the image is {top.digest}", field="destination")
    repo = client.repository(ref, push=True)
    progress.message(f"The push refers to repository [{ref.name}]")
    pusher = Pusher(content, repo, progress, explain, chunk_size, jobs)
    blobs: list[oci.Descriptor] = []
    for m in manifests:
        manifest = read_document(content, m, oci.Manifest)
        for d in (manifest.config, *manifest.layers):
            if not contents.exists(content, d.digest):
                raise NotFound(f"blob {d.digest} of {image.name} is not in the content store", field="image")
            blobs.append(d)
    pusher.blobs(blobs)
    if top is not manifests[0] or len(manifests) > 1:
        for m in manifests:
            pusher.manifest(m, m.digest)
    pusher.manifest(top, ref.tag or top.digest)
    progress.message(f"{ref.tag or 'digest'}: digest: {top.digest} size: {top.size}")
    progress.close()
    return PushResult(str(ref), top.digest, top.size, **pusher.counts)
