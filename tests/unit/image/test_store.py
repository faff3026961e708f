import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.store import (
    ImageStore,
    find_image,
    format_platform,
    host_platform,
    parse_platform,
    select_manifest,
)
from boxen.oci import image as oci

D1, D2 = "sha256:" + "ab" * 32, "sha256:" + "cd" * 32


@pytest.fixture
def images(tmp_path):
    s = ImageStore(str(tmp_path / "images.db"))
    yield s
    s.close()


def test_put_get_list_delete(images):
    a = images.put("docker.io/library/busybox:latest", oci.Descriptor(oci.OCI_MANIFEST, D1, 10), {"k": "v"})
    assert a.labels == {"k": "v"}
    again = images.put("docker.io/library/busybox:latest", oci.Descriptor(oci.OCI_INDEX, D2, 20))
    assert again.created == a.created and again.target.digest == D2
    images.put("registry.test/x@" + D1, oci.Descriptor(oci.OCI_MANIFEST, D1, 10))
    assert [i.name for i in images.list()] == ["docker.io/library/busybox:latest", "registry.test/x@" + D1]
    assert [i.name for i in images.by_digest(D1)] == ["registry.test/x@" + D1]
    images.delete("registry.test/x@" + D1)
    with pytest.raises(NotFound):
        images.get("registry.test/x@" + D1)


def test_find_image_by_any_spelling(images):
    images.put("docker.io/library/busybox:latest", oci.Descriptor(oci.OCI_MANIFEST, D1, 10))
    images.put("registry.test/app:1", oci.Descriptor(oci.OCI_MANIFEST, D2, 10))
    assert find_image(images, "busybox").name == "docker.io/library/busybox:latest"
    assert find_image(images, "library/busybox:latest").name == "docker.io/library/busybox:latest"
    assert find_image(images, "cdcd").name == "registry.test/app:1"
    assert find_image(images, D1).name == "docker.io/library/busybox:latest"
    with pytest.raises(NotFound):
        find_image(images, "registry.test/app:2")


def test_platforms():
    assert parse_platform("linux/arm/v7") == oci.Platform("arm", "linux", variant="v7")
    assert format_platform(parse_platform("linux/amd64")) == "linux/amd64"
    with pytest.raises(InvalidArgument):
        parse_platform("linux")
    assert host_platform().os == "linux"
    entries = tuple(
        oci.Descriptor(oci.OCI_MANIFEST, d, 1, platform=p)
        for d, p in ((D1, oci.Platform("arm", "linux", variant="v6")), (D2, oci.Platform("arm", "linux", variant="v7")))
    )
    index = oci.Index(2, entries)
    assert select_manifest(index, parse_platform("linux/arm/v7")).digest == D2
    assert select_manifest(index, parse_platform("linux/arm")).digest == D1
    with pytest.raises(NotFound, match="it has: linux/arm/v6, linux/arm/v7"):
        select_manifest(index, parse_platform("linux/amd64"))


def test_an_image_is_found_by_its_image_id_the_digest_of_its_config():
    from boxen.common import jsonio
    from boxen.image.content import put
    from boxen.image.content.memory import MemoryContentStore
    from boxen.image.store import ImageStore, find_image
    from boxen.oci import image as oci

    content = MemoryContentStore()
    config = put(content, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', oci.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                "config": {"mediaType": oci.OCI_CONFIG, "digest": config.digest, "size": config.size}, "layers": []}
    target = put(content, jsonio.dumps(manifest).encode(), oci.OCI_MANIFEST)
    images = ImageStore(":memory:")
    images.put("docker.io/library/built:latest", target)
    image_id = config.digest.removeprefix("sha256:")[:12]
    assert find_image(images, image_id, content).target == target
    assert find_image(images, config.digest, content).target == target
