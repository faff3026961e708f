"""The build executor: walks the plan, runs and copies into snapshots, commits layers, writes the image.

:mod:`.plan` decided everything that can be decided without touching a file; this module does
the rest, stage by stage (only the stages the target needs), step by step:

* ``FROM``: the base's layers are there already, as committed snapshots named by chain ID
  (a base image missing from the image store is pulled, then unpacked; a stage base is the
  result of an earlier stage; ``scratch`` is nothing);
* ``RUN``, ``COPY``, ``ADD``: first the **cache key** (:mod:`.cache`) from the parent chain ID
  and the step's inputs; on a hit the cached layer is reused as it is; on a miss the step runs
  on a fresh active snapshot (:mod:`.snapshot`, :mod:`.run`, :mod:`.copy`) and its changes
  are committed as a new layer;
* every other instruction adds a history entry and nothing else (its config change was
  planned).

At the end the target stage's **image config** (the planned config, every layer's diff ID, the
base's history plus one entry per step) and an OCI **manifest** (the base's layer blobs plus
the new ones) are stored in the content store, and each ``-t`` name points at the manifest.
The image ID printed is the config's digest, as docker prints it. Times in the history are
those of the layers (a cached layer keeps its time), so a build whose every step hits the
cache writes the very same image.

The whole build holds the data root's GC lock shared, so ``prune`` cannot remove layers that
no image names yet.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from boxen.common import jsonio
from boxen.common.errors import BoxenError, InvalidArgument, NotFound, PermissionDenied, Unavailable
from boxen.common.record import Record
from boxen.common.schema import to_json
from boxen.image import content as contents
from boxen.image import reference as references
from boxen.image.build import plan as plans
from boxen.image.build.cache import BuildCache, CacheEntry, cache_key
from boxen.image.build.context import (
    IgnoreRules,
    Source,
    Tree,
    clean,
    digest_sources,
    file_digest,
    read_ignore,
)
from boxen.image.build.dockerfile import parse
from boxen.image.build.progress import BuildProgress
from boxen.image.build.secrets import AgentRelay, AgentSource, SecretSource
from boxen.image.build.snapshot import Layer, Workspace
from boxen.image.store import format_platform, host_platform, image_name, parse_platform, resolve
from boxen.oci import image as oci

Explain = Callable[[str], None]


class BuildOptions(Record):
    """What ``boxen-image build`` was asked: the context directory, the Dockerfile (default:
    ``CONTEXT/Dockerfile``, else ``CONTEXT/Containerfile``), names, build args, the target stage,
    the network of ``RUN`` steps that do not choose one (``RUN --network=...``), and the secrets
    and SSH agents ``RUN --mount=type=secret|ssh`` may borrow (:mod:`.secrets`)."""

    context: str
    dockerfile: str | None = None
    tags: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    platform: str | None = None
    compression: str = "gzip"
    network: str = "default"
    secrets: tuple[SecretSource, ...] = ()
    ssh: tuple[AgentSource, ...] = ()


class BuildResult(Record):
    """The image built: ``image_id`` (its config digest), its manifest, the names given to it;
    ``steps`` layer steps ran or were reused, ``cached`` of them from the cache."""

    image_id: str
    manifest: oci.Descriptor
    names: tuple[str, ...]
    steps: int
    cached: int


class _Base(Record):
    """An image a build uses (``FROM`` or ``COPY --from``), as found in or pulled into the store."""

    name: str
    manifest: oci.Manifest
    config: oci.ImageConfig


class _State:
    """Where a stage is: its top chain ID, layers, diff IDs, history, and the time of its last layer."""

    def __init__(self, chain: str | None = None, layers=(), diff_ids=(), history=(), created: str | None = None):
        self.chain = chain
        self.layers = list(layers)
        self.diff_ids = list(diff_ids)
        self.history = list(history)
        self.time = created
        # WORKDIRs whose directories the next layer makes: (path, user, index of their history entry)
        self.dirs: list[tuple[str, str, int]] = []

    def copy(self) -> _State:
        state = _State(self.chain, self.layers, self.diff_ids, self.history, self.time)
        state.dirs = list(self.dirs)
        return state

    def add(self, layer: Layer, created_by: str, created: str) -> None:
        self.chain = layer.chain_id
        self.layers.append(layer.descriptor)
        self.diff_ids.append(layer.diff_id)
        self.history.append(oci.History(created=created, created_by=created_by))
        self.time = created


def now() -> str:
    """The current time in RFC 3339 with nanoseconds, as image configs write it."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def find_dockerfile(context: str, dockerfile: str | None) -> str:
    """The Dockerfile given, else ``CONTEXT/Dockerfile`` (or ``dockerfile``, as docker looks for
    it), else ``CONTEXT/Containerfile``."""
    if dockerfile is not None:
        if not os.path.isfile(dockerfile):
            raise NotFound(f"{dockerfile} does not exist", field="--file")
        return dockerfile
    for name in ("Dockerfile", "dockerfile", "Containerfile"):
        path = os.path.join(context, name)
        if os.path.isfile(path):
            return path
    raise NotFound(f"no Dockerfile or Containerfile in {context} (give one with -f)", field="--file")


