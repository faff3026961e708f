import os

import pytest

from boxen.common.errors import AlreadyExists, InvalidArgument, NotFound
from boxen.runtime.state import ContainerState, check_id, process_start_time, rfc3339_nano, write_pid_file


@pytest.mark.parametrize("good", ["a", "A-1_b.c+d,e", "x" * 100])
def test_valid_ids(good):
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "a:b", "é"])
def test_invalid_ids(bad):
    with pytest.raises(InvalidArgument):
        check_id(bad)


def test_rfc3339_nano_trims_like_go():
    assert rfc3339_nano(0) == "1970-01-01T00:00:00Z"
    assert rfc3339_nano(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert rfc3339_nano(123) == "1970-01-01T00:00:00.000000123Z"


def test_claim_save_load_remove(tmp_path):
    root = str(tmp_path / "root")
    state = ContainerState.new(root, "c1")
    with pytest.raises(AlreadyExists, match="container with id exists: c1"):
        ContainerState.new(root, "c1")
    state.data.update(pid=os.getpid(), pid_start=process_start_time(os.getpid()), bundle="/b")
    state.save()
    loaded = ContainerState.load(root, "c1")
    assert loaded.alive() and loaded.status() == "running"
    os.mkfifo(loaded.fifo_path)
    assert loaded.status() == "created"
    assert ContainerState.ids(root) == ["c1"]
    loaded.remove()
    with pytest.raises(NotFound, match="container does not exist: c1"):
        ContainerState.load(root, "c1")


def test_a_reused_pid_means_stopped(tmp_path):
    state = ContainerState.new(str(tmp_path), "c")
    state.data.update(pid=os.getpid(), pid_start=1)
    assert state.status() == "stopped"
    assert "pid" not in state.oci_state("stopped")
    assert state.runc_state("stopped")["pid"] == 0


def test_pid_file_is_written_whole(tmp_path):
    write_pid_file(str(tmp_path / "pid"), 42)
    assert (tmp_path / "pid").read_text() == "42"
    assert os.listdir(tmp_path) == ["pid"]
