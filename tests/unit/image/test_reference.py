import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxen.common.errors import InvalidArgument
from boxen.image.reference import Reference, is_loopback, parse, parse_name

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, expected",
    [
        ("busybox", Reference("docker.io", "library/busybox", "latest")),
        ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
        ("library/busybox", Reference("docker.io", "library/busybox", "latest")),
        ("user/app:v1", Reference("docker.io", "user/app", "v1")),
        ("index.docker.io/library/debian", Reference("docker.io", "library/debian", "latest")),
        ("docker.io/debian", Reference("docker.io", "library/debian", "latest")),
        ("localhost/app", Reference("localhost", "app", "latest")),
        ("localhost:5000/a/b:t", Reference("localhost:5000", "a/b", "t")),
        ("127.0.0.1:5000/x/y@" + D, Reference("127.0.0.1:5000", "x/y", None, D)),
        ("quay.io/a/b:t@" + D, Reference("quay.io", "a/b", "t", D)),
        ("[::1]:5000/app", Reference("[::1]:5000", "app", "latest")),
        ("a.b/c__d/e-f--g.h", Reference("a.b", "c__d/e-f--g.h", "latest")),
    ],
)
def test_parse_normalises(text, expected):
    assert parse(text) == expected


def test_round_trip_and_familiar():
    ref = parse("busybox")
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.familiar() == "busybox:latest"
    assert parse("user/app:v1").familiar() == "user/app:v1"
    assert parse("127.0.0.1:5000/x:1").familiar() == "127.0.0.1:5000/x:1"
    assert ref.api_host() == "registry-1.docker.io"
    assert parse("127.0.0.1:5000/x").api_host() == "127.0.0.1:5000"
    assert parse_name("busybox").tag is None
    assert parse("x@" + D).object == D and parse("x:t").object == "t"


@pytest.mark.parametrize(
    "text",
    ["", "Busybox", "busybox:", "busybox:-x", "a//b", "a/b/", "x@sha256:abc", "x@md5:" + "a" * 32,
     "bad_host:5000x/a", "a" * 300, "x:" + "t" * 129, "-a/b", "a:b:c"],
)
def test_parse_rejects(text):
    with pytest.raises(InvalidArgument) as exc:
        parse(text)
    assert exc.value.field == "reference"


def test_with_tag_and_digest():
    ref = parse("busybox")
    assert ref.with_tag("x").tag == "x"
    assert ref.with_digest(D).digest == D
    with pytest.raises(InvalidArgument):
        ref.with_tag(".bad")


@pytest.mark.parametrize("host, loop", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.8.9.10", True),
    ("[::1]:5000", True), ("128.0.0.1", False), ("registry.test:5000", False), ("127.0.0.1.example", False),
])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


# The distribution project's reference grammar, as regular expressions (Go's \w is ASCII). The parser
# checks the same grammar by hand, to keep `re` (5 ms to import) off the start of every pull.
GRAMMAR = {
    "_is_component": r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*",
    "_is_host": r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
                r"|\[[0-9a-fA-F:.]+\]",
    "_is_tag": r"[\w][\w.-]{0,127}",
}
ALPHABET = "ab09AZ._-:[]/é"


@pytest.mark.parametrize("checker", sorted(GRAMMAR))
@settings(max_examples=3000, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=12) | st.text(alphabet="a.-_", min_size=120, max_size=140))
def test_hand_written_checks_match_the_grammar(checker, text):
    import re

    from boxen.image import reference

    expected = re.fullmatch(GRAMMAR[checker], text, re.ASCII) is not None
    assert getattr(reference, checker)(text) is expected
