"""Becoming the container's process, side by side with runc: working directory, terminal, /dev."""

import os

import pytest

from support.bundle import base_config, make_bundle

REPORT = "stat -c %u:%g $(tty); pwd; id -u"


@pytest.fixture
def tty():
    """A terminal for the runtime's stdin: runc refuses a foreground terminal without one."""
    master, slave = os.openpty()
    yield slave
    os.close(master)
    os.close(slave)


def _user_in_root_only_home(tmp_path, args, terminal):
    config = base_config(args)
    config["process"].update(terminal=terminal, user={"uid": 1000, "gid": 1000}, cwd="/root")
    bundle = make_bundle(tmp_path, config)
    os.chmod(bundle / "rootfs" / "root", 0o700)
    return bundle


def test_cwd_only_root_may_enter_works_for_a_user(side_by_side, cid, tmp_path):
    """The working directory is entered before the switch to the user (as runc does)."""
    bundle = _user_in_root_only_home(tmp_path, ["sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo denied"],
                                     terminal=False)
    result = side_by_side.run(cid, bundle).check()
    assert result.stdout == "/root\n1000\ndenied\n"


def test_the_terminal_belongs_to_the_user_in_run(side_by_side, cid, tmp_path, tty):
    bundle = _user_in_root_only_home(tmp_path, ["sh", "-c", REPORT], terminal=True)
    result = side_by_side.run(cid, bundle, stdin=tty).check()
    assert result.stdout.replace("\r", "") == "1000:5\n/root\n1000\n"


def test_the_terminal_belongs_to_the_user_in_exec(side_by_side, cid, tmp_path, tty):
    bundle = _user_in_root_only_home(tmp_path, ["sleep", "60"], terminal=False)
    side_by_side.run(cid, bundle, "--detach").check()
    try:
        result = side_by_side.exec(cid, "sh", "-c", REPORT, stdin=tty,
                                   flags=("--tty", "--user", "1000:1000", "--cwd", "/root")).check()
        assert result.stdout.replace("\r", "") == "1000:5\n/root\n1000\n"
    finally:
        side_by_side.delete(cid, "--force")


def test_a_read_only_dev_with_a_terminal(side_by_side, cid, tmp_path, tty):
    """/dev/console is made while /dev is writable; /dev becomes read-only afterwards (as runc)."""
    config = base_config(["sh", "-c", "tty; test -c /dev/console && echo console; touch /dev/x || echo read-only"])
    config["process"]["terminal"] = True
    for mount in config["mounts"]:
        if mount["destination"] == "/dev":
            mount["options"] = mount["options"] + ["ro"]
    result = side_by_side.run(cid, make_bundle(tmp_path, config), stdin=tty).check()
    assert result.stdout.replace("\r", "").splitlines() == ["/dev/pts/0", "console",
                                                            "touch: /dev/x: Read-only file system", "read-only"]


def test_a_relative_program_is_found_from_the_working_directory(side_by_side, cid, tmp_path):
    """runc looks the program up after entering process.cwd; so does boxen."""
    config = base_config(["./echo", "relative"])
    config["process"]["cwd"] = "/bin"
    result = side_by_side.run(cid, make_bundle(tmp_path, config)).check()
    assert result.stdout == "relative\n"
