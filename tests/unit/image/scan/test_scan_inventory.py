"""Inventory of synthetic root filesystems: dpkg, apk and Python records, and hostile trees."""

import os
import pathlib

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.scan import inventory, licenses, purl
from boxen.image.scan.rootfs import RootFS

DATA = pathlib.Path(__file__).resolve().parents[3] / "data" / "scan"


def _by_purl(components):
    return {c.purl: c for c in components if c.purl}


def test_debian_rootfs():
    components = inventory(str(DATA / "debian-rootfs"))
    os_component = components[0]
    assert (os_component.type, os_component.name, os_component.version) == ("operating-system", "debian", "12")
    found = _by_purl(components)
    ssl = found["pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"]
    assert (ssl.name, ssl.version, ssl.arch, ssl.ecosystem) == ("libssl3", "3.0.11-1~deb12u2", "amd64", "Debian:12")
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert ssl.licenses == ("Apache-2.0", "GPL-2.0-or-later", "BSD-3-Clause")
    assert ssl.description == "Secure Sockets Layer toolkit - shared libraries"
    assert ssl.locations == ("/var/lib/dpkg/status",)


def test_debian_source_version_multiarch_and_states():
    components = inventory(str(DATA / "debian-rootfs"))
    zlibs = [c for c in components if c.name == "zlib1g"]
    assert sorted(c.arch for c in zlibs) == ["amd64", "i386"]
    assert {(c.advisory_name, c.advisory_version) for c in zlibs} == {("zlib", "1:1.2.13.dfsg-1")}
    assert all(c.licenses == () for c in zlibs)  # copyright file is not DEP-5
    assert "tzdata" not in {c.name for c in components}  # config-files only: nothing on disk
    bash = next(c for c in components if c.name == "bash")
    assert (bash.advisory_name, bash.advisory_version) == ("bash", "5.2.15-2+b2")
    assert bash.purl == "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"


def test_python_metadata_in_debian_rootfs():
    found = {c.name: c for c in inventory(str(DATA / "debian-rootfs")) if c.ecosystem == "PyPI"}
    assert set(found) == {"idna", "six", "requests", "urllib3"}
    assert found["six"].locations == ("/usr/lib/python3/dist-packages/six-1.16.0.egg-info",)
    assert found["idna"].locations == ("/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO",)
    assert found["requests"].purl == "pkg:pypi/requests@2.25.0"
    assert found["requests"].licenses == ("Apache-2.0",)
    assert found["urllib3"].licenses == ("MIT",)  # License-Expression
    assert found["idna"].licenses == ("BSD-3-Clause",)  # a known SPDX id beats the vague classifier


def test_alpine_rootfs():
    components = inventory(str(DATA / "alpine-rootfs"))
    assert (components[0].name, components[0].version) == ("alpine", "3.19.1")
    found = {c.name: c for c in components}
    crypto = found["libcrypto3"]
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r2?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    assert (crypto.ecosystem, crypto.advisory_name, crypto.advisory_version) == ("Alpine:v3.19", "openssl", "3.1.4-r2")
    assert found["musl"].version == "1.2.4_git20230717-r4"
    assert found["zlib"].licenses == ("Zlib AND MIT",)
    assert found["ssl_client"].licenses == ("GPL-2.0-only", "custom")
    assert found["Jinja2"].purl == "pkg:pypi/jinja2@3.1.2"


def test_distroless_status_d():
    components = inventory(str(DATA / "distroless-rootfs"))
    names = [c.name for c in components]
    assert names == ["debian", "libc6", "tzdata"]
    libc = components[1]
    assert libc.locations == ("/var/lib/dpkg/status.d/libc6",)
    assert libc.advisory_name == "glibc"


def test_same_distribution_in_two_places_is_one_component(tmp_path):
    for venv in ("a", "b"):
        info = tmp_path / venv / "lib" / "site-packages" / "six-1.16.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Name: six\nVersion: 1.16.0\n")
    (components,) = inventory(str(tmp_path))
    assert components.locations == (
        "/a/lib/site-packages/six-1.16.0.dist-info/METADATA",
        "/b/lib/site-packages/six-1.16.0.dist-info/METADATA",
    )


def test_empty_and_missing_roots(tmp_path):
    assert inventory(str(tmp_path)) == []
    with pytest.raises(NotFound) as exc:
        inventory(str(tmp_path / "missing"))
    assert exc.value.field == "rootfs"
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgument):
        inventory(str(tmp_path / "file"))


# --- hostile root filesystems -----------------------------------------------------------------


def _status_dir(root):
    d = root / "var" / "lib" / "dpkg"
    d.mkdir(parents=True)
    return d


def test_absolute_symlink_resolves_inside_the_root(tmp_path):
    outside = tmp_path / "host-status"
    outside.write_text("Package: host-secret\nVersion: 1\n")
    root = tmp_path / "rootfs"
    _status_dir(root)
    os.symlink(str(outside), root / "var/lib/dpkg/status")
    assert inventory(str(root)) == []  # the link points at <root>/tmp/.../host-status, which is absent
    # the same link, with the target present inside the root, is followed there
    inside = root / str(outside).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("Package: inside\nVersion: 2\n")
    assert [c.name for c in inventory(str(root))] == ["inside"]


