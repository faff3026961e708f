"""runc's operational verbs: kill, ps, list, events, update, features and spec.

``kill`` takes a signal by name (``KILL``, ``SIGKILL``) or number (``9``); the container's init
is PID 1 of its PID namespace, which the kernel protects from every signal it has no handler
for, so the tests install one with ``trap``. ``ps`` lists the host pids in the container's
cgroup (a table, or a JSON array with ``--format json``). ``list`` shows the containers under
``--root``. ``events --stats`` prints one JSON object of cgroup statistics; ``events`` streams them and
reports each OOM kill in the container's cgroup (``{"type": "oom"}``). ``update`` changes
cgroup limits of a live container (flags or an ``-r`` resources file). ``features`` (runtime-spec
features.md) describes what the runtime supports. ``spec`` writes a default ``config.json``
(``--rootless``: one with a user namespace mapping the caller to root).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import pytest

from support.bundle import base_config
from support.probe import cgroup_file

SLEEP = ["sleep", "600"]
TRAP = 'trap "exit 0" USR1 TERM; while :; do sleep 0.1; done'


def _running(runtime, bundle, cid, args=SLEEP, **overrides):
    runtime.run(cid, bundle(args=args, **overrides), "--detach").check()
    return runtime.state(cid)["pid"]


@pytest.mark.parametrize("signal", ["USR1", "SIGUSR1", "10"])
def test_kill_by_name_and_number(runtime, bundle, cid, signal):
    _running(runtime, bundle, cid, args=["sh", "-c", TRAP])
    runtime.kill(cid, signal).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"


def test_kill_defaults_to_sigterm(runtime, bundle, cid):
    _running(runtime, bundle, cid, args=["sh", "-c", TRAP])
    runtime.kill(cid).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"


def test_kill_of_a_created_container(runtime, bundle, cid):
    runtime.create(cid, bundle(args=SLEEP)).check()
    runtime.kill(cid, "KILL").check()
    assert runtime.wait_status(cid, "stopped") == "stopped"


def test_kill_with_an_unknown_signal_fails(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 accepts an unknown signal name and exits 0")
    _running(runtime, bundle, cid)
    assert runtime.kill(cid, "SIGBOXEN").returncode != 0
    assert runtime.status(cid) == "running"


def test_ps(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid)
    runtime.exec(cid, "sleep", "300", flags=("--detach",)).check()
    pids = runtime.ps(cid, "--format", "json").check().json()
    assert pid in pids and len(pids) == 2
    table = runtime.ps(cid).check().stdout.splitlines()
    assert "PID" in table[0].split()
    assert any(str(pid) in line.split() for line in table[1:])


def test_list(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1's list table heads its first column NAME, not runc's ID")
    path = bundle(args=SLEEP)
    runtime.run(cid, path, "--detach").check()
    pid = runtime.state(cid)["pid"]
    table = runtime.list().check().stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "PID", "STATUS", "BUNDLE"]
    assert [cid, str(pid), "running", str(path)] == table[1].split()[:4]
    entries = runtime.list("--format", "json").check().json()
    assert [(e["id"], e["pid"], e["status"], e["bundle"]) for e in entries] == \
        [(cid, pid, "running", str(path))]
    assert runtime.list("-q").check().stdout.split() == [cid]


def test_list_of_an_empty_root(runtime):
    assert runtime.list("-q").check().stdout.strip() == ""


def test_events_stats(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 has no events verb")
    _running(runtime, bundle, cid)
    event = runtime.events(cid, "--stats").check().json()
    assert event["type"] == "stats"
    assert event["id"] == cid
    assert event["data"]["pids"]["current"] >= 1
    assert event["data"]["memory"]["usage"]["usage"] > 0


# busybox sh doubles a string until the memory limit stops it (after a second: events is watching)
HOG = "sleep 1; x=0123456789abcdef; while :; do x=$x$x; done"


def test_events_reports_an_oom_kill(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 has no events verb")
    linux = base_config()["linux"]
    linux["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    runtime.run(cid, bundle(args=["sh", "-c", HOG], linux=linux), "--detach").check()
    events = runtime.popen("events", "--interval", "200ms", cid, stdout=subprocess.PIPE, text=True)
    try:
        seen, deadline = [], time.monotonic() + 30
        while "oom" not in seen and time.monotonic() < deadline:
            if select.select([events.stdout], [], [], 1)[0]:
                line = events.stdout.readline()
                if not line:
                    break
                event = json.loads(line)
                assert event["id"] == cid
                seen.append(event["type"])
        assert "oom" in seen, seen
        assert runtime.wait_status(cid, "stopped") == "stopped"
        # (boxen's events then ends by itself; runc's goes on, logging errors, until killed)
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()


def test_update_with_flags(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid)
    runtime.update(cid, "--memory", str(64 << 20), "--pids-limit", "50",
                   "--cpu-share", "512").check()
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "pids", "pids.max") == "50"
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"


def test_update_with_a_resources_file(runtime, bundle, cid, tmp_path):
    pid = _running(runtime, bundle, cid)
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"memory": {"limit": 32 << 20}, "pids": {"limit": 20}}))
    runtime.update(cid, "-r", resources).check()
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert cgroup_file(pid, "pids", "pids.max") == "20"


def test_update_of_an_unknown_container_fails(runtime, cid):
    assert runtime.update(cid, "--pids-limit", "10").returncode != 0


def test_features(runtime, deviation):
    deviation(crun="crun 1.8.1 has no features verb")
    features = runtime.features().check().json()
    assert features["ociVersionMin"].startswith("1.0")
    assert set(features["hooks"]) >= {"prestart", "createRuntime", "createContainer",
                                      "startContainer", "poststart", "poststop"}
    assert {"ro", "nosuid", "rbind", "rprivate"} <= set(features["mountOptions"])
    linux = features["linux"]
    assert {"pid", "network", "ipc", "uts", "mount", "user", "cgroup"} <= set(linux["namespaces"])
    assert {"CAP_CHOWN", "CAP_SYS_ADMIN"} <= set(linux["capabilities"])


def test_spec(runtime, tmp_path):
    runtime.spec(tmp_path).check()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["ociVersion"].startswith("1.")
    assert config["process"]["terminal"] is True
    assert config["process"]["args"] == ["sh"]
    assert config["root"]["path"] == "rootfs"
    assert {n["type"] for n in config["linux"]["namespaces"]} >= {"pid", "ipc", "uts", "mount"}
    assert runtime.spec(tmp_path).returncode != 0, "spec must not overwrite a config.json"


def test_spec_rootless(runtime, tmp_path, deviation):
    deviation(crun="crun 1.8.1 spec --rootless writes no uidMappings (crun maps the caller at run time)")
    runtime.spec(tmp_path, "--rootless").check()
    linux = json.loads((tmp_path / "config.json").read_text())["linux"]
    assert "user" in {n["type"] for n in linux["namespaces"]}
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
