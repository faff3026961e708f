"""A build plan: what every stage and step of a Dockerfile build will do, as values.

A Dockerfile is a program whose state is an **image config** (env, user, workdir, entrypoint...)
and a **root file system**. Only three instructions change the file system, each by adding a
**layer**: ``RUN`` (a command run in a container on the current root), ``COPY`` and ``ADD``
(files from the build context or another stage). Every other instruction only changes the
config, so the whole config of every stage, and exactly what each ``RUN`` will execute, can be
worked out before anything runs (:mod:`.planner` does it, :func:`plan_build`); the builder
then only executes the :class:`RunStep` and :class:`CopyStep` records of this module.

**History** entries follow buildah (``/bin/sh -c #(nop) ENV A=1`` for config-only steps, which
are marked ``empty_layer``; ``|2 A=1 B=2 /bin/sh -c make`` for a ``RUN`` with two ``ARG``
values), so that ``docker history`` reads the same for both builders.
"""

from __future__ import annotations

from collections.abc import Callable

from boxen.common.record import Record
from boxen.image.build.dockerfile import Dockerfile
from boxen.oci.image import ImageConfig, Platform

PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})

DEFAULT_SHELL = ("/bin/sh", "-c")
#: Where a ``RUN``'s ``#!`` here-document is mounted as an executable file (BuildKit's place).
SCRIPTS = "/dev/pipes"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOP = "/bin/sh -c #(nop) "
NETWORKS = ("default", "none", "host")

Lookup = Callable[[str, "str | None"], ImageConfig]


class RunMount(Record):
    """A ``RUN --mount``: something mounted at ``target`` while the command runs, never in the layer.

    * ``bind``: ``source`` (a path; ``""`` is the whole tree) of the build context, or of
      ``from_stage``/``from_image``. Read-only unless ``readonly`` is false, and then the
      command writes to a scratch copy that is thrown away.
    * ``cache``: a directory kept between builds in the data root, found again by ``id``;
      made with ``mode``, ``uid`` and ``gid`` the first time, and then filled with ``source``
      of ``from_stage``/``from_image`` if one is given (without one, ``source`` is the
      subdirectory of the cache that is mounted).
    * ``tmpfs``: an empty memory file system (``size`` bytes at most, if given).
    * ``secret``: the secret ``id`` that ``boxen-image build --secret id=...`` provides, as a
      read-only file (``mode``, ``uid``, ``gid``) at ``target`` and/or in the variable ``env``.
      Only its id is part of the plan: its value is read when the command runs, so it never
      reaches a layer, the history or the cache key. ``required`` makes a missing one an error.
    * ``ssh``: the SSH agent ``id`` of ``boxen-image build --ssh``, as a socket at ``target``
      (``mode``, ``uid``, ``gid``) that relays to it; ``SSH_AUTH_SOCK`` names the first one in
      the command's environment. ``required`` makes a missing agent an error.
    """

    type: str
    target: str
    source: str = ""
    from_stage: int | None = None
    from_image: str | None = None
    readonly: bool = True
    id: str = ""
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    size: int | None = None
    required: bool = False
    env: str = ""


#: The ``RUN --mount`` types, as BuildKit names them.
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
#: The keys of a ``RUN --mount`` flag (some only for some types).
MOUNT_KEYS = ("type", "target", "dst", "destination", "source", "src", "from", "readonly", "ro", "readwrite", "rw",
              "id", "sharing", "mode", "uid", "gid", "size", "required", "env")


class RunStep(Record):
    """What a ``RUN`` executes: ``args`` as ``user`` in ``workdir`` with ``env``, then ``proxy_env``.

    ``network`` is ``default`` (a network namespace of its own), ``none`` (the same: no
    network is configured for builds) or ``host`` (the host's network). ``mounts`` are its
    ``--mount`` flags; ``script`` a here-document run as a file.
    """

    args: tuple[str, ...]
    env: tuple[str, ...]
    user: str
    workdir: str
    network: str = "default"
    mounts: tuple[RunMount, ...] = ()
    #: The predefined proxy ARGs given with ``--build-arg`` (``HTTP_PROXY=...``, ``http_proxy=...``):
    #: in the command's environment, but neither in its history nor in its cache key, so that a build
    #: behind a proxy reuses the layers of one without (as BuildKit does).
    proxy_env: tuple[str, ...] = ()
    #: A ``RUN <<EOF`` whose one here-document starts with ``#!``: ``(name, content)`` of the
    #: script, which the builder writes to an executable file ``SCRIPTS/name`` (a read-only mount
    #: for this step only) that ``args`` run, so the ``#!`` line picks the interpreter and the
    #: script's stdin stays the command's, as BuildKit runs such documents.
    script: tuple[str, str] | None = None


