"""``exec`` into a running container: boxen-runtime beside runc and crun, and what sealing costs.

Usage (root): ``.venv/bin/python bench/exec.py [--runs 20] [--warmup 3] [--runtimes boxen,runc,crun]``

Each runtime starts the same bundle detached (``sleep``), then the benchmark times
``<runtime> exec <id> /bin/true`` until it exits, interleaved (A B C A B C...), in the private
mount namespace ``bench/runtime.py`` uses. boxen-runtime's ``exec`` runs from a sealed copy of
its interpreter (``boxen.runtime.sealed``): it starts the interpreter twice. The benchmark also
times the parts of that in-process: the check that the interpreter is sealed (on an unsealed one,
and the scan of the mount table it adds on a sealed one), and the two calls that seal it (``open_tree`` and ``mount_setattr``), and prints the bare interpreter's start,
which the second start costs again. Figures go to stdout and ``bench/results/exec.json``.
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

from runtime import make_bundle, reexec_private_mount_namespace, runtimes, timed


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runtimes", default="boxen,runc,crun")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/exec.py needs root", file=sys.stderr)
        return 2
    reexec_private_mount_namespace()
    work = pathlib.Path(tempfile.mkdtemp(prefix="boxen-bench-exec-"))
    rts = runtimes(args.runtimes.split(","))
    bases = {name: [*program, "--root", str(work / f"root-{name}")] for name, program in rts.items()}
    samples: dict[str, list[float]] = {name: [] for name in rts}
    try:
        bundle = make_bundle(work)
        os.symlink("busybox", bundle / "rootfs" / "bin" / "sleep")
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["args"] = ["/bin/sleep", "100000"]
        (bundle / "config.json").write_text(json.dumps(config))
        for name, base in bases.items():
            subprocess.run([*base, "run", "--detach", "--bundle", str(bundle), "x"], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(args.warmup + args.runs):
            for name, base in bases.items():
                elapsed = timed([*base, "exec", "x", "/bin/true"])
                if i >= args.warmup:
                    samples[name].append(elapsed)
        floor = statistics.median(timed([sys.executable, "-I", "-S", "-c", "pass"]) for _ in range(args.runs))
        parts = sealing_parts(200)
    finally:
        for base in bases.values():
            subprocess.run([*base, "delete", "--force", "x"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    med = {name: statistics.median(s) for name, s in samples.items()}
    print(f"{'runtime':<8} {'exec (ms)':>10} {'min-max':>15}")
    for name, s in samples.items():
        print(f"{name:<8} {med[name] * 1e3:>10.1f} {min(s) * 1e3:>7.1f}-{max(s) * 1e3:<7.1f}")
    print(f"python3 -I -S -c pass: {floor * 1e3:.1f} ms (the second start of a sealed exec)")
    for part, seconds in parts.items():
        print(f"{part}: {seconds * 1e6:.0f} us")
    if "boxen" in med:
        for peer in ("runc", "crun"):
            if peer in med:
                print(f"boxen/{peer}: exec {med['boxen'] / med[peer]:.2f}x")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "exec.json").write_text(json.dumps(
        {"samples_s": samples, "median_s": med, "python_floor_s": floor, "sealing_parts_s": parts,
         "runs": args.runs, "date": time.strftime("%Y-%m-%d %H:%M")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
