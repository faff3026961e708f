"""ps: the processes of a container (``ps -ef`` lines, or a JSON list of pids)."""

import sys

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

INTERSPERSED = False  # what follows the id is ps's own options
USAGE = "ps [command options] <container-id> [ps options]"
FLAGS = (
    Flag("format,f", "str", "table", help="select one of: table or json (default: \"table\")"),
    Flag("help,h", help="show help"),
)


def run(g, opts, args) -> int:
    check_args("ps", args, minimum=1)
    pids = g.runtime().pids(args[0])
    if opts["format"] == "json":
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return 0
    if opts["format"] != "table":
        raise InvalidArgument(f"invalid format option {opts['format']!r}", field="--format")
    import subprocess

    ps_args = args[1:] or ["-ef"]
    output = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(ps_args)} failed: {output.stderr.strip()}", field="ps options")
    lines = output.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("couldn't find PID field in ps output", field="ps options")
    column = header.index("PID")
    wanted = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            sys.stdout.write(line + "\n")
    return 0
