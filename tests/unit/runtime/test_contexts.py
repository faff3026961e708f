"""The values handed to the forked processes: every field given, no misspelt one accepted."""

import pytest

from boxen.runtime.init import ExecContext, InitContext

EXEC = dict(kernel=None, process=None, channel=None, ns_fds={}, cgroup=None, console_fd=None, preserve_fds=0,
            interpreter=(1, 2), setgroups=True, detach=False, container_id="c1", seccomp_program=None, bundle="/b")


def test_an_exec_context_with_every_field():
    ctx = ExecContext(**EXEC)
    assert ctx.container_id == "c1" and ctx.preserve_fds == 0


def test_a_misspelt_field_is_refused():
    with pytest.raises(TypeError, match="has no field 'preserve_fd'"):
        ExecContext(**EXEC, preserve_fd=1)


def test_a_missing_field_is_refused():
    values = dict(EXEC)
    del values["bundle"]
    with pytest.raises(TypeError, match="missing field 'bundle'"):
        ExecContext(**values)
    with pytest.raises(TypeError, match="missing field"):
        InitContext(kernel=None)


def test_a_context_cannot_be_changed_by_the_child():
    with pytest.raises(AttributeError, match="frozen"):
        ExecContext(**EXEC).detach = True
