"""Test images made without the internet, cached between sessions, pushed with skopeo.

Two images, both single-layer and made with umoci the way ``/work/shared/peers/make-images.sh``
makes them:

* ``busybox``: Debian's busybox-static as ``/bin/busybox`` plus one symlink per applet,
  ``/etc/passwd``, ``/etc/group`` and a sticky ``/tmp``;
* ``debian``: ``debootstrap --variant=minbase bookworm`` from the apt mirror (about 130 MB
  unpacked), with the package cache and apt lists removed.

Both land as tags in one OCI image layout under ``$BOXEN_TEST_CACHE`` (default
``/var/cache/boxen-tests``), built once and reused by later sessions; a lock file keeps two
test processes from building at once. :func:`push` copies a tag into a registry with skopeo.
``python tests/support/images.py`` builds both ahead of a test run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile

CACHE = os.environ.get("BOXEN_TEST_CACHE", "/var/cache/boxen-tests")
LAYOUT = os.path.join(CACHE, "oci")
DEBOOTSTRAP_TIMEOUT = int(os.environ.get("BOXEN_TEST_DEBOOTSTRAP_TIMEOUT", "900"))
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageUnavailable(Exception):
    """The image cannot be made on this host (a tool is missing, debootstrap failed)."""


@contextlib.contextmanager
def _locked():
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(*args: str, timeout: float | None = None) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ImageUnavailable(f"{' '.join(args[:3])} failed: {proc.stderr.strip()[-500:]}")


def _tags() -> set[str]:
    try:
        with open(os.path.join(LAYOUT, "index.json")) as f:
            index = json.load(f)
    except FileNotFoundError:
        return set()
    return {
        m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in index.get("manifests", [])
    }


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ImageUnavailable(f"missing tools: {', '.join(missing)}")


def _pack(tag: str, rootfs: str, cmd: str) -> None:
    """A new single-layer image ``tag`` in the cached layout whose layer is ``rootfs``."""
    if not os.path.exists(os.path.join(LAYOUT, "index.json")):
        _run("umoci", "init", "--layout", LAYOUT)
    image = f"{LAYOUT}:{tag}"
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        bundle = os.path.join(work, "bundle")
        _run("umoci", "new", "--image", image)
        _run("umoci", "unpack", "--image", image, bundle)
        _run("cp", "-a", f"{rootfs}/.", os.path.join(bundle, "rootfs"))
        _run("umoci", "repack", "--image", image, bundle)
    _run(
        "umoci", "config", "--image", image, "--os", "linux", "--architecture", "amd64",
        "--config.env", PATH_ENV, "--config.cmd", cmd, "--config.workingdir", "/",
    )
    _run("umoci", "gc", "--layout", LAYOUT)


def _busybox_rootfs(root: str) -> None:
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def busybox() -> tuple[str, str]:
    """``(layout_dir, tag)`` of the busybox image, built on first use."""
    with _locked():
        if "busybox" not in _tags():
            _need("umoci")
            if not os.path.exists("/bin/busybox"):
                raise ImageUnavailable("/bin/busybox is missing (apt-get install busybox-static)")
            with tempfile.TemporaryDirectory(dir=CACHE) as work:
                rootfs = os.path.join(work, "rootfs")
                _busybox_rootfs(rootfs)
                _pack("busybox", rootfs, "/bin/sh")
    return LAYOUT, "busybox"


def debian() -> tuple[str, str]:
    """``(layout_dir, tag)`` of the debootstrap minbase bookworm image, built on first use."""
    with _locked():
        if "debian" not in _tags():
            _need("umoci", "debootstrap")
            failed = os.path.join(CACHE, "debian.failed")
            if os.path.exists(failed):
                with open(failed) as f:
                    raise ImageUnavailable(f"debootstrap failed earlier (remove {failed} to retry): {f.read()}")
            with tempfile.TemporaryDirectory(dir=CACHE) as work:
                rootfs = os.path.join(work, "rootfs")
                cache = os.path.join(CACHE, "debootstrap-cache")
                os.makedirs(cache, exist_ok=True)
                try:
                    _run(
                        "debootstrap", "--variant=minbase", f"--cache-dir={cache}", "bookworm", rootfs,
                        timeout=DEBOOTSTRAP_TIMEOUT,
                    )
                except (ImageUnavailable, subprocess.TimeoutExpired) as exc:
                    with open(failed, "w") as f:
                        f.write(str(exc))
                    raise ImageUnavailable(f"debootstrap failed: {exc}") from None
                for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
                    for name in os.listdir(os.path.join(rootfs, d)):
                        path = os.path.join(rootfs, d, name)
                        if os.path.isfile(path):
                            os.unlink(path)
                _pack("debian", rootfs, "/bin/bash")
    return LAYOUT, "debian"


def push(layout: str, tag: str, dest: str, *, tls_verify: bool = False, creds: str | None = None,
         cert_dir: str | None = None, fmt: str | None = None) -> None:
    """``skopeo copy oci:LAYOUT:TAG docker://DEST`` (``fmt``: ``oci`` or ``v2s2`` manifests)."""
    args = ["skopeo", "copy", "--quiet", f"--dest-tls-verify={'true' if tls_verify else 'false'}"]
    if creds:
        args += ["--dest-creds", creds]
    if cert_dir:
        args += ["--dest-cert-dir", cert_dir]
    if fmt:
        args += ["--format", fmt]
    _run(*args, f"oci:{layout}:{tag}", f"docker://{dest}")


def skopeo_digest(ref: str, *args: str) -> str:
    """The digest of the manifest skopeo reads at ``ref`` (computed from its raw bytes)."""
    import hashlib

    raw = subprocess.run(["skopeo", "inspect", "--raw", *args, ref], capture_output=True, check=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


if __name__ == "__main__":
    print("busybox:", busybox())
    try:
        print("debian:", debian())
    except ImageUnavailable as exc:
        print("debian unavailable:", exc)
