"""The OCI specifications as types: runtime (``config.json``, state), image and distribution.

The names every runtime command needs (the spec version and the lifecycle states) live here,
so that ``start``, ``state``, ``kill`` and ``delete`` need not load the whole of
``boxen.oci.runtime``.
"""

#: The runtime-spec version boxen implements and writes into state documents.
OCI_VERSION = "1.2.0"

#: The lifecycle states of a container, in the runtime spec's words.
CREATING, CREATED, RUNNING, STOPPED = "creating", "created", "running", "stopped"
#: runc adds "paused" (a frozen cgroup); the spec allows runtimes more states.
PAUSED = "paused"
