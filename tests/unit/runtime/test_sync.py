import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.runtime import sync
from boxen.runtime.linux.kernel import Kernel


def test_channel_round_trip_and_errors():
    parent, child = sync.Channel.pair(Kernel())
    child.send(sync.INIT_PID, pid=42)
    assert parent.expect(sync.INIT_PID)["pid"] == 42
    child.send_error(InvalidArgument("expected a string", field="process.cwd"))
    with pytest.raises(InvalidArgument) as info:
        parent.expect(sync.CREATED)
    assert info.value.field == "process.cwd"
    child.close()
    child.close()  # closing twice is harmless: the descriptor is not closed again
    assert parent.recv() is None
    parent.close()


def test_an_error_sent_by_a_child_that_left_a_message_unread_still_arrives():
    parent, child = sync.Channel.pair(Kernel())
    parent.send(sync.GO)  # never read: the child fails first
    child.send_error(InvalidArgument("bad mount", field="mounts"))
    child.close()  # the kernel now reports ECONNRESET once, before the ERROR
    with pytest.raises(InvalidArgument, match="bad mount"):
        parent.expect(sync.CREATED)
    assert parent.recv() is None
    parent.close()


def test_kernel_errors_keep_their_meaning():
    from boxen.common.errors import kernel_error

    message = sync.decode(sync.error_message(kernel_error(2, "mount", "/proc")))
    with pytest.raises(NotFound, match="mount /proc"):
        sync.raise_error(message)
