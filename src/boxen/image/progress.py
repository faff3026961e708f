"""Progress of transfers, shown the way docker shows it, or as JSON lines for scripts.

A pull or push moves several blobs at once; each is an *item* with a short id (the first 12
hex digits of its digest, as docker prints) that goes through statuses (``Waiting``,
``Downloading``, ``Verifying Checksum``, ``Download complete``, ``Already exists``,
``Pushing``, ``Pushed``, ``Mounted from <repo>``...) while its byte count advances.
Free-standing *messages* frame the transfer (``latest: Pulling from library/busybox``,
``Digest: sha256:...``).

The producers call :class:`Progress`'s methods from any thread; the renderers are:

* :class:`TerminalProgress`: one line per item, redrawn in place at most ten times a second
  with ANSI cursor movement, with a bar ``[=====>      ]  12.1MB/31.4MB`` while bytes move;
* :class:`LineProgress`: for logs and pipes, a line per status change, no bars;
* :class:`JSONProgress`: one JSON object per line, docker's ``{"id", "status",
  "progressDetail": {"current", "total"}}`` shape, byte updates at most every 0.2 s per item;
* :class:`Progress` itself renders nothing (``--quiet``).
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

from boxen.common import jsonio


def short_id(digest: str) -> str:
    return digest.partition(":")[2][:12] or digest


def human_size(n: float) -> str:
    """Decimal units, as docker prints them: ``1.23MB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}GB"


class Progress:
    """The events of a transfer. This base class is the quiet renderer: it shows nothing."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self._lock = threading.Lock()

    def item(self, key: str, status: str, total: int | None = None) -> None:
        """Show a new item (or reset one) with ``status``; ``total`` bytes if known."""

    def status(self, key: str, status: str) -> None:
        """The item's status changed."""

    def advance(self, key: str, n: int) -> None:
        """``n`` more bytes of the item moved."""

    def message(self, text: str) -> None:
        """A line of its own, not tied to an item."""

    def close(self) -> None:
        """The transfer ended: draw the final state."""


class LineProgress(Progress):
    def item(self, key: str, status: str, total: int | None = None) -> None:
        self.status(key, status)

    def status(self, key: str, status: str) -> None:
        with self._lock:
            self.out.write(f"{key}: {status}\n")
            self.out.flush()

    def message(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()


class JSONProgress(Progress):
    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out or sys.stdout)
        self._current: dict[str, int] = {}
        self._total: dict[str, int | None] = {}
        self._last: dict[str, float] = {}

    def _emit(self, event: dict) -> None:
        self.out.write(jsonio.dumps(event) + "\n")
        self.out.flush()

    def item(self, key: str, status: str, total: int | None = None) -> None:
        with self._lock:
            self._current[key], self._total[key] = 0, total
            self._emit({"id": key, "status": status})

    def status(self, key: str, status: str) -> None:
        with self._lock:
            self._emit({"id": key, "status": status})

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            current = self._current[key] = self._current.get(key, 0) + n
            now = time.monotonic()
            total = self._total.get(key)
            if now - self._last.get(key, 0.0) < 0.2 and current != total:
                return
            self._last[key] = now
            detail: dict = {"current": current}
            if total:
                detail["total"] = total
            self._emit({"id": key, "status": "Progress", "progressDetail": detail})

    def message(self, text: str) -> None:
        with self._lock:
            self._emit({"status": text})


class TerminalProgress(Progress):
    """Redraws every item line in place (the stream must be a terminal)."""

    WIDTH = 40

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._order: list[str] = []
        self._state: dict[str, list] = {}  # key -> [status, current, total]
        self._drawn = 0
        self._last = 0.0

    def _line(self, key: str) -> str:
        status, current, total = self._state[key]
        line = f"{key}: {status}"
        if status in ("Downloading", "Pushing") and total:
            filled = min(self.WIDTH, int(self.WIDTH * current / total))
            bar = "=" * filled + (">" if filled < self.WIDTH else "") + " " * (self.WIDTH - filled - 1)
            line += f" [{bar}]  {human_size(current)}/{human_size(total)}"
        elif status in ("Downloading", "Pushing"):
            line += f"  {human_size(current)}"
        return line

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        parts = []
        if self._drawn:
            parts.append(f"\x1b[{self._drawn}A")
        for key in self._order:
            parts.append("\x1b[2K" + self._line(key) + "\n")
        self._drawn = len(self._order)
        self.out.write("".join(parts))
        self.out.flush()

    def item(self, key: str, status: str, total: int | None = None) -> None:
        with self._lock:
            if key not in self._state:
                self._order.append(key)
            self._state[key] = [status, 0, total]
            self._draw(force=True)

    def status(self, key: str, status: str) -> None:
        with self._lock:
            self._state.setdefault(key, [status, 0, None])[0] = status
            if key not in self._order:
                self._order.append(key)
            self._draw(force=True)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self._state[key][1] += n
            self._draw()

    def message(self, text: str) -> None:
        with self._lock:
            self._draw(force=True)
            self.out.write(text + "\n")
            self.out.flush()
            self._order.clear()
            self._drawn = 0

    def close(self) -> None:
        with self._lock:
            if self._order:
                self._draw(force=True)


def make(mode: str = "auto", out: TextIO | None = None) -> Progress:
    """``auto`` (a terminal gets bars, anything else lines), ``plain``, ``json`` or ``quiet``."""
    out = out or sys.stderr
    if mode == "quiet":
        return Progress(out)
    if mode == "json":
        return JSONProgress(sys.stdout if out is sys.stderr else out)
    if mode == "plain" or not out.isatty():
        return LineProgress(out)
    return TerminalProgress(out)
