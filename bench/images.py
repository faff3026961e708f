"""Pull (and unpack) the busybox and Debian test images from a loopback registry: boxen vs peers.

Each tool starts every run from an empty store, so every run downloads and unpacks the whole
image; the figure is the wall time of the tool's command(s):

* boxen:        ``boxen-image --root R pull -q REF`` (pull + unpack into snapshots; with
                ``--no-unpack`` when this build has no unpack, which the table says)
* podman:       ``podman pull -q REF`` (private root, overlay storage: pull + unpack)
* ctr:          ``ctr images pull --plain-http REF`` (a private containerd: pull + unpack)
* skopeo+umoci: ``skopeo copy docker://REF oci:DIR:t`` then ``umoci unpack``

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


def has_unpack() -> bool:
    try:
        import boxen.image.snapshots
        import boxen.image.unpack  # noqa: F401
    except ImportError:
        return False
    return True


class Tool:
    name = ""
    what = ""

    def setup(self, base: str) -> None:
        self.base = base

    def run(self, ref: str) -> float:
        raise NotImplementedError

    def reset(self) -> None:
        """Back to an empty store."""

    def teardown(self) -> None:
        pass


class Boxen(Tool):
    name = "boxen"

    def setup(self, base: str) -> None:
        super().setup(base)
        self.unpack = has_unpack()
        self.what = "pull + unpack" if self.unpack else "pull only (no unpack in this build)"
        self.root = os.path.join(base, "root")

    def run(self, ref: str) -> float:
        extra = () if self.unpack else ("--no-unpack",)
        return timed(BOXEN, "--root", self.root, "pull", "-q", *extra, ref)

    def reset(self) -> None:
        safe_rm(self.root)


class Podman(Tool):
    name = "podman"
    what = "pull + unpack (overlay)"

    def setup(self, base: str) -> None:
        self.home = tempfile.mkdtemp(prefix="bxb-", dir="/tmp")  # podman wants a short runroot
        for d in ("root", "runroot", "tmp", "net"):
            os.mkdir(os.path.join(self.home, d))
        conf = os.path.join(self.home, "containers.conf")
        with open(conf, "w") as f:
            f.write('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": conf}
        h = self.home
        self.cmd = ["podman", "--root", f"{h}/root", "--runroot", f"{h}/runroot", "--tmpdir", f"{h}/tmp",
                    "--network-config-dir", f"{h}/net", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                    "--storage-driver", "overlay"]

    def run(self, ref: str) -> float:
        return timed(*self.cmd, "pull", "-q", "--tls-verify=false", ref, env=self.env)

    def reset(self) -> None:
        subprocess.run([*self.cmd, "rmi", "-af"], capture_output=True, env=self.env)

    def teardown(self) -> None:
        subprocess.run([*self.cmd, "system", "reset", "-f"], capture_output=True, env=self.env)
        safe_rm(self.home)


class Ctr(Tool):
    name = "ctr"
    what = "pull + unpack (containerd overlayfs)"

    def setup(self, base: str) -> None:
        super().setup(base)
        self.home = tempfile.mkdtemp(prefix="bxc-", dir="/tmp")
        sock = os.path.join(self.home, "containerd.sock")
        config = os.path.join(self.home, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{self.home}/root"\nstate = "{self.home}/state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{sock}"\n'
                    f'[ttrpc]\n  address = "{sock}.ttrpc"\n[plugins."io.containerd.internal.v1.opt"]\n'
                    f'  path = "{self.home}/opt"\n')
        log = open(os.path.join(self.home, "containerd.log"), "w")
        # a private mount namespace: its temporary mounts are invisible to (and safe from) the host's
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "containerd", "--config",
                                      config, "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.cmd = ["ctr", "--address", sock, "--namespace", "boxen-bench"]
        self.ref = ""
        for _ in range(100):
            if subprocess.run([*self.cmd, "version"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("containerd did not start")

    def run(self, ref: str) -> float:
        self.ref = ref
        return timed(*self.cmd, "images", "pull", "--plain-http", ref)

    def reset(self) -> None:
        """A fresh containerd: removing the image and pruning was seen to leave a snapshot
        that broke the next extraction of the Debian layer."""
        if self.ref:
            self.teardown()
            self.setup(self.base)

    def teardown(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        safe_rm(self.home)


class SkopeoUmoci(Tool):
    name = "skopeo+umoci"
    what = "skopeo copy to an OCI layout, then umoci unpack"

    def run(self, ref: str) -> float:
        layout, bundle = os.path.join(self.base, "oci"), os.path.join(self.base, "bundle")
        start = time.perf_counter()
        sh("skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:t")
        sh("umoci", "unpack", "--image", f"{layout}:t", bundle)
        return time.perf_counter() - start

    def reset(self) -> None:
        for d in ("oci", "bundle"):
            safe_rm(os.path.join(self.base, d))


TOOLS = {t.name: t for t in (Boxen, Podman, Ctr, SkopeoUmoci)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", default="busybox,debian")
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/images.py needs root (podman, containerd and umoci unpack as root)", file=sys.stderr)
        return 2
    registry = start_registry()
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
            base = tempfile.mkdtemp(prefix=f"boxen-bench-{name.replace('+', '-')}-")
            try:
                tool.setup(base)
                whats[name] = tool.what
                for image, ref in refs.items():
                    times = results.setdefault(image, {}).setdefault(name, [])
                    for _ in range(args.runs):
                        tool.reset()
                        times.append(tool.run(ref))
                        print(f"{name:13} {image:8} {times[-1]:7.3f} s", file=sys.stderr, flush=True)
                    tool.reset()
            finally:
                tool.teardown()
                safe_rm(base)
    finally:
        registry.stop()
    print(f"\npull{' + unpack' if has_unpack() else ''} from a loopback registry, median of {args.runs} runs "
          f"(min in brackets); ratio = peer / boxen (above 1: boxen is faster)\n")
    print("| image | tool | what | median | ratio |\n|---|---|---|---|---|")
    for image, by_tool in results.items():
        ours = statistics.median(by_tool["boxen"]) if "boxen" in by_tool else None
        for name, times in by_tool.items():
            median = statistics.median(times)
            ratio = f"{median / ours:.2f}" if ours else "-"
            print(f"| {image} | {name} | {whats[name]} | {median:.3f} s [{min(times):.3f}] | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
