"""boxen-image build against buildah: the same Dockerfiles give the same file trees and configs.

Each context under ``tests/data/build/`` is built by ``buildah bud --layers --format docker``
(private storage, as ``/work/shared/peers/common.sh`` sets it up) and by ``boxen-image build``,
both from the busybox (or, for ``debian/``, the Debian) test image pushed to a loopback
registry. Both images are written to
OCI layouts and unpacked by the same third tool (umoci), and compared:

* the file trees: every path, its type, mode, owner, size, content digest and link target
  (not times);
* the config: Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts, Volumes, Labels (but
  buildah's own ``io.buildah.version``), StopSignal, Healthcheck, OnBuild, Shell;
* the history: one entry per instruction with the same ``created_by`` (``COPY``/``ADD``
  compared by their shape, ``file:``/``dir:``/``multi:`` and destination, since each builder
  digests content its own way) and the same ``empty_layer`` marks, and as many layers.

Known, deliberate differences:

* buildah 1.28 leaves the mount points of its RUN containers in the layer when the base lacked
  them: empty ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf`` files and an empty
  ``/run`` directory. BuildKit removes such mount stubs and so does boxen; the comparison
  ignores exactly these, and only when they are empty;
* buildah 1.28 ignores ``SHELL`` for the shell form of ``CMD``/``ENTRYPOINT``; boxen follows
  docker's documented rule and uses it (not exercised here);
* buildah 1.28 keeps ``EXPOSE 8000-8001`` as one ``8000-8001/tcp`` key; boxen expands ranges
  into one key per port as docker does (the image spec's keys are single ports; not exercised).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

from support import images
from support.boxen_image import BIN, BoxenImage

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "build")
CONFIG_FIELDS = ("Entrypoint", "Cmd", "Env", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels",
                 "StopSignal", "Healthcheck", "OnBuild", "Shell")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (containers, mounts)")


def _hidden_cgroup2(args: list[str]) -> list[str]:
    """Run in a private mount namespace without the cgroup2 mount (crun refuses the hybrid layout)."""
    return ["unshare", "--mount", "--propagation", "slave", "sh", "-c",
            'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', "hidden", *args]


class Buildah:
    def __init__(self, home: str) -> None:
        self.home = home
        for d in ("root", "runroot", "tmp"):
            os.makedirs(os.path.join(home, d), exist_ok=True)
        hard = subprocess.run(["sh", "-c", "ulimit -Hn"], check=True, capture_output=True, text=True).stdout.strip()
        conf = os.path.join(home, "containers.conf")
        with open(conf, "w") as f:
            f.write(f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}", "nproc=32768:32768"]\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": conf, "TMPDIR": os.path.join(home, "tmp")}
        self.base = ["buildah", "--root", os.path.join(home, "root"), "--runroot", os.path.join(home, "runroot"),
                     "--storage-driver", "overlay"]

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(_hidden_cgroup2([*self.base, *args]), check=False, capture_output=True, text=True,
                              env=self.env, timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    def close(self) -> None:
        for args in (("rm", "--all"), ("rmi", "--all", "--force")):
            subprocess.run(_hidden_cgroup2([*self.base, *args]), check=False, capture_output=True, env=self.env)
        subprocess.run(["umount", "-R", os.path.join(self.home, "root", "overlay")], check=False, capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def base(registry, busybox_layout):
    layout, tag = busybox_layout
    ref = f"{registry.host}/test/busybox:latest"
    images.push(layout, tag, ref)
    return ref


@pytest.fixture(scope="module")
def debian_base(registry, debian_layout):
    layout, tag = debian_layout
    ref = f"{registry.host}/test/debian:bookworm"
    images.push(layout, tag, ref)
    return ref


@pytest.fixture(scope="module")
def buildah(tmp_path_factory):
    for tool in ("buildah", "umoci"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    b = Buildah(str(tmp_path_factory.mktemp("buildah")))
    yield b
    b.close()


@pytest.fixture(scope="module")
def boxen(tmp_path_factory):
    if not os.path.exists(BIN):
        pytest.skip(f"{BIN} is missing (make venv)")
    root = str(tmp_path_factory.mktemp("boxen-root"))
    yield BoxenImage(root, os.path.join(root, "docker"))
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if f" {root}/" in line]
    for point in sorted(left, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    assert left == [], "mounts were left behind"
    assert os.listdir(os.path.join(root, "build", "tmp")) == [], "temporary build directories were left behind"


def context(tmp_path, name: str) -> str:
    """A copy of a data context (so that tests can add files to it), with copy's archive made."""
    target = str(tmp_path / name)
    shutil.copytree(os.path.join(DATA, name), target, symlinks=True)
    if name == "copy":
        with tarfile.open(os.path.join(target, "arch.tar.gz"), "w:gz") as tar:
            for rel in ("sub", "sub/inner.txt"):
                info = tarfile.TarInfo(rel)
                if rel == "sub":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    data = b"from the archive\n"
                    info.size, info.mode, info.uid, info.gid = len(data), 0o644, 1000, 1000
                    tar.addfile(info, io.BytesIO(data))
    return target


def tree(rootfs: str) -> dict[str, tuple]:
    """Every path under ``rootfs``: (type, mode, uid, gid, size or link target, sha256)."""
    out = {}
    for directory, dirs, files in os.walk(rootfs):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, rootfs)
            kind = stat.S_IFMT(st.st_mode)
            detail: object = None
            digest = None
            if stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                detail = st.st_size
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[rel] = (kind, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, detail, digest)
    return out


