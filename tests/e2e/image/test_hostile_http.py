"""Registries that break HTTP's rules, stall, talk without end or send the client elsewhere.

Each server here is a loopback socket that answers with raw bytes, so it can do what no
HTTP library would: a chunk size of ``-1``, two Content-Lengths, a bare LF in a header, a
body that never ends or never comes, a redirect to a host that asks for credentials. Each
must end in a clear error, soon, having read a bounded number of bytes, with no credential
sent to a host that is not the registry, and nothing left in the content store.
"""

import hashlib
import json
import os
import socket
import threading
import time

import pytest

from boxen.common.errors import BoxenError
from boxen.image.reference import parse
from boxen.image.registry.client import RegistryClient
from boxen.image.registry.config import RegistryConfig
from support.loopback import LoopbackServer, servers

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
USER, PASSWORD = "boxen", "registry-secret"


class Raw(LoopbackServer):
    """A loopback server: ``answer(method, path, headers, sock)`` writes each answer itself.

    ``requests`` keeps every request head it read (method, path, lowercased headers);
    ``sent`` counts the bytes written through :meth:`write`.
    """

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.sent = 0
        self._current = threading.local()  # the socket each serving thread answers on
        super().__init__()
        self.host = f"127.0.0.1:{self.port}"

    def serve(self, sock: socket.socket) -> None:
        self._current.sock = sock
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                self.requests.append((method, path, headers))
                if self.answer(method, path, headers, self) is False:
                    return
        except OSError:
            pass
        finally:
            sock.close()

    def write(self, data: bytes) -> None:
        # the connection of the request being answered (a retry's new connection must not get
        # the rest of an endless answer still being written on the old one)
        self._current.sock.sendall(data)
        self.sent += len(data)


@pytest.fixture
def raw():
    yield from servers(Raw)


def reply(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body


def client(timeout: float = 60.0) -> RegistryClient:
    return RegistryClient(RegistryConfig({}), credentials=lambda domain: (USER, PASSWORD), sleep=lambda s: None,
                          retries=1, timeout=timeout)


def manifest_of(s: Raw, timeout: float = 60.0):
    with client(timeout) as c:
        return c.repository(parse(f"{s.host}/evil:latest")).fetch_manifest("latest")


def registry(manifest_answer):
    """A registry that answers ``/v2/`` and lets ``manifest_answer(server)`` answer the manifest."""

    def answer(method, path, headers, s):
        if path == "/v2/":
            s.write(reply(200, b"{}"))
        elif "/manifests/" in path:
            return manifest_answer(s)
        else:
            s.write(reply(404))

    return answer


@pytest.mark.parametrize("size", [b"-1", b"0x10", b"1_0", b"+5", b"fffffffffffffffff"])
def test_bad_chunk_sizes_are_refused_and_not_retried(raw, size):
    s = raw(registry(lambda s: s.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size
                                       + b"\r\n{}\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")))
    with pytest.raises(BoxenError, match="bad chunk size line"):
        manifest_of(s)
    assert sum("/manifests/" in path for _, path, _ in s.requests) == 1


@pytest.mark.parametrize(("lengths", "message"), [
    ("Content-Length: 3, 5", "conflicting Content-Length"),
    ("Content-Length: 3\r\nContent-Length: 5", "conflicting Content-Length"),
    ("Content-Length: 5\r\nTransfer-Encoding: chunked", "ambiguous"),
    ("Transfer-Encoding: gzip, chunked", "unsupported Transfer-Encoding"),
])
def test_conflicting_framing_is_refused(raw, lengths, message):
    s = raw(registry(lambda s: s.write(f"HTTP/1.1 200 OK\r\n{lengths}\r\n\r\n{{}}xx".encode())))
    with pytest.raises(BoxenError, match=message):
        manifest_of(s)


@pytest.mark.parametrize("location", [b"/v2/evil/manifests/x\nInjected: 1", b"/v2/evil/manifests/x\rInjected: 1",
                                      b"/v2/evil/manifests/x\x00"])
def test_line_breaks_and_controls_in_a_location_never_reach_the_next_request(raw, location):
    s = raw(registry(lambda s: s.write(b"HTTP/1.1 307 X\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n")))
    with pytest.raises(BoxenError, match="bare CR or LF|control character"):
        manifest_of(s)
    assert not any("injected" in headers for _, _, headers in s.requests)
    assert not any(path.startswith("/v2/evil/manifests/x") for _, path, _ in s.requests)


