"""Kernel.clone refuses a process with other threads, before forking anything."""

import threading

import pytest

from boxen.common.errors import FailedPrecondition
from boxen.runtime.linux.kernel import KERNEL, single_threaded


def test_clone_refuses_a_threaded_process():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not single_threaded()
        with pytest.raises(FailedPrecondition, match="single-threaded"):
            KERNEL.clone(0)
        with pytest.raises(FailedPrecondition, match="single-threaded"):
            KERNEL.clone(0, cgroup_fd=0)
    finally:
        stop.set()
        worker.join()
