"""The host's interpreter stays out of the container's reach (CVE-2019-5736, see boxen.runtime.sealed).

A process in the container holding CAP_SYS_PTRACE passes the kernel's ptrace access check on
the runtime's non-dumpable processes, so it can open ``/proc/<pid>/exe`` of any of them it can
see. The probe (``probes/exe_grabber.c``, built static here) does what an attacker would: wait
for a new process, hold its executable, and once that process is gone, open the held file for
writing. It writes nothing: the open is an append without truncation, closed at once.
"""

import errno
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from support.bundle import base_config, make_bundle, write_config
from support.runtimes import Runtime

PROBE_SOURCE = pathlib.Path(__file__).parent / "probes" / "exe_grabber.c"


@pytest.fixture(scope="module")
def grabber(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the static probe")
    out = tmp_path_factory.mktemp("probe") / "exe_grabber"
    built = subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(PROBE_SOURCE)],
                           check=False, capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build a static probe (static libc missing?): {built.stderr.strip()[-200:]}")
    return out


@pytest.fixture
def private_boxen(boxen, tmp_path):
    """boxen-runtime run by a copy of its interpreter that no other process executes, so that
    only the mount, not ``ETXTBSY``, can refuse a write to it; the copy is the one at stake."""
    copy = tmp_path / "interpreter" / "python3"
    copy.parent.mkdir()
    shutil.copy2(os.path.realpath(sys.executable), copy)
    return Runtime("boxen", [str(copy), "-IS", boxen.program[0]], boxen.root), os.stat(copy)


def _grabber_bundle(tmp_path, grabber, **overrides):
    """A container whose process is the grabber, with CAP_SYS_PTRACE, ignoring busybox's processes."""
    config = base_config(["/grabber"], root={"path": "rootfs", "readonly": False}, **overrides)
    caps = config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = caps[kind] + ["CAP_SYS_PTRACE"]
    bundle = make_bundle(tmp_path, config)
    shutil.copy(grabber, bundle / "rootfs" / "grabber")
    busybox = os.stat(bundle / "rootfs" / "bin" / "busybox")
    config["process"]["args"] = ["/grabber", str(busybox.st_dev), str(busybox.st_ino), "/tmp/report"]
    write_config(bundle, config)
    return bundle


