"""Command-line flags the way runc's (urfave/cli and Go's ``flag``) reads them.

``-flag`` and ``--flag`` are the same; a value follows as ``--flag value`` or ``--flag=value``;
a boolean flag takes no value (``--flag=false`` turns it off); a flag may be repeated when it
collects a list (``--env A=1 --env B=2``). Parsing stops at the first argument that is not a
flag, or after ``--``: what follows are the positional arguments (for ``exec``, the command and
*its* flags). ``argparse`` would do most of this, but it costs 16 ms to import here, most of a
runtime's budget, and handles ``-flag`` differently.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument


class Flag:
    """One flag: its names (long first), kind ``bool``, ``str``, ``int`` or ``list``, and help."""

    __slots__ = ("default", "help", "kind", "metavar", "names")

    def __init__(self, names: str, kind: str = "bool", default: object = None, help: str = "",
                 metavar: str = "value") -> None:
        self.names = tuple(names.split(","))
        self.kind = kind
        self.default = [] if kind == "list" else (False if kind == "bool" and default is None else default)
        self.help = help
        self.metavar = metavar

    @property
    def key(self) -> str:
        return self.names[0].replace("-", "_")


def parse(flags: tuple[Flag, ...], argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """(values by flag key, positional arguments)."""
    by_name = {name: flag for flag in flags for name in flag.names}
    values: dict[str, object] = {f.key: (list(f.default) if f.kind == "list" else f.default) for f in flags}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.lstrip("-").partition("=")
        flag = by_name.get(name)
        if flag is None:
            raise InvalidArgument(f"flag provided but not defined: -{name}", field=arg)
        if flag.kind == "bool":
            if eq:
                if value.lower() not in ("true", "false", "1", "0", "t", "f"):
                    raise InvalidArgument(f"invalid boolean value {value!r} for -{name}", field=arg)
                values[flag.key] = value.lower() in ("true", "1", "t")
            else:
                values[flag.key] = True
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: -{name}", field=arg)
                value = argv[i]
            if flag.kind == "int":
                try:
                    values[flag.key] = int(value)
                except ValueError:
                    raise InvalidArgument(f"invalid value {value!r} for flag -{name}: expected an integer",
                                          field=f"--{flag.names[0]}") from None
            elif flag.kind == "list":
                values[flag.key].append(value)  # type: ignore[union-attr]
            else:
                values[flag.key] = value
        i += 1
    return values, argv[i:]


def usage(flags: tuple[Flag, ...]) -> str:
    lines = []
    for f in flags:
        names = ", ".join(("--" if len(n) > 1 else "-") + n for n in f.names)
        if f.kind != "bool":
            names += f" {f.metavar}"
        lines.append(f"   {names:<32} {f.help}")
    return "\n".join(lines)
