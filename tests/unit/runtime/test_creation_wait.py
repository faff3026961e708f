"""How ``create`` waits for its init: a cgroup frozen meanwhile ends it in runc's error, not a hang."""

import pytest

from boxen.common.errors import FailedPrecondition
from boxen.runtime import sync
from boxen.runtime.container import Creation
from boxen.runtime.linux.fake import FakeKernel


class _Cgroup:
    """A cgroup frozen (by a parent, say) once the init has joined it."""

    def __init__(self, frozen_after: int) -> None:
        self.looks = 0
        self.frozen_after = frozen_after

    def _frozen_by(self):
        self.looks += 1
        return ("/sys/fs/cgroup/freezer/p/freezer.state", "FROZEN") if self.looks > self.frozen_after else None


@pytest.fixture
def channel():
    parent, child = sync.Channel.pair(FakeKernel())
    yield parent, child
    parent.close()
    child.close()


def test_an_init_stopped_by_a_frozen_cgroup_ends_create_with_runc_s_error(channel):
    parent, _ = channel  # the init's end stays open and silent: a frozen init
    cgroup = _Cgroup(frozen_after=2)
    with pytest.raises(FailedPrecondition, match="container's cgroup unexpectedly frozen") as info:
        Creation(None, None, None)._converse(parent, None, 0, cgroup)
    assert info.value.field == "linux.cgroupsPath" and "freezer.state" in str(info.value)
    assert cgroup.looks == 3


def test_an_init_that_reports_is_not_checked_for_a_freeze(channel):
    parent, child = channel
    child.send(sync.ERROR, kind="InvalidArgument", message="bad", field="process.args")
    cgroup = _Cgroup(frozen_after=0)
    with pytest.raises(Exception, match="bad"):
        Creation(None, None, None)._converse(parent, None, 0, cgroup)
    assert cgroup.looks == 0
