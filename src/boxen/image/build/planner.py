"""Planning a build: stages, ARG scoping, expansion and config, instruction by instruction.

**Stages.** Each ``FROM`` starts a stage on a base: ``scratch`` (nothing), an image, or an
earlier stage by its ``AS`` name. ``COPY --from=NAME`` copies out of another stage (or image).
Only the **target** stage (``--target``, else the last) and the stages it needs through
``FROM`` and ``--from`` are planned; the others are skipped, as BuildKit and buildah do.

**Variables.** ``ENV`` sets variables that stay in the image; ``ARG`` declares build-time
variables that ``--build-arg NAME=VALUE`` may set and that vanish after the build. Their scoping
is the subtle part:

* ``ARG`` lines *before* the first ``FROM`` are **global**: they may be used in ``FROM`` lines
  only. A stage sees a global ``ARG`` only if it declares it again (``ARG NAME`` without a
  value takes the global one);
* an ``ARG`` is in scope from its line to the end of its stage; ``--build-arg`` beats the
  default in the Dockerfile; ``ENV`` of the same name beats both;
* every ``RUN`` gets the ``ARG`` values in its environment (not in the image), and the
  history records them (``|2 A=1 B=2 /bin/sh -c make``) so the cache can tell builds apart;
* ``HTTP_PROXY`` and its kin may be given with ``--build-arg`` without being declared, and
  are never recorded; ``TARGETOS``, ``TARGETARCH``, ``TARGETPLATFORM``, ``BUILDPLATFORM``...
  are global ``ARG`` values the builder sets itself, and so is ``TARGETSTAGE``, the name of the
  stage being built (``default`` when the last stage has none).

Within one instruction, every ``$VAR`` is expanded with the values from *before* it
(``ENV A=1 B=$A`` gives ``B`` the *old* ``A``). The base image's ``ONBUILD`` triggers run
right after ``FROM``, before the stage's own instructions.
"""

from __future__ import annotations

import posixpath

from boxen.common.errors import BoxenError, InvalidArgument, NotFound, Unimplemented
from boxen.image.build import modes, settings
from boxen.image.build.dockerfile import Dockerfile, Instruction, parse_trigger, trigger_text
from boxen.image.build.plan import (
    DEFAULT_PATH,
    DEFAULT_SHELL,
    MOUNT_KEYS,
    MOUNT_TYPES,
    NETWORKS,
    NOP,
    PROXY_ARGS,
    SCRIPTS,
    BuildPlan,
    CopyStep,
    Lookup,
    RunMount,
    RunStep,
    Stage,
    Step,
)
from boxen.image.build.words import Lexer, pairs, raw_words
from boxen.oci.image import ContainerConfig, History, ImageConfig, Platform, RootFS

#: The spellings of a true or false value in a ``--mount`` option.
BOOLEANS = ("true", "false", "1", "0")


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    """The automatic global ARGs: ``TARGETOS``, ``TARGETARCH``, ``TARGETPLATFORM``, ``BUILDOS``..."""
    out: dict[str, str] = {}
    for prefix, p in (("TARGET", target), ("BUILD", build)):
        variant = p.variant or ""
        out[f"{prefix}OS"] = p.os
        out[f"{prefix}ARCH"] = p.architecture
        out[f"{prefix}VARIANT"] = variant
        out[f"{prefix}PLATFORM"] = f"{p.os}/{p.architecture}" + (f"/{variant}" if variant else "")
    return out




def url_file_name(url: str) -> str:
    """The name an ``ADD`` of ``url`` gives the file: the last component of its path, as docker
    names it (``download`` when the path has none)."""
    path = url.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    name = path.partition("/")[2].rstrip("/").rpartition("/")[2]
    return name if name not in ("", ".", "..") else "download"

def heredoc_script(ins: Instruction) -> str:
    """The shell script of a ``RUN`` with here-documents.

    The shell reads here-documents itself, so the script is the command line followed by each
    document and its delimiter line, and the shell expands (or, for a quoted delimiter, does
    not expand) their bodies. ``RUN <<EOF`` alone runs its document as the script (so a
    ``SHELL`` that is no shell, ``awk`` say, still gets a program); see :func:`shebang_script`
    for one that starts with ``#!``.
    """
    docs = ins.heredocs
    if _alone(ins):
        return docs[0].content
    return ins.args.strip() + "\n" + "".join(f"{doc.content}{doc.name}\n" for doc in docs)


