"""The container lifecycle as one table: which operation the runtime allows in which status.

The runtime spec names five statuses. A container is *creating* while ``create`` builds it,
*created* when its process waits for ``start``, *running* once the process runs the user's
program, and *stopped* when that process has exited (runc adds *paused*: its cgroup is
frozen). The status is observed, never stored (see :mod:`boxen.runtime.state`); what this
module decides is what may be done to a container in each status::

    creating --(init waits)--> created --start--> running --(process exits)--> stopped --delete-->
    created or running --pause--> paused --resume--> created or running, as before

The spec's MUST rules are rows of :data:`ALLOWED`: ``start`` only a created container, ``kill``
only a created or running one (runc also signals a paused one: the signal waits until it
thaws, and SIGKILL thaws it), ``delete`` only a stopped one. runc's verbs fill the other rows:
``kill --all`` signals whatever is in the cgroup, in any status (containerd cleans up with it),
and ``delete --force`` is allowed in every status: it kills what is alive first (an interrupted
``create`` included). An operation asked in the wrong status raises one error,
:class:`TransitionError`, in the words runc prints, which managers such as containerd match
("container not running").
"""

from __future__ import annotations

from boxen.common.errors import FailedPrecondition
from boxen.oci import CREATED, CREATING, PAUSED, RUNNING, STOPPED

STATUSES = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)
LIVE = (CREATED, RUNNING, PAUSED)

# operation -> the statuses it is allowed in.
ALLOWED: dict[str, tuple[str, ...]] = {
    "start": (CREATED,),
    "kill": LIVE,
    "kill-all": STATUSES,
    "delete": (STOPPED,),
    "force-delete": STATUSES,
    "pause": (CREATED, RUNNING),
    "resume": (PAUSED,),
    "exec": (CREATED, RUNNING),
    "exec-ignoring-paused": LIVE,
    "ps": STATUSES,
    "stats": LIVE,
    "update": LIVE,
}

# operation -> runc's words when it is refused ({status}: the status it was asked in).
_REFUSALS = {
    "start": "cannot start a container that is {status}",
    "kill": "container not running",
    "kill-all": "container not running",
    "delete": "cannot delete container {id} that is not stopped: {status}",
    "pause": "container not running",
    "resume": "container not paused",
    "exec": "cannot exec in a {status} container",
    "exec-ignoring-paused": "cannot exec in a {status} container",
    "stats": "container not running",
    "update": "container not running",
}
_SPECIAL = {
    ("start", STOPPED): "cannot start a container that has stopped",
    ("start", RUNNING): "cannot start an already running container",
    ("exec", PAUSED): "cannot exec in a paused container (use --ignore-paused to override)",
}


class TransitionError(FailedPrecondition):
    """``operation`` is not allowed while the container is ``status``."""

    def __init__(self, operation: str, status: str, container_id: str = "") -> None:
        message = _SPECIAL.get((operation, status)) or _REFUSALS[operation]
        super().__init__(message.format(status=status, id=container_id))
        self.operation = operation
        self.status = status


def allowed(operation: str, status: str) -> bool:
    """Whether ``operation`` (a key of :data:`ALLOWED`) may be done in ``status``."""
    return status in ALLOWED[operation]


def check(operation: str, status: str, container_id: str = "") -> None:
    """Raise :class:`TransitionError` unless ``operation`` is allowed in ``status``."""
    if status not in ALLOWED[operation]:
        raise TransitionError(operation, status, container_id)


def can_start(status: str) -> bool:
    return allowed("start", status)


def can_kill(status: str) -> bool:
    return allowed("kill", status)


def can_delete(status: str, *, force: bool = False) -> bool:
    return allowed("force-delete" if force else "delete", status)


def can_pause(status: str) -> bool:
    return allowed("pause", status)


def can_resume(status: str) -> bool:
    return allowed("resume", status)


def can_exec(status: str, *, ignore_paused: bool = False) -> bool:
    return allowed("exec-ignoring-paused" if ignore_paused else "exec", status)


def can_update(status: str) -> bool:
    return allowed("update", status)
