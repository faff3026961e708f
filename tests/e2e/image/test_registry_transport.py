"""The registry client's HTTP transport against small loopback servers: keep-alive, chunked
bodies, idle connections the server closed, abandoned bodies, timeouts, redirects to
another host (without credentials) and resumed downloads."""

import hashlib
import http.server
import shutil
import socket
import ssl
import threading
import time

import pytest

from boxen.image.content.memory import MemoryContentStore
from boxen.image.reference import parse
from boxen.image.registry.client import RegistryClient
from boxen.image.registry.config import RegistryConfig, TLSFiles
from boxen.image.registry.transport import HTTPTransport, TransportError
from boxen.oci.image import Descriptor
from support.registry import make_ca

BLOB = bytes(range(256)) * 4096  # 1 MiB: more than the transport reads at once
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients that go away (the tests make them) are no news


class Server:
    """A loopback HTTP/1.1 server; ``answer(handler)`` decides each response."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None) -> None:
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def _any(self) -> None:
                server.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer(self)

            do_GET = do_HEAD = do_PUT = _any

            def log_message(self, *args) -> None:
                pass

        self.httpd = _Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(answer, tls=None):
        servers.append(Server(answer, tls))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def send(h, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def test_one_connection_serves_many_requests(serve):
    s = serve(lambda h: send(h, 200, b"hello " + h.path.encode()))
    t = HTTPTransport()
    try:
        for i in range(5):
            reply = t.send("GET", f"{s.url}/x{i}", {})
            assert (reply.status, reply.read()) == (200, f"hello /x{i}".encode())
        head = t.send("HEAD", f"{s.url}/h", {})
        assert head.headers["content-length"] == "8" and head.read() == b""
        assert t.send("GET", f"{s.url}/last", {}).read() == b"hello /last"
    finally:
        t.close()
    assert s.connections == 1


def test_chunked_body_is_read_whole_and_the_connection_kept(serve):
    def chunked(h):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for piece in (b"abc", b"", b"defgh"):
            if piece:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    s = serve(chunked)
    t = HTTPTransport()
    try:
        reply = t.send("GET", f"{s.url}/c", {})
        assert "content-length" not in reply.headers and reply.read() == b"abcdefgh"
        assert t.send("GET", f"{s.url}/c", {}).read() == b"abcdefgh"
    finally:
        t.close()
    assert s.connections == 1


def test_idle_connection_closed_by_the_server_is_replaced(serve):
    def once(h):
        send(h, 200, b"ok")
        h.close_connection = True  # without saying Connection: close, as a server timing out idle clients does

    s = serve(once)
    t = HTTPTransport()
    try:
        for _ in range(3):
            assert t.send("GET", f"{s.url}/", {}).read() == b"ok"
            time.sleep(0.05)
    finally:
        t.close()
    assert s.connections == 3


def test_abandoned_body_closes_its_connection(serve):
    s = serve(lambda h: send(h, 200, BLOB))
    t = HTTPTransport()
    try:
        reply = t.send("GET", f"{s.url}/big", {})
        next(reply.chunks())
        reply.close()
        assert t.send("GET", f"{s.url}/big", {}).read() == BLOB
    finally:
        t.close()
    assert s.connections == 2


def test_small_unread_error_body_keeps_the_connection(serve):
    s = serve(lambda h: send(h, 404, b'{"errors": []}'))
    t = HTTPTransport()
    try:
        t.send("GET", f"{s.url}/a", {}).close()
        assert t.send("GET", f"{s.url}/b", {}).status == 404
    finally:
        t.close()
    assert s.connections == 1


def test_timeout_refused_and_bad_urls():
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        t = HTTPTransport(timeout=0.3)
        with pytest.raises(TransportError, match="timed out") as exc:
            t.send("GET", f"http://127.0.0.1:{silent.getsockname()[1]}/", {})
        assert exc.value.transient
        port = silent.getsockname()[1]
    with pytest.raises(TransportError, match="refused") as exc:
        t.send("GET", f"http://127.0.0.1:{port}/", {})
    assert exc.value.transient
    with pytest.raises(TransportError, match="not an http") as exc:
        t.send("GET", "ftp://127.0.0.1/", {})
    assert not exc.value.transient


def test_tls_to_a_plain_http_server_is_not_retried(serve):
    s = serve(lambda h: send(h, 200))
    t = HTTPTransport(verify=False)
    with pytest.raises(TransportError) as exc:
        t.send("GET", s.url.replace("http://", "https://") + "/", {})
    assert not exc.value.transient


def test_blob_redirected_to_another_host_resumes_without_credentials(serve):
    """A registry behind Basic auth redirects blob GETs to storage on another port; the first
    download is cut half way and resumed with Range at the storage host."""
    cut = [True]

    def storage(h):
        start = int(h.headers.get("Range", "bytes=0-")[6:].split("-")[0])
        body = BLOB[start:]
        h.send_response(206 if start else 200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if cut[0]:
            cut[0] = False
            h.wfile.write(body[:50_000])
            h.close_connection = True
            return
        h.wfile.write(body)

    store = serve(storage)

    def registry(h):
        if h.headers.get("Authorization") != "Basic dTpw":  # u:p
            send(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
        elif h.path == "/v2/":
            send(h, 200, b"{}")
        else:
            send(h, 307, b"", {"Location": f"{store.url}/objects/{DIGEST}?sig=1"})

    reg = serve(registry)
    host = reg.url.removeprefix("http://")
    content = MemoryContentStore()
    lines = []
    with RegistryClient(RegistryConfig({}), credentials=lambda d: ("u", "p"), explain=lines.append,
                        sleep=lambda s: None) as client:
        repo = client.repository(parse(f"{host}/a/b:t"))
        descriptor = Descriptor("application/octet-stream", DIGEST, len(BLOB))
        with content.writer("t", descriptor) as writer:
            repo.fetch_blob(descriptor, writer)
    assert content.info(DIGEST).size == len(BLOB)
    stored = store.requests
    assert [r[2].get("range") for r in stored] == [None, "bytes=50000-"]
    assert all("authorization" not in r[2] for r in stored)
    assert any("cut at byte 50000" in line for line in lines)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_ca(str(tmp_path_factory.mktemp("ca")))


def test_tls_with_a_certs_d_ca_keeps_its_connection(serve, test_ca, tmp_path):
    ca, cert, key = test_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s = serve(lambda h: send(h, 200, b"secure " + h.path.encode()), tls=context)
    t = HTTPTransport(TLSFiles((ca,)))
    try:
        for i in range(3):
            assert t.send("GET", f"{s.url}/{i}", {}).read() == f"secure /{i}".encode()
            time.sleep(0.05)  # time for anything the server sends after its answer (TLS 1.3 tickets)
    finally:
        t.close()
    assert s.connections == 1
    other_ca = make_ca(str(tmp_path / "other"))[0]
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED") as exc:
        HTTPTransport(TLSFiles((other_ca,))).send("GET", f"{s.url}/", {})
    assert not exc.value.transient
    insecure = HTTPTransport(verify=False)
    assert insecure.send("GET", f"{s.url}/x", {}).read() == b"secure /x"
    insecure.close()
