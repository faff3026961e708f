"""Real clients of an OCI runtime, run privately: podman and containerd (``ctr``).

podman and containerd never make containers themselves: they prepare a bundle and call a
runc-compatible runtime program (podman through conmon, containerd through its
``containerd-shim-runc-v2``). Giving them ``--runtime <path>`` or ``--runc-binary <path>``
therefore tests a runtime exactly as production uses it.

Both are set up so that nothing touches the host's own state:

* :class:`Podman`: ``--root``, ``--runroot``, ``--tmpdir`` and the network config directory in a
  temporary directory; a ``containers.conf`` with the cgroupfs manager (no systemd here), file
  events, no network (``netns = "none"``: no bridge, no firewall rules), and ``default_ulimits``
  at this host's hard limits (podman's defaults exceed them, and without
  ``CAP_SYS_RESOURCE`` the runtime's ``setrlimit`` would fail); the vfs storage driver, so
  image storage makes no mounts;
* :class:`Containerd`: its own root, state, socket and config (the CRI plugin disabled), started
  in the background and stopped by its pid; its shims are found by the socket path on their
  command line and ended by pid too; the native snapshotter (plain directories).

Images come from the busybox rootfs of :mod:`support.bundle`: ``podman import`` of a tar of it,
and for ``ctr images import`` an OCI image archive (``oci-layout``, ``index.json``, a manifest,
a config and one gzip layer) written here by hand.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pathlib
import resource
import shutil
import subprocess
import tarfile
import time

from support.bundle import CGROUP_PARENT, template_rootfs
from support.probe import cgroup_mounts

IMAGE_NAME = "localhost/boxen/busybox:test"


def rootfs_tar(dest: pathlib.Path) -> pathlib.Path:
    """A tar of the busybox rootfs (root-owned entries) at ``dest``."""
    with tarfile.open(dest, "w") as tar:
        tar.add(template_rootfs(), arcname=".", filter=_root_owned)
    return dest


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    if info.name != "./home/boxen":
        info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _blob(blobs: pathlib.Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def oci_archive(dest: pathlib.Path, name: str = IMAGE_NAME) -> pathlib.Path:
    """An OCI image layout of the busybox rootfs, as a tar archive at ``dest``."""
    layout = dest.with_suffix(".layout")
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = rootfs_tar(layout / "layer.tar").read_bytes()
    (layout / "layer.tar").unlink()
    layer = _blob(blobs, gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64"),
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    config_desc = _blob(blobs, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer]}
    manifest_desc = _blob(blobs, json.dumps(manifest).encode(),
                          "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    with tarfile.open(dest, "w") as tar:
        for entry in sorted(layout.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(layout)
    return dest


def _hard_limit(kind: int, cap: int | None = None) -> int:
    hard = resource.getrlimit(kind)[1]
    if hard == resource.RLIM_INFINITY or (cap is not None and hard > cap):
        return cap if cap is not None else 1 << 20
    return hard


class Podman:
    """podman with private storage, run state and configuration under ``home``."""

    def __init__(self, home: pathlib.Path):
        self.home = pathlib.Path(home)
        for d in ("root", "runroot", "tmp", "net"):
            (self.home / d).mkdir(parents=True, exist_ok=True)
        nofile = _hard_limit(resource.RLIMIT_NOFILE)
        nproc = _hard_limit(resource.RLIMIT_NPROC, 32768)
        self.conf = self.home / "containers.conf"
        self.conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
        )
        # podman keeps its cgroup parent and the "conmon" cgroup below it for all containers;
        # made here so that a test's leak check sees only per-container cgroups.
        for hierarchy in set(cgroup_mounts().values()):
            (hierarchy / self.cgroup_parent.lstrip("/") / "conmon").mkdir(parents=True, exist_ok=True)

    @property
    def cgroup_parent(self) -> str:
        return f"{CGROUP_PARENT}/podman"

    def argv(self, *args: object) -> list[str]:
        return ["podman", "--root", str(self.home / "root"), "--runroot", str(self.home / "runroot"),
                "--tmpdir", str(self.home / "tmp"), "--network-config-dir", str(self.home / "net"),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "vfs", *[str(a) for a in args]]

    @property
    def env(self) -> dict:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def __call__(self, *args: object, timeout: float = 120, input: str | None = None):
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=self.env, input=input, stdin=None if input else subprocess.DEVNULL)

    def import_busybox(self, name: str = IMAGE_NAME) -> str:
        tar = rootfs_tar(self.home / "busybox.tar")
        result = self("import", "--change", "CMD [\"sh\"]", tar, name)
        tar.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"podman import failed: {result.stderr}")
        return name

    def cleanup(self) -> None:
        """Remove every container and image, the storage directories and the cgroup parent."""
        self("rm", "--all", "--force", "--time", "0")
        self("rmi", "--all", "--force")
        _unmount_below(self.home)
        shutil.rmtree(self.home, ignore_errors=True)
        for hierarchy in set(cgroup_mounts().values()):
            for directory in ("conmon", ""):
                try:
                    (hierarchy / self.cgroup_parent.lstrip("/") / directory).rmdir()
                except OSError:
                    pass


class Containerd:
    """A private containerd daemon (CRI disabled) under ``home``, stopped by pid."""

    namespace = "boxen-tests"

    def __init__(self, home: pathlib.Path):
        self.home = pathlib.Path(home)
        self.socket = self.home / "containerd.sock"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        for d in ("root", "state", "opt"):
            (self.home / d).mkdir(parents=True, exist_ok=True)
        config = self.home / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.home}/root"\n'
            f'state = "{self.home}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.home}/opt"\n'
        )
        log = open(self.home / "containerd.log", "w")
        self.process = subprocess.Popen(["containerd", "--config", str(config), "--log-level", "warn"],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while self.ctr("version").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("containerd did not start: "
                                   + (self.home / "containerd.log").read_text()[-2000:])
            time.sleep(0.1)

    def argv(self, *args: object) -> list[str]:
        return ["ctr", "--address", str(self.socket), "--namespace", self.namespace,
                *[str(a) for a in args]]

    def ctr(self, *args: object, timeout: float = 120, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, **kw)

    def import_busybox(self, name: str = IMAGE_NAME) -> str:
        archive = oci_archive(self.home / "busybox-oci.tar", name)
        result = self.ctr("images", "import", "--snapshotter", "native", archive)
        archive.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"ctr images import failed: {result.stderr}")
        return name

    def shim_pids(self) -> list[int]:
        pids = []
        needle = str(self.socket).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                comm = pathlib.Path(f"/proc/{entry}/comm").read_text()
                cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if comm.startswith("containerd-shim") and needle in cmdline:
                pids.append(int(entry))
        return pids

    def stop(self) -> None:
        """Remove tasks and containers, stop the daemon and its shims (by pid), remove ``home``."""
        if self.process is not None and self.process.poll() is None:
            for task in self.ctr("tasks", "ls", "-q").stdout.split():
                self.ctr("tasks", "kill", "-s", "SIGKILL", task)
            time.sleep(0.2)
            for task in self.ctr("tasks", "ls", "-q").stdout.split():
                self.ctr("tasks", "rm", "-f", task)
            for container in self.ctr("containers", "ls", "-q").stdout.split():
                self.ctr("containers", "rm", container)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 5
        while (pids := self.shim_pids()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.shim_pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        _unmount_below(self.home)
        shutil.rmtree(self.home, ignore_errors=True)


def _unmount_below(directory: pathlib.Path) -> None:
    root = os.path.realpath(directory)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == root or p.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
