"""Where the spec is silent and runc's behaviour is the contract managers are written against.

containerd, podman and CRI-O call a runtime as they call runc, and read its answers as runc
gives them: ``exec`` exits 255 when the runtime could not run the process (so a status of 1
is the process's own); ``delete --force`` of an id that is gone succeeds (a cleanup that is
retried must not fail); ``kill ID 0`` is a liveness check; ``ps`` of a stopped container is an
empty table; deleting one of two containers that share a cgroup succeeds with a warning;
``kill --all`` of a stopped container succeeds, and SIGKILL of a paused one stops it.
Flags may follow the container id (urfave/cli reorders them), and ``--log FILE --log-format
json`` is where a manager finds the runtime's error, as ``{"level": "error", "msg": ...}`` lines.
"""

from __future__ import annotations

import json
import uuid

SLEEP = ["sleep", "600"]


def _running(runtime, bundle, cid, **overrides):
    runtime.run(cid, bundle(args=SLEEP, **overrides), "--detach").check()
    return runtime.state(cid)["pid"]


def test_exec_passes_the_process_status_on(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    assert runtime.exec(cid, "sh", "-c", "exit 3").returncode == 3
    assert runtime.exec(cid, "sh", "-c", "exit 1").returncode == 1


def test_exec_that_cannot_run_exits_255(runtime, bundle, cid, tmp_path, deviation):
    deviation(crun="crun 1.8.1 exits 1 when exec cannot run the process")
    _running(runtime, bundle, cid)
    assert runtime.exec(cid, "/no/such/program").returncode == 255
    bad_pid_file = tmp_path / "missing-directory" / "pid"
    assert runtime.exec(cid, "sleep", "300", flags=("--pid-file", bad_pid_file)).returncode == 255
    assert len(runtime.ps(cid, "--format", "json").check().json()) == 1  # nothing was left running
    runtime.pause(cid).check()
    try:
        assert runtime.exec(cid, "true").returncode == 255
    finally:
        runtime.resume(cid).check()
    assert runtime.exec("no-such-" + cid, "true").returncode == 255


def test_create_with_a_bad_pid_file_leaves_nothing(runtime, bundle, cid, tmp_path):
    result = runtime.create(cid, bundle(args=SLEEP), "--pid-file", tmp_path / "missing-directory" / "pid")
    assert result.returncode != 0
    assert runtime.status(cid) is None


def test_delete_force_of_an_unknown_id_succeeds(runtime, cid):
    assert runtime.delete(cid, "--force").returncode == 0
    assert runtime.delete(cid).returncode != 0


def test_kill_0_checks_liveness(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    assert runtime.kill(cid, "0").returncode == 0
    assert runtime.status(cid) == "running"
    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.kill(cid, "0").returncode != 0


def test_ps_of_a_stopped_container_is_an_empty_table(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 crashes (SIGSEGV) on ps of a stopped container")
    _running(runtime, bundle, cid)
    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    table = runtime.ps(cid).check().stdout.splitlines()
    assert len(table) == 1 and "PID" in table[0].split()
    assert runtime.ps(cid, "--format", "json").check().json() in ([], None)


def test_delete_force_of_one_of_two_containers_sharing_a_cgroup(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 kills every process of the shared cgroup, the other container's too")
    _running(runtime, bundle, cid)
    with open(f"{runtime.state(cid)['bundle']}/config.json") as f:  # the second names the same cgroupsPath
        cgroups_path = json.load(f)["linux"]["cgroupsPath"]
    other = f"{cid}-b"
    runtime.run(other, bundle(args=SLEEP, linux={"cgroupsPath": cgroups_path}), "--detach").check()
    try:
        result = runtime.delete(cid, "--force")
        assert result.returncode == 0, result.stderr
        assert "cgroup" in result.stderr  # the warning: the cgroup is not empty
        assert runtime.status(cid) is None
        assert runtime.status(other) == "running"
    finally:
        runtime.delete(other, "--force")


def test_flags_may_follow_the_id(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 reads no flags after the id (argp stops at update's id)")
    _running(runtime, bundle, cid)
    runtime("update", cid, "--pids-limit", "30").check()
    runtime("kill", cid, "KILL", "--all").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    runtime("delete", cid, "--force").check()
    assert runtime.status(cid) is None


def test_log_file_gets_errors_as_json_lines(runtime, tmp_path):
    log = tmp_path / "runtime.log"
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    result = runtime("--log", log, "--log-format", "json", "state", missing)
    assert result.returncode != 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    errors = [line for line in lines if line["level"] == "error"]
    assert errors and errors[-1]["msg"] and "time" in errors[-1]


def test_log_file_is_made_at_start_and_debug_adds_debug_lines(runtime, bundle, cid, tmp_path, deviation):
    deviation(crun="crun 1.8.1 writes no debug lines for run")
    quiet = tmp_path / "quiet.log"
    runtime("--log", quiet, "list").check()
    assert quiet.exists()
    debug = tmp_path / "debug.log"
    runtime("--log", debug, "--log-format", "json", "--debug", "run", "--bundle", bundle(args=["true"]), cid).check()
    levels = {json.loads(line)["level"] for line in debug.read_text().splitlines()}
    assert "debug" in levels


def test_sigkill_of_a_paused_container_stops_it(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 leaves the cgroup frozen, so the container stays paused")
    _running(runtime, bundle, cid)
    runtime.pause(cid).check()
    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"


def test_kill_all_of_a_stopped_container_succeeds(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.kill(cid, "KILL", "--all").returncode == 0
