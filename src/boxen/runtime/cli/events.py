"""events: the container's resource statistics as JSON lines (once with --stats), and its OOM kills.

As ``runc events`` does, it prints a ``stats`` event every ``--interval`` and an ``oom`` event
(``{"type": "oom", "id": ...}``) as soon as the kernel's OOM killer ends a process in the
container's cgroup (``boxen.runtime.cgroups.oom``), until the container stops.
"""

from __future__ import annotations

import sys
import time

from boxen.common import jsonio
from boxen.common.errors import FailedPrecondition, InvalidArgument
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.cgroups.oom import OOMWatch

USAGE = "events [command options] <container-id>"
FLAGS = (
    Flag("interval", "str", "5s", help="set the stats collection interval"),
    Flag("stats", help="display the container's stats then exit"),
    Flag("help,h", help="show help"),
)

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration for the simple forms: 5s, 500ms, 1m30s."""
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next((u for u in sorted(_UNITS, key=len, reverse=True) if text.startswith(u, i)), None)
        if unit is None or not number:
            raise InvalidArgument(f"invalid duration {text!r}", field="--interval")
        total += float(number) * _UNITS[unit]
        number, i = "", i + len(unit)
    if number or total <= 0:
        raise InvalidArgument(f"invalid duration {text!r}", field="--interval")
    return total


def run(g, opts, args) -> int:
    check_args("events", args, exactly=1)
    runtime = g.runtime()
    interval = parse_duration(opts["interval"])
    container_id = args[0]
    watch: OOMWatch | None = None
    asked = False  # the cgroup is asked for a watch once: None means it has no memory controller
    try:
        while True:
            try:
                data = runtime.stats(container_id)
            except FailedPrecondition:
                if opts["stats"]:
                    raise
                return 0
            _emit({"type": "stats", "id": container_id, "data": data})
            if opts["stats"]:
                return 0
            if not asked:
                watch, asked = runtime.oom_watch(container_id), True
            _wait(watch, interval, container_id)
    finally:
        if watch is not None:
            watch.close()


def _emit(event: dict) -> None:
    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def _wait(watch: OOMWatch | None, seconds: float, container_id: str) -> None:
    """Sleep ``seconds``, printing an ``oom`` event for each OOM kill the watch reports."""
    if not watch:
        time.sleep(seconds)
        return
    import select

    poller = select.poll()
    poller.register(watch.fileno(), watch.events)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if poller.poll(left * 1000) and watch.fired():
            _emit({"type": "oom", "id": container_id})
