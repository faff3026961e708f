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
    assert ContainerState.load(root, "c1").status() == "creating"  # claimed by us, a live process
    state.data.update(pid=os.getpid(), pid_start=process_start_time(os.getpid()), bundle="/b")
    del state.data["creating"]  # what create does once the init waits for start
    state.save()
    loaded = ContainerState.load(root, "c1")
    assert loaded.alive() and loaded.status() == "running"
    open(loaded.exec_socket, "w").close()  # the init's socket, waiting for start
    assert loaded.status() == "created"
    assert ContainerState.ids(root) == ["c1"]
    loaded.remove()
    with pytest.raises(NotFound, match="container does not exist: c1"):
        ContainerState.load(root, "c1")


def test_the_claim_names_the_cgroup_about_to_be_made(tmp_path):
    saved = {"version": 2, "path": "/sys/fs/cgroup/c1", "mount": "/sys/fs/cgroup", "created": []}
    ContainerState.new(str(tmp_path), "c1", saved)  # one write: what delete --force undoes is on disk
    loaded = ContainerState.load(str(tmp_path), "c1")
    assert loaded.data["cgroup"] == saved and loaded.data["creating"] is True


def test_a_reused_pid_means_stopped(tmp_path):
    state = ContainerState.new(str(tmp_path), "c")
    del state.data["creating"]
    state.data.update(pid=os.getpid(), pid_start=1)
    assert state.status() == "stopped"
    assert "pid" not in state.oci_state("stopped")
    assert state.runc_state("stopped")["pid"] == 0


def _interrupted(root, cid):
    """A creating state.json whose creator has died (a start time no process has)."""
    state = ContainerState.new(root, cid)
    state.data.update(creator_start=-1)
    state.save()
    return state


def test_a_claim_is_a_directory_with_a_creating_state_from_the_start(tmp_path):
    root = str(tmp_path)
    state = ContainerState.new(root, "c1")
    on_disk = ContainerState.load(root, "c1")
    assert on_disk.data["creating"] and on_disk.data["creator"] == os.getpid()
    assert on_disk.status() == "creating" and not on_disk.interrupted()
    assert sorted(os.listdir(root)) == ["c1"]  # the temporary name is gone
    assert os.listdir(state.dir) == ["state.json"]


def test_an_interrupted_creation_is_stopped_and_listed(tmp_path):
    root = str(tmp_path)
    _interrupted(root, "c1")
    loaded = ContainerState.load(root, "c1")
    assert loaded.interrupted() and loaded.status() == "stopped"
    assert ContainerState.ids(root) == ["c1"]
    with pytest.raises(AlreadyExists):
        ContainerState.new(root, "c1")


def test_claims_and_removals_in_progress_are_not_containers(tmp_path):
    root = str(tmp_path)
    os.makedirs(tmp_path / "c1#123")
    (tmp_path / "c1#123" / "state.json").write_text("{}")
    assert ContainerState.ids(root) == []


def test_a_leftover_directory_without_state_is_replaced_by_a_claim(tmp_path):
    os.mkdir(tmp_path / "c1")
    ContainerState.new(str(tmp_path), "c1")
    assert ContainerState.load(str(tmp_path), "c1").data["creating"]
    os.mkdir(tmp_path / "c2")
    os.mkfifo(tmp_path / "c2" / "exec.fifo")  # the wedge an older version left after kill -9
    ContainerState.new(str(tmp_path), "c2")
    assert os.listdir(tmp_path / "c2") == ["state.json"]


def test_discard_removes_only_a_directory_without_state(tmp_path):
    root = str(tmp_path)
    os.mkdir(tmp_path / "old")
    os.mkfifo(tmp_path / "old" / "exec.fifo")  # the wedge an older version left after kill -9
    assert ContainerState.discard(root, "old") and not (tmp_path / "old").exists()
    ContainerState.new(root, "c1")
    assert not ContainerState.discard(root, "c1") and (tmp_path / "c1" / "state.json").exists()
    assert not ContainerState.discard(root, "absent")


def test_remove_frees_the_id_and_leaves_nothing(tmp_path):
    root = str(tmp_path)
    state = ContainerState.new(root, "c1")
    open(state.exec_socket, "w").close()
    state.remove()
    state.remove()
    assert os.listdir(root) == []
    ContainerState.new(root, "c1")


def test_sweep_removes_the_claims_of_dead_processes_only(tmp_path):
    root = str(tmp_path)
    dead = 2**22 + 1  # above pid_max's default: no process has it
    for name in (f"c1#{dead}", f"c1#{os.getpid()}", f"c10#{dead}"):
        os.mkdir(tmp_path / name)
        (tmp_path / name / "state.json").write_text("{")
    ContainerState.sweep(root, "c1")
    assert sorted(os.listdir(root)) == [f"c1#{os.getpid()}", f"c10#{dead}"]


def test_pid_file_is_written_whole(tmp_path):
    write_pid_file(str(tmp_path / "pid"), 42)
    assert (tmp_path / "pid").read_text() == "42"
    assert os.listdir(tmp_path) == ["pid"]
