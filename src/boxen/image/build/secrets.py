"""Secrets and SSH agents: what a build lends its ``RUN`` steps and never keeps.

A build often needs a credential (a token for a package index, a key for a private git
repository) that must not end up in the image. Copying it in and deleting it later does not
work: the copy stays in the layer that made it. BuildKit's answer, which boxen follows, is to
*lend* it to one command:

* ``boxen-image build --secret id=npm,src=$HOME/.npmrc`` (or ``env=VAR``: the value of an
  environment variable of the build; with neither, the variable named like the id if it is
  set, else the file named like it) offers a secret; ``RUN --mount=type=secret,id=npm`` shows
  it to the command as a read-only file, ``/run/secrets/npm`` unless ``target=`` says where,
  or (``env=NAME``) in a variable of the command's environment. Its value is read when the
  command runs, so it reaches neither a layer, nor the history, nor the cache key (only the
  id does: changing a secret's content does not rebuild).
* ``boxen-image build --ssh default`` offers the SSH agent of ``$SSH_AUTH_SOCK`` (or
  ``--ssh ID=SOCKET``, a socket of one's choice); ``RUN --mount=type=ssh`` binds its socket
  at ``/run/buildkit/ssh_agent.0`` and sets ``SSH_AUTH_SOCK``, so ``git clone`` over ssh
  can use the keys the agent holds without ever seeing them.

A mount of a secret or agent the build was not given is left out, unless it says
``required=true``: then the build stops with an error naming the id.
"""

from __future__ import annotations

import os
import stat

from boxen.common.errors import InvalidArgument, NotFound
from boxen.common.record import Record


class SecretSource(Record):
    """Where the secret ``id`` comes from: the file ``path``, or else the environment variable ``env``."""

    id: str
    path: str = ""
    env: str = ""

    def value(self, environ=None) -> bytes:
        """The secret's content, read now."""
        if self.env:
            environ = os.environ if environ is None else environ
            if self.env not in environ:
                raise NotFound(f"secret {self.id}: the environment variable {self.env} is not set",
                               field="--secret")
            return os.fsencode(environ[self.env])
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise NotFound(f"secret {self.id}: cannot read {self.path}: {exc.strerror}", field="--secret") from None


class AgentSource(Record):
    """The SSH agent ``id``: the unix socket ``socket`` it listens on."""

    id: str
    socket: str


def _options(text: str, flag: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{flag} {text!r}: expected KEY=VALUE pairs separated by commas", field=flag)
        options[key.strip().lower()] = value
    return options


def parse_secret(text: str, environ=None) -> SecretSource:
    """A ``--secret`` value: ``id=ID[,src=FILE|env=VAR][,type=file|env]``, as docker reads it."""
    environ = os.environ if environ is None else environ
    options = _options(text, "--secret")
    unknown = set(options) - {"id", "src", "source", "env", "type"}
    if unknown:
        raise InvalidArgument(f"{text!r}: unknown key {min(unknown)!r} "
                              "(expected id, src, source, env, type)", field="--secret")
    kind = options.get("type", "")
    if kind not in ("", "file", "env"):
        raise InvalidArgument(f"{text!r}: type is file or env, not {kind!r}", field="--secret")
    path = options.get("src", options.get("source", ""))
    env = options.get("env", "")
    if kind == "env" and not env:
        env, path = path, ""
    if kind == "file" and not path:
        path, env = env, ""
    secret_id = options.get("id") or env or os.path.basename(path)
    if not secret_id:
        raise InvalidArgument(f"{text!r}: expected id=ID and src=FILE or env=VAR", field="--secret")
    if not path and not env:
        if kind != "file" and secret_id in environ:
            env = secret_id
        else:
            path = secret_id
    if path and not os.path.isfile(path):
        raise NotFound(f"{text!r}: {path} is not a file", field="--secret")
    if env and env not in environ:
        raise NotFound(f"{text!r}: the environment variable {env} is not set", field="--secret")
    return SecretSource(secret_id, os.path.abspath(path) if path else "", env)


def parse_ssh(text: str, environ=None) -> AgentSource:
    """An ``--ssh`` value: ``ID`` (the agent of ``$SSH_AUTH_SOCK``) or ``ID=SOCKET``."""
    environ = os.environ if environ is None else environ
    agent_id, eq, socket = text.partition("=")
    if not agent_id or "," in text:
        raise InvalidArgument(f"{text!r}: expected ID or ID=SOCKET (default=$SSH_AUTH_SOCK)", field="--ssh")
    if not eq:
        socket = environ.get("SSH_AUTH_SOCK", "")
        if not socket:
            raise InvalidArgument(f"{text!r}: SSH_AUTH_SOCK is not set; give the agent's socket as "
                                  f"{agent_id}=SOCKET", field="--ssh")
    try:
        mode = os.stat(socket).st_mode
    except OSError as exc:
        raise NotFound(f"{text!r}: {socket}: {exc.strerror}", field="--ssh") from None
    if not stat.S_ISSOCK(mode):
        raise InvalidArgument(f"{text!r}: {socket} is not a unix socket (an agent's socket is expected; "
                              "key files are not supported)", field="--ssh")
    return AgentSource(agent_id, os.path.abspath(socket))
