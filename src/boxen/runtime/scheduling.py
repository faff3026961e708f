"""CPU scheduling, I/O priority and CPU affinity of the container's process (runtime-spec 1.2).

* ``process.scheduler`` is ``sched_setattr(2)``: a *policy* (``SCHED_OTHER`` time sharing,
  ``SCHED_BATCH``, ``SCHED_IDLE``, the real-time ``SCHED_FIFO`` and ``SCHED_RR`` with a
  ``priority`` of 1-99, or ``SCHED_DEADLINE`` with ``runtime``/``deadline``/``period`` in
  nanoseconds), a ``nice`` value for the time-sharing ones, and flags such as
  ``SCHED_FLAG_RESET_ON_FORK`` (children go back to the normal policy).
* ``process.ioPriority`` is ``ioprio_set(2)``: a class (``IOPRIO_CLASS_RT``, ``_BE`` best
  effort, ``_IDLE``) and a level 0-7 (0 first) that the block I/O scheduler honours.
* ``process.execCPUAffinity`` pins a process started by ``exec``: ``initial`` before it joins
  the container's cgroup (whose cpuset may be busy), ``final`` after.

Values are checked and packed here (pure); the runtime applies them before dropping
privileges, since raising priority needs ``CAP_SYS_NICE``.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
            "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
         "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
         "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
_SCHED_ATTR_SIZE = 56


class Scheduling(Record):
    """The packed ``struct sched_attr`` and the ``ioprio`` value (either may be None)."""

    sched_attr: bytes | None
    ioprio: int | None


def plan(scheduler, io_priority, field: str = "process") -> Scheduling | None:
    if scheduler is None and io_priority is None:
        return None
    attr = None
    if scheduler is not None:
        where = f"{field}.scheduler"
        policy = POLICIES.get(scheduler.policy)
        if policy is None:
            raise InvalidArgument(f"unknown policy {scheduler.policy!r} (expected one of {', '.join(POLICIES)})",
                                  field=f"{where}.policy")
        flags = 0
        for i, name in enumerate(scheduler.flags or ()):
            if name not in FLAGS:
                raise InvalidArgument(f"unknown flag {name!r} (expected one of {', '.join(FLAGS)})",
                                      field=f"{where}.flags[{i}]")
            flags |= FLAGS[name]
        nice = scheduler.nice or 0
        if not -20 <= nice <= 19:
            raise InvalidArgument(f"nice {nice} is outside -20..19", field=f"{where}.nice")
        priority = scheduler.priority or 0
        if policy in (1, 2) and not 1 <= priority <= 99:
            raise InvalidArgument(f"priority {priority} is outside 1..99 for {scheduler.policy}",
                                  field=f"{where}.priority")
        if policy not in (1, 2) and priority:
            raise InvalidArgument(f"priority must be 0 for {scheduler.policy}", field=f"{where}.priority")
        attr = b"".join((
            _SCHED_ATTR_SIZE.to_bytes(4, "little"), policy.to_bytes(4, "little"), flags.to_bytes(8, "little"),
            nice.to_bytes(4, "little", signed=True), priority.to_bytes(4, "little"),
            (scheduler.runtime or 0).to_bytes(8, "little"), (scheduler.deadline or 0).to_bytes(8, "little"),
            (scheduler.period or 0).to_bytes(8, "little"), bytes(8),
        ))
    ioprio = None
    if io_priority is not None:
        where = f"{field}.ioPriority"
        klass = IO_CLASSES.get(io_priority.class_)
        if klass is None:
            raise InvalidArgument(f"unknown class {io_priority.class_!r} (expected one of {', '.join(IO_CLASSES)})",
                                  field=f"{where}.class")
        if not 0 <= io_priority.priority <= 7:
            raise InvalidArgument(f"priority {io_priority.priority} is outside 0..7", field=f"{where}.priority")
        ioprio = klass << 13 | io_priority.priority
    return Scheduling(sched_attr=attr, ioprio=ioprio)


def parse_cpus(text: str, field: str) -> frozenset[int]:
    """A CPU list such as ``0-3,6`` as a set of CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InvalidArgument(f"{text!r} is not a CPU list such as 0-3,6", field=field)
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise InvalidArgument(f"{text!r} has a decreasing range", field=field)
        cpus.update(range(first, last + 1))
    if not cpus:
        raise InvalidArgument(f"{text!r} names no CPU", field=field)
    return frozenset(cpus)
