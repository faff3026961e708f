"""What a container must not be able to reach: host paths, host descriptors, the host's interpreter."""

import os
import pathlib

import pytest

from support.bundle import base_config, make_bundle


def test_a_symlink_in_the_image_cannot_send_a_mount_outside_the_rootfs(boxen, cid, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    config = base_config(["sh", "-c", "cat /proc/self/mountinfo"], mounts=None)
    config["mounts"] = base_config()["mounts"] + [
        {"destination": "/escape/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}]
    bundle = make_bundle(tmp_path, config)
    os.symlink(f"../../../../../../../../{outside}", bundle / "rootfs" / "escape")
    result = boxen.run(cid, bundle).check()
    assert not (outside / "inner").exists()
    # the mount landed inside the rootfs, where the symlink resolves when the rootfs is the root
    assert f" {outside}/inner " in result.stdout


def test_proc_must_not_be_a_symlink(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["true"]))
    rootfs = bundle / "rootfs"
    os.rmdir(rootfs / "proc") if (rootfs / "proc").is_dir() else None
    (rootfs / "elsewhere").mkdir()
    os.symlink("elsewhere", rootfs / "proc")
    result = boxen.run(cid, bundle)
    assert result.returncode == 1
    assert "proc must be mounted on a directory" in result.stderr
    assert boxen.ids() == []


def test_no_host_descriptor_reaches_the_container(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sh", "-c", "ls /proc/self/fd"]))
    leak = os.open("/etc/hostname", os.O_RDONLY)  # inheritable from here
    os.set_inheritable(leak, True)
    try:
        result = boxen.run(cid, bundle, extra_fds=()).check()
    finally:
        os.close(leak)
    # 0, 1, 2 and the directory ls itself opened
    assert sorted(int(x) for x in result.stdout.split()) == [0, 1, 2, 3]


def test_preserved_fds_do_reach_it(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sh", "-c", "cat <&3"]))
    secret = tmp_path / "shared"
    secret.write_text("passed on\n")
    with open(secret) as f:
        result = boxen.run(cid, bundle, "--preserve-fds", "1", extra_fds=(f.fileno(),)).check()
    assert result.stdout == "passed on\n"


def test_the_runtime_interpreter_cannot_be_executed(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["/proc/self/exe", "-c", "print(1)"]))
    result = boxen.run(cid, bundle)
    assert result.returncode == 1
    assert "runtime's own interpreter" in result.stderr
    assert boxen.ids() == []


def test_a_script_whose_interpreter_is_the_runtime_is_refused(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["/evil"]))
    evil = bundle / "rootfs" / "evil"
    evil.write_text("#!/proc/self/exe\nprint('escaped')\n")
    evil.chmod(0o755)
    result = boxen.run(cid, bundle)
    assert result.returncode == 1 and "escaped" not in result.stdout


def test_the_waiting_init_is_not_dumpable(boxen, cid, tmp_path):
    """While created, the init is the host's Python: its /proc entries must be closed to the container."""
    bundle = make_bundle(tmp_path, base_config(["true"]))
    boxen.create(cid, bundle).check()
    try:
        result = boxen.exec(cid, "sh", "-c", "readlink /proc/1/exe; cat /proc/1/environ; echo done")
        assert result.returncode == 0
        assert "done" in result.stdout
        assert "python" not in result.stdout
        pid = boxen.state(cid)["pid"]
        assert "Permission denied" in result.stderr or not pathlib.Path(f"/proc/{pid}").exists()
    finally:
        boxen.delete(cid, "--force")


def test_invalid_config_leaves_nothing(boxen, cid, tmp_path):
    config = base_config(["true"])
    config["process"]["capabilities"]["bounding"].append("CAP_NOT_A_THING")
    bundle = make_bundle(tmp_path, config)
    result = boxen.create(cid, bundle)
    assert result.returncode == 1
    assert "process.capabilities.bounding[3]" in result.stderr and "CAP_NOT_A_THING" in result.stderr
    assert boxen.ids() == []
    assert not (boxen.root / cid).exists()


# --- the working directory (runc's CVE-2024-21626): host descriptors are closed, the cwd stays in the root


HOST_SECRET = "host-only secret"


@pytest.fixture
def host_dir(tmp_path):
    """A host directory holding a secret, open as descriptors 3 to 9 of the runtime (``9</dir``)."""
    directory = tmp_path / "host"
    directory.mkdir()
    (directory / "secret").write_text(HOST_SECRET)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    yield (fd,) * 7
    os.close(fd)


@pytest.mark.parametrize("preserve", [(), ("--preserve-fds", "7")], ids=["inherited", "preserved"])
def test_exec_cwd_cannot_reach_a_host_directory_through_an_inherited_descriptor(boxen, cid, tmp_path, host_dir,
                                                                                preserve):
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    boxen.run(cid, bundle, "--detach").check()
    try:
        result = boxen.exec(cid, "sh", "-c", "cat secret ../secret; cat ../../../../../../../etc/hostname",
                            flags=(*preserve, "--cwd", "/proc/self/fd/9"), extra_fds=host_dir)
        assert HOST_SECRET not in result.stdout
        assert result.returncode != 0
        assert "chdir to cwd" in result.stderr and "/proc/self/fd/9" in result.stderr
        # the container still works, and a plain cwd still does
        assert boxen.exec(cid, "pwd", flags=("--cwd", "/tmp")).check().stdout == "/tmp\n"
    finally:
        boxen.delete(cid, "--force")


@pytest.mark.parametrize("preserve", [(), ("--preserve-fds", "7")], ids=["inherited", "preserved"])
@pytest.mark.parametrize("verb", ["create", "run"])
def test_process_cwd_cannot_reach_a_host_directory_through_an_inherited_descriptor(boxen, cid, tmp_path, host_dir,
                                                                                   verb, preserve):
    config = base_config(["sh", "-c", "cat secret ../secret"])
    config["process"]["cwd"] = "/proc/self/fd/9"
    bundle = make_bundle(tmp_path, config)
    result = getattr(boxen, verb)(cid, bundle, *preserve, extra_fds=host_dir)
    assert HOST_SECRET not in result.stdout
    assert result.returncode != 0
    assert "chdir to cwd" in result.stderr and "/proc/self/fd/9" in result.stderr
    assert boxen.ids() == []


def test_preserved_fds_the_caller_did_not_give_are_empty_not_the_runtimes(boxen, cid, tmp_path):
    """--preserve-fds 4 with nothing open on 3 to 6: the runtime's own descriptors (exec FIFO,
    its error file, the channel) must not land there and reach the container."""
    listing = "for fd in /proc/self/fd/*; do echo ${fd##*/} $(readlink $fd); done"
    bundle = make_bundle(tmp_path, base_config(["sh", "-c", listing]))
    result = boxen.run(cid, bundle, "--preserve-fds", "4").check()
    targets = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert {fd: targets[fd] for fd in ("3", "4", "5", "6")} == dict.fromkeys(("3", "4", "5", "6"), "/dev/null")
    assert not any("exec.fifo" in t or "socket:" in t for t in targets.values())
    assert set(targets) <= {"0", "1", "2", "3", "4", "5", "6", "7"}  # 7: the shell's own listing


def test_preserved_fds_the_caller_did_not_give_are_empty_in_exec(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    boxen.run(cid, bundle, "--detach").check()
    try:
        result = boxen.exec(cid, "sh", "-c", "readlink /proc/self/fd/3; readlink /proc/self/fd/4; ls /proc/self/fd",
                            flags=("--preserve-fds", "2")).check()
        lines = result.stdout.split()
        assert lines[:2] == ["/dev/null", "/dev/null"]
        assert sorted(int(x) for x in lines[2:]) == [0, 1, 2, 3, 4, 5]  # 5: ls's own directory
    finally:
        boxen.delete(cid, "--force")


def test_exec_cwd_through_links_stays_in_the_container(boxen, cid, tmp_path):
    """Symbolic links in the image resolve inside the root; /proc magic links are refused."""
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    (tmp_path / "host-marker").write_text("")
    os.symlink("../../../../../../../../../..", bundle / "rootfs" / "escape")
    os.symlink(str(tmp_path), bundle / "rootfs" / "absolute")
    boxen.run(cid, bundle, "--detach").check()
    try:
        escape = boxen.exec(cid, "sh", "-c", "pwd; ls", flags=("--cwd", "/escape")).check()
        assert escape.stdout.split()[0] == "/" and "escape" in escape.stdout.split()
        absolute = boxen.exec(cid, "ls", flags=("--cwd", "/absolute"))
        assert absolute.returncode != 0 and "host-marker" not in absolute.stdout
        assert "no such file or directory" in absolute.stderr
        for magic in ("/proc/self/cwd", "/proc/1/cwd", "/proc/self/root/..", "/proc/1/root"):
            result = boxen.exec(cid, "pwd", flags=("--cwd", magic))
            assert result.returncode != 0, magic
            assert "magic link" in result.stderr
    finally:
        boxen.delete(cid, "--force")
