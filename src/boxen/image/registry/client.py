"""The I/O half of the registry client: sends what :mod:`.protocol` builds, over HTTP/1.1.

:class:`RegistryClient` holds one :class:`.transport.HTTPTransport` (keep-alive connections
and a TLS policy) per endpoint, the Bearer tokens, and the retry policy;
:meth:`RegistryClient.repository` gives a :class:`Repository` bound to one repository and
one endpoint, with the operations pull and push are made of. The adapter's own decisions
are few and all about transport:

* **endpoints**: the first of :func:`.config.endpoints` that answers ``GET /v2/`` is used
  (mirrors first for pulls; HTTPS then plain HTTP for insecure registries); a mirror that
  lacks a manifest falls through to the next endpoint;
* **authentication**: a ``401`` is answered once per request, by Basic credentials or a
  Bearer token (:mod:`.auth`); later requests to the host send the header straight away;
* **redirects** (:func:`.protocol.redirect`) are followed, and ``Authorization`` goes only
  to the origin it was meant for, never to the storage host a blob is redirected to; a
  ``401`` from the end of a redirect chain on another origin is not the registry's
  challenge (the CVE-2020-15157 class: it would send the registry's credentials, or use a
  token, where the other host says), so it is an error, not a reason to authenticate;
* **limits**: a manifest, index or tag list is read up to 4 MiB (as skopeo does), a token
  up to 1 MiB, an error body up to 64 KiB (and cut there); larger ones are refused, before
  download when their ``Content-Length`` or descriptor says so;
* **retries**: 408/429/5xx answers and connection errors are retried with backoff; a blob
  download cut off half way resumes with a ``Range`` request from the byte it reached;
* **streaming**: blobs flow from the socket into a content-store writer, which hashes them
  as they arrive and refuses them if they overrun their descriptor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

from boxen.common.errors import BoxenError, FailedPrecondition
from boxen.image.reference import Reference
from boxen.image.registry import auth, protocol
from boxen.image.registry.config import Endpoint, RegistryConfig, endpoints
from boxen.image.registry.protocol import Request, Response
from boxen.image.registry.transport import BodyTooLarge, HTTPTransport, Reply, TooSlow, Transport, TransportError
from boxen.oci.image import Descriptor

Explain = Callable[[str], None]
Credentials = Callable[[str], "tuple[str, str] | None"]
CHUNK = 1 << 20
#: Most bytes read of an error answer's body (the rest is not read).
MAX_ERROR = 64 << 10
#: Most bytes of a token server's answer.
MAX_TOKEN = 1 << 20


def _no_credentials(domain: str) -> None:
    return None


class RegistryClient:
    """Connections, credentials, tokens and retries shared by every repository it serves."""

    def __init__(
        self,
        config: RegistryConfig | None = None,
        *,
        credentials: Credentials = _no_credentials,
        transport: Transport | None = None,
        explain: Explain | None = None,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.config = config or RegistryConfig({})
        self.credentials = credentials
        self.explain = explain
        self.retries = retries
        self.sleep = sleep
        self._transport = transport
        self._timeout = timeout
        self._transports: dict[tuple[str, bool], Transport] = {}
        self._challenges: dict[str, auth.Challenge] = {}
        self._tokens = auth.TokenCache()
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _say(self, text: str) -> None:
        if self.explain is not None:
            self.explain(text)

    def _http(self, endpoint: Endpoint) -> Transport:
        """The endpoint's transport (the one given to the client, for tests)."""
        if self._transport is not None:
            return self._transport
        key = (endpoint.url, endpoint.verify)
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transports[key] = HTTPTransport(endpoint.tls, verify=endpoint.verify,
                                                                  timeout=self._timeout)
            return transport

    # --- authentication ----------------------------------------------------------------

    def _authorization(self, endpoint: Endpoint, domain: str, scopes: tuple[str, ...]) -> str | None:
        challenge = self._challenges.get(endpoint.url)
        if challenge is None:
            return None
        creds = None if endpoint.mirror else self.credentials(domain)
        if challenge.scheme == "basic":
            return auth.basic_authorization(*creds) if creds else None
        key = auth.TokenCache.key(challenge, scopes)
        with self._token_lock:  # layers fetched at once share one token request
            return self._bearer(endpoint, challenge, key, scopes, creds)

    def _bearer(self, endpoint: Endpoint, challenge: auth.Challenge, key: tuple[str, str, str],
                scopes: tuple[str, ...], creds: tuple[str, str] | None) -> str:
        token = self._tokens.get(key)
        if token is None:
            request = auth.token_request(challenge, scopes, creds)
            self._say(f"  GET {request.url.split('?')[0]} ({request.purpose}, scope {' '.join(scopes)}"
                      f"{', as ' + creds[0] if creds else ', anonymous'})")
            try:
                response = self._send_raw(endpoint, request, stream=False, limit=MAX_TOKEN)
            except BodyTooLarge as exc:
                raise protocol.RegistryRejected(f"GET {request.url}: {exc}") from None
            except TransportError as exc:
                raise protocol.RegistryUnavailable(f"GET {request.url}: {exc}") from None
            protocol.check(request, response, (200,))
            parsed = auth.parse_token(response.body, self._tokens.clock())
            self._tokens.put(key, parsed)
            token = parsed.token
        return f"Bearer {token}"

    def _learn_challenge(self, endpoint: Endpoint, header: str, request: Request) -> bool:
        usable = [c for c in auth.parse_challenges(header) if c.scheme in ("bearer", "basic")]
        if not usable:
            return False
        challenge = next((c for c in usable if c.scheme == "bearer"), usable[0])
        if self._challenges.get(endpoint.url) == challenge:
            return False  # the same challenge again: the credentials we have are refused
        self._challenges[endpoint.url] = challenge
        self._say(f"  {request.method} {request.url} -> 401: {challenge.scheme.capitalize()} authentication "
                  f"({', '.join(f'{k}={v}' for k, v in challenge.params.items())})")
        return True

    # --- sending -----------------------------------------------------------------------------

    def _send_raw(self, endpoint: Endpoint, request: Request, *, stream: bool, limit: int = protocol.MAX_MANIFEST,
                  content: Callable[[], Any] | None = None, headers: dict[str, str] | None = None) -> Response:
        """Send ``request`` (its body from ``content()`` if given), following redirects.

        Unless ``stream``, the body is read, up to ``limit`` bytes (more is an error, but an
        error answer's body is cut at :data:`MAX_ERROR`).
        """
        transport = self._http(endpoint)
        origin = request.url
        for _ in range(protocol.MAX_REDIRECTS + 1):
            all_headers = dict(request.headers)
            all_headers.update(headers or {})
            if not protocol.same_origin(request.url, origin):  # credentials stay with their origin
                all_headers = {k: v for k, v in all_headers.items() if k.lower() != "authorization"}
            body = content() if content is not None else request.body
            reply = transport.send(request.method, request.url, all_headers, body)
            response = _Streamed(reply.status, reply.headers, b"", reply, request.url)
            try:
                following = protocol.redirect(request, response)
            except protocol.RegistryRejected:
                _discard(response)
                raise
            if following is None:
                if stream:
                    return response
                return _read(response, limit if 200 <= response.status < 300 else MAX_ERROR,
                             truncate=not 200 <= response.status < 300)
            _discard(response)
            self._say(f"  {request.method} {request.url} -> {reply.status}: redirected to {following.url}")
            if following.method != request.method:
                content = None
            request = following
        raise protocol.RegistryRejected(f"{request.method} {origin}: more than {protocol.MAX_REDIRECTS} redirects")

    def send(self, endpoint: Endpoint, domain: str, request: Request, scopes: tuple[str, ...], *,
             expect: tuple[int, ...], stream: bool = False, content: Callable[[], Any] | None = None,
             authenticate: bool = True, retries: int | None = None, limit: int = protocol.MAX_MANIFEST) -> Response:
        """Send with authentication and retries; raise unless the status is in ``expect``.

        With ``authenticate`` false (the ``/v2/`` ping) a 401 only teaches the challenge.
        Unless ``stream``, the body is read up to ``limit`` bytes.
        """
        attempt = 0
        authenticated = not authenticate
        while True:
            headers = {}
            authorization = self._authorization(endpoint, domain, scopes)
            if authorization:
                headers["Authorization"] = authorization
            try:
                response = self._send_raw(endpoint, request, stream=stream, headers=headers, content=content,
                                          limit=limit)
            except BodyTooLarge as exc:
                raise protocol.RegistryRejected(f"{request.method} {request.url}: {exc}") from None
            except TransportError as exc:
                if attempt >= (self.retries if retries is None else retries) or not exc.transient:
                    raise protocol.RegistryUnavailable(f"{request.method} {request.url}: {exc}") from None
                delay = protocol.retry_delay(attempt, None)
                self._say(f"  {request.method} {request.url}: {exc}; retrying in {delay:.1f}s")
                self.sleep(delay)
                attempt += 1
                continue
            if response.status == 401 and not protocol.same_origin(_url(response, request), request.url):
                _discard(response)
                raise protocol.Unauthorized(
                    f"{request.method} {request.url}: redirected to {_url(response, request)}, which asks for "
                    "credentials; they go only to the registry's own challenge, not to a host it redirects to")
            if response.status == 401:
                header = response.headers.get("www-authenticate", "")
                learned = bool(header) and self._learn_challenge(endpoint, header, request)
                if learned and not authenticated:
                    authenticated = True
                    _discard(response)
                    continue
            elif protocol.is_retryable(response) and attempt < self.retries:
                delay = protocol.retry_delay(attempt, response)
                _discard(response)
                self._say(f"  {request.method} {request.url} -> {response.status}; retrying in {delay:.1f}s")
                self.sleep(delay)
                attempt += 1
                continue
            self._say(f"  {request.method} {request.url} -> {response.status}"
                      + (f" ({request.purpose})" if request.purpose else ""))
            if response.status not in expect:
                protocol.check(request, _read(response, MAX_ERROR, truncate=True), expect)
            return response

    def download(self, url: str, write: Callable[[bytes], None]) -> dict[str, str]:
        """GET ``url``, a file on any web server (``ADD <url>``), into ``write``; its headers.

        The same stack as the registry's: proxies, timeouts, strict HTTP, and TLS verified
        with the system's CAs plus those of the host's ``certs.d`` directory; redirects are
        followed. Anything but a final ``200`` is an error.
        """
        from boxen.common.errors import Unavailable
        from boxen.image.registry.config import tls_files
        from boxen.image.registry.urls import split

        parts = split(url)
        authority = parts.netloc.rpartition("@")[2]
        endpoint = Endpoint(f"{parts.scheme}://{authority}", authority, tls=tls_files(self.config, authority))
        request = Request("GET", url, purpose="fetch a file")
        try:
            response = self._send_raw(endpoint, request, stream=True)
            if response.status != 200:
                _discard(response)
                raise Unavailable(f"HTTP {response.status} from {_url(response, request)}")
            assert isinstance(response, _Streamed) and response.raw is not None
            try:
                for chunk in response.raw.chunks():
                    write(chunk)
            finally:
                _discard(response)
        except TransportError as exc:
            raise Unavailable(str(exc)) from None
        return response.headers

    def check_login(self, ref: Reference) -> None:
        """Prove the credentials work: an authenticated ``GET /v2/`` (``PermissionDenied`` if not)."""
        errors = []
        for endpoint in endpoints(self.config, ref.domain, ref.api_host(), push=True):
            try:
                self.send(endpoint, ref.domain, protocol.ping(endpoint.url), (), expect=(200,))
            except protocol.RegistryUnavailable as exc:
                errors.append(f"{endpoint.url}: {exc}")
                continue
            return
        raise protocol.RegistryUnavailable(f"no endpoint of {ref.domain} answered: " + "; ".join(errors))

    def repository(self, ref: Reference, *, push: bool = False) -> Repository:
        """A client for ``ref``'s repository on the first endpoint that answers."""
        candidates = endpoints(self.config, ref.domain, ref.api_host(), push=push)
        errors = []
        scopes = (auth.scope_for(ref.path, ("pull", "push") if push else ("pull",)),)
        for n, endpoint in enumerate(candidates):
            request = protocol.ping(endpoint.url)
            last = n == len(candidates) - 1
            try:
                self.send(endpoint, ref.domain, request, scopes, expect=(200, 401), authenticate=False,
                          retries=None if last else 0)
            except BoxenError as exc:
                # Unreachable, or not speaking this scheme (a TLS server answers a plain HTTP
                # request with 400): the next endpoint may.
                errors.append(f"{endpoint.url}: {exc}")
                continue
            return Repository(self, ref, endpoint, [e for e in candidates if e is not endpoint], scopes)
        raise protocol.RegistryUnavailable(f"no endpoint of {ref.domain} answered: " + "; ".join(errors))


