"""The OCI image specification (v1.1) and Docker's schema 2, as types.

An image is a graph of content-addressed JSON documents and blobs:

* an **index** (or Docker *manifest list*) points at one manifest per platform;
* a **manifest** points at a **config** blob and an ordered list of **layers**;
* each layer is a tar archive (gzip, zstd or uncompressed) of filesystem changes;
* the config holds the runtime defaults (entrypoint, env, user...) and the ``diff_ids``,
  the digests of the *uncompressed* layers, in order.

Every pointer is a :class:`Descriptor`: media type, digest and size, so a reader checks
each blob it fetches against the descriptor that led it there. Field names are the specs'
own; JSON names that are not identifiers (``os.version``) are mapped by ``__json_names__``.
"""

from __future__ import annotations

from boxen.common.record import Record
from boxen.common.schema import I64  # noqa: F401 (used in annotations)

# --- media types -------------------------------------------------------------------------

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDIST,
        OCI_LAYER_NONDIST_GZIP,
        OCI_LAYER_NONDIST_ZSTD,
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN,
    }
)

# --- annotations ---------------------------------------------------------------------------

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"


# --- documents ------------------------------------------------------------------------------


class Platform(Record):
    """The platform an image runs on: ``linux``/``amd64`` and so on."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None
    variant: str | None = None
    features: tuple[str, ...] | None = None
    __json_names__ = {"os_version": "os.version", "os_features": "os.features"}


class Descriptor(Record):
    """A typed, sized, digested pointer to a blob."""

    mediaType: str
    digest: str
    size: I64
    urls: tuple[str, ...] | None = None
    annotations: dict[str, str] | None = None
    data: str | None = None
    platform: Platform | None = None
    artifactType: str | None = None


class Manifest(Record):
    """One image for one platform: its config and its layers, bottom first."""

    schemaVersion: int
    config: Descriptor
    layers: tuple[Descriptor, ...]
    mediaType: str | None = None
    artifactType: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class Index(Record):
    """A list of manifests (one per platform), or the ``index.json`` of an image layout."""

    schemaVersion: int
    manifests: tuple[Descriptor, ...]
    mediaType: str | None = None
    artifactType: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class HealthConfig(Record):
    """Docker's HEALTHCHECK (not part of the OCI config, but kept by every builder)."""

    Test: tuple[str, ...] | None = None
    Interval: I64 | None = None
    Timeout: I64 | None = None
    StartPeriod: I64 | None = None
    StartInterval: I64 | None = None
    Retries: int | None = None


class ContainerConfig(Record):
    """The runtime defaults an image gives its containers (``config`` in the config blob)."""

    User: str | None = None
    ExposedPorts: dict[str, object] | None = None
    Env: tuple[str, ...] | None = None
    Entrypoint: tuple[str, ...] | None = None
    Cmd: tuple[str, ...] | None = None
    Volumes: dict[str, object] | None = None
    WorkingDir: str | None = None
    Labels: dict[str, str] | None = None
    StopSignal: str | None = None
    ArgsEscaped: bool | None = None
    Healthcheck: HealthConfig | None = None
    OnBuild: tuple[str, ...] | None = None
    Shell: tuple[str, ...] | None = None


class RootFS(Record):
    """``type`` is always ``layers``; ``diff_ids`` digest each *uncompressed* layer, in order."""

    type: str
    diff_ids: tuple[str, ...]


class History(Record):
    """How one step of the build made (or did not make) a layer."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfig(Record):
    """The config blob: platform, runtime defaults, layer diff IDs and history."""

    architecture: str
    os: str
    rootfs: RootFS
    created: str | None = None
    author: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None
    variant: str | None = None
    config: ContainerConfig | None = None
    history: tuple[History, ...] | None = None
    __json_names__ = {"os_version": "os.version", "os_features": "os.features"}
