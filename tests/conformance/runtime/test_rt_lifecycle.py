"""The container lifecycle: states, ``state`` JSON, exit codes, and the spec's MUST rules.

The runtime spec's lifecycle (runtime.md) is ``create`` -> *created* -> ``start`` -> *running* ->
the process exits -> *stopped* -> ``delete``; runc adds *paused*. ``state`` reports ``ociVersion``,
``id``, ``status``, ``pid`` (while created or running) and ``bundle`` (an absolute path), plus
``annotations`` from the config. The MUST rules: ``create`` with an id already in use fails;
``start`` of a container that is not *created* fails; ``kill`` of a container that is neither
*created* nor *running* fails; ``delete`` of a container that is not *stopped* fails (runc's
``--force`` kills first); a ``create`` that fails leaves nothing behind.
"""

from __future__ import annotations

import subprocess

import pytest

from support.bundle import base_config, write_config
from support.probe import alive, cgroup_file

SLEEP = ["sleep", "600"]


def test_state_through_the_lifecycle(runtime, bundle, cid):
    path = bundle(args=SLEEP, annotations={"org.boxen.test": "lifecycle"})
    runtime.create(cid, path).check()

    created = runtime.state(cid)
    assert created["ociVersion"]
    assert created["id"] == cid
    assert created["status"] == "created"
    assert created["pid"] > 0 and alive(created["pid"])
    assert created["bundle"] == str(path)
    assert created["annotations"] == {"org.boxen.test": "lifecycle"}

    runtime.start(cid).check()
    running = runtime.state(cid)
    assert running["status"] == "running"
    assert running["pid"] == created["pid"]

    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"

    runtime.delete(cid).check()
    gone = runtime("state", cid)
    assert gone.returncode == 1
    assert not alive(created["pid"])


def test_process_exit_makes_the_container_stopped(runtime, bundle, cid):
    runtime.create(cid, bundle(args=["true"])).check()
    runtime.start(cid).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    runtime.delete(cid).check()


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_run_exits_with_the_process_exit_code(runtime, bundle, cid, code):
    result = runtime.run(cid, bundle(args=["sh", "-c", f"exit {code}"]))
    assert result.returncode == code, result.stderr
    assert runtime("state", cid).returncode == 1, "run must delete the container it ran"