def test_a_location_with_a_space_is_not_sent(raw):
    s = raw(registry(lambda s: s.write(reply(307, headers=(("Location", "/v2/evil/manifests/a b"),)))))
    with pytest.raises(BoxenError, match="request target"):
        manifest_of(s)
    assert [p for _, p, _ in s.requests if "manifests" in p] == ["/v2/evil/manifests/latest"]


def test_two_different_locations_are_refused(raw):
    s = raw(registry(lambda s: s.write(reply(307, headers=(("Location", "/a"), ("Location", "/b"))))))
    with pytest.raises(BoxenError, match="two different location headers"):
        manifest_of(s)


@pytest.mark.parametrize("before_head", [True, False])
def test_a_stalled_server_ends_in_a_timeout(raw, before_head):
    stop = threading.Event()

    def stall(s):
        if not before_head:
            s.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"sche")
        stop.wait(30)
        return False

    s = raw(registry(stall))
    start = time.monotonic()
    try:
        with pytest.raises(BoxenError, match="timed out"):
            manifest_of(s, timeout=0.5)
    finally:
        stop.set()
    assert time.monotonic() - start < 10  # two attempts of 0.5 s, not the 30 s the server would wait


def endless(chunked: bool):
    def answer(s):
        s.write(b"HTTP/1.1 200 OK\r\n" + (b"Transfer-Encoding: chunked\r\n" if chunked else b"") + b"\r\n")
        piece = b"x" * 65536
        while True:
            s.write(b"10000\r\n" + piece + b"\r\n" if chunked else piece)

    return answer


@pytest.mark.parametrize("chunked", [False, True])
def test_an_endless_manifest_is_cut_at_the_limit(raw, chunked):
    s = raw(registry(endless(chunked)))
    with pytest.raises(BoxenError, match="more than the 4194304 bytes allowed"):
        manifest_of(s)
    assert s.sent < 32 << 20  # what the client read, plus what the socket buffers held


def test_a_huge_content_length_is_refused_before_reading(raw):
    s = raw(registry(lambda s: s.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n" + b"x" * 1000)))
    with pytest.raises(BoxenError, match="2000000000 bytes, more than the 4194304 allowed"):
        manifest_of(s)


def test_an_endless_token_is_cut_at_the_limit(raw):
    def answer(method, path, headers, s):
        if path.startswith("/token"):
            return endless(False)(s)
        s.write(reply(401, headers=(("WWW-Authenticate", f'Bearer realm="http://{s.host}/token",service="r"'),)))

    s = raw(answer)
    with pytest.raises(BoxenError, match="more than the 1048576 bytes allowed"):
        manifest_of(s)


def _redirecting_registry(storage: Raw, scheme: str):
    """A registry asking for ``scheme`` auth whose blobs are redirected to ``storage``."""
    challenge = 'Basic realm="registry"' if scheme == "basic" else None

    def answer(method, path, headers, s):
        if path.startswith("/token"):
            s.write(reply(200, b'{"token": "registry-token"}'))
            return
        authorized = headers.get("authorization") in ("Basic Ym94ZW46cmVnaXN0cnktc2VjcmV0", "Bearer registry-token")
        if not authorized:
            value = challenge or f'Bearer realm="http://{s.host}/token",service="registry"'
            s.write(reply(401, headers=(("WWW-Authenticate", value),)))
        elif "/blobs/" in path:
            s.write(reply(307, headers=(("Location", f"http://{storage.host}/storage{path}"),)))
        else:
            s.write(reply(404))

    return answer


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_credentials_never_go_to_the_host_a_blob_is_redirected_to(raw, scheme):
    def third(method, path, headers, s):
        if path.startswith("/token"):
            s.write(reply(200, b'{"token": "third-party-token"}'))
        else:
            s.write(reply(401, headers=(("WWW-Authenticate", f'Bearer realm="http://{s.host}/token",service="x"'),)))

    storage = raw(third)
    registry_server = raw(_redirecting_registry(storage, scheme))
    data = b"layer"
    from boxen.image.content.memory import MemoryContentStore
    from boxen.oci.image import Descriptor

    blob = Descriptor("application/octet-stream", "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    store = MemoryContentStore()
    with client() as c:
        repo = c.repository(parse(f"{registry_server.host}/evil:latest"))
        with store.writer("w", blob) as writer, pytest.raises(BoxenError, match="only to the registry's own"):
            repo.fetch_blob(blob, writer)
    assert storage.requests, "the blob request reached the storage host"
    for _, path, headers in storage.requests:
        assert "authorization" not in headers
        assert not path.startswith("/token")


def test_a_config_descriptor_of_1_gib_is_refused_before_download(raw, boxen_image):
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64,
              "size": 1 << 30}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config, "layers": []}).encode()

    def answer(method, path, headers, s):
        if "/manifests/" in path:
            s.write(reply(200, manifest, (("Content-Type", MANIFEST_TYPE),)))
        elif "/blobs/" in path:
            endless(False)(s)
        else:
            s.write(reply(200, b"{}"))

    s = raw(answer)
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"is {1 << 30} bytes by its descriptor, more than the 4194304 allowed" in out.stderr
    assert not any("/blobs/" in path for _, path, _ in s.requests)
    ingest = os.path.join(boxen_image.root, "content", "ingest")
    assert not os.path.isdir(ingest) or os.listdir(ingest) == []
    assert boxen_image("ls", "-q").stdout.strip() == ""


