"""podman driving the runtime under test (``podman --runtime <absolute path>``).

podman prepares the bundle (config.json from the image and the flags, rootfs from its storage),
then conmon calls the runtime's ``create``, ``start``, ``exec``, ``kill``, ``delete`` and
``state``. Each flag is checked by its effect inside the container: ``--memory`` and
``--pids-limit`` in the container's own cgroup files, ``--cap-drop`` in the capability sets,
``--read-only`` by a write that must fail, ``-it`` by a terminal driven from a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
import uuid

from support.peers import IMAGE_NAME
from support.probe import parse_status


def _run(podman, runtime_path, *args, **kw):
    return podman("run", "--rm", "--runtime", runtime_path, "--cgroup-parent", podman.cgroup_parent,
                  *args, **kw)


def test_run_rm(podman, runtime_path):
    result = _run(podman, runtime_path, IMAGE_NAME, "sh", "-c", "echo hello from $(hostname)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hello from ")


def test_run_exit_code(podman, runtime_path):
    assert _run(podman, runtime_path, IMAGE_NAME, "sh", "-c", "exit 3").returncode == 3


def test_run_interactive_tty(podman, runtime_path):
    argv = podman.argv("run", "--rm", "-it", "--runtime", runtime_path, "--cgroup-parent",
                       podman.cgroup_parent, IMAGE_NAME, "sh")
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=podman.env,
                            start_new_session=True)
    os.close(slave)
    output = b""
    try:
        os.write(master, b"tty; test -t 0 && echo stdin-is-a-tty; exit 7\n")
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
    assert "stdin-is-a-tty" in text
    assert code == 7


def test_run_detached_exec_stop(podman, runtime_path):
    name = f"bx-{uuid.uuid4().hex[:8]}"
    started = podman("run", "-d", "--name", name, "--runtime", runtime_path, "--cgroup-parent",
                     podman.cgroup_parent, IMAGE_NAME, "sleep", "600")
    assert started.returncode == 0, started.stderr
    try:
        executed = podman("exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
        assert executed.returncode == 0, executed.stderr
        assert executed.stdout.strip() == "sleep 600"
        stopped = podman("stop", "--time", "1", name)
        assert stopped.returncode == 0, stopped.stderr
        state = podman("inspect", "--format", "{{.State.Status}}", name)
        assert state.stdout.strip() == "exited"
    finally:
        podman("rm", "--force", "--time", "0", name)


def test_memory_limit(podman, runtime_path):
    result = _run(podman, runtime_path, "--memory", "64m", IMAGE_NAME,
                  "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(64 << 20)


def test_pids_limit(podman, runtime_path):
    result = _run(podman, runtime_path, "--pids-limit", "50", IMAGE_NAME,
                  "cat", "/sys/fs/cgroup/pids/pids.max")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "50"


def test_cap_drop(podman, runtime_path):
    result = _run(podman, runtime_path, "--cap-drop", "CAP_NET_RAW", "--cap-drop", "CAP_CHOWN",
                  IMAGE_NAME, "sh", "-c", "cat /proc/$$/status")
    assert result.returncode == 0, result.stderr
    caps = parse_status(result.stdout).caps
    assert "CAP_NET_RAW" not in caps["bounding"] and "CAP_CHOWN" not in caps["effective"]
    assert "CAP_KILL" in caps["effective"]


def test_read_only(podman, runtime_path):
    script = "touch /file 2>/dev/null && echo writable || echo readonly; touch /tmp/ok && echo tmp-ok"
    result = _run(podman, runtime_path, "--read-only", IMAGE_NAME, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["readonly", "tmp-ok"]
