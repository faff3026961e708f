"""boxen-runtime: an OCI runtime with runc 1.1's command line.

``boxen-runtime [global options] command [command options] [arguments...]``. Each command is a
module of this package (``create.py``, ``start.py``...) holding its flags and a ``run``
function that calls ``boxen.runtime.container.Runtime``. A command's flags may follow its
arguments (``delete c1 --force``), as urfave/cli reorders them for runc, except where the
module sets ``INTERSPERSED = False`` (``exec`` and ``ps``: the arguments after the id are a
command's or ``ps``'s own). This module parses the global flags,
dispatches, and turns errors into runc's exit status 1 and log line. Only the chosen command's
module is imported.
"""

from __future__ import annotations

import sys

from boxen.common.errors import BoxenError, InvalidArgument
from boxen.common.flags import Flag, parse_go, usage

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

GLOBAL_FLAGS = (
    Flag("debug", help="enable debug logging"),
    Flag("log", "str", help="set the log file to write runtime logs to (default is stderr)"),
    Flag("log-format", "str", "text", help="set the log format ('text' (default), or 'json')"),
    Flag("root", "str", "/run/boxen-runtime", help="root directory for storage of container state"),
    Flag("criu", "str", "criu", help="path to the criu binary (checkpoint/restore is not supported)"),
    Flag("systemd-cgroup", help="enable systemd cgroup support (not available: boxen-runtime uses cgroupfs)"),
    Flag("rootless", "str", "auto", help="ignore cgroup permission errors ('true', 'false', or 'auto')"),
    Flag("help,h", help="show help"),
    Flag("version,v", help="print the version"),
)

COMMANDS = {
    "checkpoint": "boxen.runtime.cli.unsupported",
    "create": "boxen.runtime.cli.create",
    "delete": "boxen.runtime.cli.delete",
    "events": "boxen.runtime.cli.events",
    "exec": "boxen.runtime.cli.exec",
    "features": "boxen.runtime.cli.features",
    "kill": "boxen.runtime.cli.kill",
    "list": "boxen.runtime.cli.list",
    "pause": "boxen.runtime.cli.pause",
    "ps": "boxen.runtime.cli.ps",
    "restore": "boxen.runtime.cli.unsupported",
    "resume": "boxen.runtime.cli.resume",
    "run": "boxen.runtime.cli.run",
    "spec": "boxen.runtime.cli.spec",
    "start": "boxen.runtime.cli.start",
    "state": "boxen.runtime.cli.state",
    "update": "boxen.runtime.cli.update",
}


class Globals:
    """The global options, and the Runtime they configure (made on first use)."""

    def __init__(self, values: dict, command: str) -> None:
        self.values = values
        self.command = command
        self.root = values["root"]
        self._logger = None
        self._runtime = None
        if values["log"] or values["debug"] or values["log_format"] != "text":
            self._open_logger()

    def _open_logger(self):
        from boxen.runtime.cli.log import Logger

        self._logger = Logger.open(self.values["log"], self.values["log_format"], self.values["debug"])

    @property
    def logger(self):
        """The ``--log``/``--log-format`` logger (made at start when a flag asks for it, else on first use)."""
        if self._logger is None:
            self._open_logger()
        return self._logger

    def warning(self, message: str) -> None:
        self.logger.warning(message)

    def debug(self, message: str) -> None:
        self.logger.debug(message)

    def runtime(self):
        if self._runtime is None:
            from boxen.runtime.container import Runtime

            if self.values["systemd_cgroup"]:
                from boxen.common.errors import Unimplemented

                raise Unimplemented("systemd cgroup driver is not supported: boxen-runtime manages cgroups "
                                    "through cgroupfs (drop --systemd-cgroup)", field="--systemd-cgroup")
            self._runtime = Runtime(self.root, warn=self.warning, debug=self.debug if self.values["debug"] else None)
        return self._runtime


def check_args(command: str, args: list[str], exactly: int | None = None, minimum: int | None = None) -> None:
    """runc's argument-count errors."""
    if exactly is not None and len(args) != exactly:
        raise InvalidArgument(f'"{command}" requires exactly {exactly} argument(s)', field=command)
    if minimum is not None and len(args) < minimum:
        raise InvalidArgument(f'"{command}" requires a minimum of {minimum} argument(s)', field=command)


def _help() -> str:
    names = "\n".join(f"     {name}" for name in COMMANDS)
    return (f"NAME:\n   boxen-runtime - an OCI runtime (runc-compatible)\n\nUSAGE:\n   boxen-runtime [global options] "
            f"command [command options] [arguments...]\n\nCOMMANDS:\n{names}\n\nGLOBAL OPTIONS:\n"
            f"{usage(GLOBAL_FLAGS)}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    g = None
    try:
        values, rest = parse_go(GLOBAL_FLAGS, argv)
        if values["version"]:
            sys.stdout.write(f"boxen-runtime version {VERSION}\nspec: {SPEC_VERSION}\n")
            return 0
        if values["help"] or not rest:
            sys.stdout.write(_help())
            return 0
        command, args = rest[0], rest[1:]
        g = Globals(values, command)
        module_name = COMMANDS.get(command)
        if module_name is None:
            raise InvalidArgument(f"No help topic for '{command}'", field="command")
        module = __import__(module_name, fromlist=["run"])
        if values["debug"]:
            g.debug(f"boxen-runtime {VERSION} {command} {' '.join(args)}")
        opts, positional = parse_go(module.FLAGS, args, interspersed=getattr(module, "INTERSPERSED", True))
        if opts.get("help"):
            sys.stdout.write(f"USAGE:\n   boxen-runtime {module.USAGE}\n\nOPTIONS:\n{usage(module.FLAGS)}\n")
            return 0
        return module.run(g, opts, positional)
    except BoxenError as exc:
        _fatal(g.logger if g is not None else None, str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def _fatal(logger, message: str) -> None:
    if logger is None:
        from boxen.runtime.cli.log import Logger

        logger = Logger()
    logger.error(message)


def fail(g, message: str, status: int) -> int:
    """Log ``message`` as an error and return ``status`` (``exec``'s 255, runc's fatalWithCode)."""
    _fatal(g.logger, message)
    return status
