"""Registries on loopback for end-to-end tests.

* :func:`start_registry`: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1 at a
  free port, storage in a temporary directory, plain HTTP; with ``tls=True`` it serves HTTPS
  with a certificate from a test CA made here with the openssl CLI, and with ``users`` it
  asks for Basic auth checked against an htpasswd file (bcrypt, as distribution requires).
  The returned :class:`Registry` is stopped by PID with :meth:`Registry.stop`.
* pytest fixtures ``registry`` (plain, one per module) and ``tls_registry`` (TLS + auth).
* :class:`StaticServer`: a tiny loopback HTTP server answering from a table of canned
  responses, to play a registry that misbehaves (serves other bytes than a digest names).
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt for htpasswd; the module is deprecated but Debian's Python 3.11 has it

import pytest

USER, PASSWORD = "boxen", "test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: str) -> tuple[str, str, str]:
    """``(ca.crt, server.crt, server.key)``: a test CA and a cert for 127.0.0.1/localhost."""
    os.makedirs(directory, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=boxen test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=directory)
    return tuple(os.path.join(directory, n) for n in ("ca.crt", "server.crt", "server.key"))  # type: ignore[return-value]


class Registry:
    def __init__(self, host: str, scheme: str, proc: subprocess.Popen, directory: str, ca: str | None,
                 users: dict[str, str] | None) -> None:
        self.host = host
        self.scheme = scheme
        self.url = f"{scheme}://{host}"
        self.proc = proc
        self.directory = directory
        self.ca = ca
        self.users = users or {}

    def certs_dir(self) -> str | None:
        """A directory holding only ``ca.crt`` (for skopeo's ``--*-cert-dir``, docker's certs.d)."""
        if not self.ca:
            return None
        trust = os.path.join(self.directory, "trust")
        os.makedirs(trust, exist_ok=True)
        shutil.copy(self.ca, os.path.join(trust, "ca.crt"))
        return trust

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _answers(url: str, ca: str | None) -> bool:
    import ssl

    context = ssl.create_default_context(cafile=ca) if ca else None
    try:
        urllib.request.urlopen(f"{url}/v2/", timeout=1, context=context)
    except urllib.error.HTTPError:
        return True  # 401 is an answer
    except OSError:
        return False
    return True


def start_registry(*, tls: bool = False, users: dict[str, str] | None = None) -> Registry:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    directory = tempfile.mkdtemp(prefix="boxen-test-registry-")
    port = free_port()
    lines = [
        "version: 0.1",
        "log:", "  level: error", "  accesslog:", "    disabled: true",
        "storage:", "  filesystem:", f"    rootdirectory: {directory}/data", "  delete:", "    enabled: true",
        "http:", f"  addr: 127.0.0.1:{port}",
    ]
    ca = None
    if tls:
        ca, cert, key = make_ca(os.path.join(directory, "tls"))
        lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
    if users:
        htpasswd = os.path.join(directory, "htpasswd")
        with open(htpasswd, "w") as f:
            f.writelines(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n" for user, password in users.items())
        lines += ["auth:", "  htpasswd:", "    realm: boxen-test", f"    path: {htpasswd}"]
    config = os.path.join(directory, "config.yml")
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(directory, "registry.log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    registry = Registry(f"127.0.0.1:{port}", "https" if tls else "http", proc, directory, ca, users)
    for _ in range(100):
        if _answers(registry.url, ca):
            return registry
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with open(os.path.join(directory, "registry.log")) as f:
        output = f.read()
    registry.stop()
    raise RuntimeError(f"docker-registry did not start: {output[-2000:]}")


@pytest.fixture(scope="module")
def registry():
    r = start_registry()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def tls_registry():
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    r = start_registry(tls=True, users={USER: PASSWORD})
    yield r
    r.stop()


class StaticServer:
    """Loopback HTTP server answering ``(method, path)`` from ``routes``: ``(status, headers, body)``."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, dict[str, str], bytes]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                server.requests.append((self.command, self.path))
                status, headers, body = server.routes.get((self.command, self.path.split("?")[0]),
                                                          (404, {"Content-Type": "application/json"},
                                                           b'{"errors":[{"code":"NOT_FOUND"}]}'))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