def test_a_bad_chunk_size_through_the_cli_is_one_clear_error(raw, boxen_image):
    s = raw(registry(lambda s: s.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n")))
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "bad chunk size line" in out.stderr


def drip(head_done: bool):
    def answer(s):
        if head_done:
            s.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        else:
            s.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(600):  # a byte every 50 ms: 30 s in all, each byte well within the timeout
            s.write(b"x" if head_done else b"X-Drip: 1\r\n"[:1])
            time.sleep(0.05)
        return False

    return answer


@pytest.mark.parametrize("head_done", [False, True])
def test_a_server_that_drips_bytes_ends_in_a_timeout(raw, head_done):
    s = raw(registry(drip(head_done)))
    start = time.monotonic()
    with pytest.raises(BoxenError, match="timed out"):
        manifest_of(s, timeout=1.0)
    assert time.monotonic() - start < 10  # two attempts of about 1 s, not the 30 s of the drip


def test_a_head_without_end_is_refused_at_the_limit(raw):
    def answer(s):
        s.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            s.write(b"X-Padding: " + b"p" * 1000 + b"\r\n")

    s = raw(registry(answer))
    with pytest.raises(BoxenError, match="larger than 65536 bytes"):
        manifest_of(s)
    assert s.sent < 32 << 20


def test_an_error_body_is_read_and_shown_but_only_its_start(raw):
    error = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "m" * 100}]}).encode()
    s = raw(registry(lambda s: s.write(reply(404, error))))
    with pytest.raises(BoxenError, match="MANIFEST_UNKNOWN"):
        manifest_of(s)

    def endless_error(method, path, headers, server):
        if "/manifests/" in path:
            server.write(b"HTTP/1.1 500 X\r\n\r\n")
            while True:
                server.write(b"e" * 65536)
        server.write(reply(200, b"{}"))

    s = raw(endless_error)
    with pytest.raises(BoxenError, match="HTTP 500"):
        manifest_of(s)
    assert s.sent < 64 << 20  # two attempts, each cut at 64 KiB, plus what the socket buffers held


def test_an_endless_chunked_layer_is_cut_at_its_descriptor_size(raw, boxen_image):
    layer = b"honest layer"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()

    def digest(data):
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer),
                    "size": len(layer)}],
    }).encode()

    def answer(method, path, headers, s):
        if "/manifests/" in path:
            s.write(reply(200, manifest, (("Content-Type", MANIFEST_TYPE),)))
        elif path.endswith(digest(config)):
            s.write(reply(200, config))
        elif "/blobs/" in path:
            endless(True)(s)
        else:
            s.write(reply(200, b"{}"))

    s = raw(answer)
    start = time.monotonic()
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert time.monotonic() - start < 60
    assert s.sent < 256 << 20
    assert "got more than the 12 bytes its descriptor declares" in out.stderr
    ingest = os.path.join(boxen_image.root, "content", "ingest")
    assert not os.path.isdir(ingest) or os.listdir(ingest) == []
    assert boxen_image("ls", "-q").stdout.strip() == ""


