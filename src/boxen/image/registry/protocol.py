"""The OCI distribution protocol, sans I/O: requests as data, responses read by pure functions.

A registry serves content-addressed blobs and manifests over HTTP under ``/v2/``
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md). This module builds
each request as a :class:`Request` record and interprets each answer from its status,
headers and body; it never opens a socket, so every rule is unit-tested with plain values
and :mod:`boxen.image.registry.client` drives it over HTTP (h11's design)::

    pull                                          push
    client                     registry           client                          registry
      |-- GET /v2/ ------------------>|             |-- HEAD /v2/<n>/blobs/<d> ------->|
      |<-- 401 WWW-Authenticate ------|             |<-- 200 (have it: skip) / 404 ----|
      |-- GET <realm>?scope=... ----->| token       |-- POST /v2/<n>/blobs/uploads/ -->|
      |<-- {"token": ...} ------------| server      |     ?mount=<d>&from=<other repo> |
      |-- GET /v2/<n>/manifests/<tag>->|            |<-- 201 mounted / 202 Location ---|
      |   Accept: index, manifest     |             |-- PATCH <Location> (chunk) ----->|  repeated,
      |<-- 200 Docker-Content-Digest -|             |<-- 202 Location, Range 0-N ------|  or none
      |-- GET /v2/<n>/manifests/<d> ->| (platform)  |-- PUT <Location>?digest=<d> ---->|  (+ body if
      |-- GET /v2/<n>/blobs/<config> >|             |<-- 201 Created ------------------|  monolithic)
      |-- GET /v2/<n>/blobs/<layer> ->| x N,        |-- PUT /v2/<n>/manifests/<tag> -->|
      |   Range: bytes=<resume>-      | at once     |<-- 201 Docker-Content-Digest ----|

Every answer is checked against what asked for it: a manifest fetched by digest must hash
to that digest, a blob must have the size and digest of its descriptor (the content store
refuses it otherwise), a manifest fetched by tag gets its digest from its bytes, never from
the server's header alone. Errors come back as the spec's JSON body ``{"errors": [{"code":
"MANIFEST_UNKNOWN", "message": ...}]}`` and are mapped onto boxen's taxonomy by
:func:`check`; 429, 5xx and lost connections are *retryable* and :func:`retry_delay` says
how long to wait (exponential backoff, or the server's ``Retry-After``). A registry may
answer a blob ``GET`` with a redirect (``307 Location: https://storage.example/...``) to
where the bytes are kept, often another host: :func:`redirect` says what to send next.
"""

from __future__ import annotations

from boxen.common import digest as digests
from boxen.common import jsonio
from boxen.common.errors import (
    BoxenError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unimplemented,
)
from boxen.common.record import Record
from boxen.image.registry.urls import join, quote, split, urlencode
from boxen.oci import image as oci

#: What a pull accepts for a manifest, most preferred first.
MANIFEST_ACCEPT = (oci.OCI_INDEX, oci.DOCKER_MANIFEST_LIST, oci.OCI_MANIFEST, oci.DOCKER_MANIFEST)
#: Manifests and indexes larger than this are refused (the spec suggests registries cap at 4 MiB).
MAX_MANIFEST = 4 << 20
#: Image configurations larger than this are refused before download (skopeo's limit too).
MAX_CONFIG = 4 << 20
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
#: Redirects followed for one request before giving up.
MAX_REDIRECTS = 10


class Request(Record):
    """One HTTP request to send. ``purpose`` says why, in words, for ``--explain``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    purpose: str = ""


class Response(Record):
    """The parts of an HTTP answer the protocol reads. Header names are lowercase."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class RegistryError(BoxenError):
    """Mixin carrying the distribution-spec error ``code`` and the HTTP ``status``."""

    code: str = ""
    status: int = 0


class Unauthorized(RegistryError, PermissionDenied):
    """401/403: credentials missing, wrong, or not allowed to do this."""


class UnknownObject(RegistryError, NotFound):
    """404: no such repository, manifest or blob."""


class RegistryUnavailable(RegistryError, Unavailable):
    """429, 5xx, or the connection failed: worth retrying."""


