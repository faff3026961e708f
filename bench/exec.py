"""``exec`` into a running container: boxen-runtime beside runc and crun, and what sealing costs.

Usage (root): ``.venv/bin/python bench/exec.py [--runs 20] [--warmup 3] [--runtimes boxen,runc,crun]
[--namespaces host,private]`` (runtimes as in ``bench/runtime.py``, ``NAME=PROGRAM`` included)

Each runtime starts the same bundle detached (``sleep``), then the benchmark times
``<runtime> exec <id> /bin/true`` until it exits, with its CPU time (``getrusage`` of the
children), interleaved and each round starting with the next runtime, in the two mount
namespaces of ``bench/runtime.py``: the host's, where the exec'd process also enters the
container's cgroup2 directory (crun refuses that layout), and a private one without the cgroup2
mount. boxen-runtime's ``exec`` runs from a sealed copy of its interpreter
(``boxen.runtime.sealed``): it starts the interpreter twice. The benchmark also times the parts
of that in-process: the check that the interpreter is sealed (on an unsealed one, and the scan
of the mount table it adds on a sealed one), and the two calls that seal it (``open_tree`` and
``mount_setattr``), and prints the bare interpreter's start, which the second start costs again.
Figures go to stdout and ``bench/results/exec.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from runtime import PrivateWorker, cpu_of_children, make_bundle, namespaces_to_measure, runtimes, timed


def sealing_parts(runs: int) -> dict[str, float]:
    """Median seconds of the in-process parts of sealing (this interpreter is not sealed itself)."""
    from boxen.runtime import sealed
    from boxen.runtime.linux import constants as C
    from boxen.runtime.linux.kernel import KERNEL

    def seal() -> None:
        tree = KERNEL.open_tree(C.AT_FDCWD, "/proc/self/exe", C.OPEN_TREE_CLONE | os.O_CLOEXEC)
        KERNEL.mount_setattr(tree, "", C.AT_EMPTY_PATH, C.MOUNT_ATTR_RDONLY)
        os.close(tree)

    def median(f) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            f()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    def scan() -> None:  # what exe_is_sealed does on a sealed interpreter beyond an fstatvfs
        with open("/proc/self/mountinfo", "rb") as f:
            all(line.split(b" ", 1)[0] != b"-1" for line in f)

    return {"exe_is_sealed (unsealed)": median(sealed.exe_is_sealed), "mountinfo scan": median(scan),
            "open_tree+mount_setattr": median(seal)}


class ExecBench:
    """One detached ``sleep`` container per runtime in this mount namespace, to exec into."""

    def __init__(self, work: pathlib.Path, names: list[str], namespace: str) -> None:
        self.bundle = work / "bundle"
        self.id = f"x-{namespace}"  # the default cgroupsPath is the id: one cgroup per container
        self.bases: dict[str, list[str]] = {}
        self.skipped: dict[str, str] = {}
        for name, program in runtimes(names).items():
            base = [*program, "--root", str(work / f"root-{namespace}-{name}")]
            # The container keeps what it inherits open: its errors go to a file, not a pipe.
            with tempfile.TemporaryFile("w+") as errors:
                started = subprocess.run([*base, "run", "--detach", "--bundle", str(self.bundle), self.id], check=False,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
                errors.seek(0)
                why = errors.read()
            if started.returncode == 0:
                self.bases[name] = base
            else:
                self.skipped[name] = (why.strip().splitlines() or ["failed"])[-1]
        self.rounds = 0

    def round(self) -> dict[str, list[float]]:
        """One ``exec`` of every runtime: {name: [wall, CPU]} in seconds."""
        order = list(self.bases.items())
        shift = self.rounds % max(len(order), 1)
        self.rounds += 1
        out = {}
        for name, base in order[shift:] + order[:shift]:
            cpu = cpu_of_children()
            elapsed = timed([*base, "exec", self.id, "/bin/true"])
            out[name] = [elapsed, cpu_of_children() - cpu]
        return out

    def describe(self) -> dict:
        return {"runtimes": list(self.bases), "skipped": self.skipped}

    def close(self) -> None:
        for base in self.bases.values():
            subprocess.run([*base, "delete", "--force", self.id], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def worker(work: pathlib.Path, names: list[str]) -> int:
    """Serve rounds in this (private) mount namespace: one JSON line per request line."""
    bench = ExecBench(work, names, "private")
    try:
        print(json.dumps(bench.describe()), flush=True)
        for line in sys.stdin:
            if line.strip() != "round":
                break
            print(json.dumps(bench.round()), flush=True)
    finally:
        bench.close()
    return 0


def make_sleep_bundle(work: pathlib.Path) -> None:
    bundle = make_bundle(work)
    os.symlink("busybox", bundle / "rootfs" / "bin" / "sleep")
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["/bin/sleep", "100000"]
    (bundle / "config.json").write_text(json.dumps(config))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runtimes", default="boxen,runc,crun")
    parser.add_argument("--namespaces", default="host,private", help="host, private, or both (comma-separated)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.runtimes.split(",")
    if args.worker:
        return worker(pathlib.Path(args.worker), names)
    if os.geteuid() != 0:
        print("bench/exec.py needs root", file=sys.stderr)
        return 2
    namespaces = namespaces_to_measure(args.namespaces)
    work = pathlib.Path(tempfile.mkdtemp(prefix="boxen-bench-exec-"))
    host = private = None
    try:
        make_sleep_bundle(work)
        if "host" in namespaces:
            host = ExecBench(work, names, "host")
        if "private" in namespaces:
            private = PrivateWorker(work, names, script=__file__)
        benches = {"host": host.describe() if host else None, "private": private.described if private else None}
        samples = {ns: {name: {"exec": [], "cpu": []} for name in d["runtimes"]} for ns, d in benches.items() if d}
        for i in range(args.warmup + args.runs):
            rounds = {}
            if host is not None:
                rounds["host"] = host.round()
            if private is not None:
                rounds["private"] = private.ask("round")
            if i >= args.warmup:
                for ns, times in rounds.items():
                    for name, (elapsed, cpu) in times.items():
                        samples[ns][name]["exec"].append(elapsed)
                        samples[ns][name]["cpu"].append(cpu)
        floor = statistics.median(timed([sys.executable, "-I", "-S", "-c", "pass"]) for _ in range(args.runs))
        parts = sealing_parts(200)
    finally:
        if private is not None:
            private.close()
        if host is not None:
            host.close()
        shutil.rmtree(work, ignore_errors=True)

    results = {}
    for ns, by_runtime in samples.items():
        med = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in by_runtime.items()}
        print(f"\n{ns} mount namespace ({args.runs} runs each, medians)")
        print(f"{'runtime':<8} {'exec (ms)':>10} {'min-max':>15} {'CPU (ms)':>9}")
        for name, s in by_runtime.items():
            e = s["exec"]
            print(f"{name:<8} {med[name]['exec'] * 1e3:>10.1f} {min(e) * 1e3:>7.1f}-{max(e) * 1e3:<7.1f}"
                  f" {med[name]['cpu'] * 1e3:>9.1f}")
        for name, why in benches[ns]["skipped"].items():
            print(f"{name:<8} left out: {why}")
        ratios = {}
        if "boxen" in med:
            for peer in med:
                if peer != "boxen":
                    ratios[peer] = {k: med["boxen"][k] / med[peer][k] for k in ("exec", "cpu")}
                    print(f"boxen/{peer}: exec {ratios[peer]['exec']:.2f}x (CPU {ratios[peer]['cpu']:.2f}x)")
        results[ns] = {"samples_s": by_runtime, "median_s": med, "ratios": ratios,
                       "left_out": benches[ns]["skipped"]}
    print(f"\npython3 -I -S -c pass: {floor * 1e3:.1f} ms (the second start of a sealed exec)")
    for part, seconds in parts.items():
        print(f"{part}: {seconds * 1e6:.0f} us")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "exec.json").write_text(json.dumps(
        {"namespaces": results, "python_floor_s": floor, "sealing_parts_s": parts, "runs": args.runs,
         "warmup": args.warmup, "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