def test_a_realm_with_a_space_is_not_requested(raw):
    def answer(method, path, headers, s):
        if path.startswith("/to"):
            s.write(reply(200, b'{"token": "t"}'))
        else:
            s.write(reply(401, headers=(("WWW-Authenticate", f'Bearer realm="http://{s.host}/to ken"'),)))

    s = raw(answer)
    with pytest.raises(BoxenError, match="request target"):
        manifest_of(s)
    assert not any(path.startswith("/to") for _, path, _ in s.requests)


def trickle(size: int, piece: bytes, pause: float, pieces: int):
    """An answer of ``Content-Length: size`` whose body comes ``piece`` by ``piece``, ``pause``
    seconds apart, at most ``pieces`` of them (then the connection is closed)."""

    def answer(s):
        s.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        for _ in range(pieces):
            s.write(piece)
            time.sleep(pause)
        return False

    return answer


def test_a_layer_that_trickles_ends_at_the_speed_limit(raw, boxen_image):
    """20 bytes a second, each byte well within the 60 s read timeout: the low-speed rule (here
    1,000 bytes a second over 1 s) ends the pull in about a second, nothing left in the store."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()

    def digest(data):
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "b" * 64,
                    "size": 100000}],
    }).encode()

    def answer(method, path, headers, s):
        if "/manifests/" in path:
            s.write(reply(200, manifest, (("Content-Type", MANIFEST_TYPE),)))
        elif path.endswith(digest(config)):
            s.write(reply(200, config))
        elif "/blobs/" in path:
            return trickle(100000, b"x", 0.05, 600)(s)  # 30 s of drip, unless the client hangs up
        else:
            s.write(reply(200, b"{}"))

    s = raw(answer)
    boxen_image.env.update(BOXEN_HTTP_SPEED_LIMIT="1000", BOXEN_HTTP_SPEED_TIME="1")
    start = time.monotonic()
    out = boxen_image("pull", "--no-unpack", f"{s.host}/evil:latest", check=False)
    elapsed = time.monotonic() - start
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "fewer than the 1000 required" in out.stderr and "BOXEN_HTTP_SPEED_LIMIT" in out.stderr
    assert elapsed < 15, elapsed  # one window of 1 s (not retried), not the 30 s of the drip
    assert sum("/blobs/sha256:bbbb" in path for _, path, _ in s.requests) == 1
    ingest = os.path.join(boxen_image.root, "content", "ingest")
    assert not os.path.isdir(ingest) or os.listdir(ingest) == []
    assert boxen_image("ls", "-q").stdout.strip() == ""


def test_an_add_url_download_that_trickles_ends_at_the_speed_limit(raw, monkeypatch):
    monkeypatch.setenv("BOXEN_HTTP_SPEED_LIMIT", "1000")
    monkeypatch.setenv("BOXEN_HTTP_SPEED_TIME", "0.5")
    s = raw(lambda method, path, headers, s: trickle(100000, b"x", 0.05, 600)(s))
    got = bytearray()
    start = time.monotonic()
    with client() as c, pytest.raises(BoxenError, match="fewer than the 500 required"):
        c.download(f"http://{s.host}/file", got.extend)
    assert time.monotonic() - start < 10
    assert 0 < len(got) < 100


def test_a_slow_but_steady_download_keeps_the_pace_and_completes(raw, monkeypatch):
    monkeypatch.setenv("BOXEN_HTTP_SPEED_LIMIT", "1000")
    monkeypatch.setenv("BOXEN_HTTP_SPEED_TIME", "0.5")
    s = raw(lambda method, path, headers, s: trickle(40 * 4096, b"y" * 4096, 0.05, 40)(s))  # ~80 KB/s for 2 s
    got = bytearray()
    with client() as c:
        c.download(f"http://{s.host}/file", got.extend)
    assert bytes(got) == b"y" * (40 * 4096)


@pytest.mark.parametrize("name, value", [("BOXEN_HTTP_SPEED_LIMIT", "fast"), ("BOXEN_HTTP_SPEED_LIMIT", "-1"),
                                         ("BOXEN_HTTP_SPEED_TIME", "0"), ("BOXEN_HTTP_SPEED_TIME", "nan")])
def test_a_bad_speed_rule_is_a_clear_error_naming_the_variable(raw, boxen_image, name, value):
    s = raw(registry(lambda s: s.write(reply(404))))
    boxen_image.env[name] = value
    out = boxen_image("pull", "--no-unpack", f"{s.host}/x:latest", check=False)
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert name in out.stderr
