"""Per-registry configuration: mirrors, plain-HTTP (insecure) registries, CA certificates.

Which URLs serve a reference's registry is decided here, as data (:func:`endpoints`):

* **mirrors** are tried first, in order (a pull-through cache for Docker Hub, say), then the
  registry itself; pushes never go to mirrors;
* a registry is reached over **HTTPS**, verified against the system's CAs plus any
  ``ca.crt``/``*.crt`` in its ``certs.d/<host:port>/`` directory (docker's layout, with
  ``client.cert``/``client.key`` for client authentication);
* an **insecure** registry is tried over HTTPS without verification and then over plain
  HTTP. As docker does, registries on ``localhost`` and 127.0.0.0/8 are insecure unless the
  configuration says ``"insecure": false``.

The configuration is a JSON file (``<root>/registries.json``)::

    {"registries": {"docker.io": {"mirrors": ["http://127.0.0.1:5000"]},
                    "registry.test:5443": {"insecure": true}},
     "registry-mirrors": ["..."], "insecure-registries": ["..."]}

The last two keys are docker's ``daemon.json`` spellings (mirrors of Docker Hub; hosts that
are insecure) and mean the same as the per-registry form.
"""

from __future__ import annotations

import os

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.reference import DEFAULT_REGISTRY, is_loopback

#: Where certs.d directories are looked for after the data root's own.
SYSTEM_CERTS_DIRS = ("/etc/boxen/certs.d", "/etc/docker/certs.d", "/etc/containers/certs.d")


class HostConfig(Record):
    mirrors: tuple[str, ...] = ()
    insecure: bool | None = None  # None: decided by the host (loopback is insecure)


class TLSFiles(Record):
    """CA certificates and the client key pair found in a host's certs.d directory."""

    ca_files: tuple[str, ...] = ()
    client_cert: str | None = None
    client_key: str | None = None


class Endpoint(Record):
    """One base URL to try for a registry, and how to talk TLS to it."""

    url: str
    host: str
    mirror: bool = False
    verify: bool = True
    tls: TLSFiles = TLSFiles()


class RegistryConfig(Record):
    hosts: dict[str, HostConfig] = None  # type: ignore[assignment]
    certs_dirs: tuple[str, ...] = SYSTEM_CERTS_DIRS

    def host(self, domain: str) -> HostConfig:
        return (self.hosts or {}).get(domain, HostConfig())


def _strings(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument("expected an array of strings", field=field)
    return tuple(value)


def _mirror_url(url: str, field: str) -> str:
    if not url.startswith(("http://", "https://")):
        url = "https://" + url
    if "/" in url.split("://", 1)[1].rstrip("/"):
        raise InvalidArgument(f"a mirror is a scheme://host[:port], got {url!r}", field=field)
    return url.rstrip("/")


def parse(data: object, *, source: str = "registries.json", certs_dirs: tuple[str, ...] = SYSTEM_CERTS_DIRS
          ) -> RegistryConfig:
    """Read a parsed configuration document (see the module docstring)."""
    if not isinstance(data, dict):
        raise InvalidArgument("expected a JSON object", field=source)
    hosts: dict[str, HostConfig] = {}
    registries = data.get("registries", {})
    if not isinstance(registries, dict):
        raise InvalidArgument("expected an object", field=f"{source}: registries")
    for domain, entry in registries.items():
        field = f"{source}: registries[{domain!r}]"
        if not isinstance(entry, dict):
            raise InvalidArgument("expected an object", field=field)
        mirrors = tuple(
            _mirror_url(m, f"{field}.mirrors[{i}]")
            for i, m in enumerate(_strings(entry.get("mirrors", []), f"{field}.mirrors"))
        )
        insecure = entry.get("insecure")
        if insecure is not None and not isinstance(insecure, bool):
            raise InvalidArgument("expected true or false", field=f"{field}.insecure")
        hosts[domain] = HostConfig(mirrors, insecure)
    hub_mirrors = _strings(data.get("registry-mirrors", []), f"{source}: registry-mirrors")
    if hub_mirrors:
        hub = hosts.get(DEFAULT_REGISTRY, HostConfig())
        extra = tuple(_mirror_url(m, f"{source}: registry-mirrors[{i}]") for i, m in enumerate(hub_mirrors))
        hosts[DEFAULT_REGISTRY] = hub.replace(mirrors=hub.mirrors + extra)
    for domain in _strings(data.get("insecure-registries", []), f"{source}: insecure-registries"):
        hosts[domain] = hosts.get(domain, HostConfig()).replace(insecure=True)
    return RegistryConfig(hosts, certs_dirs)


def load(path: str, *, certs_dirs: tuple[str, ...] = SYSTEM_CERTS_DIRS) -> RegistryConfig:
    """The configuration in ``path``; an absent file means defaults."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return RegistryConfig({}, certs_dirs)
    return parse(jsonio.loads(text, source=path), source=path, certs_dirs=certs_dirs)


def tls_files(config: RegistryConfig, host: str) -> TLSFiles:
    """CA files and client key pair in the first ``certs.d/<host>/`` that exists."""
    for base in config.certs_dirs:
        directory = os.path.join(base, host)
        if not os.path.isdir(directory):
            continue
        names = sorted(os.listdir(directory))
        cas = tuple(os.path.join(directory, n) for n in names if n.endswith(".crt"))
        cert = next((os.path.join(directory, n) for n in names if n.endswith(".cert")), None)
        key = None
        if cert is not None:
            key = cert[: -len(".cert")] + ".key"
            if not os.path.exists(key):
                raise InvalidArgument(f"client certificate {cert} has no matching .key file", field=directory)
        return TLSFiles(cas, cert, key)
    return TLSFiles()


def _origin(config: RegistryConfig, domain: str, api_host: str) -> list[Endpoint]:
    host = config.host(domain)
    tls = tls_files(config, api_host)
    https = Endpoint(f"https://{api_host}", api_host, verify=False, tls=tls)
    plain = Endpoint(f"http://{api_host}", api_host)
    if host.insecure is None and is_loopback(api_host):
        # A registry on this machine: plain HTTP first (it is what they almost always speak,
        # and a failed TLS attempt first costs more than the rest of a small pull), then TLS.
        return [plain, https]
    if host.insecure:
        return [https, plain]  # as docker does for an insecure registry: TLS first, unverified
    return [Endpoint(f"https://{api_host}", api_host, tls=tls)]


def endpoints(config: RegistryConfig, domain: str, api_host: str, *, push: bool = False) -> list[Endpoint]:
    """The base URLs to try, in order, for the registry ``domain`` served at ``api_host``."""
    out: list[Endpoint] = []
    if not push:
        for mirror in config.host(domain).mirrors:
            mhost = mirror.split("://", 1)[1]
            if mirror.startswith("http://"):
                out.append(Endpoint(mirror, mhost, mirror=True))
            else:
                mirror_insecure = config.host(mhost).insecure
                verify = not (mirror_insecure if mirror_insecure is not None else is_loopback(mhost))
                out.append(Endpoint(mirror, mhost, mirror=True, verify=verify, tls=tls_files(config, mhost)))
    return out + _origin(config, domain, api_host)
