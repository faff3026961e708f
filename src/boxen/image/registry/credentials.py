"""Registry credentials in docker's ``config.json``, read and written compatibly.

``docker login`` stores credentials in ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``) as::

    {"auths": {"registry.example:5000": {"auth": "<base64 of user:password>"},
               "https://index.docker.io/v1/": {"auth": "..."}}}

Docker Hub's key is the historical ``https://index.docker.io/v1/``; other registries are
keyed by ``host[:port]``, sometimes written with a scheme or a ``/v1/`` suffix by older
clients, which :func:`lookup` tolerates. skopeo, podman and buildah read the same file, so
a ``boxen-image login`` is seen by them and the other way round. Other keys in the file
(``credsStore``, ``proxies``...) are kept untouched when boxen writes it; credential helper
programs (``credsStore``/``credHelpers``) are not run: such credentials must be passed
another way.
"""

from __future__ import annotations

import binascii
import os

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


def lookup(domain: str, path: str | None = None) -> tuple[str, str] | None:
    """``(username, password)`` stored for the registry ``domain``, or ``None``."""
    path = path or default_path()
    auths = _read(path).get("auths", {})
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


def _write(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(jsonio.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def store(domain: str, username: str, password: str, path: str | None = None) -> str:
    """Save credentials for ``domain`` (replacing any other spelling of its key); returns the file."""
    path = path or default_path()
    data = _read(path)
    auths = {k: v for k, v in data.get("auths", {}).items() if _normalise(k) != domain}
    auths[_key(domain)] = {"auth": binascii.b2a_base64(f"{username}:{password}".encode(), newline=False).decode()}
    data["auths"] = auths
    _write(path, data)
    return path


def remove(domain: str, path: str | None = None) -> str:
    """Forget the credentials of ``domain``; ``NotFound`` if there were none."""
    path = path or default_path()
    data = _read(path)
    auths = data.get("auths", {})
    kept = {k: v for k, v in auths.items() if _normalise(k) != domain}
    if len(kept) == len(auths):
        raise NotFound(f"not logged in to {domain}", field=path)
    data["auths"] = kept
    _write(path, data)
    return path
