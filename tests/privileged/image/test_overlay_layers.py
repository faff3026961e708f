"""Layers applied to overlayfs upper directories, then mounted: what a container would see."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.content import put
from boxen.image.content.memory import MemoryContentStore
from boxen.image.diff import diff_snapshot
from boxen.image.layers import apply_layer
from boxen.image.snapshots import ACTIVE, open_snapshotter
from boxen.image.snapshots.overlay import OverlaySnapshotter
from boxen.image.unpack import apply_target, unpack
from boxen.oci import image as oci


def tar(*entries: tuple) -> bytes:
    """Entries as ``(name, kind, value, attrs)``: kind ``f`` file (value: bytes), ``d`` directory,
    ``l`` symlink (value: target), ``h`` hardlink, ``c`` char device (value: (major, minor))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, value, attrs in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            info.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
                         "c": tarfile.CHRTYPE}[kind]
            info.mode = attrs.get("mode", 0o755 if kind == "d" else 0o644)
            info.uid, info.gid = attrs.get("uid", 0), attrs.get("gid", 0)
            data = None
            if kind == "f":
                data = io.BytesIO(value)
                info.size = len(value)
            elif kind in "lh":
                info.linkname = value
            elif kind == "c":
                info.devmajor, info.devminor = value
            for key, raw in attrs.get("xattrs", {}).items():
                info.pax_headers[f"SCHILY.xattr.{key}"] = raw.decode("utf-8", "surrogateescape")
            t.addfile(info, data)
    return buf.getvalue()


def F(name, data=b"", **attrs):
    return (name, "f", data, attrs)


def D(name, **attrs):
    return (name, "d", None, attrs)


def L(name, target, **attrs):
    return (name, "l", target, attrs)


@pytest.fixture
def snapshotter(root_dir):
    s = OverlaySnapshotter(str(root_dir / "snapshots"))
    yield s
    s.close()


def stack(snapshotter, *layers: bytes) -> str:
    """Apply ``layers`` as unpack does (upper dir over the lower layers); returns the top name."""
    parent = None
    for i, blob in enumerate(layers):
        directory, overlay, lowers = apply_target(snapshotter.prepare(f"k{i}", parent))
        apply_layer(io.BytesIO(blob), directory, overlay=overlay, lowers=lowers, rootless=False)
        snapshotter.commit(f"l{i}", f"k{i}")
        parent = f"l{i}"
    return parent


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def listing(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)


def test_whiteouts_and_opaque_directories_hide_lower_files(snapshotter, mounter):
    top = stack(
        snapshotter,
        tar(D("etc"), F("etc/a", b"a"), F("etc/b", b"b"), D("var"), D("var/cache"), F("var/cache/old"),
            D("var/cache/sub"), F("var/cache/sub/x"), D("gone"), F("gone/inside")),
        tar(D("etc"), F("etc/.wh.a"), F(".wh.gone"), D("var"), D("var/cache"), F("var/cache/.wh..wh..opq"),
            F("var/cache/new", b"n")),
    )
    with mounter(snapshotter.view("v", top)) as root:
        assert listing(root) == ["etc", "etc/b", "var", "var/cache", "var/cache/new"]
    upper = snapshotter.mounts("v")[0].options[-1].split("=")[1].split(":")[0]
    st = os.lstat(os.path.join(upper, "etc/a"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0  # overlayfs's whiteout
    assert os.getxattr(os.path.join(upper, "var/cache"), "trusted.overlay.opaque") == b"y"


def test_a_path_deleted_and_recreated_in_one_layer(snapshotter, mounter):
    top = stack(
        snapshotter,
        tar(D("d"), F("d/lower"), F("f", b"lower")),
        tar(F(".wh.d"), F(".wh.f"), D("d"), F("d/upper"), F("f", b"upper")),
    )
    with mounter(snapshotter.view("v", top)) as root:
        assert os.listdir(os.path.join(root, "d")) == ["upper"]  # the new d hides the old one's contents
        assert read_bytes(os.path.join(root, "f")) == b"upper"


def test_parents_missing_from_the_layer_take_the_lower_directorys_attributes(snapshotter, mounter):
    top = stack(
        snapshotter,
        tar(D("srv", mode=0o750, uid=33, gid=34), D("srv/www", mode=0o700, uid=33, gid=34)),
        tar(F("srv/www/index.html", b"hi")),  # no directory entries for srv or srv/www
    )
    with mounter(snapshotter.view("v", top)) as root:
        for name, mode in (("srv", 0o750), ("srv/www", 0o700)):
            st = os.stat(os.path.join(root, name))
            assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, 33, 34), name
            assert st.st_mtime == 1_700_000_000
        assert read_bytes(os.path.join(root, "srv/www/index.html")).decode() == "hi"


def test_a_symlink_in_a_lower_layer_is_followed_for_later_layers(snapshotter, mounter):
    # Debian's merged /usr: lib -> usr/lib in the base, packages later write lib/...
    top = stack(
        snapshotter,
        tar(D("usr"), D("usr/lib"), L("lib", "usr/lib"), L("abs", "/usr")),
        tar(F("lib/libc.so", b"c"), F("abs/share/doc", b"d")),
    )
    with mounter(snapshotter.view("v", top)) as root:
        assert os.path.islink(os.path.join(root, "lib"))
        assert read_bytes(os.path.join(root, "usr/lib/libc.so")) == b"c"
        assert read_bytes(os.path.join(root, "usr/share/doc")) == b"d"


def test_a_whited_out_lower_directory_is_not_merged_back(snapshotter, mounter):
    top = stack(
        snapshotter,
        tar(D("d"), F("d/old")),
        tar(F(".wh.d")),
        tar(F("d/new")),  # recreated by a later layer, without a directory entry
    )
    with mounter(snapshotter.view("v", top)) as root:
        assert os.listdir(os.path.join(root, "d")) == ["new"]


def test_owners_modes_devices_and_capabilities(snapshotter, mounter):
    cap = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_raw+ep
    top = stack(snapshotter, tar(
        D("dev"), ("dev/null", "c", (1, 3), {"mode": 0o666}), ("dev/sda", "c", (8, 0), {"mode": 0o660, "gid": 6}),
        F("bin/ping", b"\x7fELF", mode=0o4755, uid=0, gid=0, xattrs={"security.capability": cap}),
        F("home/user/file", b"x", mode=0o600, uid=1000, gid=1000),
        F("etc/trusted", b"t", xattrs={"trusted.boxen": b"1"}),
    ))
    with mounter(snapshotter.view("v", top)) as root:
        st = os.lstat(os.path.join(root, "dev/null"))
        assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
        assert stat.S_IMODE(st.st_mode) == 0o666
        assert os.lstat(os.path.join(root, "dev/sda")).st_gid == 6
        ping = os.path.join(root, "bin/ping")
        assert stat.S_IMODE(os.stat(ping).st_mode) == 0o4755
        assert os.getxattr(ping, "security.capability") == cap  # set after chown, which would clear it
        st = os.stat(os.path.join(root, "home/user/file"))
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o600)
        assert os.getxattr(os.path.join(root, "etc/trusted"), "trusted.boxen") == b"1"


