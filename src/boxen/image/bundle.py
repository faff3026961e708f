"""From an image config to an OCI runtime ``config.json``: what a container of this image runs.

An OCI **bundle** is a directory with a root file system (``rootfs/``) and a ``config.json``
that tells a runtime (boxen-runtime, runc, crun) what to run in it. The image config
carries the image author's defaults; the image spec's *conversion* rules
(https://github.com/opencontainers/image-spec/blob/main/conversion.md) say how they become
runtime fields, and everything else comes from the same template as ``runc spec``
(:func:`boxen.runtime.spec.default_spec`):

===================================  =================================================
image config                         runtime config
===================================  =================================================
``Entrypoint`` + ``Cmd``             ``process.args`` (the template's ``sh`` if both empty)
``Env``                              ``process.env``, plus template variables it lacks (PATH)
``WorkingDir``                       ``process.cwd`` (``/`` if empty)
``User``                             ``process.user``: ``uid``, ``gid``, ``additionalGids``
``os``, ``architecture``, ...        ``annotations`` ``org.opencontainers.image.*``
``Labels``                           ``annotations`` (winning over the implicit ones)
===================================  =================================================

``User`` is ``user``, ``uid``, ``user:group``, ``uid:gid`` and so on. Names are looked up in
the image's own ``/etc/passwd`` and ``/etc/group`` (read inside the root file system, never
following a link out of it, and only if they are regular files); a name that is not there is
an error, as the spec requires. A user found in ``/etc/passwd`` (by name or by number), without
a group, also gets the supplementary groups ``/etc/group`` lists it in, as docker gives them,
and so does root when there is no ``User``. A rootless bundle has no supplementary groups: its
user namespace maps one id, and may not call ``setgroups``. ``Volumes`` are not turned into mounts: the engine decides where volumes live.
"""

from __future__ import annotations

import os

from boxen.common.errors import InvalidArgument, NotFound
from boxen.oci.image import ImageConfig

_PREFIX = "org.opencontainers.image."
_MAX_DB = 8 << 20  # refuse /etc/passwd or /etc/group files larger than this


def read_database(rootfs: str, path: str) -> list[list[str]]:
    """The colon-separated records of ``/etc/passwd`` or ``/etc/group`` in ``rootfs`` ([] if absent).

    The file is opened inside the root (:func:`boxen.image.layers.rootfiles.read_file`) and
    must be a regular file: a FIFO there would block the lookup, a device node would be opened
    on the host, so either is an error naming the file.
    """
    from boxen.image.layers.rootfiles import read_file

    try:
        data = read_file(rootfs, path, _MAX_DB, field=path)
    except NotFound:
        return []
    return [line.split(":") for line in data.decode("utf-8", "replace").splitlines()
            if line and not line.startswith("#")]


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _member_of(rootfs: str, name: str) -> list[int]:
    """The ids of the groups ``/etc/group`` lists ``name`` in (its supplementary groups)."""
    extra: list[int] = []
    for e in read_database(rootfs, "/etc/group"):
        if len(e) >= 4 and name in e[3].split(",") and _id(e[2]) is not None and int(e[2]) not in extra:
            extra.append(int(e[2]))
    return extra


def resolve_user(user: str | None, rootfs: str) -> dict:
    """``process.user`` for the image config's ``User`` (see the module docstring)."""
    if not user:
        try:  # root, with the groups the image lists root in; databases that cannot be read give none
            return resolve_user("0", rootfs)
        except InvalidArgument:
            return {"uid": 0, "gid": 0}
    name, _, group = user.partition(":")
    passwd = read_database(rootfs, "/etc/passwd")
    uid = _id(name)
    entry = next((e for e in passwd if len(e) >= 4 and (e[2] == name if uid is not None else e[0] == name)), None)
    if uid is None:
        if entry is None or _id(entry[2]) is None:
            raise InvalidArgument(f"user {name!r} is not in the image's /etc/passwd", field="config.User")
        uid = int(entry[2])
    primary = _id(entry[3]) if entry is not None else None
    result: dict = {"uid": uid, "gid": primary or 0}
    if group:
        gid = _id(group)
        if gid is None:
            found = next((e for e in read_database(rootfs, "/etc/group") if len(e) >= 3 and e[0] == group), None)
            if found is None or _id(found[2]) is None:
                raise InvalidArgument(f"group {group!r} is not in the image's /etc/group", field="config.User")
            gid = int(found[2])
        result["gid"] = gid
    elif entry is not None:
        extra = _member_of(rootfs, entry[0])
        if extra:
            result["additionalGids"] = extra
    return result


def image_annotations(image: ImageConfig) -> dict[str, str]:
    """The ``org.opencontainers.image.*`` annotations of ``image``, its Labels taking precedence."""
    config = image.config
    implicit = {
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "os.version": image.os_version,
        "os.features": ",".join(image.os_features) if image.os_features else None,
        "author": image.author,
        "created": image.created,
        "stopSignal": config.StopSignal if config else None,
        "exposedPorts": ",".join(config.ExposedPorts) if config and config.ExposedPorts else None,
    }
    result = {_PREFIX + key: value for key, value in implicit.items() if value}
    if config and config.Labels:
        result.update(config.Labels)
    return result


def _env_name(entry: str) -> str:
    return entry.partition("=")[0]


def runtime_config(image: ImageConfig, rootfs: str, *, rootless: bool = False, base: dict | None = None) -> dict:
    """The runtime ``config.json`` (a dict) for running ``image`` from the unpacked ``rootfs``.

    ``base`` is the template to start from, by default ``boxen.runtime.spec.default_spec(rootless)``.
    """
    if base is None:
        from boxen.runtime.spec import default_spec

        base = default_spec(rootless)
    spec = dict(base)
    process = dict(spec.get("process") or {})
    config = image.config
    args = [*(config.Entrypoint or ()), *(config.Cmd or ())] if config else []
    if args:
        process["args"] = args
    env = list(config.Env or ()) if config else []
    names = {_env_name(e) for e in env}
    process["env"] = env + [e for e in process.get("env", ()) if _env_name(e) not in names]
    workdir = config.WorkingDir if config else None
    process["cwd"] = os.path.join("/", workdir) if workdir else "/"
    process["user"] = resolve_user(config.User if config else None, rootfs)
    if rootless:
        process["user"].pop("additionalGids", None)
    spec["process"] = process
    spec["annotations"] = {**(spec.get("annotations") or {}), **image_annotations(image)}
    return spec