class _Streamed(Response):
    """A response whose body is still on the wire, in ``raw`` (``body`` stays empty)."""

    raw: Reply | None = None  # None once the body has been read into ``body``
    url: str = ""  # where it came from, after redirects


def _url(response: Response, request: Request) -> str:
    return response.url if isinstance(response, _Streamed) and response.url else request.url


def _discard(response: Response) -> None:
    """Done with ``response`` without wanting its body (a small one is read, to keep the connection)."""
    if isinstance(response, _Streamed) and response.raw is not None:
        response.raw.close()


def _read(response: Response, limit: int, *, truncate: bool = False) -> Response:
    """``response`` with its body read (up to ``limit`` bytes: see :meth:`.Reply.read`), once."""
    if isinstance(response, _Streamed) and response.raw is not None:
        return _Streamed(response.status, response.headers, response.raw.read(limit, truncate=truncate),
                         None, response.url)
    return response


class Repository:
    """The operations on one repository at one endpoint (see :mod:`.protocol` for the messages)."""

    def __init__(self, client: RegistryClient, ref: Reference, endpoint: Endpoint, fallbacks: list[Endpoint],
                 scopes: tuple[str, ...]) -> None:
        self.client = client
        self.ref = ref
        self.endpoint = endpoint
        self._fallbacks = fallbacks
        self.scopes = scopes

    def _send(self, request: Request, expect: tuple[int, ...], **kw) -> Response:
        return self.client.send(self.endpoint, self.ref.domain, request, self.scopes, expect=expect, **kw)

    def fetch_manifest(self, reference: str, expected: Descriptor | None = None) -> tuple[Descriptor, bytes]:
        """A manifest or index by tag or digest, verified; its descriptor has the media type."""
        if expected is not None and expected.size > protocol.MAX_MANIFEST:
            raise protocol.RegistryRejected(f"manifest {expected.digest} is {expected.size} bytes by its descriptor, "
                                            f"more than the {protocol.MAX_MANIFEST} allowed", field="size")
        request = protocol.get_manifest(self.endpoint.url, self.ref.path, reference)
        try:
            response = self._send(request, (200,))
        except protocol.UnknownObject:
            if not self.endpoint.mirror or not self._fallbacks:
                raise
            self.client._say(f"  mirror {self.endpoint.url} lacks {reference}; trying {self._fallbacks[0].url}")
            self.endpoint = self._fallbacks.pop(0)
            return self.fetch_manifest(reference, expected)
        descriptor = protocol.verify_manifest(response.body, reference, expected)
        media_type = protocol.media_type_of(response.body, response.headers.get("content-type"))
        if expected is not None and expected.mediaType and media_type != expected.mediaType:
            raise FailedPrecondition(
                f"manifest {expected.digest} is a {media_type}, but its descriptor says {expected.mediaType}",
                field="mediaType")
        return descriptor.replace(mediaType=media_type), response.body

    def fetch_blob(self, descriptor: Descriptor, writer, advance: Callable[[int], None] | None = None) -> None:
        """Stream a blob into a content-store ``writer``, resuming at ``writer.offset``; commits it."""
        attempt = 0
        while True:
            offset = writer.offset
            request = protocol.get_blob(self.endpoint.url, self.ref.path, descriptor.digest, offset)
            response = self._send(request, (200, 206), stream=True)
            try:
                self._receive(response, descriptor, offset, writer, advance)
            except TooSlow as exc:
                raise protocol.DownloadAbandoned(f"downloading {descriptor.digest}: {exc}") from None
            except TransportError as exc:
                if attempt >= self.client.retries or not exc.transient:
                    raise protocol.RegistryUnavailable(f"downloading {descriptor.digest}: {exc}") from None
                self.client._say(f"  download of {descriptor.digest} cut at byte {writer.offset}: {exc}; resuming")
                self.client.sleep(protocol.retry_delay(attempt, None))
                attempt += 1
                continue
            finally:
                _discard(response)
            writer.commit(descriptor.size, descriptor.digest)
            return

    @staticmethod
    def _receive(response: Response, descriptor: Descriptor, offset: int, writer, advance) -> None:
        assert isinstance(response, _Streamed) and response.raw is not None
        skip = offset if response.status == 200 else 0  # the server ignored Range: drop what we have
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and "content-encoding" not in response.headers:
            total = int(length) + (offset if response.status == 206 else 0)
            if total != descriptor.size:
                raise FailedPrecondition(
                    f"blob {descriptor.digest}: registry sends {total} bytes, descriptor says {descriptor.size}",
                    field="size")
        for chunk in response.raw.chunks():
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
                if not chunk:
                    continue
            writer.write(chunk)
            if advance is not None:
                advance(len(chunk))

    def blob_exists(self, digest: str) -> bool:
        request = protocol.head_blob(self.endpoint.url, self.ref.path, digest)
        try:
            self._send(request, (200,))
        except protocol.UnknownObject:
            return False
        return True

    def manifest_exists(self, reference: str) -> bool:
        request = protocol.head_manifest(self.endpoint.url, self.ref.path, reference)
        try:
            self._send(request, (200,))
        except protocol.UnknownObject:
            return False
        return True

    def mount_blob(self, digest: str, from_repository: str) -> str | None:
        """Ask for a cross-repository mount: ``None`` if mounted, else an upload URL to use."""
        scopes = self.scopes + (auth.scope_for(from_repository, ("pull",)),)
        request = protocol.start_upload(self.endpoint.url, self.ref.path, mount=digest, from_repository=from_repository)
        response = self.client.send(self.endpoint, self.ref.domain, request, scopes, expect=(201, 202))
        if response.status == 201:
            return None
        return protocol.location(request.url, response)

    def upload_blob(self, descriptor: Descriptor, open_blob: Callable[[], BinaryIO], *, location: str | None = None,
                    chunk_size: int = 0, advance: Callable[[int], None] | None = None) -> None:
        """Upload a blob: one PUT (``chunk_size`` 0) or PATCH chunks then PUT."""
        if location is None:
            request = protocol.start_upload(self.endpoint.url, self.ref.path)
            location = protocol.location(request.url, self._send(request, (202,)))
        if not chunk_size or descriptor.size <= chunk_size:
            request = protocol.finish_upload(location, descriptor.digest)
            size = str(descriptor.size)
            request = request.replace(headers=(("Content-Type", "application/octet-stream"), ("Content-Length", size)))
            self._send(request, (201, 204), content=lambda: _stream(open_blob, advance))
            return
        with open_blob() as f:
            start = 0
            while chunk := f.read(chunk_size):
                request = protocol.patch_chunk(location, chunk, start)
                location = protocol.location(request.url, self._send(request, (202, 204)))
                start += len(chunk)
                if advance is not None:
                    advance(len(chunk))
        self._send(protocol.finish_upload(location, descriptor.digest), (201, 204))

    def put_manifest(self, reference: str, media_type: str, data: bytes) -> str | None:
        request = protocol.put_manifest(self.endpoint.url, self.ref.path, reference, media_type, data)
        response = self._send(request, (200, 201, 202))
        return response.headers.get("docker-content-digest")

    def tags(self) -> list[str]:
        from boxen.common import jsonio

        response = self._send(protocol.list_tags(self.endpoint.url, self.ref.path), (200,))
        data = jsonio.loads(response.body, source="tags list")
        tags = data.get("tags") if isinstance(data, dict) else None
        return sorted(t for t in tags or () if isinstance(t, str))


def _stream(open_blob: Callable[[], BinaryIO], advance: Callable[[int], None] | None) -> Iterator[bytes]:
    with open_blob() as f:
        while chunk := f.read(CHUNK):
            if advance is not None:
                advance(len(chunk))
            yield chunk
