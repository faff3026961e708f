"""``FakeRegistry``: an in-memory OCI distribution registry for tests, as a registry transport.

It answers the requests of :mod:`boxen.image.registry.protocol` the way a real registry
does (``/v2/``, manifests by tag and digest, blobs with ``Range``, uploads by POST/PATCH/PUT,
cross-repository mounts, tag lists), optionally behind Basic or Bearer authentication with
its own token endpoint, can send blob downloads to another host (``storage``: a ``307`` to
``https://<storage>/...``, as registries backed by object storage do), and can misbehave on
purpose: fail the next requests with a status, cut a download short, or serve other bytes
than a digest names. ``FakeRegistry().transport()`` is a
:class:`boxen.image.registry.transport.Transport` for ``RegistryClient(transport=...)``;
:attr:`FakeRegistry.log` records ``(method, path)`` of every request and
:attr:`FakeRegistry.requests` the requests themselves (URL, headers), so tests can assert on
the conversation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from urllib.parse import parse_qs, urlsplit

from boxen.image.registry.transport import Body, Reply, Transport, TransportError
from boxen.oci import image as oci


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRequest:
    """One request as the fake saw it: header names lowercased, the body as bytes."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body


def _answer(status: int, headers: dict[str, str] | None = None, *, json_body: object = None, content: bytes = b"",
            chunks=None) -> Reply:
    """A :class:`Reply` as a server would send it (``Content-Length`` set unless streamed)."""
    out = {k.lower(): v for k, v in (headers or {}).items()}
    if json_body is not None:
        content = json.dumps(json_body).encode()
        out.setdefault("content-type", "application/json")
    if chunks is None:
        out.setdefault("content-length", str(len(content)))
        chunks = [content] if content else []
    return Reply(status, out, chunks)


class _FakeTransport(Transport):
    def __init__(self, handle) -> None:
        self.handle = handle

    def send(self, method: str, url: str, headers: dict[str, str], body: Body = None) -> Reply:
        data = body if isinstance(body, bytes) else b"".join(body or ())
        return self.handle(FakeRequest(method, url, headers, data))