class CopyStep(Record):
    """What a ``COPY`` or ``ADD`` copies: ``sources`` (context paths or globs, or paths in
    ``from_stage``/``from_image``) to ``dest`` (absolute; a trailing ``/`` means a directory).

    ``dest_text`` is the destination as written, for the history. ``add`` extracts local tar
    archives. ``chown`` is ``USER[:GROUP]``; ``chmod`` the mode for everything copied, octal
    or symbolic (:mod:`boxen.image.build.modes`).
    ``inline`` holds here-documents as ``(name, content)``: then they are the sources, files
    named after their delimiters. ``urls`` are an ``ADD``'s remote sources (then its only
    ones), fetched by the builder, checked against ``checksum`` (``sha256:<hex>``) if given.

    BuildKit's flags: ``chmod`` may be symbolic (``go-w``: text, applied to each file's own
    mode, see :mod:`.modes`); ``parents`` keeps each source's path (from the
    context's top) under the destination; ``exclude`` patterns (``.dockerignore`` syntax)
    leave out what they match, relative to each directory copied (a file source by its
    name); ``unpack`` says whether an ``ADD`` extracts archives (default: local ones, not
    downloads). ``--link`` is accepted and changes nothing: boxen's layers are the diff of the
    step either way.
    """

    sources: tuple[str, ...]
    dest: str
    dest_text: str
    add: bool = False
    from_stage: int | None = None
    from_image: str | None = None
    chown: str | None = None
    chmod: str | None = None
    inline: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()
    checksum: str | None = None
    parents: bool = False
    exclude: tuple[str, ...] = ()
    unpack: bool | None = None


class Step(Record):
    """One instruction of a planned stage. ``number`` counts steps across the whole build.

    ``created_by`` is its history entry (for ``COPY``/``ADD``, completed by the builder with
    the digest of what was copied: see :func:`copy_created_by`). A step with ``run`` or
    ``copy`` makes a layer; the others only change the config. A ``WORKDIR`` also has
    ``make_dir``, the directory and the ``USER`` then in force: the directory is made (owned by
    that user) in the stage's next layer, or in a layer of its own at the end of the stage, so
    a ``WORKDIR`` exists in the image even with nothing after it (BuildKit makes it at once,
    buildah with the next layer; boxen's layers match buildah's).
    """

    number: int
    stage: int
    line: int
    keyword: str
    text: str
    created_by: str = ""
    run: RunStep | None = None
    copy: CopyStep | None = None
    trigger: bool = False
    make_dir: tuple[str, str] | None = None

    @property
    def layer(self) -> bool:
        return self.run is not None or self.copy is not None


class Stage(Record):
    """A planned stage: its base, its steps (``FROM`` first) and the image config it ends with.

    ``base`` is ``scratch``, an image reference, or (with ``base_stage``) an earlier stage.
    ``image`` has the final ``config``, the platform, and ``history`` entries for this stage's
    own steps only (their ``created`` times are the builder's to fill in).
    """

    index: int
    name: str | None
    base: str
    base_stage: int | None
    platform: str | None
    steps: tuple[Step, ...]
    image: ImageConfig


class BuildPlan(Record):
    """The stages to build, in Dockerfile order; ``target`` is the index of the output stage."""

    stages: tuple[Stage, ...]
    target: int
    total: int
    unused_args: tuple[str, ...] = ()

    def stage(self, index: int) -> Stage:
        return next(s for s in self.stages if s.index == index)


def copy_created_by(copy: CopyStep, kind: str, digest: str) -> str:
    """The history entry of a ``COPY``/``ADD`` once the builder knows what it copied.

    ``kind`` is ``file``, ``dir`` or ``multi`` (one file, one directory, several sources);
    ``digest`` is the hex digest of their content and metadata.
    """
    return f"{NOP}{'ADD' if copy.add else 'COPY'} {kind}:{digest} in {copy.dest_text} "


def plan_build(dockerfile: Dockerfile, *, lookup: Lookup, platform: Platform, build_args: dict[str, str] | None = None,
               target: str | None = None, build_platform: Platform | None = None) -> BuildPlan:
    """Plan the build of ``dockerfile``'s ``target`` stage (default: the last).

    ``lookup(reference, platform)`` returns the config of an image named in ``FROM`` (the only
    input from outside: the builder pulls the image if needed). ``platform`` is the one images
    are built for (``FROM scratch`` takes it; the ``TARGET*`` ARGs describe it).
    """
    from boxen.image.build.planner import Planner

    planner = Planner(dockerfile, build_args=build_args or {}, lookup=lookup, platform=platform,
                      build_platform=build_platform)
    return planner.plan(target)
