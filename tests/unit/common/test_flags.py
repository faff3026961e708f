import pytest

from boxen.common.errors import InvalidArgument
from boxen.common.flags import Arg, Flag, bind, parse_gnu, parse_go, usage

FLAGS = (
    Flag("bundle,b", "str", ""),
    Flag("detach,d"),
    Flag("env,e", "list"),
    Flag("preserve-fds", "int", 0),
)


def test_go_style_flags():
    values, rest = parse_go(FLAGS, ["-bundle", "/b", "--detach", "-e", "A=1", "--env=B=2", "--preserve-fds=2", "id"])
    assert values == {"bundle": "/b", "detach": True, "env": ["A=1", "B=2"], "preserve_fds": 2}
    assert rest == ["id"]


def test_parsing_stops_at_first_positional_and_after_double_dash():
    values, rest = parse_go(FLAGS, ["id", "sh", "-c", "x"])
    assert rest == ["id", "sh", "-c", "x"] and values["detach"] is False
    assert parse_go(FLAGS, ["--", "-d"])[1] == ["-d"]


def test_boolean_with_value():
    assert parse_go(FLAGS, ["--detach=false"])[0]["detach"] is False
    assert parse_go(FLAGS, ["-d=T"])[0]["detach"] is True


def test_interspersed_flags_after_the_arguments_as_urfave_reorders_them():
    values, rest = parse_go(FLAGS, ["c1", "--detach", "x", "-b", "/b", "--", "-e"], interspersed=True)
    assert values["detach"] is True and values["bundle"] == "/b" and values["env"] == []
    assert rest == ["c1", "x", "-e"]


@pytest.mark.parametrize("argv, message", [
    (["--nope"], "flag provided but not defined: -nope"),
    (["--bundle"], "flag needs an argument"),
    (["--preserve-fds", "x"], "expected an integer"),
    (["--detach=maybe"], "invalid boolean"),
    (["--detach=yes"], "invalid boolean value 'yes' for -detach: expected true or false"),
])
def test_errors(argv, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_go(FLAGS, argv)


# The GNU/pflag grammar of boxen-image (docker, podman, skopeo).

GNU = (
    Flag("quiet,q"),
    Flag("all,a"),
    Flag("output,o", "str"),
    Flag("tag,t", "list"),
    Flag("jobs", "int", 3),
    Flag("format", "str", "table", choices=("table", "json")),
)


def test_gnu_flags_and_arguments_in_any_order():
    values, rest = parse_gnu(GNU, ["img", "-q", "--jobs=5", "dest", "-t", "a", "--tag", "b", "-oout"])
    assert rest == ["img", "dest"]
    bind(GNU, (Arg("image"), Arg("destination?")), values, rest)
    assert values == {"quiet": True, "all": False, "output": "out", "tag": ["a", "b"], "jobs": 5,
                      "format": "table", "image": "img", "destination": "dest"}


def test_gnu_combined_shorthand_and_value_after_it():
    values, _ = parse_gnu(GNU, ["-qao", "file"])
    assert (values["quiet"], values["all"], values["output"]) == (True, True, "file")


def test_gnu_double_dash_and_not_interspersed():
    assert parse_gnu(GNU, ["--", "-q"])[1] == ["-q"]
    values, rest = parse_gnu(GNU, ["-q", "pull", "--jobs", "2"], interspersed=False)
    assert values["quiet"] is True and values["jobs"] == 3 and rest == ["pull", "--jobs", "2"]


def parsed(flags, argv, args):
    values, positional = parse_gnu(flags, argv)
    bind(flags, args, values, positional)
    return values


def test_gnu_arguments_bound_by_arity():
    assert parsed((), ["a", "b", "c"], (Arg("images..."), Arg("target"))) == {"images": ["a", "b"], "target": "c"}
    assert parsed((), [], (Arg("ref?"),)) == {"ref": None}


@pytest.mark.parametrize("argv, args, message", [
    (["--nope"], (), "unknown flag: --nope"),
    (["-x"], (), "unknown shorthand flag: 'x' in -x"),
    (["--quiet=maybe"], (), "invalid boolean value 'maybe' for --quiet"),
    (["--output"], (), "flag needs an argument: --output"),
    (["-o"], (), "flag needs an argument: -o"),
    (["--jobs", "many"], (), "expected an integer"),
    (["--format", "xml"], (), "expected one of table, json"),
    ([], (Arg("image"),), "missing argument IMAGE"),
    ([], (Arg("images..."),), "missing argument IMAGES"),
    (["a", "b"], (Arg("image"),), "unexpected argument 'b'"),
])
def test_gnu_errors(argv, args, message):
    with pytest.raises(InvalidArgument, match=message):
        parsed(GNU, argv, args)


def test_gnu_boolean_with_value():
    assert parsed(GNU, ["--quiet=false", "--all=true"], ()) == parsed(GNU, ["-a"], ())
    assert parse_gnu(GNU, ["--quiet=1"])[0]["quiet"] is True


def test_gnu_required_flag():
    with pytest.raises(InvalidArgument, match="required flag --output not set") as exc:
        parsed((Flag("output,o", "str", required=True),), [], ())
    assert exc.value.field == "--output"


def test_usage_lines():
    text = usage(GNU[:3], (Arg("image", help="the image"),))
    assert text.splitlines()[0].split() == ["IMAGE", "the", "image"]
    assert "--output, -o value" in text
