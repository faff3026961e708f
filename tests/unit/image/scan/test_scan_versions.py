"""Version orderings: known chains, refusals, algebraic properties, and dpkg as an oracle."""

import itertools
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxen.common.errors import InvalidArgument
from boxen.image.scan import versions
from boxen.image.scan.versions import alpine, debian, pypi, semver


def _assert_ascending(scheme, chain):
    for older, newer in itertools.combinations(chain, 2):
        assert scheme.compare(older, newer) < 0, (older, newer)
        assert scheme.compare(newer, older) > 0, (newer, older)
    assert sorted(chain[::-1], key=scheme.key) == chain


# --- Debian ---------------------------------------------------------------------------------

DEBIAN_CHAIN = [
    "0",
    "0.9",
    "1.0~~",
    "1.0~~a",
    "1.0~",
    "1.0~rc1",
    "1.0",
    "1.0a",
    "1.0+dfsg",
    "1.0.1",
    "1.0.1-1~deb12u1",
    "1.0.1-1",
    "1.0.1-1+deb12u2",
    "1.0.1-1+deb12u10",
    "1.1",
    "1:0.1",
    "2:0",
]


def test_debian_known_order():
    _assert_ascending(versions.DEBIAN, DEBIAN_CHAIN)


@pytest.mark.parametrize(
    "older, newer",
    [
        ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
        ("7.88.1-10+deb12u4", "7.88.1-10+deb12u5"),
        ("2.36-9+deb12u4", "2.36-9+deb12u10"),
        ("2.67-1", "1:2.66-4+deb12u3"),
        ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1"),
    ],
)
def test_debian_security_updates(older, newer):
    assert debian.compare(older, newer) < 0


@pytest.mark.parametrize("a, b", [("1.0", "1.0-0"), ("1.0", "0:1.0"), ("1.00", "1.0"), ("1.0-1", "1.0-01")])
def test_debian_equal_spellings(a, b):
    assert debian.compare(a, b) == 0


def test_debian_parse_splits_at_first_colon_and_last_dash():
    assert debian.parse("1:2.0-rc-3") == debian.DebianVersion(1, "2.0-rc", "3")
    assert str(debian.parse("1:2.0-rc-3")) == "1:2.0-rc-3"
    assert debian.parse(" 2.0 ") == debian.DebianVersion(0, "2.0", "")


@pytest.mark.parametrize("bad", ["", "  ", "a:1.0", ":1.0", "1:", "1.0-", "1 .0", "-1", "99999999999:1", "1.0é"])
def test_debian_refuses_what_dpkg_refuses(bad):
    with pytest.raises(InvalidArgument) as exc:
        debian.parse(bad)
    assert exc.value.field == "version"


_DEB_CHARS = "0123456789abcz.+~"
_deb_part = st.text(alphabet=_DEB_CHARS, max_size=6)
_deb_version = st.builds(
    lambda epoch, first, upstream, revision: (
        (f"{epoch}:" if epoch is not None else "") + first + upstream + (f"-{revision}" if revision else "")
    ),
    st.none() | st.integers(0, 3),
    st.sampled_from("0129"),
    _deb_part,
    st.none() | st.text(alphabet=_DEB_CHARS, min_size=1, max_size=5),
)


@settings(max_examples=200, deadline=None)
@given(_deb_version, _deb_version, _deb_version)
def test_debian_is_a_total_order(a, b, c):
    cmp = debian.compare
    assert cmp(a, a) == 0
    assert (cmp(a, b) > 0) - (cmp(a, b) < 0) == -((cmp(b, a) > 0) - (cmp(b, a) < 0))
    if cmp(a, b) <= 0 and cmp(b, c) <= 0:
        assert cmp(a, c) <= 0


def _dpkg_sign(a, b):
    for op, sign in (("lt", -1), ("eq", 0), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False, capture_output=True).returncode == 0:
            return sign
    raise AssertionError(f"dpkg gave no answer for {a!r} {b!r}")


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed (it is the oracle)")
@settings(max_examples=100, deadline=None)
@given(_deb_version, _deb_version)
def test_debian_agrees_with_dpkg(a, b):
    mine = debian.compare(a, b)
    assert (mine > 0) - (mine < 0) == _dpkg_sign(a, b)


# --- Alpine ---------------------------------------------------------------------------------

ALPINE_CHAIN = [
    "0.9",
    "1.0_alpha",
    "1.0_alpha1",
    "1.0_beta2",
    "1.0_pre1",
    "1.0_rc1",
    "1.0",
    "1.0-r1",
    "1.0~abc123",
    "1.0_cvs",
    "1.0_git20240101",
    "1.0_p1",
    "1.0a",
    "1.0.001",
    "1.0.01",
    "1.0.1",
    "1.0.9",
    "1.0.10",
    "1.1",
    "2",
    "10",
]


