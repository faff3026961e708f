"""boxen.runtime.hooks.run without root: the state on stdin, the timeout, the directory."""

import json

import pytest

from boxen.oci.runtime import Hook
from boxen.runtime.hooks import HookError, run

BIG_STATE = {"id": "c1", "annotations": {f"k{i}": "x" * 1000 for i in range(200)}}


def sh(script: str, **fields) -> Hook:
    return Hook("/bin/sh", ("sh", "-c", script), **fields)


def test_the_whole_state_reaches_a_hook_that_reads_it(tmp_path):
    out = tmp_path / "state.json"
    run(sh(f"cat > {out}"), BIG_STATE, "poststart", 0)
    assert json.loads(out.read_text()) == BIG_STATE


def test_the_timeout_covers_writing_a_state_the_hook_never_reads():
    with pytest.raises(HookError, match="timed out after 1 s"):
        run(sh("exec sleep 30", timeout=1), BIG_STATE, "createRuntime", 0)


def test_a_hook_may_exit_without_reading_its_stdin():
    run(sh("exit 0"), BIG_STATE, "poststart", 0)


def test_a_failure_reports_the_status_and_output():
    with pytest.raises(HookError, match=r"hooks.prestart\[2\] \(/bin/sh\) failed with exit status 3: oops"):
        run(sh("echo oops; exit 3"), BIG_STATE, "prestart", 2)


def test_cwd_is_where_the_hook_starts(tmp_path):
    out = tmp_path / "cwd"
    run(sh(f"pwd -P > {out}"), {"id": "c1"}, "createContainer", 0, cwd=str(tmp_path))
    assert out.read_text().strip() == str(tmp_path.resolve())