class DownloadAbandoned(RegistryUnavailable):
    """A blob download given up for good (it came too slowly): what it wrote is worth dropping,
    not keeping for a later pull to resume."""


class RegistryRejected(RegistryError, InvalidArgument):
    """4xx: the registry refused what was sent (bad manifest, digest mismatch...)."""


class RegistryUnsupported(RegistryError, Unimplemented):
    """405: the registry does not allow the operation (e.g. push to a read-only mirror)."""


# --- URLs and requests ------------------------------------------------------------------


def _repo(base: str, repository: str) -> str:
    return f"{base.rstrip('/')}/v2/{repository}"


def ping(base: str) -> Request:
    return Request("GET", f"{base.rstrip('/')}/v2/", purpose="check the API version (and learn how to authenticate)")


def get_manifest(base: str, repository: str, reference: str, accept: tuple[str, ...] = MANIFEST_ACCEPT) -> Request:
    return Request(
        "GET", f"{_repo(base, repository)}/manifests/{quote(reference, safe=':')}",
        (("Accept", ", ".join(accept)),), purpose=f"fetch manifest {reference}",
    )


def head_manifest(base: str, repository: str, reference: str) -> Request:
    return Request(
        "HEAD", f"{_repo(base, repository)}/manifests/{quote(reference, safe=':')}",
        (("Accept", ", ".join(MANIFEST_ACCEPT)),), purpose=f"check for manifest {reference}",
    )


def get_blob(base: str, repository: str, digest: str, offset: int = 0) -> Request:
    headers: tuple[tuple[str, str], ...] = ()
    if offset:
        headers = (("Range", f"bytes={offset}-"),)
    return Request("GET", f"{_repo(base, repository)}/blobs/{digest}", headers,
                   purpose=f"fetch blob {digest}" + (f" from byte {offset}" if offset else ""))


def head_blob(base: str, repository: str, digest: str) -> Request:
    return Request("HEAD", f"{_repo(base, repository)}/blobs/{digest}", purpose=f"check for blob {digest}")


def start_upload(base: str, repository: str, *, mount: str | None = None, from_repository: str | None = None) -> Request:
    url = f"{_repo(base, repository)}/blobs/uploads/"
    purpose = "start a blob upload"
    if mount and from_repository:
        url += "?" + urlencode({"mount": mount, "from": from_repository})
        purpose = f"mount blob {mount} from {from_repository}"
    return Request("POST", url, (("Content-Length", "0"),), b"", purpose=purpose)


def patch_chunk(location: str, data: bytes, start: int) -> Request:
    headers = (
        ("Content-Type", "application/octet-stream"),
        ("Content-Range", f"{start}-{start + len(data) - 1}"),
        ("Content-Length", str(len(data))),
    )
    return Request("PATCH", location, headers, data, purpose=f"upload bytes {start}-{start + len(data) - 1}")


