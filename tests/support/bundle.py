"""OCI bundles for tests: a busybox root filesystem and a ``config.json`` close to ``runc spec``.

An OCI *bundle* is a directory holding ``config.json`` (the runtime spec's configuration: the
process to run, its user, capabilities, mounts, namespaces, cgroup resources, hooks) and the
container's root filesystem, usually ``rootfs/`` beside it (``root.path`` may name another
directory). A runtime's ``create`` reads the bundle, sets the container up, and leaves it waiting
for ``start``.

The root filesystem here is the smallest one that still behaves like a distribution: Debian's
statically linked busybox at ``/bin/busybox``, one symbolic link per applet at the path busybox
itself lists (``busybox --list-full``: ``bin/sh``, ``usr/bin/id``...), ``/etc/passwd`` and
``/etc/group`` with a few users, and a sticky, world-writable ``/tmp``. It is built once per
test session in a temporary directory and copied per bundle; only the busybox binary, which no
test changes, is hard-linked.

:func:`base_config` returns what ``runc spec`` prints (runc 1.1), but with ``terminal`` false, as
crun's own tests do, and with ``linux.cgroupsPath`` under :data:`CGROUP_PARENT`, a cgroup that
this test session owns, so that :mod:`support.leaks` can tell what it left behind.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

BUSYBOX = pathlib.Path("/bin/busybox")

#: Cgroup (in every hierarchy) under which this test session's containers get their own cgroups;
#: one per session, so that concurrent sessions never see each other's containers.
CGROUP_PARENT = f"/boxen-tests/{os.getpid()}"

#: Users and groups in the rootfs: root, a plain user with a supplementary group, nobody.
PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
boxen:x:1000:1000:boxen test user:/home/boxen:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """\
root:x:0:
daemon:x:1:
tty:x:5:
audio:x:29:boxen
boxen:x:1000:
nogroup:x:65534:
"""

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_template: pathlib.Path | None = None


def _build_rootfs(root: pathlib.Path) -> None:
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/boxen", "proc", "sys",
              "dev", "tmp", "var/tmp", "run", "mnt"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for rel in applets:
        link = root / rel
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/hostname").write_text("boxen\n")
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    for sticky in ("tmp", "var/tmp"):
        os.chmod(root / sticky, 0o1777)
    os.chown(root / "home/boxen", 1000, 1000)
    os.chmod(root / "root", 0o700)


def template_rootfs() -> pathlib.Path:
    """The session's busybox rootfs, built on first use and removed when the interpreter exits."""
    global _template
    if _template is None:
        base = pathlib.Path(tempfile.mkdtemp(prefix="boxen-test-rootfs-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        _build_rootfs(base / "rootfs")
        _template = base / "rootfs"
    return _template


def _copy_file(src: str, dst: str) -> str:
    if os.path.basename(src) == "busybox":
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    return shutil.copy2(src, dst)


def copy_rootfs(dest: pathlib.Path) -> pathlib.Path:
    """Copy the template rootfs to ``dest`` (hard-linking the busybox binary) and return it."""
    shutil.copytree(template_rootfs(), dest, symlinks=True, copy_function=_copy_file)
    return dest


def _merge(base: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def base_config(args: list[str] | None = None, **overrides) -> dict:
    """``runc spec`` output with ``terminal`` false, ``args`` as the process, and ``overrides``.

    Each keyword names a top-level field of ``config.json`` (``process``, ``hostname``,
    ``linux``, ``hooks``, ``mounts``...). Objects are merged key by key into the defaults;
    anything else (lists, strings, numbers) replaces the default value. A key given as ``None``
    is removed. ``linux.cgroupsPath`` defaults to a fresh cgroup under :data:`CGROUP_PARENT`.
    """
    config: dict = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args or ["sh"]),
            "env": [_DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_RUNC_CAPS),
                "effective": list(_RUNC_CAPS),
                "permitted": list(_RUNC_CAPS),
                "ambient": list(_RUNC_CAPS),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "cgroupsPath": f"{CGROUP_PARENT}/{uuid.uuid4().hex[:12]}",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    }
    _merge(config, overrides)
    return _drop_nones(config)


def _drop_nones(value):
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    return value


def make_bundle(tmp_path: pathlib.Path, config: dict, name: str = "bundle") -> pathlib.Path:
    """Write ``config`` and a copy of the busybox rootfs into ``tmp_path/name``; return the bundle.

    The rootfs goes where ``root.path`` points when that is relative (``rootfs`` by default).
    """
    bundle = tmp_path / name
    bundle.mkdir(parents=True)
    root = pathlib.Path(config.get("root", {}).get("path", "rootfs"))
    copy_rootfs(root if root.is_absolute() else bundle / root)
    write_config(bundle, config)
    return bundle


def write_config(bundle: pathlib.Path, config: dict) -> None:
    """(Re)write ``bundle/config.json``."""
    (bundle / "config.json").write_text(json.dumps(config, indent=2))


def make_traversable(path: pathlib.Path) -> None:
    """Let every user search the directories down to ``path`` (for a container in a user
    namespace, whose root maps to an unprivileged host uid). Only directories this process
    owns inside the temporary directory are changed."""
    top = pathlib.Path(tempfile.gettempdir()).resolve()
    path = pathlib.Path(path).resolve()
    for directory in [path, *path.parents]:
        if directory == top or top not in directory.parents:
            break
        st = directory.stat()
        if st.st_uid == os.geteuid():
            directory.chmod(st.st_mode & 0o7777 | 0o111)
