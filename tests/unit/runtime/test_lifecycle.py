"""The lifecycle table: which operation is allowed in which status, and the one error."""

import pytest

from boxen.common.errors import FailedPrecondition
from boxen.runtime import lifecycle
from boxen.runtime.lifecycle import ALLOWED, STATUSES, TransitionError

# The spec's MUST rules and runc's verbs, row by row: (operation, statuses where it is allowed).
EXPECTED = {
    "start": {"created"},
    "kill": {"created", "running", "paused"},
    "kill-all": set(STATUSES),
    "delete": {"stopped"},
    "force-delete": set(STATUSES),
    "pause": {"created", "running"},
    "resume": {"paused"},
    "exec": {"created", "running"},
    "exec-ignoring-paused": {"created", "running", "paused"},
    "ps": set(STATUSES),
    "stats": {"created", "running", "paused"},
    "update": {"created", "running", "paused"},
}


def test_the_table_is_the_expected_one():
    assert {op: set(statuses) for op, statuses in ALLOWED.items()} == EXPECTED


@pytest.mark.parametrize("operation", sorted(EXPECTED))
@pytest.mark.parametrize("status", STATUSES)
def test_check_raises_the_transition_error_exactly_where_the_table_says_no(operation, status):
    if status in EXPECTED[operation]:
        lifecycle.check(operation, status)
        return
    with pytest.raises(TransitionError) as info:
        lifecycle.check(operation, status, "c1")
    assert isinstance(info.value, FailedPrecondition)
    assert (info.value.operation, info.value.status) == (operation, status)


def test_predicates_follow_the_table():
    for status in STATUSES:
        assert lifecycle.can_start(status) == (status == "created")
        assert lifecycle.can_kill(status) == (status in ("created", "running", "paused"))
        assert lifecycle.can_delete(status) == (status == "stopped")
        assert lifecycle.can_delete(status, force=True)
        assert lifecycle.can_pause(status) == (status in ("created", "running"))
        assert lifecycle.can_resume(status) == (status == "paused")
        assert lifecycle.can_exec(status) == (status in ("created", "running"))
        assert lifecycle.can_exec(status, ignore_paused=True) == (status in ("created", "running", "paused"))
        assert lifecycle.can_update(status) == (status in ("created", "running", "paused"))


@pytest.mark.parametrize("operation, status, message", [
    ("start", "stopped", "cannot start a container that has stopped"),
    ("start", "running", "cannot start an already running container"),
    ("start", "creating", "cannot start a container that is creating"),
    ("kill", "stopped", "container not running"),  # containerd matches these words
    ("delete", "running", "cannot delete container c1 that is not stopped: running"),
    ("resume", "running", "container not paused"),
    ("exec", "paused", "cannot exec in a paused container (use --ignore-paused to override)"),
    ("exec", "stopped", "cannot exec in a stopped container"),
])
def test_refusals_in_runcs_words(operation, status, message):
    with pytest.raises(TransitionError) as info:
        lifecycle.check(operation, status, "c1")
    assert str(info.value) == message
