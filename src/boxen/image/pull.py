"""Pull: reference -> index -> platform manifest -> config -> layers, each verified, then unpack.

An image is fetched top-down, and every step is checked against the step before it::

    docker.io/library/busybox:latest
      -> GET manifests/latest             an index: its digest is computed from its bytes
      -> GET manifests/<digest>           the linux/amd64 manifest: must hash to the index's digest
      -> GET blobs/<config digest>        must match the manifest's config descriptor
      -> GET blobs/<layer digest> (xN)    at once, each streamed into the content store, which
                                          refuses bytes that overrun or do not hash to the digest
      -> unpack: layers applied to snapshots named by chain ID (``--no-unpack`` skips it)
      -> image record: name -> index descriptor (last, so a failed pull or unpack names nothing)

Blobs already in the content store are not fetched again, so a second pull of an image,
or a pull of an image sharing layers with one already here, moves only what is new. An
interrupted download leaves its ingest behind and the next pull resumes it with ``Range``
(one abandoned because the server was too slow is dropped instead).
The whole pull holds the data root's GC lock shared, so ``prune`` cannot remove blobs that
no image names yet. :func:`pull` is :func:`fetch` (the registry's part, up to the verified
config) then :func:`finish` (the image record and the unpack), so a caller can open the
local stores while the registry answers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from boxen.common import digest as digests
from boxen.common import jsonio, schema
from boxen.common.errors import AlreadyExists, InvalidArgument, Unimplemented
from boxen.common.record import Record
from boxen.image import content as contents
from boxen.image import reference as references
from boxen.image.progress import Progress, short_id
from boxen.image.registry.client import RegistryClient, Repository
from boxen.image.registry.protocol import MAX_CONFIG, DownloadAbandoned, RegistryRejected
from boxen.image.registry.sources import add_source
from boxen.image.store import ImageStore, format_platform, host_platform, image_name, select_manifest
from boxen.oci import image as oci

Explain = Callable[[str], None]


class PullResult(Record):
    name: str
    target: oci.Descriptor
    manifest: oci.Descriptor
    config: oci.Descriptor
    chain_id: str | None = None
    fetched: int = 0  # blobs downloaded (0: everything was here already)


def _parse(data: bytes, cls: type, descriptor: oci.Descriptor):
    source = f"{descriptor.mediaType} {descriptor.digest}"
    try:
        return schema.from_json(cls, jsonio.loads(data, source=source))
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message, field=f"{source}: {exc.field}" if exc.field else source) from None


def check_manifest(manifest: oci.Manifest, descriptor: oci.Descriptor) -> None:
    """Refuse what cannot be an image: unknown layer types, bad digests, negative sizes."""
    where = f"manifest {descriptor.digest}"
    if manifest.config.mediaType not in oci.CONFIG_TYPES:
        raise Unimplemented(f"config media type {manifest.config.mediaType!r} is not an image config",
                            field=f"{where}: config.mediaType")
    for i, d in enumerate((manifest.config, *manifest.layers)):
        path = "config" if i == 0 else f"layers[{i - 1}]"
        digests.validate(d.digest, field=f"{where}: {path}.digest")
        if d.size < 0:
            raise InvalidArgument(f"negative size {d.size}", field=f"{where}: {path}.size")
        if i and d.mediaType not in oci.LAYER_TYPES:
            raise Unimplemented(f"unsupported layer media type {d.mediaType!r}", field=f"{where}: {path}.mediaType")


class Puller:
    """One pull; see :func:`pull`."""

    def __init__(self, content, repo: Repository, progress: Progress, explain: Explain | None, jobs: int) -> None:
        self.content = content
        self.repo = repo
        self.progress = progress
        self.explain = explain
        self.jobs = jobs
        self.fetched = 0

    def say(self, text: str) -> None:
        if self.explain is not None:
            self.explain(text)

    def label(self, digest: str) -> None:
        add_source(self.content, digest, self.repo.ref.domain, self.repo.ref.path)

    def manifest(self, reference: str, expected: oci.Descriptor | None) -> tuple[oci.Descriptor, bytes]:
        if expected is not None and contents.exists(self.content, expected.digest):
            self.say(f"{expected.mediaType} {expected.digest} is already in the content store")
            return expected, contents.read(self.content, expected.digest)
        descriptor, data = self.repo.fetch_manifest(reference, expected)
        self.say(f"verified {descriptor.mediaType} {descriptor.digest} ({descriptor.size} bytes)")
        if not contents.exists(self.content, descriptor.digest):
            contents.put(self.content, data, descriptor.mediaType)
            self.fetched += 1
        return descriptor, data

    def blob(self, descriptor: oci.Descriptor, key: str | None, what: str) -> None:
        """Fetch one blob; ``key`` names its progress line (``None``: no line, as for the config)."""
        if what == "config" and descriptor.size > MAX_CONFIG:  # read whole afterwards: refused before download
            raise RegistryRejected(f"config {descriptor.digest} is {descriptor.size} bytes by its descriptor, "
                                   f"more than the {MAX_CONFIG} allowed", field="size")
        progress = self.progress if key is not None else Progress()
        key = key or "config"
        try:
            writer = self.content.writer(f"pull-{descriptor.digest}", descriptor)
        except AlreadyExists:
            progress.item(key, "Already exists")
            self.say(f"{what} {descriptor.digest} is already in the content store")
            self.label(descriptor.digest)
            return
        try:
            with writer:
                resumed = writer.offset
                progress.item(key, "Downloading", descriptor.size)
                if resumed:
                    progress.advance(key, resumed)
                    self.say(f"resuming {what} {descriptor.digest} at byte {resumed}")
                self.repo.fetch_blob(descriptor, writer, lambda n: progress.advance(key, n))
        except DownloadAbandoned:
            self.content.abort(writer.ref)  # a server too slow to finish leaves nothing to resume
            raise
        self.fetched += 1
        self.label(descriptor.digest)
        progress.status(key, "Download complete")
        self.say(f"verified {what} {descriptor.digest}: {descriptor.size} bytes, digest matches")

    def blobs(self, manifest: oci.Manifest) -> None:
        jobs: list[tuple[oci.Descriptor, str | None, str]] = [(manifest.config, None, "config")]
        jobs += [(d, short_id(d.digest), f"layer {i + 1}/{len(manifest.layers)} ({d.mediaType})")
                 for i, d in enumerate(manifest.layers)]
        for d in manifest.layers:
            if not contents.exists(self.content, d.digest):
                self.progress.item(short_id(d.digest), "Pulling fs layer")
        run_at_once([functools.partial(self.blob, *job) for job in jobs], self.jobs)


def run_at_once(calls: list[Callable[[], None]], jobs: int) -> None:
    """Run ``calls`` on up to ``jobs`` threads (this one included), in order; when all have
    finished, raise the first one's error, if any.

    A few threads of our own rather than ``concurrent.futures``, which loads ``logging``
    (10 ms of a pull that takes a few hundred).
    """
    pending = list(enumerate(calls))
    pending.reverse()
    errors: list[tuple[int, Exception]] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                index, call = pending.pop()
            try:
                call()
            except Exception as exc:  # noqa: BLE001 (kept for the caller, raised below)
                with lock:
                    errors.append((index, exc))

    helpers = [threading.Thread(target=work, name=f"pull-{n}", daemon=True) for n in range(min(jobs, len(calls)) - 1)]
    for thread in helpers:
        thread.start()
    work()
    for thread in helpers:
        thread.join()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]


class _Extracting:
    """Shows unpack's per-layer callbacks as docker does: ``Extracting`` with a bar, then ``Pull complete``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.done: dict[str, int] = {}

    def __call__(self, event) -> None:
        key = short_id(event.digest)
        if event.status == "applying":
            if key not in self.done:
                self.done[key] = 0
                self.progress.item(key, "Extracting", event.total)
            self.progress.advance(key, event.done - self.done[key])
            self.done[key] = event.done
        elif event.status == "applied":
            self.progress.status(key, "Pull complete")


