"""Command-line flags, read the two ways container tools read them.

**Go's ``flag`` package** (runc, through urfave/cli): ``-flag`` and ``--flag`` are the same; a
value follows as ``--flag value`` or ``--flag=value``; a boolean flag takes no value
(``--flag=false`` turns it off). Go's ``flag`` stops at the first argument that is not a flag,
or after ``--``; urfave/cli, which runc uses, first moves the flags written after the
positional arguments to the front, so ``runc delete c1 --force`` works, for every command but
``exec``, whose positional arguments are a command with *its own* flags.
:func:`parse_go` reads both ways (``interspersed``); ``boxen-runtime`` uses it.

**GNU getopt_long, as Go's pflag does it** (docker, podman, skopeo): ``--name`` for long names,
``-n`` for one-letter ones; a boolean may be given a value (``--all=false``); one-letter
booleans combine (``-qa``) and a one-letter flag's value
may follow at once (``-ofile``); flags and positional arguments may come in any order, unless
the command asks to stop at the first argument (a command's global options, before its verb).
:func:`parse_gnu` reads this way and :func:`bind` names the positional arguments
(:class:`Arg`); ``boxen-image`` uses them.

The standard library's ``argparse`` does the second, but importing it (``re``, ``enum`` and
``gettext`` with it: bench/RESULTS.md, "Import costs") and building a parser are a large part of a
small ``boxen-image pull`` and of a runtime's start-up; and it reads ``-flag`` its own way.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument


class Flag:
    """One flag: its names (long first, then one-letter ones), kind ``bool``, ``str``, ``int``
    or ``list`` (repeatable, collects strings), default, help, and for values the ``choices``
    allowed and whether the flag is ``required``."""

    __slots__ = ("choices", "default", "help", "kind", "metavar", "names", "required")

    def __init__(self, names: str, kind: str = "bool", default: object = None, help: str = "",
                 metavar: str = "value", choices: tuple[str, ...] = (), required: bool = False) -> None:
        self.names = tuple(names.split(","))
        self.kind = kind
        self.default = [] if kind == "list" else (False if kind == "bool" and default is None else default)
        self.help = help
        self.metavar = "{" + "|".join(choices) + "}" if choices and metavar == "value" else metavar
        self.choices = choices
        self.required = required

    @property
    def key(self) -> str:
        return self.names[0].replace("-", "_")

    @property
    def spelling(self) -> str:
        """How a user writes it: ``--name`` (``-n`` for a one-letter name)."""
        return ("--" if len(self.names[0]) > 1 else "-") + self.names[0]


class Arg:
    """A positional argument: ``Arg("image")`` is one, ``Arg("destination?")`` may be absent
    (``None``), ``Arg("images...")`` is one or more (a list)."""

    __slots__ = ("arity", "help", "key", "metavar")

    def __init__(self, spec: str, help: str = "", metavar: str | None = None) -> None:
        self.arity = "+" if spec.endswith("...") else "?" if spec.endswith("?") else "1"
        self.key = spec.rstrip(".?")
        self.help = help
        self.metavar = metavar or self.key.upper()

    @property
    def usage(self) -> str:
        return {"1": self.metavar, "?": f"[{self.metavar}]", "+": f"{self.metavar}..."}[self.arity]


def _defaults(flags: tuple[Flag, ...]) -> dict[str, object]:
    return {f.key: (list(f.default) if f.kind == "list" else f.default) for f in flags}  # type: ignore[call-overload]


# The spellings Go's strconv.ParseBool accepts, which both pflag and flag use.
_BOOLEANS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _boolean(value: str, spelled: str, flag: Flag) -> bool:
    try:
        return _BOOLEANS[value]
    except KeyError:
        raise InvalidArgument(f"invalid boolean value {value!r} for {spelled}: expected true or false",
                              field=flag.spelling) from None


def _store(values: dict[str, object], flag: Flag, value: str, spelled: str) -> None:
    """Convert and check a value flag's ``value`` and store it."""
    if flag.choices and value not in flag.choices:
        raise InvalidArgument(f"invalid value {value!r} for {spelled}: expected one of {', '.join(flag.choices)}",
                              field=flag.spelling)
    if flag.kind == "int":
        try:
            values[flag.key] = int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value {value!r} for flag {spelled}: expected an integer",
                                  field=flag.spelling) from None
    elif flag.kind == "list":
        values[flag.key].append(value)  # type: ignore[attr-defined]
    else:
        values[flag.key] = value


