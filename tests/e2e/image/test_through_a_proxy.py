"""Pulls and ``ADD <url>`` through an HTTP proxy, and past it where ``NO_PROXY`` says.

The proxy here is a small forwarding proxy on loopback, written for the test: it knows
names no resolver on the machine knows (``registry.test:5000`` is the loopback registry),
so a pull of such a name works only through it. It serves ``CONNECT`` tunnels (for
https) and absolute-form requests (for http), asks for ``Proxy-Authorization``, and logs
what it was asked.
"""

import base64
import json
import socket
import threading

import pytest

from support import images
from support.loopback import LoopbackServer, servers
from support.registry import PASSWORD as REGISTRY_PASSWORD
from support.registry import USER as REGISTRY_USER

USER, PASSWORD = "proxy-user", "proxy-pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class ForwardingProxy(LoopbackServer):
    """An HTTP proxy on loopback that sends ``names[authority]`` to the (host, port) it maps to."""

    def __init__(self, names: dict[str, tuple[str, int]]) -> None:
        self.names = names
        self.log: list[tuple[str, str, str | None]] = []  # (method, target, Proxy-Authorization)
        super().__init__()
        self.url = f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @staticmethod
    def _head(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
        while b"\r\n\r\n" not in buffer:
            data = sock.recv(65536)
            if not data:
                return None
            buffer += data
        head, rest = buffer.split(b"\r\n\r\n", 1)
        return head, rest

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def serve(self, client: socket.socket) -> None:
        upstream = None
        buffer = b""
        try:
            while (found := self._head(client, buffer)) is not None:
                head, buffer = found
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ")
                headers = [line for line in lines[1:] if not line.lower().startswith("proxy-authorization:")]
                auth = next((line.split(":", 1)[1].strip() for line in lines[1:]
                             if line.lower().startswith("proxy-authorization:")), None)
                self.log.append((method, target, auth))
                if auth != AUTHORIZATION:
                    client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                    continue
                authority = target if method == "CONNECT" else target.split("/")[2]
                if authority not in self.names:
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.names[authority])
                    self.socks.append(upstream)
                    threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
                if method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    upstream.sendall(buffer)
                    self._pipe(client, upstream)
                    return
                path = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
                upstream.sendall(f"{method} {path} {version}\r\n".encode() + "\r\n".join(headers).encode()
                                 + b"\r\n\r\n")  # the client's requests here have no bodies
        except OSError:
            pass
        finally:
            client.close()


@pytest.fixture
def proxy():
    yield from servers(ForwardingProxy)


def _loopback_port(registry) -> int:
    return int(registry.host.rsplit(":", 1)[1])


def _config(tmp_path, *insecure: str) -> str:
    path = tmp_path / "registries.json"
    path.write_text(json.dumps({"insecure-registries": list(insecure)}))
    return str(path)


@pytest.mark.parametrize("spelling", [str.upper, str.lower])
def test_pull_of_a_name_only_the_proxy_resolves(boxen_image, registry, busybox_layout, proxy, tmp_path, spelling):
    images.push(*busybox_layout, f"{registry.host}/proxied/busybox:latest")
    p = proxy({"registry.test:5000": ("127.0.0.1", _loopback_port(registry))})
    boxen_image.env.update({spelling("HTTP_PROXY"): p.url, spelling("HTTPS_PROXY"): p.url})
    out = boxen_image("--registry-config", _config(tmp_path, "registry.test:5000"),
                      "pull", "--no-unpack", "registry.test:5000/proxied/busybox:latest", check=False)
    assert out.returncode == 0, out.stderr
    assert boxen_image("ls", "-q").stdout.split() == ["registry.test:5000/proxied/busybox:latest"]
    # TLS first (an insecure registry), through a tunnel; then plain HTTP in absolute form
    assert ("CONNECT", "registry.test:5000", AUTHORIZATION) in p.log
    assert ("GET", "http://registry.test:5000/v2/", AUTHORIZATION) in p.log
    assert any(t.startswith("http://registry.test:5000/v2/proxied/busybox/blobs/") for _, t, _ in p.log)


