"""A runtime killed at any moment leaves an id that ``delete --force`` clears (runc's contract).

An OCI runtime is a short-lived program between two states of the kernel: ``kill -9`` of
``run`` may land before the state directory exists, while the cgroup is being made, between
the init's clone and the record of its pid, while the init waits for ``start``, or while the
user's program runs. Whatever was made must be found again from ``state.json`` so that
``delete --force`` removes it (processes, cgroups) and the same id can be created anew.
"""

import random
import subprocess
import time

import pytest

from support.bundle import base_config, make_bundle

pytestmark = pytest.mark.privileged

ROUNDS = 20


def test_kill_9_of_run_at_any_moment_leaves_an_id_delete_force_clears(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    rng = random.Random(8)
    seen = set()
    for _ in range(ROUNDS):
        proc = boxen.popen("run", "--bundle", bundle, cid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.06))
        proc.kill()
        proc.wait()
        seen.add(boxen.status(cid))
        result = boxen.delete(cid, "--force")
        assert result.ok, result.stderr
        assert boxen.ids() == [], f"delete --force left {boxen.ids()} (stderr: {result.stderr})"
        assert boxen.status(cid) is None
    boxen.create(cid, bundle).check()
    assert boxen.status(cid) == "created"
    boxen.delete(cid, "--force").check()
    # the rounds caught the runtime both before it made anything and once the container ran
    print("statuses seen after kill -9:", seen)
    assert None in seen and len(seen) > 1, seen


def test_kill_9_of_delete_at_any_moment_leaves_an_id_delete_force_clears(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    rng = random.Random(9)
    for _ in range(ROUNDS // 2):
        boxen.run(cid, bundle, "--detach").check()
        proc = boxen.popen("delete", "--force", cid, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.06))
        proc.kill()
        proc.wait()
        result = boxen.delete(cid, "--force")
        assert result.ok, result.stderr
        assert boxen.ids() == [] and boxen.status(cid) is None


def test_an_interrupted_creation_is_listed_and_its_state_is_shown(boxen, cid, tmp_path):
    bundle = make_bundle(tmp_path, base_config(["sleep", "60"]))
    boxen.create(cid, bundle).check()
    state_file = boxen.root / cid / "state.json"
    import json

    data = json.loads(state_file.read_text())
    data.update(creating=True, creator=1, creator_start=-1)  # as if create had been killed
    state_file.write_text(json.dumps(data))
    assert boxen.state(cid)["status"] == "creating"  # its init still waits
    assert [c["id"] for c in boxen.list("--format", "json").check().json()] == [cid]
    assert boxen.create(cid, bundle).returncode == 1  # the id is taken until it is deleted
    boxen.delete(cid, "--force").check()
    assert boxen.ids() == []
    boxen.create(cid, bundle).check()
    boxen.delete(cid, "--force").check()