def test_alpine_known_order():
    _assert_ascending(versions.ALPINE, ALPINE_CHAIN)


@pytest.mark.parametrize(
    "older, newer",
    [("1.36.1-r15", "1.36.1-r16"), ("3.1.4-r5", "3.1.4-r10"), ("2.3.0b-r1", "3.10.18-r1"), ("1.1_alpha1", "1.1")],
)
def test_alpine_package_updates(older, newer):
    assert alpine.compare(older, newer) < 0


@pytest.mark.parametrize(
    "bad",
    ["", "a", ".1", "_pre1", "-r1", "0.1bc", "0.1a1", "0.1a.1", "0.1_foobar", "0.1_", "0.1-r", "0.1-r2-r3",
     "0.1-r2.1", "0.1-r2_p3", "0.1_pre2~", "0.1_pre2~12xz", "0.1~ab_pre1", "1.0 ", "1..0"],
)
def test_alpine_refuses_malformed(bad):
    with pytest.raises(InvalidArgument):
        alpine.validate(bad)


_alpine_version = st.builds(
    lambda nums, letter, suffixes, commit, rev: (
        ".".join(nums) + letter + "".join(suffixes) + (f"~{commit}" if commit else "") + (f"-r{rev}" if rev is not None else "")
    ),
    st.lists(st.sampled_from(["0", "1", "2", "01", "10", "007"]), min_size=1, max_size=4),
    st.sampled_from(["", "a", "b", "z"]),
    st.lists(st.builds(lambda s, n: f"_{s}{n}", st.sampled_from(["alpha", "beta", "pre", "rc", "git", "p"]),
                       st.sampled_from(["", "1", "2", "10"])), max_size=2),
    st.sampled_from(["", "ab", "a1", "ff00"]),
    st.none() | st.integers(0, 12),
)


@settings(max_examples=200, deadline=None)
@given(_alpine_version, _alpine_version, _alpine_version)
def test_alpine_is_a_total_order(a, b, c):
    cmp = alpine.compare
    assert cmp(a, a) == 0
    assert cmp(a, b) == -cmp(b, a)
    if cmp(a, b) <= 0 and cmp(b, c) <= 0:
        assert cmp(a, c) <= 0


@given(_alpine_version)
def test_alpine_revision_and_suffix_properties(v):
    without_revision = v.split("-r")[0]
    assert alpine.compare(without_revision, without_revision + "-r1") < 0
    release = without_revision.split("_")[0].split("~")[0]
    assert alpine.compare(release + "_rc1", release) < 0 < alpine.compare(release + "_p1", release)


# --- PyPI and SemVer --------------------------------------------------------------------------


def test_pypi_known_order_and_equal_spellings():
    _assert_ascending(versions.PYPI, ["0.9", "1.0.dev0", "1.0a1", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.1", "1!0.1"])
    assert pypi.compare("1.0", "1.0.0") == 0
    assert pypi.compare("1.0RC1", "1.0rc1") == 0
    with pytest.raises(InvalidArgument):
        pypi.key("not a version")


def test_semver_known_order():
    _assert_ascending(
        versions.SEMVER,
        ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
         "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"],
    )
    assert semver.compare("1.0.0+build.1", "1.0.0+build.2") == 0
    assert semver.compare("v1.2", "1.2.0") == 0


@pytest.mark.parametrize("bad", ["", "a.b.c", "01.0.0", "1.0.0.0", "1.0.0-", "1.0.0-01", "1.0.0-a..b", "1.0.0-é"])
def test_semver_refuses_malformed(bad):
    with pytest.raises(InvalidArgument):
        semver.key(bad)


_semver_version = st.builds(
    lambda core, pre: core + (f"-{pre}" if pre else ""),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.none() | st.lists(st.sampled_from(["alpha", "beta", "rc", "0", "1", "11", "x-y"]), min_size=1, max_size=3).map(".".join),
)


@given(_semver_version, _semver_version, _semver_version)
def test_semver_is_a_total_order(a, b, c):
    cmp = semver.compare
    assert cmp(a, a) == 0
    assert cmp(a, b) == -cmp(b, a)
    if cmp(a, b) <= 0 and cmp(b, c) <= 0:
        assert cmp(a, c) <= 0


# --- choosing a scheme ---------------------------------------------------------------------------


def test_scheme_for_osv_ranges():
    assert versions.for_range("ECOSYSTEM", "Debian:12") is versions.DEBIAN
    assert versions.for_range("ECOSYSTEM", "Alpine:v3.19") is versions.ALPINE
    assert versions.for_range("ECOSYSTEM", "PyPI") is versions.PYPI
    assert versions.for_range("SEMVER", "PyPI") is versions.SEMVER
    assert versions.for_range("GIT", "PyPI") is None
    assert versions.for_range("ECOSYSTEM", "npm") is None
