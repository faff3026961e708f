"""Runtime operations refused or done by the lifecycle table, without root: states on disk only."""

import os

import pytest

from boxen.common.errors import NotFound
from boxen.runtime.container import Runtime
from boxen.runtime.lifecycle import TransitionError
from boxen.runtime.state import ContainerState


def _stopped(root, cid):
    """A container whose init has exited: a created state naming a pid no process has."""
    state = ContainerState.new(root, cid)
    del state.data["creating"]
    state.data.update(pid=os.getpid(), pid_start=-1, bundle="/b")
    state.save()
    return state


@pytest.mark.parametrize("operation, call", [
    ("start", lambda rt: rt.start("c1")),
    ("kill", lambda rt: rt.kill("c1", 0)),
    ("pause", lambda rt: rt.pause("c1")),
    ("resume", lambda rt: rt.resume("c1")),
    ("update", lambda rt: rt.update("c1", None)),
    ("stats", lambda rt: rt.stats("c1")),
    ("exec", lambda rt: rt.exec("c1", None)),
])
def test_a_stopped_container_refuses(tmp_path, operation, call):
    _stopped(str(tmp_path), "c1")
    with pytest.raises(TransitionError) as info:
        call(Runtime(str(tmp_path)))
    assert (info.value.operation, info.value.status) == (operation, "stopped")


def test_ps_of_a_stopped_container_is_empty(tmp_path):
    _stopped(str(tmp_path), "c1")
    assert Runtime(str(tmp_path)).pids("c1") == []


def test_a_creating_container_refuses_delete_without_force(tmp_path):
    ContainerState.new(str(tmp_path), "c1")  # we are its creator, alive
    with pytest.raises(TransitionError, match="not stopped: creating"):
        Runtime(str(tmp_path)).delete("c1")


def test_delete_of_a_stopped_container_frees_the_id(tmp_path):
    _stopped(str(tmp_path), "c1")
    Runtime(str(tmp_path)).delete("c1")
    assert os.listdir(tmp_path) == []


def test_delete_force_of_an_unknown_id_succeeds_and_without_force_fails(tmp_path):
    rt = Runtime(str(tmp_path))
    rt.delete("nope", force=True)
    with pytest.raises(NotFound, match="container does not exist: nope"):
        rt.delete("nope")


def test_delete_clears_an_interrupted_creation_and_a_directory_without_state(tmp_path):
    root = str(tmp_path)
    state = ContainerState.new(root, "c1")
    state.data.update(creator_start=-1)  # its creator was killed before it recorded a cgroup
    state.save()
    os.mkdir(tmp_path / "c2")
    os.mkfifo(tmp_path / "c2" / "exec.fifo")
    rt = Runtime(root)
    rt.delete("c1", force=True)
    with pytest.raises(NotFound):
        rt.delete("c2")  # runc too removes the directory and reports the id unknown
    assert os.listdir(root) == []
    ContainerState.new(root, "c1")


def test_kill_all_of_a_stopped_container_signals_nothing_and_succeeds(tmp_path):
    _stopped(str(tmp_path), "c1")  # its pid is ours (reused): it must not be signalled
    Runtime(str(tmp_path)).kill("c1", 0, all_processes=True)


def test_a_pid_file_that_cannot_be_written_is_refused_before_anything_is_made(tmp_path):
    from boxen.common.errors import InvalidArgument
    from boxen.runtime.container import check_pid_file

    check_pid_file(str(tmp_path / "pid"))
    with pytest.raises(InvalidArgument, match="is not a directory") as info:
        check_pid_file(str(tmp_path / "missing" / "pid"))
    assert info.value.field == "--pid-file"
