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
  command runs and written only to a tmpfs mounted for that one step, so it reaches neither a
  disk, nor a layer, nor the history, nor the cache key (only the id does: changing a
  secret's content does not rebuild).
* ``boxen-image build --ssh default`` offers the SSH agent of ``$SSH_AUTH_SOCK`` (or
  ``--ssh ID=SOCKET``, a socket of one's choice); ``RUN --mount=type=ssh`` binds a socket
  at ``/run/buildkit/ssh_agent.0`` and sets ``SSH_AUTH_SOCK``, so ``git clone`` over ssh
  can use the keys the agent holds without ever seeing them. That socket is an
  :class:`AgentRelay`'s, as BuildKit's is its own: it has the mount's ``mode``, ``uid`` and
  ``gid`` (``0600``, root, by default), not the agent's, and forwards each connection.

A mount of a secret or agent the build was not given is left out, unless it says
``required=true``: then the build stops with an error naming the id.
"""

from __future__ import annotations

import contextlib
import os
import stat

from boxen.common.errors import InvalidArgument, NotFound
from boxen.common.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self


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


class AgentRelay:
    """A unix socket at ``path`` (``mode``, ``uid``, ``gid``) that forwards each connection to
    the agent's socket ``agent``, on threads of its own, while the ``with`` block lasts."""

    def __init__(self, agent: str, path: str, *, mode: int = 0o600, uid: int = 0, gid: int = 0) -> None:
        self.agent = agent
        self.path = path
        self.mode, self.uid, self.gid = mode, uid, gid
        self._wake = (-1, -1)
        self._threads: list = []

    def __enter__(self) -> Self:
        import socket
        import threading

        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # (bound through a descriptor of its directory: a socket's path has at most 107 bytes)
        directory = os.open(os.path.dirname(self.path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._listener.bind(f"/proc/self/fd/{directory}/{os.path.basename(self.path)}")
            os.chmod(self.path, self.mode)
            if (self.uid, self.gid) != (os.geteuid(), os.getegid()):
                os.chown(self.path, self.uid, self.gid)
            self._listener.listen(16)
        except BaseException:
            self._listener.close()
            raise
        finally:
            os.close(directory)
        self._wake = os.pipe2(os.O_CLOEXEC)
        thread = threading.Thread(target=self._accept, name="ssh-agent-relay", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept(self) -> None:
        import select
        import socket

        while True:
            ready, _, _ = select.select([self._listener.fileno(), self._wake[0]], [], [])
            if self._wake[0] in ready:
                return
            client, _ = self._listener.accept()
            agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                agent.connect(self.agent)
            except OSError:
                agent.close()
                client.close()  # the agent is gone: the client sees the connection closed
                continue
            for source, sink in ((client, agent), (agent, client)):
                self._start(source, sink)

    def _start(self, source, sink) -> None:
        import threading

        thread = threading.Thread(target=_pump, args=(source, sink), name="ssh-agent-relay", daemon=True)
        thread.start()
        self._threads.append(thread)

    def __exit__(self, *exc: object) -> None:
        os.write(self._wake[1], b"x")
        self._threads[0].join()
        self._listener.close()
        for fd in self._wake:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _pump(source, sink) -> None:
    """Copy ``source`` to ``sink`` until either end closes; then close both ways."""
    import socket

    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for end in (sink, source):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
