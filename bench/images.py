"""Pull (and unpack) the busybox and Debian test images from a loopback registry: boxen vs peers.

Every run starts from an empty store, so every run downloads and unpacks the whole image;
the figure is the wall time of the tool's command(s). The tools take turns, one run each
per round:

* boxen:        ``boxen-image --root R pull -q REF`` (pull + unpack into snapshots; with
                ``--no-unpack`` when this build has no unpack, which the table says)
* podman:       ``podman pull -q REF`` (private root, overlay storage: pull + unpack)
* ctr:          ``ctr images pull --plain-http REF`` (a private containerd: pull + unpack)
* skopeo+umoci: ``skopeo copy docker://REF oci:DIR:t`` then ``umoci unpack``

**Each run gets a store of its own, and nothing is deleted until every tool has run.** This
machine's root file system is ext4 *without a journal*, and there the inode allocator
avoids reusing an inode deleted less than 60 s ago (300 s while its inode-table block is
still dirty; ``recently_deleted()`` in fs/ext4/ialloc.c), so that a crash cannot leave a
reused inode whose old contents were never written back. Each allocation near such inodes
checks them one by one: deleting the previous run's store just before a run made creating
a file or symlink there cost 0.2-1 ms instead of 25-40 us, by how many were deleted how
recently and where, an artefact of the benchmark and not of any tool. ``--delete-between-runs``
brings the old way back (each run's store deleted just before the next run) to show it.
For the same reason the benchmark starts by writing everything back (``sync``) and waiting
until what was deleted before it (the last benchmark's stores, a test run's temporary
directories) is no longer recent: until creating symlinks in its directory costs less than
50 us each again (20-40 us when nothing was deleted nearby; at most ``--settle`` seconds,
300). What a store needs before a pull is set up untimed as before: podman's storage is
initialised (``podman images``) and containerd is started; boxen's data root is not
created. The stores of all runs are kept until the end (a few GB for five Debian runs per
tool).

Run as root: ``.venv/bin/python bench/images.py [--runs 5] [--images busybox,debian]``.
The registry (Debian's docker-registry) and the images come from ``tests/support``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
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


def sh(*args: str, env: dict | None = None, timeout: float = 600) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()[-800:]}")


def timed(*args: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    sh(*args, env=env)
    return time.perf_counter() - start


def safe_rm(path: str) -> None:
    """Unmount whatever is mounted under ``path`` (deepest first), then remove it."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == real or p.startswith(real + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(real, ignore_errors=True)


def symlink_cost(directory: str, count: int = 40) -> float:
    """Microseconds to create one symlink in a new directory under ``directory`` (kept till the end)."""
    probe = tempfile.mkdtemp(prefix="inode-probe-", dir=directory)
    start = time.perf_counter()
    for i in range(count):
        os.symlink("target", os.path.join(probe, str(i)))
    return (time.perf_counter() - start) / count * 1e6


def settle(directory: str, limit: float, fast: float = 50.0) -> None:
    """Wait (at most ``limit`` seconds) until inodes deleted before the benchmark slow no allocation."""
    os.sync()
    deadline = time.monotonic() + limit
    while True:
        cost = symlink_cost(directory)
        print(f"creating a symlink in {directory} costs {cost:.0f} us", file=sys.stderr, flush=True)
        if cost < fast or time.monotonic() > deadline:
            return
        time.sleep(15)


def has_unpack() -> bool:
    try:
        import boxen.image.snapshots
        import boxen.image.unpack  # noqa: F401
    except ImportError:
        return False
    return True


class Tool:
    """One tool: ``prepare(run_dir)`` makes an empty store for the next run (untimed), ``run``
    times one pull into it, ``forget()`` deletes the stores made so far."""

    name = ""
    what = ""

    def setup(self, base: str) -> None:
        self.base = base
        self.stores: list[str] = []

    def prepare(self, run_dir: str) -> None:
        os.makedirs(run_dir, exist_ok=True)
        self.stores.append(run_dir)

    def run(self, ref: str) -> float:
        raise NotImplementedError

    def forget(self) -> None:
        for store in self.stores:
            safe_rm(store)
        self.stores.clear()

    def teardown(self) -> None:
        self.forget()


class Boxen(Tool):
    name = "boxen"

    def setup(self, base: str) -> None:
        super().setup(base)
        self.unpack = has_unpack()
        self.what = "pull + unpack" if self.unpack else "pull only (no unpack in this build)"

    def prepare(self, run_dir: str) -> None:
        super().prepare(run_dir)
        self.root = os.path.join(run_dir, "root")  # created by the timed pull

    def run(self, ref: str) -> float:
        extra = () if self.unpack else ("--no-unpack",)
        return timed(BOXEN, "--root", self.root, "pull", "-q", *extra, ref)