def shebang_script(ins: Instruction) -> tuple[str, str] | None:
    """``(name, content)`` of a ``RUN <<EOF`` alone whose document starts with ``#!``, else ``None``.

    Such a document is a program for the interpreter its first line names, and BuildKit runs
    it as one: written to an executable file named after its delimiter (in ``/dev/pipes``),
    which the shell then runs, so the kernel reads the ``#!`` line, the interpreter gets the
    file's path as its argument, and the command's standard input stays its own.
    """
    if not _alone(ins) or not ins.heredocs[0].content.startswith("#!"):
        return None
    return ins.heredocs[0].name, ins.heredocs[0].content


def _alone(ins: Instruction) -> bool:
    """Whether ``ins`` is ``RUN <<EOF`` with nothing but its one here-document."""
    docs = ins.heredocs
    if len(docs) != 1:
        return False
    marks = {f"<<{dash}{quote}{docs[0].name}{quote}" for dash in ("", "-") for quote in ("", "'", '"')}
    return ins.args.strip() in marks


class _Stage:
    """The mutable state of one stage while its instructions are planned."""

    def __init__(self, base: ImageConfig | None, platform: Platform) -> None:
        c = (base.config if base is not None else None) or ContainerConfig()
        self.architecture = base.architecture if base is not None else platform.architecture
        self.os = base.os if base is not None else platform.os
        self.variant = base.variant if base is not None else platform.variant
        self.author = base.author if base is not None else None
        # FROM scratch starts with the default PATH, as docker's builders give it
        self.env = list(c.Env or ()) if base is not None else [DEFAULT_PATH]
        self.cmd = c.Cmd
        self.entrypoint = c.Entrypoint
        self.user = c.User or ""
        self.workdir = c.WorkingDir or ""
        self.ports = dict(c.ExposedPorts or {})
        self.volumes = dict(c.Volumes or {})
        self.labels = dict(c.Labels or {})
        self.stop_signal = c.StopSignal
        self.healthcheck = c.Healthcheck
        self.onbuild = list(c.OnBuild or ())
        self.shell = c.Shell
        self.args: dict[str, str | None] = {}  # ARGs declared in this stage, in order
        self.cmd_set = False
        self.steps: list[Step] = []
        self.history: list[History] = []

    def variables(self) -> dict[str, str]:
        """What ``$VAR`` sees: the stage's ARG values, overridden by ENV."""
        values = {k: v for k, v in self.args.items() if v is not None}
        values.update(settings.env_map(self.env))
        return values

    def config(self) -> ContainerConfig:
        return ContainerConfig(
            User=self.user or None,
            ExposedPorts=dict(self.ports) or None,
            Env=tuple(self.env) or None,
            Entrypoint=self.entrypoint or None,
            Cmd=self.cmd or None,
            Volumes=dict(self.volumes) or None,
            WorkingDir=self.workdir or None,
            Labels=dict(self.labels) or None,
            StopSignal=self.stop_signal,
            Healthcheck=self.healthcheck,
            OnBuild=tuple(self.onbuild) or None,
            Shell=self.shell,
        )

    def image(self) -> ImageConfig:
        return ImageConfig(architecture=self.architecture, os=self.os, rootfs=RootFS("layers", ()),
                           author=self.author, variant=self.variant, config=self.config(),
                           history=tuple(self.history))