def unpacked(layout: str, tag: str, bundle: str) -> dict[str, tuple]:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", bundle], check=True, capture_output=True)
    return tree(os.path.join(bundle, "rootfs"))


def buildah_image(buildah: Buildah, tmp_path, name: str) -> tuple[dict, dict, list]:
    layout = str(tmp_path / "buildah-layout")
    buildah("push", name, f"oci:{layout}:{name}")
    files = unpacked(layout, name, str(tmp_path / "buildah-bundle"))
    info = json.loads(buildah("inspect", "--type", "image", name))
    docker = info["Docker"]
    return files, docker["config"], docker["history"], docker["rootfs"]["diff_ids"]


def boxen_image(boxen: BoxenImage, tmp_path, name: str) -> tuple[dict, dict, list]:
    layout = str(tmp_path / "boxen-layout")
    boxen("save", "--format", "oci-dir", "-o", layout, name)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    files = unpacked(layout, tag, str(tmp_path / "boxen-bundle"))
    config = json.loads(boxen("inspect", name).stdout)["Config"]
    return files, config.get("config", {}), config.get("history", []), config["rootfs"]["diff_ids"]


def normal_config(config: dict) -> dict:
    out = {}
    for field in CONFIG_FIELDS:
        value = config.get(field)
        if field == "Labels" and value:
            value = {k: v for k, v in value.items() if k != "io.buildah.version"}
        out[field] = value or None
    return out


_COPY = re.compile(r"^(/bin/sh -c #\(nop\) (?:COPY|ADD) )(file|dir|multi):[0-9a-f]{64}( in .*)$")


def normal_history(history: list) -> list[tuple[str, bool]]:
    return [(_COPY.sub(r"\1\2:<digest>\3", h.get("created_by", "")), bool(h.get("empty_layer")))
            for h in history]


def build_both(buildah, boxen, base, tmp_path, name: str, *args: str, dockerfile: str | None = None):
    ctx = context(tmp_path, name)
    tag = f"localhost/build-{name}:test"
    extra = ["--build-arg", f"BASE={base}", *args]
    if dockerfile:
        extra += ["-f", os.path.join(ctx, dockerfile)]
    buildah("bud", "--layers", "--format", "docker", "--tls-verify=false", "-q", "-t", tag, *extra, ctx)
    out = boxen("build", "-q", "-t", tag, *extra, ctx).stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", out), out
    return buildah_image(buildah, tmp_path, tag), boxen_image(boxen, tmp_path, tag)


MOUNT_STUBS = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run"}


def _stub(entry: tuple) -> bool:
    kind, _, _, _, detail, _ = entry
    return (kind == stat.S_IFREG and detail == 0) or kind == stat.S_IFDIR


def assert_same(theirs, ours):
    their_files, their_config, their_history, their_layers = theirs
    our_files, our_config, our_history, our_layers = ours
    their_files = {p: e for p, e in their_files.items()
                   if not (p in MOUNT_STUBS and p not in our_files and _stub(e))}
    missing = sorted(set(their_files) - set(our_files))
    extra = sorted(set(our_files) - set(their_files))
    different = sorted(p for p in set(their_files) & set(our_files) if their_files[p] != our_files[p])
    assert (missing, extra, [(p, their_files[p], our_files[p]) for p in different]) == ([], [], [])
    assert normal_config(our_config) == normal_config(their_config)
    assert normal_history(our_history) == normal_history(their_history)
    assert len(our_layers) == len(their_layers)


@pytest.mark.parametrize("name, args", [
    ("config", ("--build-arg", "OVERRIDDEN=given")),
    ("copy", ()),
    ("multistage", ()),
    ("shell", ()),
    ("scratch", ()),
    ("mounts", ()),
])
def test_same_as_buildah(buildah, boxen, base, tmp_path, name, args):
    assert_same(*build_both(buildah, boxen, base, tmp_path, name, *args))


def test_debian_same_as_buildah(buildah, boxen, debian_base, tmp_path):
    """A distribution's tools in RUN (useradd), a named user's --chown, USER and WORKDIR for RUN."""
    theirs, ours = build_both(buildah, boxen, debian_base, tmp_path, "debian")
    assert_same(theirs, ours)
    assert ours[0]["/srv/app/run.sh"][2:4] == (1234, 1234)


def test_target_stage_same_as_buildah(buildah, boxen, base, tmp_path):
    theirs, ours = build_both(buildah, boxen, base, tmp_path, "multistage", "--target", "builder")
    assert_same(theirs, ours)
    assert "/out/greeting" in ours[0] and "/greeting" not in ours[0]


def test_onbuild_triggers_same_as_buildah(buildah, boxen, base, tmp_path):
    build_both(buildah, boxen, base, tmp_path, "onbuild", dockerfile="Dockerfile.parent")
    parent = "localhost/build-onbuild:test"
    ctx = os.path.join(DATA, "onbuild")
    buildah("bud", "--layers", "--format", "docker", "-q", "--build-arg", f"PARENT={parent}", "-t",
            "localhost/onbuild-child:test", ctx)
    boxen("build", "-q", "--build-arg", f"PARENT={parent}", "-t", "localhost/onbuild-child:test", ctx)
    (tmp_path / "child").mkdir()
    theirs = buildah_image(buildah, tmp_path / "child", "localhost/onbuild-child:test")
    ours = boxen_image(boxen, tmp_path / "child", "localhost/onbuild-child:test")
    assert_same(theirs, ours)
    assert ours[0]["/triggered.txt"][0] == stat.S_IFREG
