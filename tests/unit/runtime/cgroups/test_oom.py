"""OOM watches, on plain files standing in for a cgroup's (the kernel's side is in conformance)."""

import os
import select

from boxen.runtime.cgroups.oom import watch_v1, watch_v2


def test_v2_fires_when_oom_kill_grows(tmp_path):
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    watch = watch_v2(str(tmp_path))
    try:
        assert watch.events == select.POLLPRI
        assert not watch.fired()  # the kills before the watch began do not count
        events.write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n")
        assert watch.fired()
        assert not watch.fired()
    finally:
        watch.close()


def test_v1_registers_an_eventfd_with_the_memory_controller(tmp_path):
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (tmp_path / "cgroup.event_control").write_text("")
    watch = watch_v1(str(tmp_path))
    try:
        eventfd, control = (tmp_path / "cgroup.event_control").read_text().split()
        assert int(eventfd) == watch.fileno() and watch.events == select.POLLIN
        assert os.readlink(f"/proc/self/fd/{control}") == str(tmp_path / "memory.oom_control")
        assert not watch.fired()  # nothing was signalled
        os.eventfd_write(watch.fileno(), 1)
        assert watch.fired()
    finally:
        watch.close()