class Planner:
    """Plans a build; see :func:`plan_build`."""

    def __init__(self, dockerfile: Dockerfile, *, build_args: dict[str, str], lookup: Lookup,
                 platform: Platform, build_platform: Platform | None = None) -> None:
        self.dockerfile = dockerfile
        self.build_args = dict(build_args)
        self.lookup = lookup
        self.platform = platform
        self.lexer = Lexer(dockerfile.escape)
        self.used_args: set[str] = set()
        self.meta: dict[str, str | None] = {}
        self.froms: list[tuple[Instruction, list[Instruction]]] = []
        self.names: dict[str, int] = {}
        self.planned: dict[int, Stage] = {}
        self._split()
        self._globals(platform_args(platform, build_platform or platform))

    def where(self, instruction: Instruction) -> str:
        return f"{self.dockerfile.name}:{instruction.line}"

    # --- the file's shape -------------------------------------------------------------------

    def _split(self) -> None:
        meta: list[Instruction] = []
        for instruction in self.dockerfile.instructions:
            if instruction.keyword == "FROM":
                self.froms.append((instruction, []))
            elif not self.froms:
                if instruction.keyword != "ARG":
                    raise InvalidArgument(f"{instruction.keyword} before the first FROM: only ARG may come "
                                          "before FROM", field=self.where(instruction))
                meta.append(instruction)
            else:
                self.froms[-1][1].append(instruction)
        if not self.froms:
            raise InvalidArgument("the Dockerfile has no FROM instruction", field=self.dockerfile.name)
        self.meta_instructions = meta

    def _globals(self, automatic: dict[str, str]) -> None:
        self.meta.update(automatic)
        for instruction in self.meta_instructions:
            for raw_name, raw_default in pairs(instruction.args, "ARG", self.dockerfile.escape,
                                               field=self.where(instruction)):
                arg = self._arg_name(raw_name, instruction)
                if arg in self.build_args:
                    self.meta[arg] = self.build_args[arg]
                    self.used_args.add(arg)
                elif raw_default is not None:
                    known = {k: v for k, v in self.meta.items() if v is not None}
                    try:
                        self.meta[arg] = self.lexer.word(raw_default, known)
                    except BoxenError as exc:
                        raise self._located(exc, instruction) from None
                else:
                    self.meta.setdefault(arg, None)
        for index, (instruction, _) in enumerate(self.froms):
            name = self._from_words(instruction)[1]
            if name is not None:
                if name in self.names:
                    raise InvalidArgument(f"duplicate stage name {name!r}", field=self.where(instruction))
                self.names[name] = index

    def _arg_name(self, raw: str, instruction: Instruction) -> str:
        if not raw or not all(c.isalnum() or c == "_" for c in raw):
            raise InvalidArgument(f"invalid ARG name {raw!r}", field=self.where(instruction))
        return raw

    def _from_words(self, instruction: Instruction) -> tuple[str, str | None]:
        known = {k: v for k, v in self.meta.items() if v is not None}
        try:
            words = self.lexer.words(instruction.args, known)
        except BoxenError as exc:
            raise self._located(exc, instruction) from None
        if len(words) == 3 and words[1].upper() == "AS":
            name = words[2].lower()
            if not (name[:1].isalpha() and all(c.isalnum() or c in "-_." for c in name)):
                raise InvalidArgument(f"invalid stage name {words[2]!r}: a letter, then letters, digits, "
                                      "'-', '_' or '.'", field=self.where(instruction))
            return words[0], name
        if len(words) != 1:
            raise InvalidArgument("FROM takes an image and optionally AS NAME", field=self.where(instruction))
        if not words[0]:
            raise InvalidArgument("FROM names no image (an ARG it uses is empty?)", field=self.where(instruction))
        return words[0], None

    def stage_index(self, text: str) -> int | None:
        """The index of the stage ``text`` names (a name or a number), ``None`` if none does."""
        if settings.digits(text):
            return int(text) if int(text) < len(self.froms) else None
        return self.names.get(text.lower())

    # --- planning ------------------------------------------------------------------------------

    def plan(self, target: str | None) -> BuildPlan:
        if target is None:
            target_index = len(self.froms) - 1
        else:
            found = self.names.get(target.lower())
            if found is None:
                raise NotFound(f"no stage named {target!r} in the Dockerfile "
                               f"(stages: {', '.join(self.names) or 'none named'})", field="--target")
            target_index = found
        # TARGETSTAGE: the stage being built, by name ("default" for an unnamed last stage)
        self.meta["TARGETSTAGE"] = target or self._from_words(self.froms[target_index][0])[1] or "default"
        self._plan_stage(target_index)
        stages = [self.planned[i] for i in sorted(self.planned)]
        number = 0
        renumbered = []
        for stage in stages:
            steps = []
            for step in stage.steps:
                number += 1
                steps.append(step.replace(number=number))
            renumbered.append(stage.replace(steps=tuple(steps)))
        unused = sorted(set(self.build_args) - self.used_args - PROXY_ARGS)
        return BuildPlan(tuple(renumbered), target_index, number, tuple(unused))

    def _plan_stage(self, index: int) -> Stage:
        if index in self.planned:
            return self.planned[index]
        instruction, body = self.froms[index]
        image, name = self._from_words(instruction)
        known = {k: v for k, v in self.meta.items() if v is not None}
        platform_flag = instruction.flag("platform")
        try:
            platform = self.lexer.word(platform_flag, known) if platform_flag else None
        except BoxenError as exc:
            raise self._located(exc, instruction) from None
        base_stage = None
        base_config: ImageConfig | None = None
        if image.lower() == "scratch":
            image = "scratch"
        else:
            base_stage = self.names.get(image.lower())
            if base_stage is not None:
                if base_stage >= index:
                    raise InvalidArgument(f"stage {image!r} is defined after this FROM", field=self.where(instruction))
                base_config = self._plan_stage(base_stage).image
            else:
                try:
                    base_config = self.lookup(image, platform)
                except BoxenError as exc:
                    exc.field = self.where(instruction) + (f": {exc.field}" if exc.field else "")
                    raise
        state = _Stage(base_config, self.platform)
        state.steps.append(Step(0, index, instruction.line, "FROM", instruction.original))
        triggers = state.onbuild
        state.onbuild = []
        for text in triggers:
            self._trigger(state, index, instruction, image, text)
        for child in body:
            self._instruction(state, index, child)
        stage = Stage(index, name, image, base_stage, platform, tuple(state.steps), state.image())
        self.planned[index] = stage
        return stage

    def _trigger(self, state: _Stage, index: int, instruction: Instruction, image: str, text: str) -> None:
        """Plan one ``ONBUILD`` trigger of the base ``image``; an error names the trigger and the FROM."""
        where = f"{self.where(instruction)}: ONBUILD trigger {text!r} of {image}"
        try:
            trigger = parse_trigger(text, instruction.line, self.dockerfile.name)
            if trigger.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise InvalidArgument(f"{trigger.keyword} is not allowed as an ONBUILD trigger")
            self._instruction(state, index, trigger, trigger=True)
        except BoxenError as exc:
            exc.field = where
            raise

    def _step(self, state: _Stage, index: int, instruction: Instruction, created_by: str, *,
              trigger: bool, run: RunStep | None = None, copy: CopyStep | None = None,
              make_dir: tuple[str, str] | None = None) -> None:
        state.steps.append(Step(0, index, instruction.line, instruction.keyword, instruction.original,
                                created_by, run, copy, trigger, make_dir))
        if copy is None:
            state.history.append(History(created_by=created_by, empty_layer=None if run else True))
        else:
            state.history.append(History(created_by=created_by))

    def _located(self, exc: BoxenError, instruction: Instruction) -> BoxenError:
        """``exc`` naming the Dockerfile line of ``instruction`` (an error of the word processing
        names only the text it choked on), unless it names a line already."""
        if not (exc.field or "").startswith(f"{self.dockerfile.name}:"):
            exc.field = self.where(instruction) + (f": {exc.field}" if exc.field else "")
        return exc

    def _instruction(self, state: _Stage, index: int, ins: Instruction, *,
                     trigger: bool = False) -> None:
        try:
            self._dispatch(state, index, ins, trigger=trigger)
        except BoxenError as exc:
            raise self._located(exc, ins) from None

    def _dispatch(self, state: _Stage, index: int, ins: Instruction, *, trigger: bool) -> None:
        keyword = ins.keyword
        where = self.where(ins)
        nop = f"{NOP}{keyword} {ins.body}"
        if keyword == "RUN":
            run = self._run(state, index, ins)
            self._step(state, index, ins, self._run_history(state, ins), trigger=trigger, run=run)
            return
        if keyword in ("COPY", "ADD"):
            copy = self._copy(state, index, ins)
            self._step(state, index, ins, "", trigger=trigger, copy=copy)
            return
        if keyword == "ARG":
            self._arg(state, ins)
            named = sorted(name for name, value in state.args.items() if value is not None)
            self._step(state, index, ins, f"{NOP}ARG {' '.join(named)}", trigger=trigger)
            return
        variables = state.variables()
        if keyword == "ENV":
            for raw_name, raw_value in pairs(ins.args, "ENV", self.dockerfile.escape, field=where):
                name = self.lexer.word(raw_name, variables)
                if not name:
                    raise InvalidArgument("ENV names can not be blank", field=where)
                settings.set_env(state.env, name, self.lexer.word(raw_value or "", variables))
        elif keyword == "LABEL":
            for raw_name, raw_value in pairs(ins.args, "LABEL", self.dockerfile.escape, field=where):
                name = self.lexer.word(raw_name, variables)
                if not name:
                    raise InvalidArgument("LABEL names can not be blank", field=where)
                state.labels[name] = self.lexer.word(raw_value or "", variables)
        elif keyword == "WORKDIR":
            path = self.lexer.word(ins.args, variables)
            state.workdir = posixpath.normpath(posixpath.join(state.workdir or "/", path))
            if state.workdir.startswith("//"):
                state.workdir = "/" + state.workdir.lstrip("/")
        elif keyword == "USER":
            user = self.lexer.word(ins.args, variables)
            if not user:
                raise InvalidArgument("USER names no user", field=where)
            state.user = user
        elif keyword == "EXPOSE":
            for port in settings.exposed_ports(self.lexer.words(ins.args, variables), field=where):
                state.ports[port] = {}
        elif keyword == "VOLUME":
            paths = ([self.lexer.word(p, variables) for p in ins.json] if ins.json is not None
                     else self.lexer.words(ins.args, variables))
            for path in paths:
                if not path.strip():
                    raise InvalidArgument("VOLUME names an empty path", field=where)
                state.volumes[path] = {}
        elif keyword == "STOPSIGNAL":
            state.stop_signal = settings.stop_signal(self.lexer.word(ins.args, variables), field=where)
        elif keyword == "HEALTHCHECK":
            state.healthcheck = settings.healthcheck(dict(ins.flags), ins.args, ins.json, field=where)
        elif keyword == "CMD":
            state.cmd = self._command(state, ins)
            state.cmd_set = True
        elif keyword == "ENTRYPOINT":
            state.entrypoint = self._command(state, ins)
            if not state.cmd_set:
                state.cmd = None
        elif keyword == "SHELL":
            if not ins.json:
                raise InvalidArgument("SHELL needs at least the executable", field=where)
            state.shell = ins.json
        elif keyword == "ONBUILD":
            state.onbuild.append(trigger_text(ins))
        elif keyword == "MAINTAINER":
            state.author = ins.args
        made = (state.workdir, state.user) if keyword == "WORKDIR" else None
        self._step(state, index, ins, nop, trigger=trigger, make_dir=made)

    # --- instructions with more to them ----------------------------------------------------------

    def _arg(self, state: _Stage, ins: Instruction) -> None:
        for raw_name, raw_default in pairs(ins.args, "ARG", self.dockerfile.escape, field=self.where(ins)):
            name = self._arg_name(raw_name, ins)
            if name in self.build_args:
                value: str | None = self.build_args[name]
                self.used_args.add(name)
            elif raw_default is not None:
                value = self.lexer.word(raw_default, state.variables())
            else:
                value = self.meta.get(name)
            state.args[name] = value

    def _command(self, state: _Stage, ins: Instruction) -> tuple[str, ...] | None:
        if ins.json is not None:
            return ins.json
        if not ins.args:
            return None
        return (*(state.shell or DEFAULT_SHELL), ins.args)

    def _arg_values(self, state: _Stage) -> list[tuple[str, str]]:
        """The stage's ARGs that have a value, as RUN sees them (ENV of the same name wins)."""
        env = settings.env_map(state.env)
        return [(k, env.get(k, v)) for k, v in state.args.items() if v is not None]

    def _run(self, state: _Stage, index: int, ins: Instruction) -> RunStep:
        network = ins.flag("network") or "default"
        if network not in NETWORKS:
            raise InvalidArgument(f"RUN --network={network}: expected default, none or host", field=self.where(ins))
        script = shebang_script(ins) if ins.json is None and ins.heredocs else None
        if script is not None and script[0].strip(".") == "":
            raise InvalidArgument(f"a here-document run as a script cannot be named {script[0]!r}",
                                  field=self.where(ins))
        if ins.json is not None:
            args = ins.json
        elif ins.heredocs:
            command = f"{SCRIPTS}/{script[0]}" if script is not None else heredoc_script(ins)
            args = (*(state.shell or DEFAULT_SHELL), command)
        else:
            args = (*(state.shell or DEFAULT_SHELL), ins.args)
        if not args:
            raise InvalidArgument("RUN has nothing to run", field=self.where(ins))
        env = list(state.env)
        names = set(settings.env_map(env))
        for name, value in self._arg_values(state):
            if name not in names:
                env.append(f"{name}={value}")
                names.add(name)
        if "PATH" not in names:
            env.insert(0, DEFAULT_PATH)
        proxies = tuple(f"{name}={self.build_args[name]}" for name in sorted(PROXY_ARGS & set(self.build_args))
                        if name not in names)
        mounts = [self._mount(state, index, ins, value or "") for key, value in ins.flags if key == "mount"]
        agents = [i for i, m in enumerate(mounts) if m.type == "ssh"]
        for n, i in enumerate(agents, 1):
            if not mounts[i].target:
                mounts[i] = mounts[i].replace(target=f"/run/buildkit/ssh_agent.{n - 1}")
        if agents and "SSH_AUTH_SOCK" not in names:
            # BuildKit points SSH_AUTH_SOCK at the first agent socket
            env.append(f"SSH_AUTH_SOCK={mounts[agents[0]].target}")
        targets = [m.target for m in mounts if m.target]
        if len(set(targets)) != len(targets):
            raise InvalidArgument("two --mount flags have the same target", field=self.where(ins))
        if script is not None and any(m.target == SCRIPTS or m.target.startswith(SCRIPTS + "/") for m in mounts):
            raise InvalidArgument(f"a --mount covers {SCRIPTS}, where the here-document is run from",
                                  field=self.where(ins))
        return RunStep(tuple(args), tuple(env), state.user, state.workdir or "/", network, tuple(mounts), proxies,
                       script)

    def _mount(self, state: _Stage, index: int, ins: Instruction, text: str) -> RunMount:
        """One ``--mount=type=cache,target=/root/.cache,...`` (BuildKit's options, variables expanded)."""
        where = f"{self.where(ins)}: --mount={text}"
        variables = state.variables()
        options: dict[str, str | None] = {}
        for part in text.split(","):
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not key:
                continue
            if key not in MOUNT_KEYS:
                raise InvalidArgument(f"unknown key {key!r} in --mount (expected {', '.join(MOUNT_KEYS)})",
                                      field=where)
            options[key] = self.lexer.word(value, variables) if eq else None
        kind = options.pop("type", None) or "bind"
        if kind not in MOUNT_TYPES:
            raise InvalidArgument(f"unknown mount type {kind!r} (expected one of {', '.join(MOUNT_TYPES)})",
                                  field=where)
        given = next((options.pop(k) for k in ("target", "dst", "destination") if k in options), None)
        values: dict = {"type": kind, "readonly": kind in ("bind", "secret", "ssh"),
                        "mode": {"secret": 0o400, "ssh": 0o600}.get(kind, 0o755)}
        target = ""
        if given:
            target = posixpath.normpath(posixpath.join(state.workdir or "/", given))
            if target == "/":
                raise InvalidArgument("a --mount cannot cover the root", field=where)
            target = "/" + target.lstrip("/")
        elif kind not in ("secret", "ssh"):
            raise InvalidArgument("a --mount needs a target", field=where)
        values["target"] = target
        for name, option in options.items():
            self._mount_option(values, kind, name, option, index, where)
        if kind == "secret":
            if not values.get("id") and not target:
                raise InvalidArgument("a secret mount needs an id or a target", field=where)
            values.setdefault("id", posixpath.basename(values["target"]))
            if not target and not values.get("env"):
                values["target"] = f"/run/secrets/{posixpath.basename(values['id'])}"  # (BuildKit's)
        if kind == "ssh":
            values.setdefault("id", "default")
        if kind == "cache" and not values.get("id"):
            values["id"] = values["target"]
        return RunMount(**values)

    def _mount_option(self, values: dict, kind: str, key: str, value: str | None, index: int, where: str) -> None:
        """Check and set one option of a ``--mount`` of type ``kind`` in ``values``."""
        flag = value is None or value.lower() in ("true", "1")
        if key in ("ro", "readonly") and kind in ("bind", "cache"):
            values["readonly"] = flag
        elif key in ("rw", "readwrite") and kind in ("bind", "cache"):
            values["readonly"] = not flag
        elif key in ("source", "src") and kind in ("bind", "cache"):
            values["source"] = (value or "").lstrip("/")
        elif key == "from" and kind in ("bind", "cache"):
            if not value:
                raise InvalidArgument("--mount from= names nothing", field=where)
            stage = self.stage_index(value)
            if stage is None:
                values["from_image"] = value
            elif stage >= index:
                raise InvalidArgument(f"from={value}: a stage can only mount an earlier stage", field=where)
            else:
                self._plan_stage(stage)
                values["from_stage"] = stage
        elif key == "id" and kind in ("cache", "secret", "ssh") and value:
            values["id"] = value
        elif key == "sharing" and kind == "cache":
            if value not in ("shared", "private", "locked"):
                raise InvalidArgument(f"sharing={value}: expected shared, private or locked", field=where)
        elif key == "mode" and kind in ("cache", "secret", "ssh") and value and all(c in "01234567" for c in value):
            values["mode"] = int(value, 8) & 0o7777
        elif key in ("uid", "gid") and kind in ("cache", "secret", "ssh") and value and settings.numeric_id(value) is not None:
            values[key] = int(value)
        elif key == "size" and kind == "tmpfs" and value:
            values["size"] = settings.byte_size(value, field=where)
        elif key == "required" and kind in ("secret", "ssh") and (value is None or value.lower() in BOOLEANS):
            values["required"] = flag
        elif key == "env" and kind == "secret" and value:
            values["env"] = value
        else:
            raise InvalidArgument(f"the {kind} mount has no option {key}{'=' + value if value else ''} "
                                  "(or its value is not one it takes)", field=where)

    def _run_history(self, state: _Stage, ins: Instruction) -> str:
        values = sorted(self._arg_values(state))
        prefix = f"|{len(values)} " + "".join(f"{k}={v} " for k, v in values) if values else ""
        if ins.heredocs and ins.json is None:
            script = heredoc_script(ins)
            if shebang_script(ins) is not None:  # the document as written: it is the program
                script = f"{ins.args.strip()}\n{script}{ins.heredocs[0].name}\n"
        else:
            script = ins.args
        # buildah keeps a RUN's --mount flags in its history (and so its layers say what they read)
        mounts = "".join(f"--mount={value} " for key, value in ins.flags if key == "mount")
        return f"{prefix}/bin/sh -c {mounts}{script}"

    def _copy(self, state: _Stage, index: int, ins: Instruction) -> CopyStep:
        where = self.where(ins)
        variables = state.variables()
        # The destination is the last word as written, expanded on its own: one that expands to
        # nothing (COPY a $UNSET) is the WORKDIR, as BuildKit has it, not a missing argument.
        raw = list(ins.json) if ins.json is not None else raw_words(ins.args, self.lexer.escape)
        if len(raw) < 2:
            raise InvalidArgument(f"{ins.keyword} needs at least one source and a destination", field=where)
        if ins.json is not None:
            sources = [self.lexer.word(w, variables) for w in raw[:-1]]
        else:
            sources = self.lexer.words(" ".join(raw[:-1]), variables)
        if not sources:
            raise InvalidArgument(f"{ins.keyword} needs at least one source and a destination", field=where)
        dest_text = self.lexer.word(raw[-1], variables)
        inline = self._inline(ins, sources, variables) if ins.heredocs else ()
        if inline:
            sources = [name for name, _ in inline]
        urls = tuple(source for source in sources if "://" in source)
        if urls:
            if ins.keyword == "COPY":
                raise InvalidArgument(f"COPY cannot fetch URLs ({urls[0]}); ADD can", field=where)
            if len(urls) != len(sources) or ins.flag("from") is not None:
                raise Unimplemented("ADD of URLs together with other sources is not supported: give them in "
                                    "separate instructions", field=where)
            for url in urls:
                if not url.startswith(("http://", "https://")):
                    raise InvalidArgument(f"ADD fetches http:// and https:// URLs, not {url!r}", field=where)
            sources = [url_file_name(url) for url in urls]
        checksum = ins.flag("checksum")
        if checksum is not None:
            checksum = self.lexer.word(checksum, variables)
            hex_part = checksum.removeprefix("sha256:")
            if not urls or len(urls) != 1 or not checksum.startswith("sha256:") or len(hex_part) != 64 \
                    or any(c not in "0123456789abcdef" for c in hex_part):
                raise InvalidArgument(f"--checksum={checksum}: expected sha256:<64 hex digits>, for one URL",
                                      field=where)
        dest = dest_text
        directory = dest.endswith(("/", "/.", "/..")) or dest in ("", ".", "..")
        if not dest.startswith("/"):
            dest = posixpath.join(state.workdir or "/", dest)
        dest = posixpath.normpath(dest)
        if dest.startswith("//"):
            dest = "/" + dest.lstrip("/")
        if directory and dest != "/":
            dest += "/"
        if len(sources) > 1 and not dest.endswith("/"):
            raise InvalidArgument(f"{ins.keyword} with several sources needs a directory destination ending in "
                                  f"'/' (got {dest_text!r})", field=where)
        from_stage = from_image = None
        from_flag = ins.flag("from")
        if from_flag is not None:
            if "$" in from_flag:  # BuildKit reads the stage graph before any variable has a value
                raise InvalidArgument(f"--from={from_flag}: variable expansion is not supported in {ins.keyword} "
                                      "--from; name the stage or image", field=where)
            name = self.lexer.word(from_flag, variables)
            if not name:
                raise InvalidArgument("--from names nothing", field=where)
            from_stage = self.stage_index(name)
            if from_stage is not None:
                if from_stage >= index:
                    raise InvalidArgument(f"--from={name}: a stage can only copy from an earlier stage", field=where)
                self._plan_stage(from_stage)
            else:
                from_image = name
        chown = ins.flag("chown")
        chown = self.lexer.word(chown, variables) if chown is not None else None
        chmod = ins.flag("chmod")
        if chmod is not None:
            chmod = self.lexer.word(chmod, variables)
            modes.check(chmod, field=where)
        switches = {name: self._switch(ins, name, variables) for name in ("link", "parents", "unpack")}
        exclude = tuple(self.lexer.word(value or "", variables) for key, value in ins.flags if key == "exclude")
        if any(not pattern.strip() or pattern.strip() == "!" for pattern in exclude):
            raise InvalidArgument("--exclude needs a pattern", field=where)
        if (switches["parents"] or exclude) and (urls or inline):
            raise InvalidArgument(f"--parents and --exclude select files of a tree, not {'URLs' if urls else 'here-documents'}",
                                  field=where)
        return CopyStep(tuple(sources), dest, dest_text, ins.keyword == "ADD", from_stage, from_image,
                        chown or None, chmod, inline, urls, checksum, bool(switches["parents"]), exclude,
                        switches["unpack"])

    def _switch(self, ins: Instruction, name: str, variables: dict[str, str]) -> bool | None:
        """A boolean flag: ``--name`` or ``--name=true|false``; ``None`` when absent."""
        value = ins.flag(name)
        if value is None:
            return None
        value = self.lexer.word(value, variables).lower() if value else "true"
        if value not in ("true", "false"):
            raise InvalidArgument(f"--{name}={value}: expected true or false", field=self.where(ins))
        return value == "true"

    def _inline(self, ins: Instruction, sources: list[str], variables) -> tuple[tuple[str, str], ...]:
        """The here-documents a COPY/ADD copies, as ``(file name, content)``; variables are expanded
        in those whose delimiter was not quoted."""
        where = self.where(ins)
        if ins.flag("from") is not None:
            raise InvalidArgument(f"{ins.keyword} --from cannot copy here-documents", field=where)
        if len(sources) != len(ins.heredocs) or not all(s.startswith("<<") for s in sources):
            raise Unimplemented(f"{ins.keyword} of here-documents together with other sources is not supported: "
                                "give them in separate instructions", field=where)
        inline = []
        for doc in ins.heredocs:
            if doc.name.strip(".") == "" or any(doc.name == name for name, _ in inline):
                raise InvalidArgument(f"a here-document cannot be named {doc.name!r} here", field=where)
            try:
                content = self.lexer.expand(doc.content, variables) if doc.expand else doc.content
            except BoxenError as exc:
                exc.field = f"{where}: the here-document {doc.name}"
                raise
            inline.append((doc.name, content))
        return tuple(inline)
