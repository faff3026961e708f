"""Registry authentication: ``WWW-Authenticate`` challenges, Bearer tokens and Basic auth.

A registry that wants credentials answers ``401 Unauthorized`` with a challenge (RFC 7235)::

    WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",
                      scope="repository:library/busybox:pull"

or ``Basic realm="..."``. For **Basic** the client resends the request with
``Authorization: Basic base64(user:password)``. For **Bearer** (docker's token
authentication) it first asks the *realm*, a separate token server, for a token that grants
the *scope* (``repository:<name>:<actions>``) at the *service*, sending its credentials as
Basic auth, or none for anonymous pulls; the answer is JSON ``{"token": "...",
"expires_in": 300}`` (``access_token`` in the OAuth2 form), and the original request is
resent with ``Authorization: Bearer <token>``.

Everything here is pure: :func:`parse_challenges` reads the header, :func:`token_request`
builds the token request as data, :func:`parse_token` reads the answer, and
:class:`TokenCache` remembers tokens per (realm, service, scope) until they expire, against
an injectable clock. The I/O adapter (:mod:`boxen.image.registry.client`) sends what these
functions build.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.registry.protocol import Request
from boxen.image.registry.urls import urlencode

#: Tokens without ``expires_in`` are valid for 60 s (the token specification's minimum).
DEFAULT_EXPIRY = 60.0


class Challenge(Record):
    """One authentication challenge: ``scheme`` lowercased, parameters by lowercased name."""

    scheme: str
    params: dict[str, str]


class Token(Record):
    token: str
    expires_at: float


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in " \t,=\"":
        i += 1
    return text[start:i], i


def _quoted(text: str, i: int) -> tuple[str, int]:
    out = []
    i += 1  # opening quote
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise InvalidArgument(f"unterminated quoted string in challenge {text!r}", field="WWW-Authenticate")


def parse_challenges(header: str) -> list[Challenge]:
    """All challenges in a ``WWW-Authenticate`` value (RFC 7235 ``#challenge``)."""
    challenges: list[Challenge] = []
    i = 0
    text = header.strip()
    while i < len(text):
        i = _skip_space(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        scheme, i = _token(text, i)
        if not scheme:
            raise InvalidArgument(f"malformed challenge {header!r}", field="WWW-Authenticate")
        params: dict[str, str] = {}
        while True:
            j = _skip_space(text, i)
            name, k = _token(text, j)
            k2 = _skip_space(text, k)
            if not name or k2 >= len(text) or text[k2] != "=":
                break  # the next token starts a new challenge (or there is none)
            k2 = _skip_space(text, k2 + 1)
            if k2 < len(text) and text[k2] == '"':
                value, i = _quoted(text, k2)
            else:
                value, i = _token(text, k2)
            params[name.lower()] = value
            i = _skip_space(text, i)
            if i < len(text) and text[i] == ",":
                i += 1
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def basic_authorization(username: str, password: str) -> str:
    return "Basic " + binascii.b2a_base64(f"{username}:{password}".encode(), newline=False).decode()


def scope_for(repository: str, actions: tuple[str, ...]) -> str:
    """``repository:<name>:pull,push``: the scope a token must grant."""
    return f"repository:{repository}:{','.join(actions)}"


def token_request(challenge: Challenge, scopes: tuple[str, ...], credentials: tuple[str, str] | None) -> Request:
    """The GET to the token server that answers a Bearer ``challenge``."""
    realm = challenge.params.get("realm")
    if not realm or not realm.startswith(("https://", "http://")):
        raise InvalidArgument(f"Bearer challenge without an http(s) realm: {challenge.params}", field="WWW-Authenticate")
    query = []
    if "service" in challenge.params:
        query.append(("service", challenge.params["service"]))
    for scope in scopes:
        query.append(("scope", scope))
    headers: tuple[tuple[str, str], ...] = ()
    if credentials is not None:
        headers = (("Authorization", basic_authorization(*credentials)),)
    sep = "&" if "?" in realm else "?"
    url = realm + (sep + urlencode(query) if query else "")
    return Request("GET", url, headers, purpose="fetch a Bearer token")


def parse_token(body: bytes, now: float) -> Token:
    """Read a token server's JSON answer (``token`` or OAuth2 ``access_token``)."""
    data = jsonio.loads(body, source="token response")
    if not isinstance(data, dict):
        raise InvalidArgument("expected a JSON object", field="token response")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise InvalidArgument("has neither 'token' nor 'access_token'", field="token response")
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRY
    return Token(token, now + float(expires_in))


class TokenCache:
    """Bearer tokens by (realm, service, scope), dropped shortly before they expire."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, str, str], Token] = {}

    @staticmethod
    def key(challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, str, str]:
        return (challenge.params.get("realm", ""), challenge.params.get("service", ""), " ".join(sorted(scopes)))

    def get(self, key: tuple[str, str, str]) -> str | None:
        token = self._tokens.get(key)
        if token is None or token.expires_at - 5 <= self.clock():
            self._tokens.pop(key, None)
            return None
        return token.token

    def put(self, key: tuple[str, str, str], token: Token) -> None:
        self._tokens[key] = token
