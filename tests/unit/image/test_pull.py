import gzip
import io
import json
import random
import tarfile

import pytest

from boxen.common import digest as digests
from boxen.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unimplemented
from boxen.image.content.memory import MemoryContentStore
from boxen.image.progress import JSONProgress
from boxen.image.pull import pull, run_at_once
from boxen.image.registry.client import RegistryClient
from boxen.image.store import ImageStore, resolve
from boxen.image.testing.registry import FakeRegistry, image, publish
from boxen.oci import image as oci

HOST = "registry.test"


def layer(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


L1 = layer("a", random.Random(1).randbytes(3000))
L2 = layer("b", random.Random(2).randbytes(50_000))


@pytest.fixture
def env(tmp_path):
    registry = FakeRegistry(host=HOST)
    content = MemoryContentStore()
    images = ImageStore(str(tmp_path / "images.db"))
    sleeps = []
    client = RegistryClient(transport=registry.transport(), sleep=sleeps.append)
    yield registry, content, images, client, sleeps
    images.close()


def do_pull(env, ref, **kw):
    registry, content, images, client, _ = env
    return pull(ref, content=content, images=images, client=client, **kw)


def test_pull_manifest_config_layers(env):
    registry, content, images, *_ = env
    digest = publish(registry, "app", "v1", [L1, L2], layer_type=oci.OCI_LAYER_GZIP)
    lines = []
    result = do_pull(env, f"{HOST}/app:v1", explain=lines.append)
    assert result.name == f"{HOST}/app:v1" and result.target.digest == digest and result.fetched == 4
    assert images.get(f"{HOST}/app:v1").target.digest == digest
    for blob in (L1, L2):
        assert content.info(digests.of_bytes(blob)).size == len(blob)
    _, manifest, config = resolve(content, result.target)
    assert len(manifest.layers) == 2 and config.rootfs.diff_ids
    assert any("verified layer 1/2" in line for line in lines)
    registry.log.clear()
    again = do_pull(env, f"{HOST}/app:v1")
    assert again.fetched == 0
    assert [m for m, p in registry.log if "/blobs/" in p] == []


def test_pull_by_digest_and_docker_types(env):
    registry, content, images, *_ = env
    digest = publish(registry, "d", "t", [L1], media_type=oci.DOCKER_MANIFEST, layer_type=oci.DOCKER_LAYER_GZIP)
    result = do_pull(env, f"{HOST}/d@{digest}")
    assert result.name == f"{HOST}/d@{digest}" and result.target.mediaType == oci.DOCKER_MANIFEST


def test_pull_selects_platform_from_index(env):
    registry, content, images, *_ = env
    amd = publish(registry, "multi", "amd", [L1])
    arm = publish(registry, "multi", "arm", [L2])
    manifests = [
        {"mediaType": oci.OCI_MANIFEST, "digest": d, "size": len(registry.manifests["multi"][d][1]),
         "platform": {"os": "linux", "architecture": a}} for d, a in ((arm, "arm64"), (amd, "amd64"))
    ]
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": manifests}).encode()
    idx = registry.add_manifest("multi", "latest", oci.OCI_INDEX, index)
    result = do_pull(env, f"{HOST}/multi", platform=oci.Platform("arm64", "linux"))
    assert result.target.digest == idx and result.manifest.digest == arm
    assert content.info(digests.of_bytes(L2))
    with pytest.raises(NotFound, match="linux/s390x"):
        do_pull(env, f"{HOST}/multi", platform=oci.Platform("s390x", "linux"))


def test_registry_serving_other_bytes_is_refused(env):
    registry, content, images, *_ = env
    publish(registry, "evil", "t", [L1])
    registry.corrupt[digests.of_bytes(L1)] = b"x" * len(L1)
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        do_pull(env, f"{HOST}/evil:t")
    with pytest.raises(NotFound):
        content.info(digests.of_bytes(L1))
    with pytest.raises(NotFound):
        images.get(f"{HOST}/evil:t")
    assert content.statuses() == []
    del registry.corrupt[digests.of_bytes(L1)]
    assert do_pull(env, f"{HOST}/evil:t").fetched == 1


def test_oversized_blob_is_refused_before_writing(env):
    registry, content, *_ = env
    publish(registry, "big", "t", [L1])
    registry.corrupt[digests.of_bytes(L1)] = L1 + b"x" * 100
    with pytest.raises(FailedPrecondition, match="registry sends"):
        do_pull(env, f"{HOST}/big:t")


def test_manifest_with_wrong_digest_is_refused(env):
    registry, *_ = env
    digest = publish(registry, "m", "t", [L1])
    media, data = registry.manifests["m"][digest]
    registry.manifests["m"][digest] = (media, data + b" ")
    with pytest.raises(FailedPrecondition, match="expected"):
        do_pull(env, f"{HOST}/m@{digest}")


def test_bad_manifest_documents(env):
    registry, *_ = env
    manifest, config = image([L1])
    doc = json.loads(manifest)
    doc["layers"][0]["mediaType"] = "application/x-unknown"
    registry.add_manifest("bad", "layertype", oci.OCI_MANIFEST, json.dumps(doc).encode())
    with pytest.raises(Unimplemented, match="layers\\[0\\].mediaType"):
        do_pull(env, f"{HOST}/bad:layertype")
    doc = json.loads(manifest)
    del doc["config"]
    registry.add_manifest("bad", "noconfig", oci.OCI_MANIFEST, json.dumps(doc).encode())
    with pytest.raises(InvalidArgument, match="config: is required"):
        do_pull(env, f"{HOST}/bad:noconfig")
    registry.add_blob("bad", config)
    registry.add_blob("bad", L1)
    m2, _ = image([L1], diff_ids=["sha256:" + "1" * 64, "sha256:" + "2" * 64])
    c2 = json.loads(m2)["config"]
    registry.add_blob("bad", image([L1], diff_ids=["sha256:" + "1" * 64, "sha256:" + "2" * 64])[1])
    registry.add_manifest("bad", "diffids", oci.OCI_MANIFEST, m2)
    with pytest.raises(InvalidArgument, match="2 diff_ids for 1 layers"):
        do_pull(env, f"{HOST}/bad:diffids")
    assert c2


def test_retries_on_5xx_and_resumes_cut_download(env):
    registry, content, images, client, sleeps = env
    publish(registry, "flaky", "t", [L2])
    registry.failures = [503, 502]
    registry.cut_after[digests.of_bytes(L2)] = 1000
    lines = []
    client.explain = lines.append
    do_pull(env, f"{HOST}/flaky:t")
    assert content.info(digests.of_bytes(L2)).size == len(L2)
    assert sleeps[:2] == [0.2, 0.4]
    assert any("cut at byte 1000" in line for line in lines)
    assert ("GET", f"/v2/flaky/blobs/{digests.of_bytes(L2)}") in registry.log


def test_resume_when_server_ignores_range(env):
    registry, content, *_ = env
    publish(registry, "r", "t", [L2])
    registry.cut_after[digests.of_bytes(L2)] = 1000
    registry.ignore_range = True
    do_pull(env, f"{HOST}/r:t")
    assert content.info(digests.of_bytes(L2)).size == len(L2)


def test_gives_up_after_retries(env):
    registry, content, images, client, sleeps = env
    publish(registry, "down", "t", [L1])
    registry.failures = [500] * 10
    with pytest.raises(Exception, match="HTTP 500"):
        do_pull(env, f"{HOST}/down:t")


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_authentication(tmp_path, scheme):
    registry = FakeRegistry(host=HOST, auth=scheme, users={"alice": "secret"})
    publish(registry, "private", "t", [L1])
    content, images = MemoryContentStore(), ImageStore(str(tmp_path / "i.db"))
    anonymous = RegistryClient(transport=registry.transport())
    with pytest.raises(PermissionDenied):
        pull(f"{HOST}/private:t", content=content, images=images, client=anonymous)
    registry.log.clear()
    lines = []
    client = RegistryClient(transport=registry.transport(), credentials=lambda d: ("alice", "secret"),
                            explain=lines.append)
    pull(f"{HOST}/private:t", content=content, images=images, client=client)
    assert any("401" in line for line in lines)
    token_requests = [p for m, p in registry.log if p == "/token"]
    assert len(token_requests) == (1 if scheme == "bearer" else 0)


def test_progress_json_lines(env):
    registry, *_ = env
    publish(registry, "p", "t", [L1])
    out = io.StringIO()
    do_pull(env, f"{HOST}/p:t", progress=JSONProgress(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {"status": "t: Pulling from p"}
    statuses = [e["status"] for e in events if e.get("id") == digests.of_bytes(L1)[7:19]]
    assert statuses[0] == "Pulling fs layer" and "Download complete" in statuses
    assert events[-1]["status"].startswith("Status: Downloaded newer image for registry.test/p:t")


def test_blob_redirected_to_storage_gets_no_credentials(tmp_path):
    registry = FakeRegistry(host=HOST, auth="bearer", users={"alice": "secret"}, storage="storage.test")
    publish(registry, "private", "t", [L1, L2])
    content, images = MemoryContentStore(), ImageStore(str(tmp_path / "i.db"))
    lines = []
    client = RegistryClient(transport=registry.transport(), credentials=lambda d: ("alice", "secret"),
                            explain=lines.append)
    pull(f"{HOST}/private:t", content=content, images=images, client=client)
    images.close()
    assert content.info(digests.of_bytes(L2)).size == len(L2)
    stored = [r for r in registry.requests if r.url.startswith("https://storage.test/")]
    assert len(stored) == 3  # config and two layers
    assert all("authorization" not in r.headers for r in stored)
    blob_gets = [r for r in registry.requests if "/v2/private/blobs/" in r.url]
    assert blob_gets and all(r.headers["authorization"] == "Bearer fake-token" for r in blob_gets)
    assert any("-> 307: redirected to https://storage.test/objects/" in line for line in lines)


def test_resume_after_redirect_asks_storage_for_the_rest(env):
    registry, content, *_ = env
    registry.storage = "storage.test"
    publish(registry, "r", "t", [L2])
    registry.cut_after[digests.of_bytes(L2)] = 1000
    do_pull(env, f"{HOST}/r:t")
    assert content.info(digests.of_bytes(L2)).size == len(L2)
    ranges = [r.headers.get("range") for r in registry.requests if r.url.startswith("https://storage.test/")]
    assert "bytes=1000-" in ranges


def test_run_at_once_limits_threads_and_raises_the_first_error_in_order():
    import threading
    import time

    running, most, done = [0], [0], []
    lock = threading.Lock()

    def job(n, fail=False):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
            done.append(n)
        if fail:
            raise ValueError(f"job {n}")

    run_at_once([lambda n=n: job(n) for n in range(7)], 3)
    assert sorted(done) == list(range(7)) and most[0] == 3
    done.clear()
    with pytest.raises(ValueError, match="job 2"):
        run_at_once([lambda n=n: job(n, fail=n in (2, 4)) for n in range(6)], 2)
    assert sorted(done) == list(range(6))  # the others still ran
    run_at_once([], 3)


def test_fetch_needs_no_image_store_and_finish_names_the_image(env):
    from boxen.image.progress import Progress
    from boxen.image.pull import fetch, finish

    registry, content, images, client, _ = env
    digest = publish(registry, "split", "v1", [L1])
    fetched = fetch(f"{HOST}/split:v1", content=content, client=client, progress=Progress())
    assert fetched.target.digest == digest and fetched.fetched == 3
    with pytest.raises(NotFound):
        images.get(f"{HOST}/split:v1")
    result = finish(fetched, content=content, images=images, progress=Progress())
    assert images.get(result.name).target.digest == digest and result.chain_id is None


def test_failed_unpack_names_no_image(env, tmp_path):
    from boxen.image.snapshots import open_snapshotter

    registry, content, images, client, _ = env
    bad = layer("c", b"x" * 100)
    digest = publish(registry, "broken", "v1", [bad])
    snapshotter = open_snapshotter(str(tmp_path / "snapshots"), "native")
    from boxen.image.progress import Progress
    from boxen.image.pull import fetch, finish

    fetched = fetch(f"{HOST}/broken:v1", content=content, client=client, progress=Progress())
    # the config that reaches unpack names another diff ID: the layer fails to verify
    wrong = fetched.config.rootfs.diff_ids[0][:-4] + "0000"
    config = fetched.config.replace(rootfs=fetched.config.rootfs.replace(diff_ids=(wrong,)))
    with pytest.raises(InvalidArgument, match="diff_ids"):
        finish(fetched.replace(config=config), content=content, images=images, snapshotter=snapshotter,
               progress=Progress())
    with pytest.raises(NotFound):
        images.get(f"{HOST}/broken:v1")
    assert [i.name for i in images.list()] == [] and digest
    assert list(snapshotter.walk()) == []
    snapshotter.close()
