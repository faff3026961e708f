"""Build the peers' three-line Containerfile: boxen-image build vs buildah bud, cold and cached.

The Containerfile is the one ``/work/shared/peers/build-latency.sh`` measured::

    FROM <registry>/peers/busybox:latest
    RUN echo built > /built.txt && ls /bin | wc -l > /applets.txt
    COPY payload.txt /payload.txt           (64 KiB of random bytes, base64)

The base image is in each tool's store before timing starts (pulled once from a loopback
registry); each figure is the median wall time of the whole command:

* cold:   ``boxen-image build --no-cache -q`` vs ``buildah bud --layers=false -q`` (every step runs);
* cached: ``boxen-image build -q`` vs ``buildah bud --layers -q`` (every step a cache hit);
* ``buildah bud --isolation chroot`` (RUN without an OCI runtime) is shown for reference.

RUN steps have no network (boxen: a network namespace of its own; buildah: ``--network none``).
Like the peers' script, everything runs in a private mount namespace with the cgroup2 mount
hidden (crun, buildah's runtime, refuses this host's hybrid layout otherwise).

Run as root: ``.venv/bin/python bench/build.py [--runs 10]``.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from support import images as test_images
from support.registry import start_registry

BOXEN = os.path.join(os.path.dirname(sys.executable), "boxen-image")


def hide_cgroup2() -> None:
    """Re-run this script in a private mount namespace without /sys/fs/cgroup/unified."""
    if os.environ.get("_BENCH_HIDDEN"):
        return
    with open("/proc/self/mountinfo") as f:
        if " /sys/fs/cgroup/unified " not in f.read():
            return
    os.environ["_BENCH_HIDDEN"] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "slave", "sh", "-c",
                          'umount -l /sys/fs/cgroup/unified; exec "$@"', "bench", sys.executable, *sys.argv])


def sh(*args: str, env: dict | None = None) -> str:
    proc = subprocess.run(args, check=False, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def median_time(args: list[str], runs: int, env: dict | None = None, warmup: int = 1) -> float:
    for _ in range(warmup):
        sh(*args, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sh(*args, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def buildah_env(home: str) -> tuple[list[str], dict]:
    for d in ("root", "runroot", "tmp"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    hard = sh("sh", "-c", "ulimit -Hn").strip()
    conf = os.path.join(home, "containers.conf")
    with open(conf, "w") as f:
        f.write(f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}", "nproc=32768:32768"]\n'
                '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    env = {**os.environ, "CONTAINERS_CONF": conf, "TMPDIR": os.path.join(home, "tmp")}
    base = ["buildah", "--root", os.path.join(home, "root"), "--runroot", os.path.join(home, "runroot"),
            "--storage-driver", "overlay"]
    return base, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/build.py needs root", file=sys.stderr)
        return 2
    hide_cgroup2()
    import boxen

    # as `make venv` leaves it: byte-compiled, whatever PYTHONDONTWRITEBYTECODE says
    sh(sys.executable, "-m", "compileall", "-q", os.path.dirname(boxen.__file__))
    work = tempfile.mkdtemp(prefix="boxen-bench-build-")
    registry = start_registry()
    buildah, benv = buildah_env(os.path.join(work, "buildah"))
    try:
        layout, tag = test_images.busybox()
        ref = f"{registry.host}/peers/busybox:latest"
        test_images.push(layout, tag, ref)
        context = os.path.join(work, "ctx")
        os.makedirs(context)
        with open(os.path.join(context, "payload.txt"), "w") as f:
            f.write(base64.encodebytes(os.urandom(65536)).decode())
        with open(os.path.join(context, "Containerfile"), "w") as f:
            f.write(f"FROM {ref}\nRUN echo built > /built.txt && ls /bin | wc -l > /applets.txt\n"
                    "COPY payload.txt /payload.txt\n")
        root = os.path.join(work, "boxen")
        boxen = [BOXEN, "--root", root]
        sh(*boxen, "pull", "-q", ref)
        sh(*buildah, "pull", "-q", "--tls-verify=false", ref, env=benv)
        common = ["--network", "none", "--tls-verify=false", "--pull=false", "-f",
                  os.path.join(context, "Containerfile"), "-t", "pb-build:latest", context]

        rows = [
            ("cold", median_time([*boxen, "build", "--no-cache", "-q", "-t", "pb-build:latest", context], args.runs),
             median_time([*buildah, "bud", "-q", "--layers=false", *common], args.runs, benv)),
            ("cached", median_time([*boxen, "build", "-q", "-t", "pb-build:latest", context], args.runs),
             median_time([*buildah, "bud", "-q", "--layers", *common], args.runs, benv)),
        ]
        chroot = median_time([*buildah, "bud", "-q", "--isolation", "chroot", "--layers=false",
                              *[c if c != "none" else "host" for c in common]], args.runs, benv)
        check = sh(*boxen, "inspect", "pb-build:latest")
        assert '"diff_ids"' in check
    finally:
        subprocess.run([*buildah, "rmi", "--all", "--force"], check=False, capture_output=True, env=benv)
        subprocess.run(["umount", "-R", os.path.join(work, "buildah", "root", "overlay")], check=False,
                       capture_output=True)
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"build of the peers' Containerfile, median of {args.runs} runs (seconds)")
    print(f"{'':8}{'boxen':>8}{'buildah':>9}{'ratio':>8}")
    for name, ours, theirs in rows:
        print(f"{name:8}{ours:8.3f}{theirs:9.3f}{theirs / ours:7.2f}x")
    print(f"(buildah bud --isolation chroot, cold: {chroot:.3f} s)")
    print("ratio > 1: boxen is faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