def test_run_of_a_signalled_process_exits_128_plus_the_signal(runtime, bundle, cid):
    proc = runtime.popen("run", "--bundle", bundle(args=SLEEP), cid,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert runtime.wait_status(cid, "running") == "running"
        runtime.kill(cid, "KILL").check()
        assert proc.wait(timeout=30) == 128 + 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_detached_returns_at_once(runtime, bundle, cid):
    runtime.run(cid, bundle(args=SLEEP), "--detach").check()
    assert runtime.status(cid) == "running"


def test_create_with_an_existing_id_fails_and_leaves_the_first(runtime, bundle, cid):
    runtime.create(cid, bundle(args=SLEEP)).check()
    pid = runtime.state(cid)["pid"]
    again = runtime.create(cid, bundle(args=SLEEP))
    assert again.returncode == 1
    state = runtime.state(cid)
    assert (state["status"], state["pid"]) == ("created", pid)


def test_start_twice_fails(runtime, bundle, cid):
    runtime.create(cid, bundle(args=SLEEP)).check()
    runtime.start(cid).check()
    assert runtime.start(cid).returncode == 1
    assert runtime.status(cid) == "running"


def test_start_of_a_stopped_container_fails(runtime, bundle, cid):
    runtime.create(cid, bundle(args=["true"])).check()
    runtime.start(cid).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.start(cid).returncode == 1


def test_start_of_an_unknown_container_fails(runtime, cid):
    assert runtime.start(cid).returncode == 1


def test_kill_of_a_stopped_container_fails(runtime, bundle, cid):
    runtime.create(cid, bundle(args=["true"])).check()
    runtime.start(cid).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.kill(cid, "KILL").returncode == 1


def test_delete_of_a_running_container_fails_without_force(runtime, bundle, cid):
    runtime.run(cid, bundle(args=SLEEP), "--detach").check()
    pid = runtime.state(cid)["pid"]
    assert runtime.delete(cid).returncode == 1
    assert runtime.status(cid) == "running"
    runtime.delete(cid, "--force").check()
    assert runtime("state", cid).returncode == 1
    assert not alive(pid)


def test_delete_of_a_created_container_fails_without_force(runtime, bundle, cid, deviation):
    deviation(runc="runc 1.1.5 deletes a created container without --force",
              crun="crun 1.8.1 deletes a created container without --force")
    runtime.create(cid, bundle(args=SLEEP)).check()
    assert runtime.delete(cid).returncode == 1
    assert runtime.status(cid) == "created"


def test_delete_of_a_created_container_with_force(runtime, bundle, cid):
    runtime.create(cid, bundle(args=SLEEP)).check()
    pid = runtime.state(cid)["pid"]
    runtime.delete(cid, "--force").check()
    assert runtime("state", cid).returncode == 1
    assert not alive(pid)


def test_delete_of_an_unknown_container_fails(runtime, cid):
    assert runtime.delete(cid).returncode == 1


def test_state_of_an_unknown_container_fails(runtime, cid):
    result = runtime("state", cid)
    assert result.returncode == 1
    assert result.stdout.strip() == ""


def test_invalid_config_fails_and_creates_nothing(runtime, bundle, cid):
    path = bundle(args=SLEEP)
    (path / "config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    assert runtime.create(cid, path).returncode == 1
    assert runtime("state", cid).returncode == 1
    assert runtime.ids() == []


def test_config_with_a_wrong_type_fails(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 accepts a string for process.args (the schema requires an array)")
    config = base_config(SLEEP)
    config["process"]["args"] = "sleep 600"
    path = bundle(config=config)
    assert runtime.create(cid, path).returncode == 1
    assert runtime("state", cid).returncode == 1


def test_missing_rootfs_fails_and_creates_nothing(runtime, bundle, cid):
    config = base_config(SLEEP, root={"path": "no-such-rootfs"})
    path = bundle(args=SLEEP)
    write_config(path, config)
    assert runtime.create(cid, path).returncode == 1
    assert runtime("state", cid).returncode == 1


def test_missing_program_fails_at_create(runtime, bundle, cid):
    assert runtime.create(cid, bundle(args=["/no/such/program"])).returncode == 1
    assert runtime("state", cid).returncode == 1


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ""])
def test_invalid_ids_are_refused(runtime, bundle, bad_id):
    path = bundle(args=SLEEP)
    assert runtime("create", "--bundle", path, bad_id).returncode != 0
    assert runtime.ids() == []


def test_pid_file(runtime, bundle, cid, tmp_path):
    pid_file = tmp_path / "container.pid"
    runtime.create(cid, bundle(args=SLEEP), "--pid-file", pid_file).check()
    assert int(pid_file.read_text()) == runtime.state(cid)["pid"]


def test_relative_pid_file_is_relative_to_the_working_directory(runtime, bundle, cid, tmp_path,
                                                                deviation):
    deviation(crun="crun 1.8.1 resolves a relative --pid-file against the bundle, not the cwd")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    runtime.create(cid, bundle(args=SLEEP), "--pid-file", "rel.pid", cwd=workdir).check()
    assert int((workdir / "rel.pid").read_text()) == runtime.state(cid)["pid"]


def test_bundle_defaults_to_the_working_directory(runtime, bundle, cid):
    path = bundle(args=SLEEP)
    runtime("create", cid, cwd=path).check()
    assert runtime.state(cid)["bundle"] == str(path)


def test_pause_and_resume(runtime, bundle, cid):
    runtime.run(cid, bundle(args=SLEEP), "--detach").check()
    pid = runtime.state(cid)["pid"]
    runtime.pause(cid).check()
    assert runtime.status(cid) == "paused"
    assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN"
    runtime.resume(cid).check()
    assert runtime.status(cid) == "running"


def test_resume_of_a_running_container_fails(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 resumes a container that is not paused without an error")
    runtime.run(cid, bundle(args=SLEEP), "--detach").check()
    assert runtime.resume(cid).returncode == 1
    assert runtime.status(cid) == "running"
