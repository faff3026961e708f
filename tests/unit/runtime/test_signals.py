import pytest

from boxen.common.errors import InvalidArgument
from boxen.runtime.cli.signals import parse


@pytest.mark.parametrize("text, number", [
    ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9), ("TERM", 15), ("SIGRTMIN", 34), ("RTMIN+2", 36),
    ("SIGRTMAX-1", 63), ("USR1", 10), ("0", 0),
])
def test_names_and_numbers(text, number):
    assert parse(text) == number


@pytest.mark.parametrize("text", ["NOPE", "-1", "65", "SIGRTMIN+40", ""])
def test_unknown(text):
    with pytest.raises(InvalidArgument):
        parse(text)
