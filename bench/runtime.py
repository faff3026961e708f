"""boxen-runtime beside runc and crun, in one run: start-up latency and peak memory.

Usage (root): ``.venv/bin/python bench/runtime.py [--runs 20] [--warmup 3] [--runtimes boxen,runc,crun]``

What is measured, for each runtime on the same bundle (busybox rootfs, runc's default
``config.json`` with ``terminal`` false and ``args`` ``["/bin/true"]``, as the peers' figures in
``../shared/peers/RESULTS.md`` were taken):

* ``run``: the wall time of ``<runtime> run --bundle B <id>`` until it exits (the container has
  run ``/bin/true`` and been deleted);
* ``create+start+delete``: the three commands in sequence (``delete --force``), as the peers'
  figures were taken;
* ``peak RSS``: the largest resident set among the command and the children it waited for
  (``/usr/bin/time -f %M``), median of 3.

The runtimes are interleaved (A B C A B C...) so that the machine's drift hits all alike. crun
refuses this host's hybrid cgroup layout, so the whole benchmark runs in a private mount
namespace where the cgroup2 mount is detached: all three runtimes see the same cgroup v1 host.
The figures go to stdout as a table with ratios, and to ``bench/results/runtime.json``.
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
REPO = HERE.parent
BOXEN = REPO / ".venv" / "bin" / "boxen-runtime"


def reexec_private_mount_namespace() -> None:
    if os.environ.get("BOXEN_BENCH_PRIVATE") or " /sys/fs/cgroup/unified " not in open("/proc/self/mountinfo").read():
        return
    os.environ["BOXEN_BENCH_PRIVATE"] = "1"
    script = 'umount -l /sys/fs/cgroup/unified; exec "$@"'
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script, "bench",
                          sys.executable, *sys.argv])


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
    found = {}
    for name in names:
        program = str(BOXEN) if name == "boxen" else shutil.which(name)
        if program and os.path.exists(program):
            found[name] = [program]
        else:
            print(f"skipping {name}: not installed", file=sys.stderr)
    return found


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss_kib(argv: list[str]) -> int:
    values = []
    for _ in range(3):
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            values.append(int(out.read().strip().splitlines()[-1]))
    return int(statistics.median(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runtimes", default="boxen,runc,crun")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/runtime.py needs root", file=sys.stderr)
        return 2
    reexec_private_mount_namespace()
    work = pathlib.Path(tempfile.mkdtemp(prefix="boxen-bench-"))
    try:
        bundle = make_bundle(work)
        rts = runtimes(args.runtimes.split(","))
        roots = {name: work / f"root-{name}" for name in rts}
        samples: dict[str, dict[str, list[float]]] = {name: {"run": [], "csd": []} for name in rts}
        counter = 0
        for i in range(args.warmup + args.runs):
            for name, program in rts.items():
                base = [*program, "--root", str(roots[name])]
                counter += 1
                run_time = timed([*base, "run", "--bundle", str(bundle), f"b{counter}"])
                cid = f"c{counter}"
                start = time.perf_counter()
                subprocess.run([*base, "create", "--bundle", str(bundle), cid], check=True, stdout=subprocess.DEVNULL)
                subprocess.run([*base, "start", cid], check=True)
                subprocess.run([*base, "delete", "--force", cid], check=True)
                csd_time = time.perf_counter() - start
                if i >= args.warmup:
                    samples[name]["run"].append(run_time)
                    samples[name]["csd"].append(csd_time)
        rss = {name: peak_rss_kib([*program, "--root", str(roots[name]), "run", "--bundle", str(bundle), f"m{name}"])
               for name, program in rts.items()}
        floor = statistics.median(timed([sys.executable, "-I", "-S", "-c", "pass"]) for _ in range(args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    print(f"{'runtime':<8} {'run (ms)':>10} {'min-max':>15} {'create+start+delete (ms)':>26} {'peak RSS':>10}")
    for name in rts:
        r = samples[name]["run"]
        print(f"{name:<8} {med[name]['run'] * 1e3:>10.1f} {min(r) * 1e3:>7.1f}-{max(r) * 1e3:<7.1f}"
              f" {med[name]['csd'] * 1e3:>26.1f} {rss[name] / 1024:>8.1f} MiB")
    print(f"python3 -I -S -c pass: {floor * 1e3:.1f} ms")
    if "boxen" in med:
        for peer in ("runc", "crun"):
            if peer in med:
                print(f"boxen/{peer}: run {med['boxen']['run'] / med[peer]['run']:.2f}x, "
                      f"create+start+delete {med['boxen']['csd'] / med[peer]['csd']:.2f}x, "
                      f"peak RSS {rss['boxen'] / rss[peer]:.2f}x")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "runtime.json").write_text(json.dumps(
        {"samples_s": samples, "median_s": med, "peak_rss_kib": rss, "python_floor_s": floor,
         "runs": args.runs, "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