class FakeRegistry:
    def __init__(self, *, auth: str | None = None, users: dict[str, str] | None = None, host: str = "registry.test",
                 storage: str | None = None):
        self.host = host
        self.storage = storage  # blob GETs are redirected to this host
        self.auth = auth  # None, "basic" or "bearer"
        self.users = users or {}
        self.blobs: dict[str, bytes] = {}
        self.repos: dict[str, set[str]] = {}
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}  # repo -> ref -> (media type, bytes)
        self.uploads: dict[str, bytearray] = {}
        self.log: list[tuple[str, str]] = []
        self.requests: list[FakeRequest] = []
        self.failures: list[int] = []
        self.corrupt: dict[str, bytes] = {}
        self.ignore_range = False
        self.cut_after: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- test set-up ----------------------------------------------------------------------

    def add_blob(self, repo: str, data: bytes) -> str:
        digest = _digest(data)
        self.blobs[digest] = data
        self.repos.setdefault(repo, set()).add(digest)
        return digest

    def add_manifest(self, repo: str, ref: str, media_type: str, data: bytes) -> str:
        digest = _digest(data)
        entry = (media_type, data)
        refs = self.manifests.setdefault(repo, {})
        refs[digest] = entry
        if ref != digest:
            refs[ref] = entry
        return digest

    def transport(self) -> Transport:
        return _FakeTransport(self.handle)

    # --- serving ------------------------------------------------------------------------------

    def _unauthorized(self, scope: str) -> Reply:
        if self.auth == "basic":
            header = 'Basic realm="fake"'
        else:
            header = f'Bearer realm="https://{self.host}/token",service="{self.host}",scope="{scope}"'
        return _answer(401, {"WWW-Authenticate": header},
                       json_body={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})

    def _check_basic(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return self.users.get(user) == password

    def _authorized(self, request: FakeRequest) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "basic":
            return self._check_basic(header)
        return header == "Bearer fake-token"

    def handle(self, request: FakeRequest) -> Reply:
        url = urlsplit(request.url)
        with self._lock:
            self.log.append((request.method, url.path))
            self.requests.append(request)
            if self.failures:
                return _answer(self.failures.pop(0))
        if self.storage and url.hostname == self.storage:
            return self._stored(request, url.path)
        if url.path == "/token":
            if self.users and not self._check_basic(request.headers.get("authorization", "")):
                return _answer(401)
            return _answer(200, json_body={"token": "fake-token", "expires_in": 300})
        if self.auth and not self._authorized(request):
            return self._unauthorized("repository:x:pull")
        path = url.path
        if path == "/v2/":
            return _answer(200, json_body={})
        query = parse_qs(url.query)
        for marker, handler in (
            ("/manifests/", self._manifest),
            ("/blobs/uploads/", self._upload),
            ("/blobs/", self._blob),
            ("/tags/list", self._tags),
        ):
            if marker in path:
                repo, _, rest = path[len("/v2/"):].partition(marker)
                return handler(request, repo, rest, query)
        return _answer(404)

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return _answer(status, json_body={"errors": [{"code": code, "message": message}]})

    def _manifest(self, request, repo, ref, query):
        if request.method == "PUT":
            body = request.body
            doc = json.loads(body)
            for d in [doc.get("config")] + doc.get("layers", []) if "layers" in doc else []:
                if d and d["digest"] not in self.repos.get(repo, set()):
                    return self._error(400, "MANIFEST_BLOB_UNKNOWN", d["digest"])
            digest = self.add_manifest(repo, ref, request.headers.get("content-type", ""), body)
            return _answer(201, {"Docker-Content-Digest": digest, "Location": f"/v2/{repo}/manifests/{digest}"})
        entry = self.manifests.get(repo, {}).get(ref)
        if entry is None:
            return self._error(404, "MANIFEST_UNKNOWN", f"unknown manifest {ref}")
        media_type, data = entry
        headers = {"Content-Type": media_type, "Docker-Content-Digest": _digest(data), "Content-Length": str(len(data))}
        return _answer(200, headers, content=b"" if request.method == "HEAD" else data)

    def _blob(self, request, repo, digest, query):
        if digest not in self.repos.get(repo, set()):
            return self._error(404, "BLOB_UNKNOWN", f"unknown blob {digest}")
        data = self.corrupt.get(digest, self.blobs[digest])
        if request.method == "HEAD":
            return _answer(200, {"Content-Length": str(len(data)), "Docker-Content-Digest": digest})
        if self.storage:
            return _answer(307, {"Location": f"https://{self.storage}/objects/{digest}?signature=fake"})
        return self._send_blob(request, digest, data)

    def _stored(self, request: FakeRequest, path: str) -> Reply:
        """The storage host a blob GET is redirected to: no registry authentication there."""
        digest = path.rpartition("/")[2]
        if not path.startswith("/objects/") or digest not in self.blobs:
            return _answer(404)
        return self._send_blob(request, digest, self.corrupt.get(digest, self.blobs[digest]))

    def _send_blob(self, request: FakeRequest, digest: str, data: bytes) -> Reply:
        start = 0
        rng = request.headers.get("range", "")
        if rng.startswith("bytes=") and not self.ignore_range:
            start = int(rng[6:].split("-")[0])
        body = data[start:]
        if digest in self.cut_after:
            limit = self.cut_after.pop(digest)
            return _answer(206 if start else 200, {"Content-Length": str(len(body))}, chunks=_cut(body, limit))
        return _answer(206 if start else 200, content=body)

    def _upload(self, request, repo, rest, query):
        if request.method == "POST":
            mount, source = query.get("mount", [None])[0], query.get("from", [None])[0]
            if mount and source and mount in self.repos.get(source, set()):
                self.repos.setdefault(repo, set()).add(mount)
                return _answer(201, {"Location": f"/v2/{repo}/blobs/{mount}"})
            upload = uuid.uuid4().hex
            self.uploads[upload] = bytearray()
            return _answer(202, {"Location": f"/v2/{repo}/blobs/uploads/{upload}", "Range": "0-0"})
        upload = rest
        if upload not in self.uploads:
            return self._error(404, "BLOB_UPLOAD_UNKNOWN", upload)
        self.uploads[upload] += request.body
        if request.method == "PATCH":
            end = len(self.uploads[upload]) - 1
            return _answer(202, {"Location": f"/v2/{repo}/blobs/uploads/{upload}", "Range": f"0-{end}"})
        data = bytes(self.uploads.pop(upload))
        digest = query.get("digest", [""])[0]
        if _digest(data) != digest:
            return self._error(400, "DIGEST_INVALID", f"got {_digest(data)}")
        self.add_blob(repo, data)
        return _answer(201, {"Location": f"/v2/{repo}/blobs/{digest}", "Docker-Content-Digest": digest})

    def _tags(self, request, repo, rest, query):
        tags = sorted(r for r in self.manifests.get(repo, {}) if not r.startswith("sha256:"))
        return _answer(200, json_body={"name": repo, "tags": tags})


def _cut(data: bytes, limit: int):
    """A body that breaks off after ``limit`` bytes, as a dropped connection does."""
    yield data[:limit]
    raise TransportError("connection reset by peer (fake)")


def image(layers: list[bytes], *, media_type: str = oci.OCI_MANIFEST, layer_type: str = oci.OCI_LAYER,
          diff_ids: list[str] | None = None) -> tuple[bytes, bytes]:
    """A ``(manifest, config)`` pair for the given layer blobs (diff IDs default to their digests)."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [_digest(b) for b in layers]},
    }).encode()
    config_type = oci.OCI_CONFIG if media_type == oci.OCI_MANIFEST else oci.DOCKER_CONFIG
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": _digest(b), "size": len(b)} for b in layers],
    }).encode()
    return manifest, config


def publish(registry: FakeRegistry, repo: str, tag: str, layers: list[bytes], **kw) -> str:
    """Put an image made by :func:`image` into ``registry``; returns the manifest digest."""
    manifest, config = image(layers, **kw)
    for blob in [config, *layers]:
        registry.add_blob(repo, blob)
    return registry.add_manifest(repo, tag, json.loads(manifest)["mediaType"], manifest)