class Podman(Tool):
    name = "podman"
    what = "pull + unpack (overlay)"

    def setup(self, base: str) -> None:
        super().setup(base)
        self.homes: list[tuple[list[str], dict]] = []

    def prepare(self, run_dir: str) -> None:
        home = tempfile.mkdtemp(prefix="bxb-", dir="/tmp")  # podman wants a short runroot
        super().prepare(home)
        for d in ("root", "runroot", "tmp", "net"):
            os.mkdir(os.path.join(home, d))
        conf = os.path.join(home, "containers.conf")
        with open(conf, "w") as f:
            f.write('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": conf}
        self.cmd = ["podman", "--root", f"{home}/root", "--runroot", f"{home}/runroot", "--tmpdir", f"{home}/tmp",
                    "--network-config-dir", f"{home}/net", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                    "--storage-driver", "overlay"]
        self.homes.append((self.cmd, self.env))
        sh(*self.cmd, "images", env=self.env)  # storage initialised, as a store in use is

    def run(self, ref: str) -> float:
        return timed(*self.cmd, "pull", "-q", "--tls-verify=false", ref, env=self.env)

    def forget(self) -> None:
        for cmd, env in self.homes:
            subprocess.run([*cmd, "system", "reset", "-f"], capture_output=True, env=env)
        self.homes.clear()
        super().forget()


class Ctr(Tool):
    name = "ctr"
    what = "pull + unpack (containerd overlayfs)"

    def setup(self, base: str) -> None:
        super().setup(base)
        self.proc: subprocess.Popen | None = None

    def prepare(self, run_dir: str) -> None:
        """A fresh containerd (removing the image and pruning was seen to leave a snapshot that
        broke the next extraction of the Debian layer)."""
        self.stop()
        home = tempfile.mkdtemp(prefix="bxc-", dir="/tmp")
        super().prepare(home)
        sock = os.path.join(home, "containerd.sock")
        config = os.path.join(home, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{home}/root"\nstate = "{home}/state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{sock}"\n'
                    f'[ttrpc]\n  address = "{sock}.ttrpc"\n[plugins."io.containerd.internal.v1.opt"]\n'
                    f'  path = "{home}/opt"\n')
        log = open(os.path.join(home, "containerd.log"), "w")
        # a private mount namespace: its temporary mounts are invisible to (and safe from) the host's
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "containerd", "--config",
                                      config, "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.cmd = ["ctr", "--address", sock, "--namespace", "boxen-bench"]
        for _ in range(100):
            if subprocess.run([*self.cmd, "version"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("containerd did not start")

    def run(self, ref: str) -> float:
        return timed(*self.cmd, "images", "pull", "--plain-http", ref)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    def forget(self) -> None:
        self.stop()
        super().forget()


class SkopeoUmoci(Tool):
    name = "skopeo+umoci"
    what = "skopeo copy to an OCI layout, then umoci unpack"

    def prepare(self, run_dir: str) -> None:
        super().prepare(run_dir)
        self.layout, self.bundle = os.path.join(run_dir, "oci"), os.path.join(run_dir, "bundle")

    def run(self, ref: str) -> float:
        start = time.perf_counter()
        sh("skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{self.layout}:t")
        sh("umoci", "unpack", "--image", f"{self.layout}:t", self.bundle)
        return time.perf_counter() - start


TOOLS = {t.name: t for t in (Boxen, Podman, Ctr, SkopeoUmoci)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", default="busybox,debian")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--delete-between-runs", action="store_true",
                        help="delete each run's store just before the next run (the ext4 artefact: see above)")
    parser.add_argument("--settle", type=float, default=300,
                        help="at most this many seconds to wait for inodes deleted earlier to age out")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/images.py needs root (podman, containerd and umoci unpack as root)", file=sys.stderr)
        return 2
    import boxen

    # as `make venv` leaves it: byte-compiled, whatever PYTHONDONTWRITEBYTECODE says
    sh(sys.executable, "-m", "compileall", "-q", os.path.dirname(boxen.__file__))
    registry = start_registry()
    work = tempfile.mkdtemp(prefix="boxen-bench-images-")
    tools: list[Tool] = []
    results: dict[str, dict[str, list[float]]] = {}
    whats: dict[str, str] = {}
    try:
        refs = {}
        for image in args.images.split(","):
            layout, tag = getattr(test_images, image)()
            refs[image] = f"{registry.host}/bench/{image}:latest"
            test_images.push(layout, tag, refs[image])
        for name in args.tools.split(","):
            tool = TOOLS[name]()
            if shutil.which({"boxen": BOXEN, "podman": "podman", "ctr": "containerd", "skopeo+umoci": "umoci"}[name]) is None:
                print(f"skipping {name}: not installed", file=sys.stderr)
                continue
            tools.append(tool)
            tool.setup(tempfile.mkdtemp(prefix=f"{name.replace('+', '-')}-", dir=work))
            whats[tool.name] = tool.what
        settle(work, args.settle)
        for image, ref in refs.items():
            for n in range(args.runs):
                # one run of each tool per round, in an order that turns round by round, so that
                # the machine's drifts and each tool's place after another are shared out
                for tool in tools[n % len(tools):] + tools[:n % len(tools)]:
                    if args.delete_between_runs:
                        tool.forget()
                    tool.prepare(os.path.join(tool.base, f"{image}-{n}"))
                    elapsed = tool.run(ref)
                    results.setdefault(image, {}).setdefault(tool.name, []).append(elapsed)
                    print(f"{tool.name:13} {image:8} {elapsed:7.3f} s", file=sys.stderr, flush=True)
    finally:
        registry.stop()
        for tool in tools:
            tool.teardown()
        safe_rm(work)
    stores = "each run's store deleted just before the next run" if args.delete_between_runs else "a new store per run"
    print(f"\npull{' + unpack' if has_unpack() else ''} from a loopback registry, median of {args.runs} runs "
          f"(min in brackets; {stores}); ratio = peer / boxen (above 1: boxen is faster)\n")
    print("| image | tool | what | median | ratio |\n|---|---|---|---|---|")
    for image, by_tool in results.items():
        ours = statistics.median(by_tool["boxen"]) if "boxen" in by_tool else None
        for name, times in sorted(by_tool.items(), key=lambda item: list(TOOLS).index(item[0])):
            median = statistics.median(times)
            ratio = f"{median / ours:.2f}" if ours else "-"
            print(f"| {image} | {name} | {whats[name]} | {median:.3f} s [{min(times):.3f}] | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
