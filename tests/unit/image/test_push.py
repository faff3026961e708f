import json

import pytest

from boxen.common import digest as digests
from boxen.common.errors import NotFound
from boxen.image.content.memory import MemoryContentStore
from boxen.image.pull import pull
from boxen.image.push import push
from boxen.image.registry.client import RegistryClient
from boxen.image.registry.sources import SOURCE_LABEL
from boxen.image.store import ImageStore
from boxen.image.testing.registry import FakeRegistry, publish
from boxen.oci import image as oci

HOST = "registry.test"
L1, L2 = b"layer-one" * 100, b"layer-two" * 3000


@pytest.fixture
def env(tmp_path):
    registry = FakeRegistry(host=HOST)
    content = MemoryContentStore()
    images = ImageStore(str(tmp_path / "images.db"))
    client = RegistryClient(transport=registry.transport(), sleep=lambda s: None)
    digest = publish(registry, "src", "v1", [L1, L2])
    pull(f"{HOST}/src:v1", content=content, images=images, client=client)
    yield registry, content, images, client, digest
    images.close()


def test_push_mounts_from_source_repository(env):
    registry, content, images, client, digest = env
    assert content.info(digests.of_bytes(L1)).labels == {SOURCE_LABEL + HOST: "src"}
    registry.log.clear()
    result = push(f"{HOST}/src:v1", f"{HOST}/dst:v2", content=content, images=images, client=client)
    assert result.digest == digest and result.mounted == 3 and result.uploaded == 0
    assert registry.manifests["dst"]["v2"][1] == registry.manifests["src"]["v1"][1]
    assert not any(m == "PATCH" for m, _ in registry.log)
    assert content.info(digests.of_bytes(L1)).labels[SOURCE_LABEL + HOST] == "src,dst"
    again = push(f"{HOST}/src:v1", f"{HOST}/dst:v3", content=content, images=images, client=client)
    assert again.existed == 3


@pytest.mark.parametrize("chunk_size", [0, 7000])
def test_push_uploads_to_another_registry(env, chunk_size):
    registry, content, images, client, digest = env
    other = FakeRegistry(host="other.test")
    client2 = RegistryClient(transport=other.transport())
    lines = []
    result = push(f"{HOST}/src:v1", "other.test/copy:latest", content=content, images=images, client=client2,
                  chunk_size=chunk_size, explain=lines.append)
    assert result.uploaded == 3 and result.digest == digest
    assert other.blobs[digests.of_bytes(L2)] == L2
    patches = [m for m, _ in other.log if m == "PATCH"]
    assert len(patches) == (0 if chunk_size == 0 else 4)  # L2 (27000 bytes) in 4 chunks; small blobs in one PUT
    assert other.manifests["copy"]["latest"][0] == oci.OCI_MANIFEST


def test_push_refuses_missing_blobs_and_unknown_images(env):
    registry, content, images, client, digest = env
    content.delete(digests.of_bytes(L2))
    with pytest.raises(NotFound, match="not in the content store"):
        push(f"{HOST}/src:v1", f"{HOST}/x:y", content=content, images=images, client=client)
    with pytest.raises(NotFound):
        push("nothing:here", content=content, images=images, client=client)


def test_push_index_with_all_children(env):
    registry, content, images, client, digest = env
    media, data = registry.manifests["src"][digest]
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "digest": digest, "size": len(data),
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    registry.add_manifest("src", "multi", oci.OCI_INDEX, index)
    pull(f"{HOST}/src:multi", content=content, images=images, client=client)
    other = FakeRegistry(host="other.test")
    push(f"{HOST}/src:multi", "other.test/m:1", content=content, images=images,
         client=RegistryClient(transport=other.transport()))
    assert other.manifests["m"]["1"] == (oci.OCI_INDEX, index)
    assert digest in other.manifests["m"]