def finish_upload(location: str, digest: str, data: bytes = b"") -> Request:
    sep = "&" if "?" in location else "?"
    headers = (("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data))))
    return Request("PUT", f"{location}{sep}{urlencode({'digest': digest})}", headers, data,
                   purpose=f"complete upload of {digest}" + (f" ({len(data)} bytes)" if data else ""))


def put_manifest(base: str, repository: str, reference: str, media_type: str, data: bytes) -> Request:
    headers = (("Content-Type", media_type), ("Content-Length", str(len(data))))
    return Request("PUT", f"{_repo(base, repository)}/manifests/{quote(reference, safe=':')}", headers, data,
                   purpose=f"put manifest {reference}")


def list_tags(base: str, repository: str) -> Request:
    return Request("GET", f"{_repo(base, repository)}/tags/list", purpose="list tags")


# --- reading answers ------------------------------------------------------------------------


def _errors(body: bytes) -> list[dict]:
    try:
        data = jsonio.loads(body)
    except InvalidArgument:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def check(request: Request, response: Response, expect: tuple[int, ...]) -> Response:
    """Return ``response`` if its status is expected, else raise the error it means."""
    status = response.status
    if status in expect:
        return response
    errors = _errors(response.body)
    code = str(errors[0].get("code", "")) if errors else ""
    detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    what = f"{request.method} {request.url}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in (401, 403):
        cls: type[RegistryError] = Unauthorized
    elif status == 404:
        cls = UnknownObject
    elif status in RETRYABLE_STATUS or status >= 500:
        cls = RegistryUnavailable
    elif status == 405:
        cls = RegistryUnsupported
    else:
        cls = RegistryRejected
    exc = cls(what)
    exc.code = code
    exc.status = status
    raise exc


def retry_delay(attempt: int, response: Response | None, *, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
    if response is not None:
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(float(after), cap * 2)
    return min(cap, base * (2**attempt))


def is_retryable(response: Response) -> bool:
    return response.status in RETRYABLE_STATUS


def location(base_url: str, response: Response) -> str:
    """The absolute upload URL from a ``Location`` header (it may be relative)."""
    loc = response.headers.get("location")
    if not loc:
        raise RegistryRejected(f"HTTP {response.status} without a Location header for the upload")
    return join(base_url, loc)


def redirect(request: Request, response: Response) -> Request | None:
    """The request a redirect asks for next, or ``None`` if ``response`` is not one (RFC 9110 15.4).

    307 and 308 repeat the method and body at the new URL; 301, 302 and 303 turn anything
    but ``HEAD`` into a ``GET`` without a body, as browsers and Go's client do. The new
    request has no credentials of its own: the caller sends its ``Authorization`` only back
    to the origin it was meant for (:func:`same_origin`).
    """
    if response.status not in REDIRECT_STATUS:
        return None
    target = response.headers.get("location")
    if not target:
        raise RegistryRejected(f"{request.method} {request.url}: HTTP {response.status} without a Location header")
    url = join(request.url, target)
    if not url.startswith(("http://", "https://")):
        raise RegistryRejected(f"{request.method} {request.url}: redirected to {url!r}, not an http(s) URL")
    if response.status in (307, 308) or request.method == "HEAD":
        return request.replace(url=url)
    headers = tuple((k, v) for k, v in request.headers if k.lower() not in ("content-type", "content-length"))
    return request.replace(method="GET", url=url, headers=headers, body=None)


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs have the same scheme, host and port (where credentials may go)."""
    def origin(url: str) -> tuple[str, str | None, int | None]:
        parts = split(url)
        return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)

    return origin(a) == origin(b)


def media_type_of(data: bytes, content_type: str | None) -> str:
    """A manifest's media type: its own ``mediaType`` field, else the Content-Type header."""
    try:
        doc = jsonio.loads(data, source="manifest")
    except InvalidArgument:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("mediaType"), str):
        return doc["mediaType"]
    ct = (content_type or "").split(";")[0].strip()
    if ct in oci.INDEX_TYPES or ct in oci.MANIFEST_TYPES:
        return ct
    if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):
        return oci.OCI_INDEX
    if isinstance(doc, dict) and "config" in doc and "layers" in doc:
        return oci.OCI_MANIFEST
    raise RegistryRejected(f"cannot tell what kind of manifest this is (Content-Type {content_type!r})")


def verify_manifest(data: bytes, reference: str, expected: oci.Descriptor | None) -> oci.Descriptor:
    """The descriptor of fetched manifest bytes, checked against what was asked for.

    ``reference`` is the tag or digest requested; ``expected`` the descriptor that led
    here (from an index), if any. The digest is always computed from the bytes.
    """
    if len(data) > MAX_MANIFEST:
        raise RegistryRejected(f"manifest {reference} is {len(data)} bytes, more than the {MAX_MANIFEST} allowed")
    algorithm = "sha256"
    want = expected.digest if expected else (reference if reference.startswith(tuple(digests.ALGORITHMS)) else None)
    if want:
        algorithm = digests.split(want)[0]
    actual = digests.of_bytes(data, algorithm)
    if want and actual != want:
        raise FailedPrecondition(f"manifest {reference}: registry sent bytes with digest {actual}, expected {want}",
                                 field="digest")
    if expected is not None and expected.size != len(data):
        raise FailedPrecondition(
            f"manifest {reference}: {len(data)} bytes, but its descriptor says {expected.size}", field="size")
    return oci.Descriptor("", actual, len(data))