class Fetched(Record):
    """What :func:`fetch` brought into the content store, verified: ready to be named and unpacked."""

    ref: references.Reference
    target: oci.Descriptor
    manifest_descriptor: oci.Descriptor
    manifest: oci.Manifest
    config: oci.ImageConfig
    fetched: int = 0  # blobs downloaded


def pull(
    reference: str,
    *,
    content,
    images: ImageStore,
    client: RegistryClient,
    platform: oci.Platform | None = None,
    progress: Progress | None = None,
    explain: Explain | None = None,
    snapshotter=None,
    jobs: int = 3,
) -> PullResult:
    """Pull ``reference`` into ``content`` and name it in ``images``; unpack if given a snapshotter."""
    progress = progress or Progress()
    fetched = fetch(reference, content=content, client=client, platform=platform, progress=progress,
                    explain=explain, jobs=jobs)
    return finish(fetched, content=content, images=images, snapshotter=snapshotter, progress=progress,
                  explain=explain)


def fetch(
    reference: str,
    *,
    content,
    client: RegistryClient,
    platform: oci.Platform | None = None,
    progress: Progress,
    explain: Explain | None = None,
    jobs: int = 3,
) -> Fetched:
    """The first half of :func:`pull`: resolve ``reference`` and fetch what is not here yet."""
    ref = references.parse(reference)
    platform = platform or host_platform()
    say = explain or (lambda text: None)
    say(f"pull {ref} (registry {ref.domain}, repository {ref.path}, platform {format_platform(platform)})")
    repo = client.repository(ref)
    say(f"using endpoint {repo.endpoint.url}" + (" (a mirror)" if repo.endpoint.mirror else ""))
    progress.message(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
    puller = Puller(content, repo, progress, explain, jobs)

    target, data = puller.manifest(ref.object, None)
    if ref.digest is None:
        say(f"tag {ref.tag} resolves to {target.digest}")
    manifest_desc, manifest_data = target, data
    if target.mediaType in oci.INDEX_TYPES:
        index = _parse(data, oci.Index, target)
        offered = ", ".join(format_platform(d.platform) for d in index.manifests if d.platform)
        manifest_desc = select_manifest(index, platform)
        say(f"the index offers {offered or 'no platforms'}; chose {format_platform(platform)}: {manifest_desc.digest}")
        manifest_desc, manifest_data = puller.manifest(manifest_desc.digest, manifest_desc)
    elif target.mediaType not in oci.MANIFEST_TYPES:
        raise Unimplemented(f"{ref} is a {target.mediaType!r}, not an image")
    manifest = _parse(manifest_data, oci.Manifest, manifest_desc)
    check_manifest(manifest, manifest_desc)
    puller.blobs(manifest)
    config = _parse(contents.read(content, manifest.config.digest), oci.ImageConfig, manifest.config)
    if len(config.rootfs.diff_ids) != len(manifest.layers):
        raise InvalidArgument(
            f"the config lists {len(config.rootfs.diff_ids)} diff_ids for {len(manifest.layers)} layers",
            field=f"config {manifest.config.digest}: rootfs.diff_ids")
    return Fetched(ref, target, manifest_desc, manifest, config, puller.fetched)


def finish(fetched: Fetched, *, content, images: ImageStore, snapshotter=None, progress: Progress,
           explain: Explain | None = None) -> PullResult:
    """The second half of :func:`pull`: name the image, and unpack it if given a snapshotter."""
    say = explain or (lambda text: None)
    ref, target = fetched.ref, fetched.target
    name = image_name(ref)
    chain_id = None
    if snapshotter is not None:
        from boxen.image.unpack import unpack

        chain_id = unpack(content, snapshotter, fetched.manifest, fetched.config, explain=explain,
                          progress=_Extracting(progress))
    images.put(name, target)  # only now: a name in `ls` means the image is whole (fetched, and unpacked if asked)
    say(f"image {name} -> {target.mediaType} {target.digest}")
    progress.message(f"Digest: {target.digest}")
    status = "Downloaded newer image" if fetched.fetched else "Image is up to date"
    progress.message(f"Status: {status} for {ref.familiar()}")
    progress.close()
    return PullResult(name, target, fetched.manifest_descriptor, fetched.manifest.config, chain_id, fetched.fetched)