def parse_go(flags: tuple[Flag, ...], argv: list[str], *,
             interspersed: bool = False) -> tuple[dict[str, object], list[str]]:
    """(values by flag key, positional arguments), read as Go's ``flag`` package reads them.

    By default reading stops at the first positional argument. With ``interspersed``, as
    urfave/cli reorders a command's arguments, flags are read wherever they stand until ``--``.
    """
    by_name = {name: flag for flag in flags for name in flag.names}
    values = _defaults(flags)
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            if not interspersed:
                i -= 1
                break
            positional.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        flag = by_name.get(name)
        if flag is None:
            raise InvalidArgument(f"flag provided but not defined: -{name}", field=arg)
        if flag.kind == "bool":
            values[flag.key] = _boolean(value, f"-{name}", flag) if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise InvalidArgument(f"flag needs an argument: -{name}", field=arg)
            value = argv[i]
            i += 1
        _store(values, flag, value, f"-{name}")
    return values, positional + argv[i:]


def parse_gnu(flags: tuple[Flag, ...], argv: list[str], *,
              interspersed: bool = True) -> tuple[dict[str, object], list[str]]:
    """(values by flag key, positional arguments), read as pflag reads them.

    With ``interspersed`` false, reading stops at the first positional argument (a verb),
    which is returned with everything after it. :func:`bind` then checks required flags and
    names the positional arguments (after a caller has looked for ``--help``).
    """
    long = {name: flag for flag in flags for name in flag.names if len(name) > 1}
    short = {name: flag for flag in flags for name in flag.names if len(name) == 1}
    values = _defaults(flags)
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flag = long.get(name)
            if flag is None:
                raise InvalidArgument(f"unknown flag: --{name}", field=arg)
            if flag.kind == "bool":
                values[flag.key] = _boolean(value, f"--{name}", flag) if eq else True
                continue
            if not eq:
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: --{name}", field=arg)
                value = argv[i]
                i += 1
            _store(values, flag, value, f"--{name}")
        elif arg.startswith("-") and arg != "-":
            letters = arg[1:]
            while letters:
                letter, letters = letters[0], letters[1:]
                flag = short.get(letter)
                if flag is None:
                    raise InvalidArgument(f"unknown shorthand flag: {letter!r} in {arg}", field=arg)
                if flag.kind == "bool":
                    values[flag.key] = True
                    continue
                if not letters:
                    if i >= len(argv):
                        raise InvalidArgument(f"flag needs an argument: -{letter}", field=arg)
                    letters = argv[i]
                    i += 1
                _store(values, flag, letters, f"-{letter}")
                letters = ""
        elif interspersed:
            positional.append(arg)
        else:
            positional += argv[i - 1:]
            break
    return values, positional


def bind(flags: tuple[Flag, ...], args: tuple[Arg, ...], values: dict[str, object], positional: list[str]) -> None:
    """Check that required ``flags`` were given and store ``positional`` in ``values`` under
    the keys of ``args``: an error if there are too few or too many."""
    for flag in flags:
        if flag.required and values[flag.key] in (None, []):
            raise InvalidArgument(f"required flag {flag.spelling} not set", field=flag.spelling)
    rest = list(positional)
    for n, arg in enumerate(args):
        if arg.arity == "+":
            take = len(rest) - (len(args) - n - 1)  # arguments declared after this one take one each
            if take < 1:
                raise InvalidArgument(f"missing argument {arg.metavar}", field=arg.metavar)
            values[arg.key], rest = rest[:take], rest[take:]
        elif rest:
            values[arg.key] = rest.pop(0)
        elif arg.arity == "?":
            values[arg.key] = None
        else:
            raise InvalidArgument(f"missing argument {arg.metavar}", field=arg.metavar)
    if rest:
        raise InvalidArgument(f"unexpected argument {rest[0]!r}", field=rest[0])

def usage(flags: tuple[Flag, ...], args: tuple[Arg, ...] = (), *, gnu: bool = False) -> str:
    """Help lines for ``args`` and ``flags``, one per line, aligned.

    runc's style by default (``--bundle value, -b value``... as urfave/cli prints it, names in
    declaration order); ``gnu`` prints docker's (``-i, --input PATH``, short name first).
    """
    lines = [f"   {a.metavar:<32} {a.help}" for a in args if a.help]
    for f in flags:
        if gnu:
            short = [n for n in f.names if len(n) == 1]
            long = [n for n in f.names if len(n) > 1]
            names = (f"-{short[0]}, " if short else "    ") + ", ".join("--" + n for n in long)
        else:
            names = ", ".join(("--" if len(n) > 1 else "-") + n for n in f.names)
        if f.kind != "bool":
            names += f" {f.metavar}"
        lines.append(f"   {names:<32} {f.help}")
    return "\n".join(lines)
