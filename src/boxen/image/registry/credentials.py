"""Registry credentials in docker's ``config.json``, read and written compatibly.

``docker login`` stores credentials in ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``) as::

    {"auths": {"registry.example:5000": {"auth": "<base64 of user:password>"},
               "https://index.docker.io/v1/": {"auth": "..."}}}

Docker Hub's key is the historical ``https://index.docker.io/v1/``; other registries are
keyed by ``host[:port]``, sometimes written with a scheme or a ``/v1/`` suffix by older
clients, which :func:`lookup` tolerates. skopeo, podman and buildah read the same file, so
a ``boxen-image login`` is seen by them and the other way round. Other keys in the file
(``proxies``...) are kept untouched when boxen writes it.

The secrets may live elsewhere, in a *credential helper*: a program
``docker-credential-<name>`` named by ``credHelpers`` (per registry) or ``credsStore`` (for
all), which speaks docker-credential-helpers' protocol on its stdin and stdout::

    docker-credential-<name> get     < "registry.example:5000"
                                     > {"ServerURL": ..., "Username": ..., "Secret": ...}
    docker-credential-<name> store   < {"ServerURL": ..., "Username": ..., "Secret": ...}
    docker-credential-<name> erase   < "registry.example:5000"

A missing entry is a non-zero exit with ``credentials not found in native keychain``. As docker
does, the helper is asked first and the file's ``auths`` after; ``store`` leaves an empty
``auths`` entry for a ``credsStore`` (so the registry is listed as logged in) and no secret in
the file.
"""

from __future__ import annotations

import binascii
import os
import threading

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.reference import DEFAULT_REGISTRY

HUB_KEY = "https://index.docker.io/v1/"


def default_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _key(domain: str) -> str:
    return HUB_KEY if domain == DEFAULT_REGISTRY else domain


def _normalise(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DEFAULT_REGISTRY if host in ("index.docker.io", "registry-1.docker.io", "docker.io") else host


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = jsonio.loads(f.read(), source=path)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument("expected a JSON object", field=path)
    return data


#: what a helper prints when it has nothing for the server
_NOT_FOUND = "credentials not found"


def _helper(data: dict, domain: str, path: str) -> tuple[str, str] | None:
    """(helper name, the JSON field naming it) for ``domain``: ``credHelpers``, then ``credsStore``."""
    helpers = data.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise InvalidArgument("expected an object", field=f"{path}: credHelpers")
    for key, name in helpers.items():
        if _normalise(key) == domain and isinstance(name, str) and name:
            return name, f"{path}: credHelpers[{key!r}]"
    store = data.get("credsStore")
    if isinstance(store, str) and store:
        return store, f"{path}: credsStore"
    return None


def _call_helper(helper: tuple[str, str], action: str, payload: str) -> str | None:
    """Run ``docker-credential-<name> action`` with ``payload`` on stdin: its stdout, or ``None``
    when it has no credentials for the server."""
    import subprocess

    name, field = helper
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, action], input=payload.encode(), capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise NotFound(f"the credential helper {program} is not on PATH", field=field) from None
    except subprocess.TimeoutExpired:
        raise InvalidArgument(f"the credential helper {program} did not answer {action!r} within 60 s",
                              field=field) from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        if _NOT_FOUND in out:
            return None
        said = out or done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise InvalidArgument(f"the credential helper {program} failed to {action}: {said}", field=field)
    return out


def _from_helper(helper: tuple[str, str], domain: str) -> tuple[str, str] | None:
    out = _call_helper(helper, "get", _key(domain))
    if out is None:
        return None
    try:
        answer = jsonio.loads(out.encode(), source=f"docker-credential-{helper[0]} get")
    except InvalidArgument:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("Username"), str) \
            or not isinstance(answer.get("Secret"), str):
        raise InvalidArgument(f"docker-credential-{helper[0]} get answered {out[:80]!r}, not "
                              '{"Username": ..., "Secret": ...}', field=helper[1])
    if answer["Username"] == "<token>":  # an identity token (OAuth refresh): not supported
        return None
    return answer["Username"], answer["Secret"]


def lookup(domain: str, path: str | None = None) -> tuple[str, str] | None:
    """``(username, password)`` for the registry ``domain`` (its helper's, else the file's), or ``None``."""
    path = path or default_path()
    data = _read(path)
    helper = _helper(data, domain, path)
    if helper is not None:
        found = _from_helper(helper, domain)
        if found is not None:
            return found
    auths = data.get("auths", {})
    if not isinstance(auths, dict):
        raise InvalidArgument("expected an object", field=f"{path}: auths")
    for key, entry in auths.items():
        if _normalise(key) != domain or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, sep, password = binascii.a2b_base64(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidArgument("is not base64 of user:password", field=f"{path}: auths[{key!r}].auth") from None
            if not sep:
                raise InvalidArgument("is not base64 of user:password", field=f"{path}: auths[{key!r}].auth")
            return user, password
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return entry["username"], entry["password"]
    return None


def lookup_once():
    """:func:`lookup` for one command: each registry's credentials are looked up once (a helper
    is a process to start), however many requests and download threads need them, as docker
    does. The result is a function of the domain."""
    found: dict[str, tuple[str, str] | None] = {}
    lock = threading.Lock()

    def credentials(domain: str) -> tuple[str, str] | None:
        with lock:
            if domain not in found:
                found[domain] = lookup(domain)
            return found[domain]

    return credentials


def _write(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(jsonio.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def store(domain: str, username: str, password: str, path: str | None = None) -> str:
    """Save credentials for ``domain`` (replacing any other spelling of its key), in its helper if it
    has one; returns where they went (the file, or the helper's program)."""
    path = path or default_path()
    data = _read(path)
    auths = {k: v for k, v in data.get("auths", {}).items() if _normalise(k) != domain}
    helper = _helper(data, domain, path)
    if helper is not None:
        _call_helper(helper, "store", jsonio.dumps({"ServerURL": _key(domain), "Username": username,
                                                     "Secret": password}))
        if helper[1].endswith("credsStore"):
            auths[_key(domain)] = {}
    else:
        auths[_key(domain)] = {"auth": binascii.b2a_base64(f"{username}:{password}".encode(), newline=False).decode()}
    data["auths"] = auths
    _write(path, data)
    return f"docker-credential-{helper[0]}" if helper is not None else path


def remove(domain: str, path: str | None = None) -> str:
    """Forget the credentials of ``domain`` (in its helper too); ``NotFound`` if there were none."""
    path = path or default_path()
    data = _read(path)
    auths = data.get("auths", {})
    kept = {k: v for k, v in auths.items() if _normalise(k) != domain}
    helper = _helper(data, domain, path)
    erased = helper is not None and _call_helper(helper, "erase", _key(domain)) is not None
    if len(kept) == len(auths) and not erased:
        raise NotFound(f"not logged in to {domain}", field=path)
    if len(kept) != len(auths):
        data["auths"] = kept
        _write(path, data)
    return path