def test_diff_of_changes_made_through_an_overlay_mount(snapshotter, mounter, root_dir):
    base = stack(snapshotter, tar(D("etc"), F("etc/keep"), F("etc/drop"), D("cache"), F("cache/a"), F("cache/b")))
    with mounter(snapshotter.prepare("work", base)) as root:
        os.unlink(os.path.join(root, "etc/drop"))  # the kernel writes a whiteout
        for name in os.listdir(os.path.join(root, "cache")):
            os.unlink(os.path.join(root, "cache", name))
        os.rmdir(os.path.join(root, "cache"))
        os.mkdir(os.path.join(root, "cache"))  # ... and an opaque directory
        with open(os.path.join(root, "cache/new"), "w") as f:
            f.write("n")
    out = io.BytesIO()
    result = diff_snapshot(snapshotter, "work", out, compression="none")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as written:
        names = written.getnames()
    assert "etc/.wh.drop" in names and "cache/.wh..wh..opq" in names and "cache/new" in names
    assert not any(n.startswith("etc/keep") for n in names)
    # the diff applied as a new layer gives what the mount showed
    directory, overlay, lowers = apply_target(snapshotter.prepare("replay", base))
    apply_layer(io.BytesIO(out.getvalue()), directory, overlay=overlay, lowers=lowers, rootless=False)
    snapshotter.commit("replayed", "replay")
    with mounter(snapshotter.view("v", "replayed")) as root:
        assert listing(root) == ["cache", "cache/new", "etc", "etc/keep"]
    assert result.whiteouts == 2


def test_a_hostile_layer_leaves_no_snapshot_behind(snapshotter, root_dir):
    store = MemoryContentStore()
    good, evil = tar(F("ok")), tar(F("fine"), F("../../escape", b"owned"))
    layers = tuple(put(store, blob, oci.OCI_LAYER) for blob in (good, evil))
    import hashlib

    diff_ids = tuple("sha256:" + hashlib.sha256(b).hexdigest() for b in (good, evil))
    config = oci.ImageConfig("amd64", "linux", oci.RootFS("layers", diff_ids))
    manifest = oci.Manifest(2, put(store, b"{}", oci.OCI_CONFIG), layers)
    with pytest.raises(InvalidArgument, match="climbs out"):
        unpack(store, snapshotter, manifest, config)
    assert [(i.name, i.kind) for i in snapshotter.walk()] == [(diff_ids[0], "committed")]
    assert not any(i.kind == ACTIVE for i in snapshotter.walk())
    assert os.listdir(os.path.join(snapshotter.root, "snapshots")) == ["1"]
    assert not os.path.exists(root_dir.parent / "escape") and not os.path.exists(root_dir / "escape")


def test_auto_picks_overlay_for_root(root_dir):
    s = open_snapshotter(str(root_dir / "auto"))
    assert s.kind == "overlay"
    s.close()