def test_dotdot_symlink_stays_at_the_root(tmp_path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: LEAKED\n"
    )
    root = tmp_path / "rootfs"
    (_status_dir(root) / "status").write_text("Package: p\nVersion: 1\n")
    doc = root / "usr/share/doc/p"
    doc.mkdir(parents=True)
    os.symlink("../../../../../../../../secret/copyright", doc / "copyright")
    (component,) = inventory(str(root))
    assert component.licenses == ()


def test_symlink_loop_is_refused(tmp_path):
    d = _status_dir(tmp_path)
    os.symlink("status", d / "status")
    with pytest.raises(InvalidArgument) as exc:
        inventory(str(tmp_path))
    assert "symbolic links" in str(exc.value)


def test_fifo_and_directory_in_place_of_the_database_are_ignored(tmp_path):
    d = _status_dir(tmp_path)
    os.mkfifo(d / "status")
    (tmp_path / "lib/apk/db/installed").mkdir(parents=True)
    assert inventory(str(tmp_path)) == []


def test_huge_database_is_refused_without_reading_it(tmp_path):
    d = _status_dir(tmp_path)
    with open(d / "status", "wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: costs nothing on disk
    with pytest.raises(InvalidArgument) as exc:
        inventory(str(tmp_path))
    assert exc.value.field == "/var/lib/dpkg/status"


@pytest.mark.parametrize(
    "text, where",
    [
        ("Package: a\nVersion: 1\n\nPackage: b\n", "/var/lib/dpkg/status:4"),
        ("Package: a\nVersion: 1\nthis is not a field\n", "/var/lib/dpkg/status:3"),
        (" continuation\n", "/var/lib/dpkg/status:1"),
        ("Package: a\nVersion: 1\nSource: a b c\n", "/var/lib/dpkg/status:1"),
    ],
)
def test_malformed_status_names_file_and_line(tmp_path, text, where):
    (_status_dir(tmp_path) / "status").write_text(text)
    with pytest.raises(InvalidArgument) as exc:
        inventory(str(tmp_path))
    assert exc.value.field == where


def test_malformed_apk_database(tmp_path):
    db = tmp_path / "lib/apk/db"
    db.mkdir(parents=True)
    (db / "installed").write_text("P:a\nV:1\n\nnonsense\n")
    with pytest.raises(InvalidArgument) as exc:
        inventory(str(tmp_path))
    assert exc.value.field == "/lib/apk/db/installed:4"


def test_resolve_follows_the_kernel():
    root = RootFS(str(DATA / "debian-rootfs"))
    assert root.resolve("/usr/../etc/./os-release") == os.path.join(root.path, "etc/os-release")
    assert root.resolve("/../../etc/os-release") == os.path.join(root.path, "etc/os-release")
    assert root.resolve("/etc/missing/x") is None
    assert root.resolve("/nope/../etc/os-release") is None  # as for the kernel: ENOENT
    assert root.resolve("/etc/os-release/x") is None  # ENOTDIR


def test_missing_component_cannot_hide_an_escape(tmp_path):
    (tmp_path / "outside").write_text("Package: host\nVersion: 1\n")
    root = tmp_path / "rootfs"
    d = _status_dir(root)
    os.symlink("../../../../missing/../outside", d / "status")
    assert inventory(str(root)) == []


# --- purls and licences ---------------------------------------------------------------------------


def test_purl_encoding():
    assert purl.build("deb", "debian", "libcap2", "1:2.66-4+deb12u3", {"distro": "debian-12", "arch": "amd64"}) == (
        "pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u3?arch=amd64&distro=debian-12"
    )
    assert purl.build("pypi", None, "a b", None, {"x": None}) == "pkg:pypi/a%20b"


def test_purls_parse_with_the_reference_implementation():
    packageurl = pytest.importorskip("packageurl", reason="packageurl-python is the purl reference parser")
    for component in inventory(str(DATA / "debian-rootfs")) + inventory(str(DATA / "alpine-rootfs")):
        if component.purl:
            parsed = packageurl.PackageURL.from_string(component.purl)
            assert parsed.version == component.version
            assert parsed.to_string() == component.purl


@pytest.mark.parametrize(
    "text, expected",
    [
        ("MIT OR Apache-2.0", ("MIT OR Apache-2.0",)),
        ("(GPL-2.0+ AND bsd-3-clause)", ("(GPL-2.0-or-later AND BSD-3-Clause)",)),
        ("GPL-2.0-only WITH Classpath-exception-2.0", ("GPL-2.0-only WITH Classpath-exception-2.0",)),
        ("MIT AND custom", ("MIT", "custom")),
        ("GPL-2.0-only WITH Made-up-exception", ("GPL-2.0-only",)),
        ("LicenseRef-Foo OR MIT", ("LicenseRef-Foo OR MIT",)),
    ],
)
def test_license_expressions(text, expected):
    assert licenses.normalize_expression(text) == expected


def test_license_cyclonedx_choice():
    assert licenses.cyclonedx(("MIT OR Apache-2.0",)) == [{"expression": "MIT OR Apache-2.0"}]
    assert licenses.cyclonedx(("MIT", "public-domain", "A OR B")) == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "public-domain"}},
        {"license": {"name": "A OR B"}},
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CAP_MKNOD)")
def test_a_device_node_in_place_of_the_database_is_ignored_never_opened(tmp_path):
    import stat

    d = _status_dir(tmp_path)
    os.mknod(d / "status", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers: endless if read
    assert inventory(str(tmp_path)) == []