def test_login_and_pull_over_tls_through_a_tunnel(boxen_image, tls_registry, busybox_layout, proxy, tmp_path):
    r = tls_registry
    images.push(*busybox_layout, f"{r.host}/tunnelled/busybox:latest", tls_verify=True,
                creds=f"{REGISTRY_USER}:{REGISTRY_PASSWORD}", cert_dir=r.certs_dir())
    p = proxy({"registry.test:5000": ("127.0.0.1", _loopback_port(r))})
    boxen_image.env.update({"HTTPS_PROXY": p.url, "NO_PROXY": "other.example"})
    config = _config(tmp_path, "registry.test:5000")  # the certificate names 127.0.0.1, not registry.test
    boxen_image("--registry-config", config, "login", "-u", REGISTRY_USER, "-p", REGISTRY_PASSWORD,
                "registry.test:5000")
    out = boxen_image("--registry-config", config, "pull", "--no-unpack", "registry.test:5000/tunnelled/busybox:latest",
                      check=False)
    assert out.returncode == 0, out.stderr
    assert {(method, target) for method, target, _ in p.log} == {("CONNECT", "registry.test:5000")}


def test_no_proxy_sends_matching_hosts_past_the_proxy(boxen_image, registry, busybox_layout, proxy, tmp_path):
    name = socket.gethostname()
    try:
        if not socket.gethostbyname(name).startswith("127."):
            pytest.skip(f"the host name {name} does not resolve to loopback")
    except OSError:
        pytest.skip(f"the host name {name} does not resolve")
    port = _loopback_port(registry)
    images.push(*busybox_layout, f"{registry.host}/bypass/busybox:latest")
    ref = f"{name}:{port}/bypass/busybox:latest"
    config = _config(tmp_path, f"{name}:{port}")
    p = proxy({f"{name}:{port}": ("127.0.0.1", port)})
    boxen_image.env.update({"HTTP_PROXY": p.url, "HTTPS_PROXY": p.url})
    for no_proxy in (name, f"{name}:{port}", "*", f"other.example,{name.upper()}"):
        boxen_image.env["NO_PROXY"] = no_proxy
        assert boxen_image("--registry-config", config, "pull", "--no-unpack", ref).returncode == 0
        assert p.log == [], no_proxy
        boxen_image("rm", ref)
    boxen_image.env["NO_PROXY"] = f"{name}:1,.{name}"  # another port, subdomains only: through the proxy
    assert boxen_image("--registry-config", config, "pull", "--no-unpack", ref).returncode == 0
    assert p.log


def test_add_of_a_url_goes_through_the_proxy(boxen_image, proxy, tmp_path):
    import functools
    import http.server

    www = tmp_path / "www"
    www.mkdir()
    (www / "notes.txt").write_text("through the proxy\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        p = proxy({"files.test": ("127.0.0.1", server.server_address[1])})
        boxen_image.env.update({"http_proxy": p.url})
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM scratch\nADD http://files.test/notes.txt /notes.txt\n")
        out = boxen_image("build", "-q", "-t", "localhost/proxied-add:1", str(ctx), check=False)
        assert out.returncode == 0, out.stderr
        assert ("GET", "http://files.test/notes.txt", AUTHORIZATION) in p.log
        bundle = tmp_path / "bundle"
        boxen_image("unpack", "localhost/proxied-add:1", str(bundle))
        assert (bundle / "rootfs" / "notes.txt").read_text() == "through the proxy\n"
    finally:
        server.shutdown()
        server.server_close()


def test_a_proxy_that_refuses_the_credentials_is_a_clear_error(boxen_image, proxy, tmp_path):
    p = proxy({})
    boxen_image.env.update({"HTTPS_PROXY": p.url.replace(PASSWORD, "wrong")})
    out = boxen_image("pull", "--no-unpack", "registry.test:5000/x:latest", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "the proxy refused a tunnel to registry.test:5000: 407" in out.stderr
