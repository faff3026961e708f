"""What being born in a cgroup saves: clone3(CLONE_INTO_CGROUP) against clone and a join.

Usage (root): ``.venv/bin/python bench/cgroup_join.py [--runs 30] [--gap 0.2]``

Moving a process into a cgroup2 cgroup (a write to ``cgroup.procs``) takes the kernel's
``cgroup_threadgroup_rwsem`` for writing, and that waits for an RCU grace period unless another
move happened just before (the lock then stays in its fast mode for a while). A command-line
runtime starts on an idle cgroup tree, so each measurement here comes ``--gap`` seconds after
the last one. Measured, alternately, from the parent's clone to the child's exit, with the
child in a new cgroup below the host's cgroup2 hierarchy:

* ``born``: ``Manager.clone_init``, i.e. ``clone3`` with ``CLONE_INTO_CGROUP``;
* ``joined``: ``clone``, then the child writes ``0`` to ``cgroup.procs`` (what the init did
  before).

Interleaving bench/runtime.py's runtimes hides most of this: each runtime's moves keep the lock
fast for the next one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from boxen.runtime.cgroups.v2 import V2Manager
from boxen.runtime.linux.kernel import KERNEL


def cgroup2_mount() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


def once(base: str, name: str, born: bool) -> float:
    manager = V2Manager(f"{base}/{name}", os.path.dirname(base))
    manager.create()
    try:
        start = time.perf_counter()
        pid = manager.clone_init(KERNEL, 0) if born else KERNEL.clone(0)
        if pid == 0:
            if not born:
                manager.join(0)
            os._exit(0)
        os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
        if born and manager.born_in is None:
            raise SystemExit("clone3(CLONE_INTO_CGROUP) is not available here: nothing to compare")
        return elapsed
    finally:
        manager.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between measurements")
    args = parser.parse_args()
    mount = cgroup2_mount()
    if os.geteuid() != 0 or mount is None:
        print("bench/cgroup_join.py needs root and a cgroup2 mount", file=sys.stderr)
        return 2
    base = f"{mount}/boxen-bench-{os.getpid()}"
    os.mkdir(base)
    samples: dict[str, list[float]] = {"born": [], "joined": []}
    try:
        for i in range(args.runs):
            for kind, values in samples.items():
                values.append(once(base, f"{kind}{i}", kind == "born"))
                time.sleep(args.gap)
    finally:
        os.rmdir(base)
    for kind, values in samples.items():
        print(f"{kind:<7} clone to exit: median {statistics.median(values) * 1e3:6.2f} ms, "
              f"min {min(values) * 1e3:6.2f} ms, max {max(values) * 1e3:6.2f} ms ({len(values)} runs, "
              f"{args.gap} s apart)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
