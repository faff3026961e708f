"""boxen.image.registry.urls agrees with urllib.parse (and RFC 3986's own examples)."""

import urllib.parse

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from boxen.image.registry import urls

BASE = "http://a/b/c/d;p?q"

# RFC 3986 section 5.4: reference resolution examples against BASE.
RFC_EXAMPLES = {
    "g:h": "g:h", "g": "http://a/b/c/g", "./g": "http://a/b/c/g", "g/": "http://a/b/c/g/",
    "/g": "http://a/g", "//g": "http://g", "?y": "http://a/b/c/d;p?y", "g?y": "http://a/b/c/g?y",
    "#s": "http://a/b/c/d;p?q#s", "g#s": "http://a/b/c/g#s", "g?y#s": "http://a/b/c/g?y#s",
    ";x": "http://a/b/c/;x", "g;x": "http://a/b/c/g;x", "g;x?y#s": "http://a/b/c/g;x?y#s",
    "": "http://a/b/c/d;p?q", ".": "http://a/b/c/", "./": "http://a/b/c/", "..": "http://a/b/",
    "../": "http://a/b/", "../g": "http://a/b/g", "../..": "http://a/", "../../": "http://a/",
    "../../g": "http://a/g", "../../../g": "http://a/g", "../../../../g": "http://a/g",
    "/./g": "http://a/g", "/../g": "http://a/g", "g.": "http://a/b/c/g.", ".g": "http://a/b/c/.g",
    "g..": "http://a/b/c/g..", "..g": "http://a/b/c/..g", "./../g": "http://a/b/g", "./g/.": "http://a/b/c/g/",
    "g/./h": "http://a/b/c/g/h", "g/../h": "http://a/b/c/h", "g;x=1/./y": "http://a/b/c/g;x=1/y",
    "g;x=1/../y": "http://a/b/c/y", "g?y/./x": "http://a/b/c/g?y/./x", "g?y/../x": "http://a/b/c/g?y/../x",
    "g#s/./x": "http://a/b/c/g#s/./x", "g#s/../x": "http://a/b/c/g#s/../x",
}


@pytest.mark.parametrize(("reference", "expected"), sorted(RFC_EXAMPLES.items()))
def test_rfc3986_examples(reference, expected):
    assert urls.join(BASE, reference) == expected


# (no empty segments: urllib.parse.urljoin drops them from ``a//b``, RFC 3986 keeps them)
segment = st.sampled_from(["a", "b", "c", ".", "..", "x;y", "%41", "v2", "uploads"])
path = st.lists(segment, max_size=5).map("/".join)
# urllib.parse.urljoin leaves ``.`` and ``..`` in a reference that has its own host (RFC 3986
# section 5.2.2 removes them, as this module does): compare such references without them.
plain_path = st.lists(segment.filter(lambda s: s not in (".", "..")), max_size=5).map("/".join)
# (no empty query: urllib.parse cannot tell ``x?`` from ``x``, RFC 3986 and this module can)
query = st.none() | st.sampled_from(["q", "_state=abc&digest=sha256:1", "a=/b/../c"])
host = st.sampled_from(["registry", "127.0.0.1:5000", "[::1]:5000", "user:pw@host:443", "Example.COM"])
scheme = st.sampled_from(["http", "https"])


@st.composite
def absolute(draw, path=path):
    url = f"{draw(scheme)}://{draw(host)}/{draw(path)}"
    q = draw(query)
    return url if q is None else f"{url}?{q}"


@st.composite
def relative(draw):
    kind = draw(st.sampled_from(["path", "absolute-path", "network-path", "query"]))
    q = draw(query)
    ref = {"path": draw(path), "absolute-path": "/" + draw(path), "network-path": f"//{draw(host)}/{draw(plain_path)}",
           "query": ""}[kind]
    return ref if q is None else f"{ref}?{q}"


@given(absolute(), relative() | absolute(plain_path))
def test_join_agrees_with_urljoin(base, reference):
    parts = urls.split(reference)
    assume(not (parts.has_netloc and {".", ".."} & set(parts.path.split("/"))))
    assert urls.join(base, reference) == urllib.parse.urljoin(base, reference)


@given(absolute())
def test_split_agrees_with_urlsplit(url):
    ours, theirs = urls.split(url), urllib.parse.urlsplit(url)
    assert (ours.scheme, ours.netloc, ours.path, ours.query, ours.fragment) == tuple(theirs)
    assert (ours.hostname, ours.port) == (theirs.hostname, theirs.port)


@pytest.mark.parametrize("netloc", ["host:port", "host:99999", "host:-1", "host:１２"])
def test_bad_ports_are_value_errors(netloc):
    with pytest.raises(ValueError):
        _ = urllib.parse.urlsplit(f"http://{netloc}/").port
    with pytest.raises(ValueError):
        _ = urls.split(f"http://{netloc}/").port


def test_an_empty_query_and_empty_segments_are_kept():
    assert urls.join("http://registry/v2/", "?") == "http://registry/v2/?"
    assert urls.join("http://registry/v2/", "a//b/../c") == "http://registry/v2/a//c"
    assert urls.join("http://registry/v2/", "a//b") == "http://registry/v2/a//b"


def test_target_is_path_and_query():
    assert urls.split("http://h").target == "/"
    assert urls.split("http://h/v2/x?_state=1#frag").target == "/v2/x?_state=1"


@given(st.text(), st.sampled_from(["", "/", ":", "/:"]))
def test_quote_agrees(text, safe):
    assert urls.quote(text, safe) == urllib.parse.quote(text, safe)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_urlencode_agrees(pairs):
    assert urls.urlencode(pairs) == urllib.parse.urlencode(pairs)


@given(st.text(alphabet=st.sampled_from(list("ab%4Fz0é\x00\n")) | st.characters(), max_size=20))
@example("p%C3%A9%C3")
@example("%%41%4")
def test_unquote_agrees(text):
    assert urls.unquote(text) == urllib.parse.unquote(text)
