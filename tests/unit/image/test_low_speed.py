"""The low-speed rule of streamed bodies (curl's --speed-limit and --speed-time), read from the
environment and applied window by window."""

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.registry import transport
from boxen.image.registry.transport import LowSpeed, Pace, TooSlow


def test_the_rule_defaults_to_1_kib_a_second_over_a_minute_and_is_read_from_the_environment():
    assert LowSpeed.from_environ({}) == LowSpeed(1024, 60.0)
    rule = LowSpeed.from_environ({"BOXEN_HTTP_SPEED_LIMIT": "0", "BOXEN_HTTP_SPEED_TIME": "2.5"})
    assert (rule.limit, rule.time) == (0, 2.5)


@pytest.mark.parametrize("name, value", [("BOXEN_HTTP_SPEED_LIMIT", "1k"), ("BOXEN_HTTP_SPEED_LIMIT", " 5"),
                                         ("BOXEN_HTTP_SPEED_TIME", "-1"), ("BOXEN_HTTP_SPEED_TIME", "inf"),
                                         ("BOXEN_HTTP_SPEED_TIME", "x")])
def test_a_bad_setting_names_its_variable(name, value):
    with pytest.raises(InvalidArgument) as info:
        LowSpeed.from_environ({name: value})
    assert info.value.field == name


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(transport, "time", c)
    return c


def test_each_window_must_bring_its_bytes(clock):
    pace = Pace(LowSpeed(100, 10.0), read_timeout=60.0)
    assert pace.timeout() == 10.0  # a read waits no longer than the window
    clock.now += 4
    pace.check(600)
    assert pace.timeout() == 6.0  # 600 of the window's 1,000 bytes: still cut at its end
    clock.now += 7
    pace.check(500)  # 1,100 bytes in 11 s: the window is over and was fast enough; a new one starts
    assert pace.got == 0 and pace.start == clock.now
    clock.now += 10.5
    with pytest.raises(TooSlow, match="sent 999 bytes in 10.5 s, fewer than the 1000 required"):
        pace.check(999)


def test_a_read_never_waits_past_a_short_window(clock):
    pace = Pace(LowSpeed(100, 10.0), read_timeout=60.0)
    clock.now += 9.5
    assert pace.timeout() == 0.5
    clock.now += 1
    assert pace.timeout() == 0.001  # over: the next read finds out at once