class Builder:
    """Runs builds against one data root's stores (see the module docstring).

    ``client`` opens a registry client (a context manager) when a base image must be pulled, and
    ``pull_progress`` makes the progress display of that pull. A Builder runs one build.
    """

    def __init__(self, root, *, content, images, snapshotter, progress: BuildProgress | None = None,
                 explain: Explain | None = None, client=None, pull_progress=None, runtime=None) -> None:
        self.root = root
        self.content = content
        self.images = images
        self.snapshotter = snapshotter
        self.progress = progress or BuildProgress()
        self.explain = explain
        self.client = client
        self.pull_progress = pull_progress
        self.directory = os.path.join(root.path, "build")
        self._runtime = runtime
        self._bases: dict[tuple[str, str | None], _Base] = {}
        self._stack = contextlib.ExitStack()
        self._client: object = None

    def say(self, text: str) -> None:
        if self.explain is not None:
            self.explain(text)

    @property
    def runtime(self):
        if self._runtime is None:
            from boxen.runtime import Runtime

            self._runtime = Runtime(root=os.path.join(self.directory, "runtime"))
        return self._runtime

    # --- base images ---------------------------------------------------------------------------

    def _platform(self, text: str | None) -> oci.Platform:
        return parse_platform(text) if text else self.platform

    def base(self, text: str, platform: str | None) -> _Base:
        """The image ``text`` names, from the store or else pulled (always pulled with ``--pull``)."""
        key = (text, platform)
        if key in self._bases:
            return self._bases[key]
        ref = references.parse(text, field="FROM")
        name = image_name(ref)
        wanted = self._platform(platform)
        image = None
        if not self.options.pull:
            try:
                image = self.images.get(name)
            except NotFound:
                image = None
        if image is None:
            image = self._pull(text, wanted)
        _, manifest, config = resolve(self.content, image.target, wanted)
        self.say(f"base image {name}: config {manifest.config.digest}, {len(manifest.layers)} layers")
        found = _Base(name, manifest, config)
        self._bases[key] = found
        return found

    def _registry_client(self):
        """The registry client (opened once), which also fetches ``ADD <url>`` files."""
        if self._client is None:
            if self.client is not None:
                self._client = self._stack.enter_context(self.client())
            else:
                from boxen.image.registry.client import RegistryClient

                self._client = self._stack.enter_context(RegistryClient())
        return self._client

    def _pull(self, text: str, platform: oci.Platform):
        if self.client is None:
            raise NotFound(f"image {text} is not in the image store and this build cannot pull", field="FROM")
        from boxen.image.pull import pull

        self._registry_client()
        self.progress.message(f"Pulling {text} ({format_platform(platform)})")
        result = pull(text, content=self.content, images=self.images, client=self._client,  # type: ignore[arg-type]
                      platform=platform,
                      progress=self.pull_progress() if self.pull_progress else None, explain=self.explain)
        return self.images.get(result.name)

    def _lookup(self, text: str, platform: str | None) -> oci.ImageConfig:
        return self.base(text, platform).config

    def _unpacked(self, base: _Base) -> str:
        from boxen.image.unpack import unpack

        return unpack(self.content, self.snapshotter, base.manifest, base.config, explain=self.explain)

    # --- the build -------------------------------------------------------------------------------

    def build(self, options: BuildOptions) -> BuildResult:
        self.options = options
        context = os.path.abspath(options.context)
        if not os.path.isdir(context):
            raise NotFound(f"the build context {options.context} is not a directory", field="CONTEXT")
        path = find_dockerfile(context, options.dockerfile)
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        inside = os.path.commonpath([context, os.path.abspath(path)]) == context
        dockerfile = parse(text, name=os.path.relpath(path, context) if inside else path)
        ignore = read_ignore(context, path)
        names = tuple(image_name(references.parse(tag, field="--tag")) for tag in options.tags)
        self.platform = parse_platform(options.platform) if options.platform else host_platform()
        os.makedirs(self.directory, 0o700, exist_ok=True)
        with self.root.gc_lock(), self._stack:
            from boxen.image.build.cleanup import recover

            recover(self.directory, self.snapshotter, lambda: self.runtime, self.say)
            plan = plans.plan_build(dockerfile, lookup=self._lookup, platform=self.platform,
                                    build_args=dict(options.build_args), target=options.target,
                                    build_platform=host_platform())
            if plan.unused_args:
                self.progress.message(f"[Warning] one or more build args were not consumed: "
                                      f"[{' '.join(plan.unused_args)}]")
            if any(step.layer for stage in plan.stages for step in stage.steps) and os.geteuid() != 0:
                raise PermissionDenied("building needs root: RUN runs containers, COPY mounts snapshots")
            self.cache = self._stack.enter_context(contextlib.closing(BuildCache(os.path.join(self.directory,
                                                                                                "cache.db"))))
            tmp = os.path.join(self.directory, "tmp")
            os.makedirs(tmp, 0o700, exist_ok=True)
            work = self._stack.enter_context(_temporary(tmp))
            self.workspace = Workspace(self.snapshotter, self.content, work, compression=options.compression,
                                       explain=self.explain)
            self.context = Tree(context, ignore)
            self.where = dockerfile.name
            return self._execute(plan, names)

    def _execute(self, plan: plans.BuildPlan, names: tuple[str, ...]) -> BuildResult:
        self.states: dict[int, _State] = {}
        self.counts = [0, 0]  # layer steps, of which cached
        for stage in plan.stages:
            self.states[stage.index] = self._stage(plan, stage)
        target = plan.stage(plan.target)
        state = self.states[plan.target]
        image_id, manifest = self._write_image(target, state)
        for name in names:
            try:
                unchanged = self.images.get(name).target == manifest
            except NotFound:
                unchanged = False
            if not unchanged:  # a rebuild that changed nothing writes nothing
                self.images.put(name, manifest)
            self.say(f"image {name} -> {manifest.mediaType} {manifest.digest}")
        self.progress.image(image_id, names)
        return BuildResult(image_id, manifest, names, self.counts[0], self.counts[1])

    def _stage(self, plan: plans.BuildPlan, stage: plans.Stage) -> _State:
        state = _State()
        for step in stage.steps:
            self.progress.step(step.number, plan.total, step.text)
            if step.keyword == "FROM":
                state = self._from(stage)
            elif step.layer:
                self._layer_step(step, state, stage)
            else:
                state.history.append(oci.History(created=state.time, created_by=step.created_by, empty_layer=True))
                if step.make_dir is not None:
                    state.dirs.append((*step.make_dir, len(state.history) - 1))
        if state.dirs:
            self._workdir_layer(state)
        return state

    def _workdir_layer(self, state: _State) -> None:
        """The layer of WORKDIRs that no later layer made: it takes the last one's history entry
        (no layer at all if every directory was there already)."""
        index = state.dirs[-1][2]
        entry, later = state.history[index], state.history[index + 1:]
        key = cache_key(state.chain, "WORKDIR", {"workdirs": [[p, u] for p, u, _ in state.dirs]})
        self.say(f"WORKDIR {entry.created_by}: making {', '.join(p for p, _, _ in state.dirs)}; cache key {key}")
        del state.history[index:]
        if not self._reuse(key, state):
            target = self.workspace.mkdtemp("workdir")
            with self.workspace.active(state.chain, "workdir") as (snapshot, mounts):
                with self.workspace.mounted(mounts, target) as rootfs:
                    made = self._make_dirs(state, rootfs)
                if made:
                    layer = self.workspace.commit(snapshot, state.chain)
                else:
                    self.workspace.snapshotter.remove(snapshot)
            if made:
                self._record(key, layer, entry.created_by or "", state)
            else:
                state.history.append(entry)
        state.history.extend(later)
        state.dirs.clear()

    def _make_dirs(self, state: _State, rootfs: str) -> int:
        """Make the pending WORKDIRs in ``rootfs``, each owned by the USER of its time; how many
        directories were made."""
        from boxen.image.build.copy import ImageRoot
        from boxen.image.bundle import resolve_user

        made = 0
        for path, user, _ in state.dirs:
            ids = resolve_user(user or None, rootfs)
            root = ImageRoot(rootfs, (ids["uid"], ids["gid"]))
            root.directory(path)
            made += root.created
        return made

    def _from(self, stage: plans.Stage) -> _State:
        if stage.base == "scratch":
            self.say(f"stage {stage.index}: FROM scratch, no layers")
            return _State()
        if stage.base_stage is not None:
            self.say(f"stage {stage.index}: on stage {stage.base_stage}'s result")
            return self.states[stage.base_stage].copy()
        base = self.base(stage.base, stage.platform)
        chain = self._unpacked(base)
        self.say(f"stage {stage.index}: on {base.name}, top snapshot {chain}")
        return _State(chain, base.manifest.layers, base.config.rootfs.diff_ids, base.config.history or (),
                      base.config.created)

    # --- layer steps ------------------------------------------------------------------------------

    def _layer_step(self, step: plans.Step, state: _State, stage: plans.Stage) -> None:
        field = f"{self.where}:{step.line}"
        if step.trigger:
            field += f": ONBUILD trigger {step.text!r} of {stage.base}"
        try:
            self._layer(step, state, stage, field)
            state.dirs.clear()  # the layer made them
        except BoxenError as exc:
            if not (exc.field or "").startswith(field):
                exc.field = field + (f": {exc.field}" if exc.field else "")
            raise

    def _layer(self, step: plans.Step, state: _State, stage: plans.Stage, field: str) -> None:
        self.counts[0] += 1
        if step.run is not None:
            self._run_step(step, step.run, state, stage, field)
        elif step.copy is not None:
            self._copy_step(step, step.copy, state, stage, field)

    def _run_step(self, step: plans.Step, command: plans.RunStep, state: _State, stage: plans.Stage,
                  field: str) -> None:
        if command.network == "default":
            command = command.replace(network=self.options.network)
        inputs: dict = to_json(command.replace(proxy_env=()))  # type: ignore[assignment]
        if state.dirs:
            inputs["workdirs"] = [[p, u] for p, u, _ in state.dirs]
        for mount in command.mounts:
            if mount.required and self._lent(mount) is None:
                flag = "--secret id=" + mount.id if mount.type == "secret" else "--ssh " + mount.id
                raise NotFound(f"RUN --mount=type={mount.type} needs the {mount.type} {mount.id!r}, which this build "
                               f"was not given (boxen-image build {flag}...)", field=field)
        with contextlib.ExitStack() as stack:
            binds = []
            for mount in command.mounts:
                if mount.type not in ("bind", "cache") or (mount.type == "cache" and mount.from_stage is None
                                                          and mount.from_image is None):
                    continue
                tree, chain = stack.enter_context(self._tree(mount.from_stage, mount.from_image, stage))
                sources = tree.select([mount.source or "."])
                if mount.type == "bind":  # (a cache's content is not an input: it is a cache)
                    kind, digest = self._digest(tree, sources, owners=tree is not self.context)
                    inputs.setdefault("mountContents", []).append(f"{kind}:{digest} {chain or ''}".strip())
                binds.append((mount, tree, sources))
            key = cache_key(state.chain, "RUN", inputs)
            self.say(f"step {step.number} (line {step.line}): cache key {key} = sha256 of parent "
                     f"{state.chain or '-'} and RUN {jsonio.dumps(inputs)}")
            if self._reuse(key, state):
                return
            mounts, env = self._mounts(command, binds, stack)
            layer = self._run(step, command, state, field, mounts, env)
        self._record(key, layer, step.created_by, state)

    def _digest(self, tree: Tree, sources, *, owners: bool) -> tuple[str, str]:
        """``(kind, digest)`` of what a COPY or a bind mount takes from ``tree``; a context file's
        digest is remembered between builds (by inode, size and times), so it is read only once."""
        cache = self.cache

        def remembered(path: str, st: os.stat_result) -> str:
            return cache.file_digest(path, st, file_digest)

        return digest_sources(tree, sources, owners=owners,
                              digest_file=remembered if tree.root == self.context.root else file_digest)

    def _lent(self, mount: plans.RunMount) -> SecretSource | AgentSource | None:
        """The secret or SSH agent a mount borrows, if the build was given it."""
        given = self.options.secrets if mount.type == "secret" else self.options.ssh if mount.type == "ssh" else ()
        return next((source for source in given if source.id == mount.id), None)

    def _mounts(self, command: plans.RunStep, binds, stack: contextlib.ExitStack) -> tuple[list[dict], list[str]]:
        """The ``config.json`` mounts of a RUN's ``--mount`` flags, and the variables its secrets
        add to its environment. A bind mount shows a copy of its source (so ``.dockerignore``
        holds, and ``rw`` writes are thrown away with the copy); a cache mount a directory of the
        data root's ``build/cache-mounts``; a secret a file written for this step only (on a
        tmpfs); an SSH agent a socket relaying to it for this step only."""
        from boxen.image.build.copy import Copier

        copies = {id(mount): (tree, sources) for mount, tree, sources in binds}
        out = []
        env = []
        for mount in command.mounts:
            options = ["rbind", "nosuid", "nodev"]
            if mount.type == "tmpfs":
                size = [f"size={mount.size}"] if mount.size else []
                out.append({"destination": mount.target, "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", *size]})
                continue
            if mount.type == "cache":
                source = self._cache_directory(mount, copies.get(id(mount)))
                self.say(f"  --mount cache {mount.id!r} at {mount.target}: {source}")
                out.append({"destination": mount.target, "type": "bind", "source": source,
                            "options": [*options, "ro" if mount.readonly else "rw"]})
                continue
            if mount.type in ("secret", "ssh"):
                lent = self._lent(mount)
                if lent is None:
                    self.say(f"  --mount {mount.type} {mount.id!r}: not given to this build, left out")
                elif isinstance(lent, AgentSource):
                    relay = os.path.join(self.workspace.mkdtemp("ssh"), "agent.sock")
                    stack.enter_context(AgentRelay(lent.socket, relay, mode=mount.mode, uid=mount.uid, gid=mount.gid))
                    self.say(f"  --mount ssh {mount.id!r} at {mount.target}: a socket relaying to the agent's "
                             f"{lent.socket} (mode {mount.mode:o}, owner {mount.uid}:{mount.gid})")
                    out.append({"destination": mount.target, "type": "bind", "source": relay,
                                "options": [*options, "noexec"]})
                else:
                    value = lent.value()
                    if mount.env:
                        env.append(f"{mount.env}={os.fsdecode(value)}")
                    if mount.target:
                        path = self._secret_file(mount, value, stack)
                        out.append({"destination": mount.target, "type": "bind", "source": path,
                                    "options": [*options, "noexec", "ro"]})
                    self.say(f"  --mount secret {mount.id!r}" + (f" at {mount.target}" if mount.target else "")
                             + (f" in ${mount.env}" if mount.env else "") + " (its content stays out of the layer)")
                continue
            tree, sources = copies[id(mount)]
            root = self.workspace.mkdtemp("mount")
            [selected] = sources if len(sources) == 1 else (None,)
            dest = "/" if selected is None or selected.is_dir else "/" + selected.name
            owner = (0, 0) if tree is self.context else None
            copy = plans.CopyStep(tuple(s.rel for s in sources), dest, dest)
            Copier(root, copy, tree, owner=owner, field=mount.target).copy(sources)
            source = root if dest == "/" else root + dest
            self.say(f"  --mount bind {mount.source or '.'} of the {tree.name} at {mount.target}"
                     f" ({'read-only' if mount.readonly else 'writable copy, thrown away after'})")
            out.append({"destination": mount.target, "type": "bind", "source": source,
                        "options": [*options, "ro" if mount.readonly else "rw"]})
        if command.script is not None:
            out.append(self._script_mount(*command.script))
        return out, env

    def _script_mount(self, name: str, content: str) -> dict:
        """The read-only mount of a ``#!`` here-document written to an executable file ``name``, at
        ``/dev/pipes`` (on the container's ``/dev`` tmpfs, so nothing of it reaches the layer)."""
        directory = self.workspace.mkdtemp("script")
        os.chmod(directory, 0o755)  # (a USER's command must reach it too)
        path = os.path.join(directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
        with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(content)
            os.fchmod(fd, 0o755)
        self.say(f"  here-document {name!r} written to {plans.SCRIPTS}/{name}, which the command runs")
        return {"destination": plans.SCRIPTS, "type": "bind", "source": directory,
                "options": ["rbind", "nosuid", "nodev", "ro"]}

    def _secret_file(self, mount: plans.RunMount, value: bytes, stack: contextlib.ExitStack) -> str:
        """A file holding a secret for one step (its mode and owner the mount's), on a tmpfs of its
        own, so it never reaches a disk; unmounted, and so gone, after the step."""
        from boxen.runtime.host import mount as mount_fs
        from boxen.runtime.host import unmount

        directory = self.workspace.mkdtemp("secret")
        mount_fs("tmpfs", "tmpfs", directory, ["mode=0700", "nosuid", "nodev", "noexec"])
        stack.callback(unmount, directory, lazy=True)
        path = os.path.join(directory, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as f:
            f.write(value)
            os.fchown(fd, mount.uid, mount.gid)
            os.fchmod(fd, mount.mode)
        return path

    def _cache_directory(self, mount: plans.RunMount, seed=None) -> str:
        """The directory kept for cache mount ``mount.id``, made with its mode and owner the first
        time, and then filled from ``seed``, ``(tree, sources)`` of its ``from=``, if it has one;
        without one, its ``source=`` subdirectory (made like it) is what is mounted."""
        import hashlib

        from boxen.image.build.copy import Copier

        parent = os.path.join(self.directory, "cache-mounts")
        os.makedirs(parent, 0o700, exist_ok=True)
        path = os.path.join(parent, hashlib.sha256(mount.id.encode()).hexdigest()[:32])
        if not os.path.isdir(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            os.mkdir(tmp)
            os.chown(tmp, mount.uid, mount.gid)
            os.chmod(tmp, mount.mode)
            if seed is not None:
                tree, sources = seed
                self.say(f"  --mount cache {mount.id!r}: new, filled from {mount.source or '/'} of {tree.name}")
                Copier(tmp, plans.CopyStep(tuple(s.rel for s in sources), "/", "/"), tree, owner=None,
                       field=mount.target).copy(sources)
            try:
                os.rename(tmp, path)
            except OSError:  # made meanwhile by another build
                from boxen.image.layers import remove_tree

                remove_tree(tmp)
        if seed is None and mount.source:
            from boxen.image.build.copy import ImageRoot

            return ImageRoot(path, (mount.uid, mount.gid)).directory(mount.source)
        return path

    def _copy_step(self, step: plans.Step, copy: plans.CopyStep, state: _State, stage: plans.Stage,
                   field: str) -> None:
        with self._source(copy, stage) as (tree, source_chain):
            sources = tree.select(copy.sources)
            if copy.exclude:
                tree, sources = excluding(tree, sources, copy.exclude)
            keep_owner = copy.from_stage is not None or copy.from_image is not None
            kind, digest = self._digest(tree, sources, owners=keep_owner and not copy.chown)
            created_by = plans.copy_created_by(copy, kind, digest)
            inputs: dict = {**to_json(copy), "content": digest, "source": source_chain or ""}  # type: ignore[dict-item]
            if state.dirs:
                inputs["workdirs"] = [[p, u] for p, u, _ in state.dirs]
            key = cache_key(state.chain, step.keyword, inputs)
            self.say(f"step {step.number} (line {step.line}): {len(sources)} sources, content {kind}:{digest}; "
                     f"cache key {key} = sha256 of parent {state.chain or '-'} and {step.keyword} "
                     f"{jsonio.dumps(inputs)}")
            if self._reuse(key, state):
                return
            layer = self._copy(step, copy, state, tree, sources, keep_owner, field)
        self._record(key, layer, created_by, state)

    def _reuse(self, key: str, state: _State) -> bool:
        if self.options.no_cache:
            return False
        entry = self.cache.get(key)
        if entry is None:
            self.say("  cache miss")
            return False
        if not self.workspace.committed(entry.chain_id) or not contents.exists(self.content, entry.layer.digest):
            self.say("  cache entry found but its snapshot or blob was pruned since: miss")
            self.cache.delete(key)
            return False
        self.say(f"  cache hit: layer {entry.layer.digest}, snapshot {entry.chain_id}")
        state.add(Layer(entry.layer, entry.diff_id, entry.chain_id), entry.created_by, entry.created)
        self.counts[1] += 1
        self.progress.cached(entry.layer.digest)
        return True

    def _record(self, key: str, layer: Layer, created_by: str, state: _State) -> None:
        created = now()
        self.cache.put(CacheEntry(key, layer.chain_id, layer.diff_id, layer.descriptor, created_by, created))
        state.add(layer, created_by, created)
        self.progress.done(layer.descriptor.digest)

    def _run(self, step: plans.Step, command: plans.RunStep, state: _State, field: str,
             run_mounts: list[dict] | tuple = (), env: list[str] | tuple = ()) -> Layer:
        from boxen.image.build import run
        from boxen.image.build.copy import ImageRoot

        container_id = f"boxen-build-{os.urandom(6).hex()}"
        bundle = self.workspace.mkdtemp("run")
        rootfs = os.path.join(bundle, "rootfs")
        with self.workspace.active(state.chain, f"step {step.number}") as (key, mounts):
            with self.workspace.mounted(mounts, rootfs):
                self._make_dirs(state, rootfs)
                ImageRoot(rootfs, (0, 0)).directory(command.workdir)
                files = run.etc_files(bundle, container_id[:12], host_network=command.network == "host")
                spec = run.run_spec(command, rootfs, hostname=container_id[:12], files=files, mounts=run_mounts,
                                    env=env)
                with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8", errors="surrogateescape") as f:
                    f.write(jsonio.dumps(spec, indent=2))  # (a command's bytes as the Dockerfile has them)
                # (a secret's or agent's mount point goes with the rest: BuildKit leaves none)
                leaves = {m.target for m in command.mounts if m.type in ("bind", "cache", "tmpfs")}
                created = run.missing_mountpoints(rootfs, spec, leaves)
                self.say(f"  container {container_id}: args {spec['process']['args']}, user "
                         f"{spec['process']['user']}, cwd {command.workdir}, "
                         f"{'host network' if command.network == 'host' else 'own network namespace'}")
                code = run.execute(self.runtime, container_id, bundle, self.progress.output)
                os.unlink(os.path.join(bundle, "config.json"))  # (it holds the variables of secrets)
                removed = run.remove_mountpoints(rootfs, created)
                if removed:
                    self.say(f"  removed mount points the runtime created: {', '.join('/' + r for r in removed)}")
            if code != 0:
                printed = bytes(self.progress.tail).decode("utf-8", "replace").strip()
                detail = f"; it printed:\n{printed[-2000:]}" if printed and not self.progress.shows_output else ""
                raise run.RunFailed(f"step {step.number} RUN {jsonio.dumps(list(command.args))} exited with code "
                                    f"{code}{detail}", exit_code=code, field=field)
            return self.workspace.commit(key, state.chain)

    @contextlib.contextmanager
    def _source(self, copy: plans.CopyStep, stage: plans.Stage):
        """``(tree, chain ID)`` a COPY reads from: the context, or a stage's or image's root, mounted,
        or its here-documents written out as files (mode 0644, as BuildKit makes them)."""
        if copy.urls:
            directory = self.workspace.mkdtemp("download")
            for url, name in zip(copy.urls, copy.sources):
                self._download(url, os.path.join(directory, name), copy.checksum)
            yield Tree(directory, name="downloads"), None
            return
        if copy.inline:
            directory = self.workspace.mkdtemp("heredoc")
            for name, content in copy.inline:
                path = os.path.join(directory, name)
                with open(path, "x", encoding="utf-8", errors="surrogateescape", newline="") as f:
                    f.write(content)  # (the bytes of the Dockerfile, as read)
                os.chmod(path, 0o644)
            yield Tree(directory, name="here-documents"), None
            return
        with self._tree(copy.from_stage, copy.from_image, stage) as found:
            yield found

    def _download(self, url: str, path: str, checksum: str | None) -> None:
        """Fetch ``url`` for an ``ADD`` into ``path`` (mode 0600 and the server's Last-Modified
        time, as docker gives it), checking ``checksum`` if given. The registry client fetches
        it: the same proxies, TLS configuration (``certs.d``), timeouts and limits."""
        import hashlib
        from email.utils import parsedate_to_datetime

        h = hashlib.sha256()
        self.say(f"  fetching {url}")
        with open(path, "xb") as out:

            def write(chunk: bytes) -> None:
                h.update(chunk)
                out.write(chunk)

            try:
                headers = self._registry_client().download(url, write)
            except (BoxenError, OSError) as exc:
                raise Unavailable(f"ADD could not fetch {url}: {exc}") from None
        modified = headers.get("last-modified")
        if checksum is not None and f"sha256:{h.hexdigest()}" != checksum:
            raise InvalidArgument(f"ADD {url}: the content is sha256:{h.hexdigest()}, not the {checksum} "
                                  "--checksum asked for", field="--checksum")
        os.chmod(path, 0o600)
        if modified:
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                when = parsedate_to_datetime(modified).timestamp()
                os.utime(path, (when, when))

    @contextlib.contextmanager
    def _tree(self, from_stage: int | None, from_image: str | None, stage: plans.Stage):
        """``(tree, chain ID)``: the context, or the root of an earlier stage or of an image, mounted."""
        if from_stage is None and from_image is None:
            yield self.context, None
            return
        chain: str | None
        if from_stage is not None:
            chain = self.states[from_stage].chain
            what = f"stage {from_stage}"
        else:
            what = from_image or ""
            chain = self._unpacked(self.base(what, stage.platform))
        with self.workspace.view(chain, what) as root:
            self.say(f"  reading {what} (snapshot {chain or 'empty'}) at {root}")
            yield Tree(root, name=what), chain

    def _copy(self, step: plans.Step, copy: plans.CopyStep, state: _State, tree: Tree, sources, keep_owner: bool,
              field: str) -> Layer:
        from boxen.image.build.copy import Copier, chown_ids

        target = self.workspace.mkdtemp("copy")
        with self.workspace.active(state.chain, f"step {step.number}") as (key, mounts):
            with self.workspace.mounted(mounts, target) as rootfs:
                self._make_dirs(state, rootfs)
                owner = chown_ids(copy.chown, rootfs, field=field) if copy.chown else None
                if owner is None and not keep_owner:
                    owner = (0, 0)
                kept = parent_paths(tree, copy.sources) if copy.parents else None
                result = Copier(rootfs, copy, tree, owner=owner, field=field).copy(sources, kept=kept)
                self.say(f"  copied {result.entries} entries, {result.bytes} bytes into {copy.dest}")
            return self.workspace.commit(key, state.chain)

    # --- the image ------------------------------------------------------------------------------------

    def _write_image(self, stage: plans.Stage, state: _State) -> tuple[str, oci.Descriptor]:
        image = stage.image
        config = image.replace(rootfs=oci.RootFS("layers", tuple(state.diff_ids)), created=state.time or now(),
                               history=tuple(state.history))
        config_bytes = jsonio.dumps(to_json(config)).encode()
        config_desc = contents.put(self.content, config_bytes, oci.OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": oci.OCI_MANIFEST,
            "config": to_json(config_desc),
            "layers": [to_json(layer) for layer in state.layers],
        }
        manifest_desc = contents.put(self.content, jsonio.dumps(manifest).encode(), oci.OCI_MANIFEST)
        self.say(f"image config {config_desc.digest} ({len(state.diff_ids)} layers), manifest {manifest_desc.digest}")
        return config_desc.digest, manifest_desc


def parent_paths(tree: Tree, patterns: tuple[str, ...]) -> dict[str, str] | None:
    """For ``COPY --parents``: the path each source keeps under the destination, by its path in
    ``tree``, when a pattern has a pivot (``x/./y/*.txt`` keeps ``y/...``: what follows
    ``/./``); ``None`` when none has one (each keeps its whole path)."""
    if not any("/./" in pattern for pattern in patterns):
        return None
    kept: dict[str, str] = {}
    for pattern in patterns:
        head, pivot, _ = pattern.partition("/./")
        base = clean(head) if pivot else ""
        for source in tree.select([pattern]):
            rel = source.rel
            kept.setdefault(rel, rel[len(base) + 1:] if base and rel.startswith(base + "/") else rel)
    return kept


def excluding(tree: Tree, sources: list[Source], patterns: tuple[str, ...]) -> tuple[Tree, list[Source]]:
    """``tree`` and ``sources`` without what ``COPY --exclude=PATTERN`` leaves out: the patterns
    (``.dockerignore`` syntax, ``!`` exceptions too) apply under each directory source, as if
    written in an ignore file there, and to a file source's name."""
    rules = IgnoreRules(patterns)
    lines = [("!" if p.exception else "") + p.text for p in tree.rules.patterns]
    for source in sources:
        if source.is_dir:
            prefix = f"{source.rel}/" if source.rel else ""
            lines += [("!" if p.exception else "") + prefix + p.text for p in rules.patterns]
    kept = [s for s in sources if s.is_dir or not rules.excluded(s.rel.rpartition("/")[2])]
    return Tree(tree.root, IgnoreRules(lines), name=tree.name), kept


@contextlib.contextmanager
def _temporary(parent: str):
    """A directory of this build's own under ``parent``, removed after; whatever is still mounted
    in it (an interrupted step) is detached first, so the removal never reaches into a snapshot."""
    from boxen.image.layers import remove_tree
    from boxen.runtime.host import unmount

    path = os.path.join(parent, f"{os.getpid()}-{os.urandom(4).hex()}")
    os.mkdir(path, 0o700)
    try:
        yield path
    finally:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted((p for p in points if p.startswith(path + "/")), reverse=True):
            with contextlib.suppress(BoxenError):
                unmount(point, lazy=True)
        remove_tree(path)


def build(root, options: BuildOptions, **kwargs) -> BuildResult:
    """Build ``options`` with a :class:`Builder` on ``root``'s stores (``kwargs``: its other arguments)."""
    if options.compression not in ("gzip", "zstd", "none"):
        raise InvalidArgument(f"unknown compression {options.compression!r} (gzip, zstd or none)",
                              field="--compression")
    if options.network not in plans.NETWORKS:
        raise InvalidArgument(f"unknown network {options.network!r} (default, none or host)", field="--network")
    return Builder(root, **kwargs).build(options)