def _finished(path: pathlib.Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(word in path.read_text() for word in ("reopen", "timeout")):
            return True
        time.sleep(0.02)
    return False


def _report(path: pathlib.Path) -> dict:
    assert _finished(path, timeout=10), "the grabber never caught an exec process"
    findings: dict = {"fd": {}}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "fd":
            number, _, target = value.partition(" ")
            findings["fd"][int(number)] = target
        else:
            findings[key] = value
    return findings


def test_an_exec_process_cannot_be_used_to_write_the_host_interpreter(private_boxen, cid, tmp_path, grabber):
    boxen, interpreter = private_boxen
    bundle = _grabber_bundle(tmp_path, grabber)
    try:
        boxen.run(cid, bundle, "--detach", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).check()
        report = bundle / "rootfs" / "tmp" / "report"
        time.sleep(0.2)  # the grabber notes the processes that exist before it watches
        with open("/etc/hostname") as leak:  # a host file the runtime inherits, not preserved
            # Until the grabber caught one while it was still the runtime: the window is a few
            # milliseconds, which a busy machine may not give the grabber every time.
            for _ in range(60):
                boxen.exec(cid, "sh", "-c", "sleep 0.2", extra_fds=(leak.fileno(),)).check()
                if _finished(report, timeout=0.5):
                    break
        found = _report(report)
    finally:
        boxen.delete(cid, "--force")
    assert "timeout" not in found, found
    # The probe held the interpreter itself: the exec'd process, while still the runtime ...
    assert found["exe"] == f"{interpreter.st_dev} {interpreter.st_ino}", found
    # ... but reached through a read-only mount nobody can make writable again.
    assert found["readonly"] == "1", found
    assert int(found["reopen"]) == errno.EROFS, found
    # While it was the interpreter inside the container, it held no host file: stdio, the
    # channel to the runtime (a socket) and, once opened, the program it is about to execute
    # (the container's /bin/busybox), nothing else.
    if found["still-exe"] == "1":
        extra = {n: t for n, t in found["fd"].items() if n > 2}
        assert all(t.startswith("socket:[") or t == "/bin/busybox" for t in extra.values()), \
            str(sorted(found["fd"].items()))


def _mount_of(fd: int) -> str:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return next(line.split()[1] for line in f if line.startswith("mnt_id:"))


def test_an_init_in_the_hosts_pid_namespace_waits_sealed(private_boxen, cid, tmp_path):
    """Without a pid namespace of its own the init is seen from inside while it waits for start:
    its interpreter is on a read-only mount that is attached nowhere, which nobody can remount,
    and it holds no host file the runtime inherited."""
    from boxen.common.errors import KernelError
    from boxen.runtime.linux import constants as C
    from boxen.runtime.linux.kernel import KERNEL

    boxen, interpreter = private_boxen
    config = base_config(["true"])
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    with open("/etc/hostname") as leak:  # a host file the runtime inherits, not preserved
        boxen.create(cid, make_bundle(tmp_path, config), extra_fds=(leak.fileno(),)).check()
    try:
        pid = boxen.state(cid)["pid"]
        held = {os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
        assert "/etc/hostname" not in held, held
        fd = os.open(f"/proc/{pid}/exe", os.O_PATH)
        try:
            st = os.fstat(fd)
            assert (st.st_dev, st.st_ino) == (interpreter.st_dev, interpreter.st_ino)
            assert os.fstatvfs(fd).f_flag & os.ST_RDONLY
            with open("/proc/self/mountinfo") as f:
                assert _mount_of(fd) not in {line.split()[0] for line in f}
            with pytest.raises(KernelError) as info:
                KERNEL.mount_setattr(fd, "", C.AT_EMPTY_PATH, 0, C.MOUNT_ATTR_RDONLY)
            assert info.value.errno == errno.EINVAL
        finally:
            os.close(fd)
        boxen.start(cid).check()
    finally:
        boxen.delete(cid, "--force")


def test_the_init_of_run_is_never_the_interpreter_in_sight(boxen, cid, tmp_path, grabber):
    """With a pid namespace of its own, the init of ``run`` is pid 1 of an empty namespace until
    it has exec'd the user's program: the first process of the container sees only the program."""
    config = base_config(["sh", "-c", "readlink /proc/1/exe; ls /proc | grep -c '^[0-9]'"])
    for kind in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][kind].append("CAP_SYS_PTRACE")
    result = boxen.run(cid, make_bundle(tmp_path, config)).check()
    exe, count = result.stdout.split()
    assert exe == "/bin/busybox"
    assert int(count) <= 3  # sh, and the readlink/ls/grep it runs


def test_the_library_refuses_to_exec_from_an_unsealed_interpreter(boxen, cid, tmp_path):
    """This test's own interpreter runs from its path: in-process, exec must refuse, not expose it."""
    from boxen.oci.runtime import Process
    from boxen.runtime import Runtime
    from boxen.runtime.sealed import Unsealed

    boxen.create(cid, make_bundle(tmp_path, base_config(["sleep", "10"]))).check()
    try:
        with pytest.raises(Unsealed, match="runtime's own interpreter"):
            Runtime(str(boxen.root)).exec(cid, Process(args=("true",), cwd="/"))
    finally:
        boxen.delete(cid, "--force")


def _in_process(root, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` with ``rt``, a library Runtime on ``root``, in an interpreter that is not sealed
    (its output through a file: a waiting init keeps a pipe open)."""
    script = f"from boxen.runtime import Runtime\nrt = Runtime({str(root)!r})\n{code}"
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run([sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                text=True, timeout=60, check=False)
        out.seek(0)
        result.stderr = out.read()
    return result


def test_the_library_refuses_an_init_without_its_own_pid_namespace_when_unsealed(boxen, cid, tmp_path):
    config = base_config(["true"])
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    result = _in_process(boxen.root, f"rt.run({cid!r}, {str(make_bundle(tmp_path, config))!r})")
    assert result.returncode != 0 and "Unsealed" in result.stderr, result.stderr
    assert "the container's init would be the runtime's own interpreter" in result.stderr
    assert boxen.ids() == []


def test_exec_refuses_a_waiting_init_that_is_not_sealed(boxen, cid, tmp_path):
    """A library create (unsealed, with its own pid namespace) is safe until something joins it:
    exec must refuse to add a process that would see the waiting init."""
    bundle = make_bundle(tmp_path, base_config(["true"]))
    _in_process(boxen.root, f"rt.create({cid!r}, {str(bundle)!r})").check_returncode()
    try:
        result = boxen.exec(cid, "true")
        assert result.returncode == 255  # the exec itself failed: runc's status for that
        assert "its init, waiting for start, is the runtime's own writable interpreter" in result.stderr
        boxen.start(cid).check()
    finally:
        boxen.delete(cid, "--force")
