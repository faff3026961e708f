"""list: the containers under --root, as runc's table or JSON."""

import sys

from boxen.common import jsonio
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "list [command options]"
FLAGS = (
    Flag("format,f", "str", "table", help="select one of: table or json (default: \"table\")"),
    Flag("quiet,q", help="display only container IDs"),
    Flag("help,h", help="show help"),
)


def table(rows: list[list[str]]) -> str:
    """Go's tabwriter as runc configures it: minimum cell width 12, padding 3, last column free."""
    widths = [max(12, max(len(r[c]) for r in rows) + 3) for c in range(len(rows[0]) - 1)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(row, widths)) + row[-1] + "\n" for row in rows)


def _owner(uid_text: str) -> str:
    return uid_text or "root"


def run(g, opts, args) -> int:
    check_args("list", args, exactly=0)
    states = g.runtime().list()
    if opts["quiet"]:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
        return 0
    if opts["format"] == "json":
        sys.stdout.write(jsonio.dumps(states) + "\n")
        return 0
    if opts["format"] != "table":
        from boxen.common.errors import InvalidArgument

        raise InvalidArgument(f"invalid format option {opts['format']!r} (expected table or json)", field="--format")
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for s in states:
        rows.append([s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], _owner(s["owner"])])
    sys.stdout.write(table(rows))
    return 0
