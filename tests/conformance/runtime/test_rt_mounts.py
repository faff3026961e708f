"""The container's filesystem: root, mounts, propagation, masked and read-only paths, devices, sysctl.

``root.path`` becomes the container's ``/`` (with ``pivot_root``, or ``chroot`` under
``--no-pivot``), read-only when ``root.readonly``. Each ``mounts[]`` entry is mounted in order
with its ``type``, ``source`` and ``options``: flags such as ``ro``, ``nosuid``, ``nodev``,
``noexec``, ``bind``/``rbind``, propagation words (``rprivate``, ``rshared``, ``rslave``), and
the rest passed to the filesystem (``size=``, ``mode=``). ``linux.rootfsPropagation`` sets the
propagation of ``/``. ``linux.maskedPaths`` hide paths (a file gets ``/dev/null`` bound over it,
a directory an empty read-only tmpfs); ``linux.readonlyPaths`` are re-bound read-only.
``linux.devices`` creates device nodes (runc also makes the default set: null, zero, full,
random, urandom, tty, ptmx and the ``/dev/fd``, ``stdin``... links); the device cgroup
(``linux.resources.devices``) decides which may be opened. ``linux.sysctl`` writes namespaced
``/proc/sys`` keys, and only those of a namespace the container owns.
"""

from __future__ import annotations

import pytest

from support.bundle import base_config

WRITE_TEST = "touch {path} 2>/dev/null && echo writable || echo readonly"


def test_default_mounts(probe):
    report = probe()
    expected = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
                "/dev/mqueue": "mqueue", "/sys": "sysfs"}
    for mount_point, fstype in expected.items():
        m = report.mount(mount_point)
        assert m is not None, f"{mount_point} is not mounted"
        assert m.fstype == fstype
    assert {"nosuid"} <= report.mount("/dev").options
    assert "mode=755" in report.mount("/dev").super_options
    assert {"nosuid", "noexec", "nodev"} <= report.mount("/dev/shm").options
    assert "ro" in report.mount("/sys").options
    assert {"newinstance", "ptmxmode=666", "mode=620", "gid=5"} & report.mount("/dev/pts").super_options
    hierarchies = [m for m in report.mounts if m.fstype in ("cgroup", "cgroup2")
                   and m.mount_point.startswith("/sys/fs/cgroup")]
    assert hierarchies and all("ro" in m.options for m in hierarchies)


def test_readonly_root(runtime, bundle, cid):
    result = runtime.run(cid, bundle(args=["sh", "-c", WRITE_TEST.format(path="/file")])).check()
    assert result.stdout.strip() == "readonly"


def test_writable_root(runtime, bundle, cid):
    path = bundle(args=["sh", "-c", WRITE_TEST.format(path="/file")], root={"readonly": False})
    assert runtime.run(cid, path).check().stdout.strip() == "writable"
    assert (path / "rootfs/file").exists()


def test_root_mount_is_read_only_in_mountinfo(probe):
    assert "ro" in probe().mount("/").options
    assert "rw" in probe(root={"readonly": False}).mount("/").options


def test_bind_mounts(runtime, bundle, cid, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "given").write_text("from the host\n")
    config = base_config(["sh", "-c", "echo made > /mnt/rw/made; cat /mnt/ro/given; "
                          + WRITE_TEST.format(path="/mnt/ro/x")])
    config["mounts"] += [
        {"destination": "/mnt/rw", "type": "bind", "source": str(rw), "options": ["rbind", "rw"]},
        {"destination": "/mnt/ro", "type": "bind", "source": str(ro), "options": ["bind", "ro"]},
    ]
    result = runtime.run(cid, bundle(config=config)).check()
    assert result.stdout.split("\n")[:2] == ["from the host", "readonly"]
    assert (rw / "made").read_text() == "made\n"


def test_mount_destination_is_created(runtime, bundle, cid, tmp_path):
    config = base_config(["sh", "-c", "test -d /new/deep/dir && echo ok"])
    config["mounts"].append({"destination": "/new/deep/dir", "type": "tmpfs", "source": "tmpfs",
                             "options": ["size=1m"]})
    assert runtime.run(cid, bundle(config=config)).check().stdout.strip() == "ok"


def test_tmpfs_options(probe):
    mounts = base_config()["mounts"] + [{"destination": "/scratch", "type": "tmpfs",
                                         "source": "tmpfs",
                                         "options": ["nosuid", "nodev", "noexec", "size=1m",
                                                     "mode=700", "ro"]}]
    m = probe(mounts=mounts).mount("/scratch")
    assert m.fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec", "ro"} <= m.options
    assert {"size=1024k", "mode=700"} <= m.super_options


@pytest.mark.parametrize("option, propagation", [("rprivate", "private"), ("rshared", "shared")])
def test_mount_propagation_option(probe, tmp_path, deviation, option, propagation):
    if option == "rshared":
        deviation(crun="crun 1.8.1 leaves a bind mount with the rshared option private")
    source = tmp_path / "src"
    source.mkdir()
    mounts = base_config()["mounts"] + [{"destination": "/mnt/p", "type": "bind",
                                         "source": str(source), "options": ["rbind", option]}]
    assert probe(mounts=mounts).mount("/mnt/p").propagation == propagation


