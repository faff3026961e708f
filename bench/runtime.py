"""boxen-runtime beside runc and crun, in one run: start-up latency and peak memory.

Usage (root): ``.venv/bin/python bench/runtime.py [--runs 20] [--warmup 3] [--runtimes boxen,runc,crun]
[--namespaces host,private] [--gap S] [--only-run]``

A runtime is ``boxen`` (this tree), a peer's name (found on PATH) or ``NAME=PROGRAM``: another
build of boxen-runtime, for an A/B (``--runtimes boxen,main=/tmp/main/boxen-runtime --only-run``;
ratios are boxen's against every other runtime).

What is measured, for each runtime on the same bundle (busybox rootfs, runc's default
``config.json`` with ``terminal`` false and ``args`` ``["/bin/true"]``, as the peers' figures in
``../shared/peers/RESULTS.md`` were taken):

* ``run``: the wall time of ``<runtime> run --bundle B <id>`` until it exits (the container has
  run ``/bin/true`` and been deleted);
* ``create+start+delete``: the three commands in sequence (``delete --force``), as the peers'
  figures were taken;
* ``run CPU``: the user and system CPU time of that ``run`` and everything it waited for
  (``getrusage(RUSAGE_CHILDREN)``), which, unlike the wall time, other work on the machine
  hardly changes;
* ``peak RSS``: the largest resident set among the command and the children it waited for
  (``/usr/bin/time -f %M``), median of 3.

Each figure is taken in two mount namespaces, because the host's cgroup layout changes what a
runtime does:

* ``host``: the host's own, with its hybrid layout: v1 controllers and the cgroup2 hierarchy at
  /sys/fs/cgroup/unified, which a container joins too (most hosts are pure v2, where only the
  cgroup2 part exists). crun refuses this layout, so it is left out here.
* ``private``: a private mount namespace where the cgroup2 mount is detached, so all three
  runtimes see the same cgroup v1 host. A worker process of this script runs there.

With ``--gap``, each timed ``run`` follows that many seconds in which the bench itself moves no
process between cgroups (a move right after another is cheaper: see ``bench/cgroup_join.py``),
as a command-line runtime usually starts. Runtimes and namespaces are interleaved (one round is every runtime in the host namespace, then
every runtime in the private one, each round starting with the next runtime, since the first of
a round pays more here), so that the machine's drift hits all alike. The figures go to
stdout as one table per namespace with ratios and the number of runs, and to
``bench/results/runtime.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
BOXEN = REPO / ".venv" / "bin" / "boxen-runtime"
UNIFIED = "/sys/fs/cgroup/unified"


def make_bundle(root: pathlib.Path) -> pathlib.Path:
    bundle = root / "bundle"
    rootfs = bundle / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("sh", "true"):
        os.symlink("busybox", rootfs / "bin" / applet)
    sys.path.insert(0, str(REPO / "src"))
    from boxen.runtime.spec import default_spec

    config = default_spec()
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def runtimes(names: list[str]) -> dict[str, list[str]]:
    """{name: argv} of the runtimes found: ``boxen`` (this tree's), a peer on PATH, or ``NAME=PROGRAM``
    (another build, e.g. ``main=/tmp/main/boxen-runtime`` for an A/B)."""
    found = {}
    for entry in names:
        name, _, given = entry.partition("=")
        program = given or (str(BOXEN) if name == "boxen" else shutil.which(name))
        if program and os.path.exists(program):
            found[name] = [program]
        else:
            print(f"skipping {name}: not installed", file=sys.stderr)
    return found


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cpu_of_children() -> float:
    """CPU seconds (user + system) of the children this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib(argv: list[str]) -> int:
    values = []
    for _ in range(3):
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            values.append(int(out.read().strip().splitlines()[-1]))
    return int(statistics.median(values))


class Bench:
    """The runtimes that work in this mount namespace, each with a state root of its own."""

    def __init__(self, work: pathlib.Path, names: list[str], namespace: str, gap: float = 0,
                 only_run: bool = False) -> None:
        self.bundle = work / "bundle"
        self.gap = gap
        self.only_run = only_run
        self.namespace = namespace
        self.rts: dict[str, list[str]] = {}
        self.skipped: dict[str, str] = {}
        for name, program in runtimes(names).items():
            base = [*program, "--root", str(work / f"root-{namespace}-{name}")]
            probe = subprocess.run([*base, "run", "--bundle", str(self.bundle), f"probe-{namespace}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
            if probe.returncode == 0:
                self.rts[name] = base
            else:
                self.skipped[name] = (probe.stderr.strip().splitlines() or ["failed"])[-1]
        self.counter = 0

    def round(self) -> dict[str, list[float]]:
        """One ``run`` and one create+start+delete (0 with ``only_run``) of every runtime, each
        round starting one runtime further on, so that none is always first:
        {name: [run, csd, run CPU]} in seconds."""
        out = {}
        order = list(self.rts.items())
        shift = self.counter // max(len(order), 1) % max(len(order), 1)
        for name, base in order[shift:] + order[:shift]:
            self.counter += 1
            time.sleep(self.gap)
            cpu = cpu_of_children()
            run_time = timed([*base, "run", "--bundle", str(self.bundle), f"b{self.counter}"])
            run_cpu = cpu_of_children() - cpu
            if self.only_run:
                out[name] = [run_time, 0.0, run_cpu]
                continue
            cid = f"c{self.counter}"
            start = time.perf_counter()
            subprocess.run([*base, "create", "--bundle", str(self.bundle), cid], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([*base, "start", cid], check=True)
            subprocess.run([*base, "delete", "--force", cid], check=True)
            out[name] = [run_time, time.perf_counter() - start, run_cpu]
        return out

    def rss(self) -> dict[str, int]:
        return {name: 0 if self.only_run else peak_rss_kib([*base, "run", "--bundle", str(self.bundle), f"m{name}"])
                for name, base in self.rts.items()}

    def describe(self) -> dict:
        return {"runtimes": list(self.rts), "skipped": self.skipped}


def namespaces_to_measure(text: str) -> list[str]:
    """The mount namespaces named by ``--namespaces`` that differ on this host: without a cgroup2
    mount, the private namespace would equal the host's, so only the host's is measured."""
    namespaces = text.split(",")
    if "private" in namespaces and not os.path.ismount(UNIFIED):
        print(f"no cgroup2 mount at {UNIFIED}: the private namespace would equal the host's; measuring the host's",
              file=sys.stderr)
        return ["host"]
    return namespaces


def worker(work: pathlib.Path, names: list[str], gap: float, only_run: bool) -> int:
    """Serve rounds in this (private) mount namespace: one JSON line per request line."""
    bench = Bench(work, names, "private", gap, only_run)
    print(json.dumps(bench.describe()), flush=True)
    for line in sys.stdin:
        request = line.strip()
        if request == "round":
            print(json.dumps(bench.round()), flush=True)
        elif request == "rss":
            print(json.dumps(bench.rss()), flush=True)
        else:
            break
    return 0


class PrivateWorker:
    """A bench script's worker (``script --worker WORK ...``) in a private mount namespace without
    the cgroup2 mount: it answers one JSON line per request line."""

    def __init__(self, work: pathlib.Path, names: list[str], *options: str, script: str = __file__) -> None:
        shell = f'umount -l {UNIFIED} 2>/dev/null; exec "$@"'
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "sh", "-c", shell, "bench", sys.executable,
             str(pathlib.Path(script).resolve()), "--worker", str(work), "--runtimes", ",".join(names), *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.described = self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the private-namespace worker died")
        return json.loads(line)

    def ask(self, request: str):
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def report(namespace: str, samples: dict, rss: dict, skipped: dict, runs: int) -> dict:
    med = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    print(f"\n{namespace} mount namespace ({runs} runs each, medians)")
    print(f"{'runtime':<8} {'run (ms)':>10} {'min-max':>15} {'run CPU (ms)':>13} {'create+start+delete (ms)':>26}"
          f" {'peak RSS':>10}")
    for name in samples:
        r = samples[name]["run"]
        print(f"{name:<8} {med[name]['run'] * 1e3:>10.1f} {min(r) * 1e3:>7.1f}-{max(r) * 1e3:<7.1f}"
              f" {med[name]['cpu'] * 1e3:>13.1f} {med[name]['csd'] * 1e3:>26.1f} {rss[name] / 1024:>8.1f} MiB")
    for name, why in skipped.items():
        print(f"{name:<8} left out: {why}")
    ratios = {}
    if "boxen" in med:
        for peer in med:
            if peer != "boxen":
                ratios[peer] = {key: med["boxen"][key] / med[peer][key] if med[peer][key] else 0.0
                                for key in ("run", "cpu", "csd")}
                ratios[peer]["rss"] = rss["boxen"] / rss[peer] if rss[peer] else 0.0
                print(f"boxen/{peer}: run {ratios[peer]['run']:.2f}x (CPU {ratios[peer]['cpu']:.2f}x), "
                      f"create+start+delete {ratios[peer]['csd']:.2f}x, peak RSS {ratios[peer]['rss']:.2f}x")
    return {"samples_s": samples, "median_s": med, "peak_rss_kib": rss, "ratios": ratios, "left_out": skipped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runtimes", default="boxen,runc,crun")
    parser.add_argument("--namespaces", default="host,private", help="host, private, or both (comma-separated)")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds of idleness before each timed run (see bench/cgroup_join.py)")
    parser.add_argument("--only-run", action="store_true",
                        help="time only `run` (no create+start+delete, no peak RSS): quicker rounds for an A/B")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.runtimes.split(",")
    if args.worker:
        return worker(pathlib.Path(args.worker), names, args.gap, args.only_run)
    if os.geteuid() != 0:
        print("bench/runtime.py needs root", file=sys.stderr)
        return 2
    namespaces = namespaces_to_measure(args.namespaces)
    work = pathlib.Path(tempfile.mkdtemp(prefix="boxen-bench-"))
    private = None
    results = {}
    try:
        make_bundle(work)
        host = Bench(work, names, "host", args.gap, args.only_run) if "host" in namespaces else None
        if "private" in namespaces:
            private = PrivateWorker(work, names, "--gap", str(args.gap), *(["--only-run"] if args.only_run else []))
        benches = {"host": host.describe() if host else None, "private": private.described if private else None}
        samples = {ns: {name: {"run": [], "csd": [], "cpu": []} for name in d["runtimes"]} for ns, d in benches.items() if d}
        for i in range(args.warmup + args.runs):
            rounds = {}
            if host is not None:
                rounds["host"] = host.round()
            if private is not None:
                rounds["private"] = private.ask("round")
            if i >= args.warmup:
                for ns, times in rounds.items():
                    for name, (run_time, csd_time, run_cpu) in times.items():
                        samples[ns][name]["run"].append(run_time)
                        samples[ns][name]["csd"].append(csd_time)
                        samples[ns][name]["cpu"].append(run_cpu)
        rss = {}
        if host is not None:
            rss["host"] = host.rss()
        if private is not None:
            rss["private"] = private.ask("rss")
        floor = statistics.median(timed([sys.executable, "-I", "-S", "-c", "pass"]) for _ in range(args.runs))
    finally:
        if private is not None:
            private.close()
        shutil.rmtree(work, ignore_errors=True)

    for ns, by_runtime in samples.items():
        results[ns] = report(ns, by_runtime, rss[ns], benches[ns]["skipped"], args.runs)
    print(f"\npython3 -I -S -c pass: {floor * 1e3:.1f} ms")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "runtime.json").write_text(json.dumps(
        {"namespaces": results, "python_floor_s": floor, "runs": args.runs, "warmup": args.warmup,
         "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
