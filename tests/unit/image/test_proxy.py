"""Which proxy a URL goes through: the ``*_PROXY`` variables read as Go's httpproxy reads them."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.registry.proxy import Proxies, Proxy, parse_proxy


def test_upper_case_wins_and_lower_case_is_read_when_it_is_unset():
    env = {"HTTP_PROXY": "http://upper:3128", "http_proxy": "http://lower:3128", "https_proxy": "lower2:8080",
           "no_proxy": "internal"}
    proxies = Proxies.from_environ(env)
    assert proxies.for_url("http", "registry.test", 5000) == Proxy("upper", 3128)
    assert proxies.for_url("https", "registry.test", 443) == Proxy("lower2", 8080)
    assert proxies.for_url("https", "internal", 443) is None
    assert Proxies.from_environ({}).for_url("https", "x", 443) is None
    assert Proxies.from_environ({"HTTP_PROXY": "", "http_proxy": "p"}).for_url("http", "x", 80) == Proxy("p", 80)


def test_credentials_in_the_proxy_url_become_proxy_authorization():
    proxy = parse_proxy("http://user%40corp:p%3Ass@proxy:3128", "HTTPS_PROXY")
    assert proxy == Proxy("proxy", 3128, "Basic dXNlckBjb3JwOnA6c3M=")  # user@corp:p:ss


@pytest.mark.parametrize("value", ["socks5://p:1080", "https://p:443", "http://p:99999", "http://p/path", "http://"])
def test_unsupported_or_malformed_proxy_urls_are_refused(value):
    with pytest.raises(InvalidArgument) as exc:
        parse_proxy(value, "HTTPS_PROXY")
    assert exc.value.field == "HTTPS_PROXY"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "LOCALHOST"])
def test_loopback_is_never_proxied(host):
    assert Proxies("http://p:1", "http://p:1").for_url("https", host, 443) is None


@pytest.mark.parametrize(("no_proxy", "host", "port", "direct"), [
    ("*", "anything.example", 443, True),
    ("example.com", "example.com", 443, True),
    ("example.com", "registry.example.com", 443, True),
    ("example.com", "notexample.com", 443, False),
    (".example.com", "example.com", 443, False),
    (".example.com", "registry.example.com", 443, True),
    ("*.example.com", "example.com", 443, False),
    ("*.example.com", "a.b.example.com", 443, True),
    ("example.com:5000", "example.com", 5000, True),
    ("example.com:5000", "example.com", 443, False),
    ("10.0.0.0/8", "10.1.2.3", 443, True),
    ("10.0.0.0/8", "11.1.2.3", 443, False),
    ("10.0.0.0/8", "ten.example", 443, False),
    ("192.168.1.5", "192.168.1.5", 80, True),
    ("192.168.1.5:80", "192.168.1.5", 443, False),
    ("[2001:db8::1]:443", "2001:db8::1", 443, True),
    ("2001:db8::/32", "2001:db8::7", 443, True),
    ("1.2.3.4", "one.example", 443, False),  # IP entries match IP addresses only
    (" a.example , b.example ", "b.example", 443, True),
    ("EXAMPLE.com", "registry.Example.COM", 443, True),
    ("nonsense/99", "x.example", 443, False),
])
def test_no_proxy_entries(no_proxy, host, port, direct):
    proxies = Proxies("http://p:1", "http://p:1", no_proxy)
    assert (proxies.for_url("https", host, port) is None) is direct
