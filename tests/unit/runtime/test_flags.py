import pytest

from boxen.common.errors import InvalidArgument
from boxen.runtime.cli.flags import Flag, parse

FLAGS = (
    Flag("bundle,b", "str", ""),
    Flag("detach,d"),
    Flag("env,e", "list"),
    Flag("preserve-fds", "int", 0),
)


def test_go_style_flags():
    values, rest = parse(FLAGS, ["-bundle", "/b", "--detach", "-e", "A=1", "--env=B=2", "--preserve-fds=2", "id"])
    assert values == {"bundle": "/b", "detach": True, "env": ["A=1", "B=2"], "preserve_fds": 2}
    assert rest == ["id"]


def test_parsing_stops_at_first_positional_and_after_double_dash():
    values, rest = parse(FLAGS, ["id", "sh", "-c", "x"])
    assert rest == ["id", "sh", "-c", "x"] and values["detach"] is False
    assert parse(FLAGS, ["--", "-d"])[1] == ["-d"]


def test_boolean_with_value():
    assert parse(FLAGS, ["--detach=false"])[0]["detach"] is False


@pytest.mark.parametrize("argv, message", [
    (["--nope"], "flag provided but not defined: -nope"),
    (["--bundle"], "flag needs an argument"),
    (["--preserve-fds", "x"], "expected an integer"),
    (["--detach=maybe"], "invalid boolean"),
])
def test_errors(argv, message):
    with pytest.raises(InvalidArgument, match=message):
        parse(FLAGS, argv)
