"""Layer 1: an OCI runtime. A container is an isolated, constrained process made from a bundle.

As a library (no daemon needed)::

    from boxen.runtime import Runtime
    rt = Runtime(root="/run/boxen-runtime")
    exit_code = rt.run("demo", "/path/to/bundle")       # create + start + wait + delete
    rt.create("web", bundle); rt.start("web"); rt.state("web"); rt.kill("web", 15); rt.delete("web")

``boxen-runtime`` (``boxen.runtime.cli``) is the runc-compatible command line around it. Read the
modules in this order to follow a container being made: ``plan`` (decide), ``container``
(parent side), ``init`` (child side), ``mounter``, ``cgroups``, ``seccomp``.

Names are resolved lazily, so that ``boxen-runtime`` imports only what its command needs.
"""

from __future__ import annotations

__all__ = ["Runtime", "default_spec"]


def __getattr__(name: str):
    if name == "Runtime":
        from boxen.runtime.container import Runtime

        return Runtime
    if name == "default_spec":
        from boxen.runtime.spec import default_spec

        return default_spec
    raise AttributeError(name)
