import pytest

from boxen.common import digest as digests
from boxen.common.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from boxen.image.registry import protocol
from boxen.image.registry.protocol import Request, Response
from boxen.oci import image as oci

BASE = "http://127.0.0.1:5000"


def test_requests_are_data():
    r = protocol.get_manifest(BASE, "library/busybox", "latest")
    assert (r.method, r.url) == ("GET", f"{BASE}/v2/library/busybox/manifests/latest")
    assert oci.OCI_INDEX in dict(r.headers)["Accept"]
    d = "sha256:" + "0" * 64
    assert protocol.get_blob(BASE, "a/b", d).headers == ()
    assert protocol.get_blob(BASE, "a/b", d, 10).headers == (("Range", "bytes=10-"),)
    m = protocol.start_upload(BASE, "a/b", mount=d, from_repository="c/d")
    assert m.url == f"{BASE}/v2/a/b/blobs/uploads/?mount=sha256%3A{'0' * 64}&from=c%2Fd"
    p = protocol.patch_chunk(f"{BASE}/up/1", b"abcd", 4)
    assert dict(p.headers)["Content-Range"] == "4-7"
    f = protocol.finish_upload(f"{BASE}/up/1?_state=x", d)
    assert f.url == f"{BASE}/up/1?_state=x&digest=sha256%3A{'0' * 64}"
    pm = protocol.put_manifest(BASE, "a/b", "v1", oci.OCI_MANIFEST, b"{}")
    assert (pm.method, dict(pm.headers)["Content-Type"], pm.body) == ("PUT", oci.OCI_MANIFEST, b"{}")


@pytest.mark.parametrize("status, cls", [
    (401, PermissionDenied), (403, PermissionDenied), (404, NotFound), (429, Unavailable), (503, Unavailable),
])
def test_check_maps_errors(status, cls):
    body = b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}'
    with pytest.raises(cls) as exc:
        protocol.check(Request("GET", "http://x/v2/"), Response(status, {}, body), (200,))
    assert exc.value.code == "MANIFEST_UNKNOWN"
    assert "MANIFEST_UNKNOWN: manifest unknown" in str(exc.value)


def test_check_passes_expected():
    r = Response(202, {}, b"")
    assert protocol.check(Request("POST", "x"), r, (202,)) is r


def test_retry_delay():
    assert protocol.retry_delay(0, None) == 0.2
    assert protocol.retry_delay(3, None) == 1.6
    assert protocol.retry_delay(10, None) == 5.0
    assert protocol.retry_delay(0, Response(429, {"retry-after": "3"})) == 3.0


def test_location_resolves_relative():
    r = Response(202, {"location": "/v2/a/blobs/uploads/u?_state=s"})
    assert protocol.location(f"{BASE}/v2/a/blobs/uploads/", r) == f"{BASE}/v2/a/blobs/uploads/u?_state=s"
    with pytest.raises(protocol.RegistryRejected, match="without a Location"):
        protocol.location(BASE, Response(202, {}))


def test_media_type_of():
    assert protocol.media_type_of(b'{"mediaType": "%s"}' % oci.OCI_INDEX.encode(), None) == oci.OCI_INDEX
    assert protocol.media_type_of(b"{}", oci.DOCKER_MANIFEST + "; charset=x") == oci.DOCKER_MANIFEST
    assert protocol.media_type_of(b'{"manifests": []}', "application/json") == oci.OCI_INDEX
    assert protocol.media_type_of(b'{"config": {}, "layers": []}', None) == oci.OCI_MANIFEST


def test_verify_manifest():
    data = b'{"schemaVersion": 2}'
    d = digests.of_bytes(data)
    assert protocol.verify_manifest(data, "latest", None).digest == d
    assert protocol.verify_manifest(data, d, None).size == len(data)
    with pytest.raises(FailedPrecondition, match="expected"):
        protocol.verify_manifest(data, "sha256:" + "1" * 64, None)
    with pytest.raises(FailedPrecondition, match="descriptor says"):
        protocol.verify_manifest(data, d, oci.Descriptor(oci.OCI_MANIFEST, d, len(data) + 1))
    big = b" " * (protocol.MAX_MANIFEST + 1)
    with pytest.raises(Exception, match="more than"):
        protocol.verify_manifest(big, "latest", None)


def test_redirect_keeps_the_method_for_307_and_308():
    get = protocol.get_blob(BASE, "a/b", "sha256:" + "0" * 64, 10)
    for status in (307, 308):
        nxt = protocol.redirect(get, Response(status, {"location": "https://storage.test/o/1?sig=x"}))
        assert (nxt.method, nxt.url, nxt.headers) == ("GET", "https://storage.test/o/1?sig=x", (("Range", "bytes=10-"),))
    put = protocol.finish_upload(f"{BASE}/up/1", "sha256:" + "0" * 64, b"data")
    again = protocol.redirect(put, Response(307, {"location": "/up/2"}))
    assert (again.method, again.url, again.body) == ("PUT", f"{BASE}/up/2", b"data")


def test_redirect_303_becomes_a_get_without_body():
    put = protocol.finish_upload(f"{BASE}/up/1", "sha256:" + "0" * 64, b"data")
    nxt = protocol.redirect(put, Response(303, {"location": "/v2/a/b/blobs/x"}))
    assert (nxt.method, nxt.body, nxt.url) == ("GET", None, f"{BASE}/v2/a/b/blobs/x")
    assert "Content-Length" not in dict(nxt.headers)
    head = protocol.head_blob(BASE, "a/b", "sha256:" + "0" * 64)
    assert protocol.redirect(head, Response(302, {"location": "http://other/x"})).method == "HEAD"


def test_redirect_none_and_bad_locations():
    get = protocol.ping(BASE)
    assert protocol.redirect(get, Response(200, {})) is None
    assert protocol.redirect(get, Response(404, {})) is None
    with pytest.raises(protocol.RegistryRejected, match="without a Location"):
        protocol.redirect(get, Response(307, {}))
    with pytest.raises(protocol.RegistryRejected, match="not an http"):
        protocol.redirect(get, Response(307, {"location": "file:///etc/passwd"}))


def test_same_origin():
    assert protocol.same_origin("http://h/v2/", "http://h:80/v2/x")
    assert protocol.same_origin("https://h:443/a", "https://h/b")
    assert not protocol.same_origin("http://h/a", "https://h/a")
    assert not protocol.same_origin("https://h/a", "https://storage.h/a")
    assert not protocol.same_origin("http://127.0.0.1:5000/a", "http://127.0.0.1:5001/a")
