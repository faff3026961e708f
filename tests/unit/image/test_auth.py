import base64

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.registry.auth import (
    Challenge,
    TokenCache,
    basic_authorization,
    parse_challenges,
    parse_token,
    scope_for,
    token_request,
)


def test_bearer_challenge():
    [c] = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull"}


def test_several_challenges_and_quoting():
    cs = parse_challenges('Basic realm="a \\"quoted\\" realm", Bearer realm="https://x/t", error=invalid_token')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].params["realm"] == 'a "quoted" realm'
    assert cs[1].params == {"realm": "https://x/t", "error": "invalid_token"}


def test_case_and_spacing():
    [c] = parse_challenges('BASIC  Realm = "r" ')
    assert c == Challenge("basic", {"realm": "r"})


def test_unterminated_quote_is_invalid():
    with pytest.raises(InvalidArgument) as exc:
        parse_challenges('Bearer realm="https://x')
    assert exc.value.field == "WWW-Authenticate"


def test_token_request_with_and_without_credentials():
    c = Challenge("bearer", {"realm": "https://auth/token", "service": "reg"})
    scope = scope_for("library/busybox", ("pull",))
    anon = token_request(c, (scope,), None)
    assert anon.method == "GET"
    assert anon.url == "https://auth/token?service=reg&scope=repository%3Alibrary%2Fbusybox%3Apull"
    assert anon.headers == ()
    signed = token_request(c, (scope,), ("u", "p"))
    assert dict(signed.headers)["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert basic_authorization("u", "p") == dict(signed.headers)["Authorization"]


def test_token_request_needs_realm():
    with pytest.raises(InvalidArgument):
        token_request(Challenge("bearer", {"realm": "ftp://x"}), (), None)


def test_parse_token_forms():
    assert parse_token(b'{"token": "t", "expires_in": 300}', 100.0).expires_at == 400.0
    assert parse_token(b'{"access_token": "a"}', 0.0).token == "a"
    assert parse_token(b'{"token": "t", "expires_in": "x"}', 0.0).expires_at == 60.0
    with pytest.raises(InvalidArgument):
        parse_token(b'{"nothing": 1}', 0)
    with pytest.raises(InvalidArgument):
        parse_token(b"not json", 0)


def test_token_cache_expiry():
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    c = Challenge("bearer", {"realm": "https://a", "service": "s"})
    key = cache.key(c, ("repository:x:pull",))
    cache.put(key, parse_token(b'{"token": "t", "expires_in": 60}', now[0]))
    assert cache.get(key) == "t"
    now[0] = 56.0
    assert cache.get(key) is None
