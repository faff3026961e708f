"""containerd driving the runtime under test (``ctr run --runc-binary <absolute path>``).

containerd starts ``containerd-shim-runc-v2`` for each task; the shim writes the bundle and calls
the given binary with runc's command line (``create`` with ``--console-socket`` for a terminal,
``start``, ``state``, ``kill``, ``delete``). The native snapshotter gives the rootfs as a plain
directory, and ``--cgroup`` puts the container under this session's test cgroup.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
import uuid

from support.bundle import CGROUP_PARENT
from support.peers import IMAGE_NAME


def _run_args(runtime_path, cid, *extra):
    return ["run", "--rm", "--snapshotter", "native", "--runc-binary", runtime_path,
            "--cgroup", f"{CGROUP_PARENT}/ctr-{cid}", *extra, IMAGE_NAME, cid]


def test_ctr_run(containerd, runtime_path):
    cid = f"bx-{uuid.uuid4().hex[:8]}"
    result = containerd.ctr(*_run_args(runtime_path, cid), "sh", "-c", "echo hello; id -u; exit 4")
    assert result.stdout.split() == ["hello", "0"], result.stderr
    assert result.returncode == 4


def test_ctr_run_tty(containerd, runtime_path):
    cid = f"bx-{uuid.uuid4().hex[:8]}"
    argv = containerd.argv(*_run_args(runtime_path, cid, "--tty"), "sh", "-c",
                           "tty; test -t 1 && echo stdout-is-a-tty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.decode(errors="replace")
    assert "/dev/pts/0" in text
    assert "stdout-is-a-tty" in text
    assert code == 0
