"""From the spec's cgroup v1 vocabulary to cgroup v2 files, the way runc converts.

``linux.resources`` was designed for cgroup v1, and cgroup v2 changed scales and meanings:

* CPU: v1 ``cpu.shares`` (2 to 262144, default 1024) becomes v2 ``cpu.weight`` (1 to 10000,
  default 100), mapped linearly: ``1 + (shares - 2) * 9999 / 262142``. The CFS quota and
  period become one file, ``cpu.max``, holding ``"<quota|max> <period>"``.
* Block I/O: v1 ``blkio.weight`` (10 to 1000) becomes ``io.weight`` (1 to 10000):
  ``1 + (weight - 10) * 9999 / 990``; with the BFQ scheduler, ``io.bfq.weight`` takes the v1
  scale as is.
* Memory: the spec's ``swap`` is v1's *memory+swap* limit; v2's ``memory.swap.max`` limits swap
  alone, so it gets ``swap - limit``. ``-1`` (unlimited) is written ``max`` in v2.
* pids: ``-1`` is ``max``.
"""

from __future__ import annotations

from boxen.runtime.cgroups.checks import check_swap


def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000)."""
    return 1 + ((shares - 2) * 9999) // 262142


def io_weight(weight: int) -> int:
    """v1 blkio.weight (10..1000) to v2 io.weight (1..10000)."""
    return 1 + ((weight - 10) * 9999) // 990


def v2_number(value: int) -> str:
    """A v1-style limit in v2 syntax: -1 (or any negative) is ``max``."""
    return "max" if value < 0 else str(value)


def swap_max(swap: int, limit: int | None) -> int | None:
    """``memory.swap.max`` for the spec's memory+swap ``swap`` and memory ``limit`` (None: unset).

    Unlimited memory with no swap setting means unlimited swap too, as v1 would have it.
    """
    if swap == 0:
        return -1 if limit == -1 else None
    if swap < 0:
        return -1
    check_swap(swap, limit)
    return swap - (limit or 0)