@pytest.mark.parametrize("propagation", ["private", "slave", "shared", "unbindable"])
def test_rootfs_propagation(probe, deviation, propagation):
    if propagation in ("shared", "unbindable"):
        deviation(runc=f"runc 1.1.5 cannot make the root mount {propagation} (pivot_root refuses)")
    report = probe(linux={"rootfsPropagation": propagation})
    observed = report.mount("/").propagation
    if propagation == "slave":
        # a slave of a private mount has no master, so it reads as private
        assert observed in ("slave", "private")
    else:
        assert observed == propagation


# Masked paths that exist on the test host's kernel (/proc/kcore, /proc/scsi... may not).
MASKED_FILES = ("/proc/keys", "/proc/timer_list")
MASKED_DIRS = ("/proc/acpi", "/sys/firmware")


def test_masked_paths(runtime, bundle, cid):
    script = "; ".join([f"wc -c < {f}" for f in MASKED_FILES]
                       + [f"ls -A {d} | wc -l" for d in MASKED_DIRS])
    config = base_config(["sh", "-c", script])
    config["linux"]["maskedPaths"] += ["/no/such/path"]
    out = runtime.run(cid, bundle(config=config)).check().stdout.split()
    assert out == ["0"] * (len(MASKED_FILES) + len(MASKED_DIRS))


def test_masked_paths_in_mountinfo(probe):
    report = probe()
    for path in MASKED_FILES:
        m = report.mount(path)
        assert m is not None, path
        assert m.fstype in ("tmpfs", "devtmpfs") and m.root.endswith("null"), m
    for path in MASKED_DIRS:
        m = report.mount(path)
        assert m is not None, path
        assert m.fstype == "tmpfs" and "ro" in m.options, m


def test_readonly_paths(runtime, bundle, cid):
    script = "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo readonly"
    out = runtime.run(cid, bundle(args=["sh", "-c", script])).check().stdout.split()
    assert out == ["readonly"]


def test_readonly_paths_in_mountinfo(probe):
    report = probe()
    for path in ("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"):
        m = report.mount(path)
        assert m is not None and "ro" in m.options, path


def test_default_devices(probe):
    devices = probe().devices
    expected = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                "urandom": (1, 9), "tty": (5, 0)}
    for name, numbers in expected.items():
        entry = devices.get(name)
        assert entry is not None and entry.kind == "c", name
        assert (entry.major, entry.minor) == numbers
        assert entry.mode == "crw-rw-rw-"
    assert devices["ptmx"].kind == "l" and devices["ptmx"].target == "pts/ptmx"
    assert devices["fd"].target == "/proc/self/fd"
    assert devices["stdin"].target == "/proc/self/fd/0"
    assert devices["stdout"].target == "/proc/self/fd/1"
    assert devices["stderr"].target == "/proc/self/fd/2"


def test_configured_devices(probe):
    linux = base_config()["linux"]
    linux["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                         "fileMode": 0o640, "uid": 1000, "gid": 5}]
    entry = probe(linux=linux).devices["mynull"]
    assert (entry.kind, entry.major, entry.minor) == ("c", 1, 3)
    assert entry.mode == "crw-r-----"
    assert (entry.uid, entry.gid) == (1000, 5)


def test_device_cgroup(runtime, bundle, cid):
    script = ("cat /dev/denied 2>&1 >/dev/null | grep -q 'not permitted' && echo denied-eperm;"
              " cat /dev/allowed 2>&1 >/dev/null | grep -q 'not permitted' || echo allowed-ok;"
              " echo data > /dev/mynull && echo null-ok")
    linux = base_config()["linux"]
    linux["devices"] = [
        {"path": "/dev/denied", "type": "b", "major": 7, "minor": 200},
        {"path": "/dev/allowed", "type": "b", "major": 7, "minor": 201},
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3},
    ]
    linux["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "b", "major": 7, "minor": 201, "access": "rw"},
    ]
    out = runtime.run(cid, bundle(args=["sh", "-c", script], linux=linux)).check().stdout
    assert out.split() == ["denied-eperm", "allowed-ok", "null-ok"]


def test_sysctl(runtime, bundle, cid):
    script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax"
    path = bundle(args=["sh", "-c", script], linux={"sysctl": {"net.ipv4.ip_forward": "1",
                                                               "kernel.msgmax": "4096"}})
    assert runtime.run(cid, path).check().stdout.split() == ["1", "4096"]


def test_sysctl_of_a_shared_namespace_is_an_error(runtime, bundle, cid):
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    path = bundle(args=["true"], linux={"namespaces": namespaces,
                                        "sysctl": {"net.ipv4.ip_forward": "1"}})
    assert runtime.run(cid, path).returncode != 0
