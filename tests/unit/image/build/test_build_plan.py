"""Build plans: stages, ARG scoping, ENV expansion, config instructions, history, steps."""

import re

import pytest

from boxen.common.errors import InvalidArgument, NotFound, Unimplemented
from boxen.image.build.dockerfile import parse
from boxen.image.build.plan import DEFAULT_PATH, copy_created_by, plan_build
from boxen.oci.image import ContainerConfig, HealthConfig, ImageConfig, Platform, RootFS

AMD64 = Platform("amd64", "linux")
BASE = ImageConfig("amd64", "linux", RootFS("layers", ("sha256:" + "a" * 64,)), config=ContainerConfig(
    Env=(DEFAULT_PATH, "BASEVAR=base"), Cmd=("/bin/sh",), WorkingDir="/", Labels={"from": "base"}))
ONBUILD_BASE = BASE.replace(config=BASE.config.replace(OnBuild=("RUN echo triggered", "ENV T=1")))


class Images:
    def __init__(self, **images):
        self.images = {"busybox": BASE, "onbuild": ONBUILD_BASE, **images}
        self.asked = []

    def __call__(self, reference, platform):
        self.asked.append((reference, platform))
        try:
            return self.images[reference]
        except KeyError:
            raise NotFound(f"no image {reference}") from None


def plan(text, **kwargs):
    images = kwargs.pop("images", None) or Images()
    return plan_build(parse(text), lookup=images, platform=AMD64, **kwargs)


def config(text, **kwargs):
    p = plan(text, **kwargs)
    return p.stage(p.target).image.config


def history(text, **kwargs):
    p = plan(text, **kwargs)
    return [(h.created_by, h.empty_layer) for h in p.stage(p.target).image.history]


def test_config_instructions():
    c = config("""FROM busybox
ENV A=1 B="two words"
LABEL maintainer="me" version=$A
WORKDIR /app
USER nobody
EXPOSE 80/tcp 443 53/udp 8000-8001
VOLUME /data [notjson
VOLUME ["/v1", "/v2"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/
ONBUILD RUN echo later
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo hi
""")
    assert c.Env == (DEFAULT_PATH, "BASEVAR=base", "A=1", "B=two words")
    assert c.Labels == {"from": "base", "maintainer": "me", "version": "1"}
    assert c.WorkingDir == "/app" and c.User == "nobody" and c.StopSignal == "SIGTERM"
    assert list(c.ExposedPorts) == ["80/tcp", "443/tcp", "53/udp", "8000/tcp", "8001/tcp"]
    assert list(c.Volumes) == ["/data", "[notjson", "/v1", "/v2"]
    assert c.Healthcheck == HealthConfig(Test=("CMD-SHELL", "curl -f http://localhost/"), Interval=5_000_000_000,
                                         Retries=3)
    assert c.OnBuild == ("RUN echo later",)
    assert c.Entrypoint == ("/bin/sh", "-c") and c.Cmd == ("/bin/sh", "-c", "echo hi")


def test_env_in_one_instruction_sees_values_from_before_it():
    c = config("FROM busybox\nENV A=old\nENV A=new B=$A C=${BASEVAR}x\n")
    assert c.Env[-3:] == ("A=new", "B=old", "C=basex")


def test_env_replaces_in_place_and_legacy_form():
    c = config("FROM busybox\nENV BASEVAR changed value\nENV PATH=/opt/bin:$PATH\n")
    assert c.Env == ("PATH=/opt/bin:" + DEFAULT_PATH.removeprefix("PATH="), "BASEVAR=changed value")


def test_workdir_relative_paths_join():
    assert config("FROM busybox\nWORKDIR rel\nWORKDIR more/../deeper\n").WorkingDir == "/rel/deeper"
    assert config("FROM scratch\nWORKDIR $NOTHING/x\n").WorkingDir == "/x"


def test_entrypoint_resets_inherited_cmd_but_not_one_set_in_the_stage():
    assert config("FROM busybox\nENTRYPOINT [\"top\"]\n").Cmd is None
    assert config("FROM busybox\nCMD [\"-b\"]\nENTRYPOINT [\"top\"]\n").Cmd == ("-b",)


def test_shell_changes_shell_form_commands():
    p = plan("FROM busybox\nSHELL [\"/bin/bash\", \"-ec\"]\nRUN echo a\nCMD echo b\n")
    stage = p.stage(p.target)
    assert stage.steps[2].run.args == ("/bin/bash", "-ec", "echo a")
    assert stage.image.config.Cmd == ("/bin/bash", "-ec", "echo b")
    assert stage.image.config.Shell == ("/bin/bash", "-ec")


def test_healthcheck_none_and_errors():
    assert config("FROM busybox\nHEALTHCHECK NONE\n").Healthcheck == HealthConfig(Test=("NONE",))
    assert config('FROM busybox\nHEALTHCHECK CMD ["true"]\n').Healthcheck.Test == ("CMD", "true")
    with pytest.raises(InvalidArgument, match="invalid duration"):
        plan("FROM busybox\nHEALTHCHECK --interval=5 CMD true\n")
    with pytest.raises(InvalidArgument, match="expects CMD or NONE"):
        plan("FROM busybox\nHEALTHCHECK true\n")


def test_bad_config_values_name_their_line():
    with pytest.raises(InvalidArgument, match="invalid port") as err:
        plan("FROM busybox\n\nEXPOSE http\n")
    assert err.value.field == "Dockerfile:3"
    with pytest.raises(InvalidArgument, match="not a signal"):
        plan("FROM busybox\nSTOPSIGNAL SIGNOPE\n")


def test_history_matches_buildah():
    assert history("""FROM busybox
ARG FOO=bar
ENV A=1 B="two words"
LABEL version=$FOO
RUN echo $A
COPY a /app/
CMD ["x"]
""") == [
        ("/bin/sh -c #(nop) ARG FOO", True),
        ('/bin/sh -c #(nop) ENV A=1 B="two words"', True),
        ("/bin/sh -c #(nop) LABEL version=$FOO", True),
        ("|1 FOO=bar /bin/sh -c echo $A", None),
        ("", None),  # completed by the builder with the copied content's digest
        ('/bin/sh -c #(nop) CMD ["x"]', True),
    ]


def test_copy_created_by():
    p = plan("FROM busybox\nCOPY a rel\n")
    copy = p.stage(0).steps[1].copy
    assert copy_created_by(copy, "file", "ab" * 32) == f"/bin/sh -c #(nop) COPY file:{'ab' * 32} in rel "


# --- ARG scoping ---------------------------------------------------------------------------------------


def test_global_args_expand_from_only():
    images = Images(**{"busybox:1.36": BASE})
    p = plan("ARG TAG=1.36\nFROM busybox:${TAG}\nRUN echo $TAG\n", images=images)
    assert images.asked == [("busybox:1.36", None)]
    run = p.stage(0).steps[1].run
    assert not any(e.startswith("TAG=") for e in run.env)


def test_redeclared_global_arg_takes_the_global_value():
    p = plan("ARG V=1\nFROM busybox\nARG V\nRUN echo\n")
    steps = p.stage(0).steps
    assert "V=1" in steps[2].run.env
    assert steps[2].created_by == "|1 V=1 /bin/sh -c echo"


def test_build_args_beat_defaults_and_env_beats_args():
    p = plan("FROM busybox\nARG A=default\nARG B=x\nENV B=fromenv\nARG C\nRUN echo\n",
             build_args={"A": "given", "UNUSED": "1", "HTTP_PROXY": "http://proxy"})
    run_step = p.stage(0).steps[-1]
    assert run_step.run.env == (DEFAULT_PATH, "BASEVAR=base", "B=fromenv", "A=given")
    assert run_step.run.proxy_env == ("HTTP_PROXY=http://proxy",)
    assert run_step.created_by == "|2 A=given B=fromenv /bin/sh -c echo"
    assert p.unused_args == ("UNUSED",)


def test_proxy_args_reach_run_in_both_spellings_but_stay_out_of_history():
    p = plan("FROM busybox\nRUN echo\n", build_args={"http_proxy": "http://p:3128", "HTTPS_PROXY": "http://q"})
    run_step = p.stage(0).steps[-1]
    assert run_step.run.proxy_env == ("HTTPS_PROXY=http://q", "http_proxy=http://p:3128")
    assert run_step.created_by == "/bin/sh -c echo"
    assert p.unused_args == ()


@pytest.mark.parametrize("text, target, expected", [
    ("FROM busybox\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n", None, "default"),
    ("FROM busybox AS one\nFROM busybox AS two\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n", None, "two"),
    ("FROM busybox AS one\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\nFROM busybox AS two\n", "one", "one"),
])
def test_targetstage_names_the_stage_being_built(text, target, expected):
    p = plan(text, target=target)
    run_step = next(s for s in p.stages[-1].steps if s.run is not None)
    assert f"TARGETSTAGE={expected}" in run_step.run.env


def test_arg_history_lists_the_names_with_values_sorted():
    assert [h for h, _ in history("FROM busybox\nARG Z=1\nARG UNSET\nARG A=\nARG B\n", build_args={"B": "b"})] == [
        "/bin/sh -c #(nop) ARG Z", "/bin/sh -c #(nop) ARG Z", "/bin/sh -c #(nop) ARG A Z",
        "/bin/sh -c #(nop) ARG A B Z"]


def test_arg_defaults_expand_and_args_expand_in_instructions():
    c = config("FROM busybox\nARG BASE=/opt\nARG DIR=$BASE/app\nWORKDIR $DIR\nENV D=${DIR}\n")
    assert c.WorkingDir == "/opt/app" and c.Env[-1] == "D=/opt/app"


def test_arg_scope_ends_with_the_stage():
    p = plan("FROM busybox AS one\nARG X=1\nFROM busybox\nRUN echo $X\nCOPY --from=one /a /b\n")
    assert p.stage(1).steps[1].created_by == "/bin/sh -c echo $X"


def test_platform_args_are_global():
    images = Images(**{"img-amd64": BASE})
    p = plan("ARG TARGETARCH\nFROM img-$TARGETARCH\nARG TARGETPLATFORM\nRUN echo\n", images=images)
    assert "TARGETPLATFORM=linux/amd64" in p.stage(0).steps[-1].run.env


# --- stages -----------------------------------------------------------------------------------------------


MULTI = """FROM busybox AS build
RUN echo build > /out
FROM busybox AS unused
RUN echo never
FROM scratch AS final
COPY --from=build /out /out
FROM final AS extended
LABEL extended=yes
"""


def test_only_needed_stages_are_planned():
    p = plan(MULTI)
    assert [s.index for s in p.stages] == [0, 2, 3]
    assert p.target == 3 and p.total == 6
    assert [s.number for s in p.stages[-1].steps] == [5, 6]
    final = p.stage(2)
    assert final.base == "scratch" and final.image.architecture == "amd64"
    assert final.steps[1].copy.from_stage == 0
    extended = p.stage(3)
    assert extended.base_stage == 2 and extended.image.config.Labels == {"extended": "yes"}


def test_target_stage():
    p = plan(MULTI, target="BUILD")
    assert [s.index for s in p.stages] == [0] and p.target == 0
    with pytest.raises(NotFound, match="no stage named 'nope'"):
        plan(MULTI, target="nope")


def test_copy_from_a_stage_number_or_an_image():
    p = plan("FROM busybox\nRUN true\nFROM busybox\nCOPY --from=0 /a /b\nCOPY --from=alpine:3 /c /d\n")
    copies = [s.copy for s in p.stage(1).steps[1:]]
    assert copies[0].from_stage == 0 and copies[1].from_image == "alpine:3" and copies[1].from_stage is None


def test_stage_errors():
    with pytest.raises(InvalidArgument, match="duplicate stage name"):
        plan("FROM busybox AS a\nFROM busybox AS A\n")
    with pytest.raises(InvalidArgument, match="earlier stage"):
        plan("FROM busybox AS a\nCOPY --from=a /x /y\n")
    with pytest.raises(InvalidArgument, match="only ARG may come before FROM"):
        plan("ARG A\nENV B=1\nFROM busybox\n")
    with pytest.raises(InvalidArgument, match="invalid stage name"):
        plan("FROM busybox AS 1st\n")


def test_base_image_onbuild_triggers_run_first_and_are_not_inherited():
    p = plan("FROM onbuild\nRUN echo own\n")
    steps = p.stage(0).steps
    assert [(s.keyword, s.trigger) for s in steps] == [("FROM", False), ("RUN", True), ("ENV", True),
                                                        ("RUN", False)]
    assert "T=1" in steps[3].run.env
    assert p.stage(0).image.config.OnBuild is None


# --- RUN and COPY steps ---------------------------------------------------------------------------------


def test_run_steps():
    p = plan("FROM scratch\nUSER 1000\nWORKDIR /w\nRUN --network=host [\"make\", \"all\"]\n")
    run = p.stage(0).steps[-1].run
    assert run.args == ("make", "all") and run.user == "1000" and run.workdir == "/w" and run.network == "host"
    assert run.env == (DEFAULT_PATH,)  # a root without PATH still gets the default one
    with pytest.raises(InvalidArgument, match="--network=bridge"):
        plan("FROM busybox\nRUN --network=bridge true\n")


def test_copy_destinations():
    p = plan("""FROM busybox
WORKDIR /w
COPY a rel
COPY a .
COPY a b dir/
COPY --chown=nobody:1 --chmod=0640 a /abs/../x
ADD arch.tar /
COPY ["with space", "$BASEVAR/"]
""")
    copies = [s.copy for s in p.stage(0).steps if s.copy]
    assert [(c.dest, c.dest_text) for c in copies] == [
        ("/w/rel", "rel"), ("/w/", "."), ("/w/dir/", "dir/"), ("/x", "/abs/../x"), ("/", "/"), ("/w/base/", "base/")]
    assert copies[3].chown == "nobody:1" and copies[3].chmod == "0640"
    assert copies[4].add and copies[5].sources == ("with space",)


def test_copy_errors():
    with pytest.raises(InvalidArgument, match="several sources needs a directory"):
        plan("FROM busybox\nCOPY a b /dest\n")
    with pytest.raises(InvalidArgument, match="at least one source"):
        plan("FROM busybox\nCOPY a\n")
    assert plan("FROM busybox\nCOPY --chmod=u+x,go-w a /b\n").stage(0).steps[-1].copy.chmod == "u+x,go-w"
    for bad in ("u+y", "0888", "19999", "u", "+x,", "q=r"):
        with pytest.raises(InvalidArgument, match=re.escape(f"--chmod={bad}: ") + ".*octal bits like 0644"):
            plan(f"FROM busybox\nCOPY --chmod={bad} a /b\n")
    with pytest.raises(InvalidArgument, match="COPY cannot fetch URLs"):
        plan("FROM busybox\nCOPY http://x/y /b\n")
    with pytest.raises(Unimplemented, match="URLs together with other sources"):
        plan("FROM busybox\nADD https://x/y local /b/\n")
    with pytest.raises(InvalidArgument, match="not 'ftp://x/y'"):
        plan("FROM busybox\nADD ftp://x/y /b\n")
    with pytest.raises(InvalidArgument, match="--checksum=md5:00"):
        plan("FROM busybox\nADD --checksum=md5:00 https://x/y /b\n")


def test_add_of_urls():
    steps = plan("FROM busybox\nARG SUM=sha256:" + "ab" * 32 + "\nADD --checksum=$SUM https://host/dir/file.tgz?x=1 /d/\n"
                 "ADD http://host/ /e\n").stage(0).steps
    copy = steps[2].copy
    assert (copy.urls, copy.sources, copy.dest, copy.checksum) == \
        (("https://host/dir/file.tgz?x=1",), ("file.tgz",), "/d/", "sha256:" + "ab" * 32)
    assert steps[3].copy.sources == ("download",)


def test_missing_base_image_is_the_lookups_error():
    with pytest.raises(NotFound, match="no image nothere"):
        plan("FROM nothere\n")


def _steps(text):
    return plan(text).stage(0).steps


def test_run_here_documents_go_to_the_shell():
    steps = _steps("FROM busybox\nRUN <<EOF\necho $A\nEOF\nRUN cat <<-'X' > /f\n\tliteral $A\n\tX\n"
                   "RUN <<PY\n#!/usr/bin/python3\nprint(1)\nPY\n")
    assert steps[1].run.args == ("/bin/sh", "-c", "echo $A\n")  # alone: the document is the script
    assert steps[2].run.args == ("/bin/sh", "-c", "cat <<-'X' > /f\nliteral $A\nX\n")
    assert steps[2].created_by == "/bin/sh -c cat <<-'X' > /f\nliteral $A\nX\n"
    assert steps[1].run.script is None and steps[2].run.script is None


def test_a_shebang_here_document_is_run_as_an_executable_file():
    steps = _steps("FROM busybox\nRUN <<PY\n#!/usr/bin/python3\nprint(1)\nPY\n"
                   "RUN <<-'EOF'\n\t#!/bin/awk -f\n\tBEGIN { print 1 }\n\tEOF\n"
                   "RUN cat <<EOF\n#!/bin/sh\nEOF\n"
                   "SHELL [\"/bin/bash\", \"-e\", \"-c\"]\nRUN <<X\n#!/bin/sh\nX\n")
    # as BuildKit: the document is a file in /dev/pipes, named after its delimiter, that the shell runs
    assert steps[1].run.args == ("/bin/sh", "-c", "/dev/pipes/PY")
    assert steps[1].run.script == ("PY", "#!/usr/bin/python3\nprint(1)\n")
    assert steps[1].created_by == "/bin/sh -c <<PY\n#!/usr/bin/python3\nprint(1)\nPY\n"
    assert steps[2].run.script == ("EOF", "#!/bin/awk -f\nBEGIN { print 1 }\n")  # <<-: tabs stripped first
    assert steps[3].run.script is None  # not alone: the shell reads it as a here-document
    assert steps[5].run.args == ("/bin/bash", "-e", "-c", "/dev/pipes/X")


@pytest.mark.parametrize(("text", "match"), [
    ("RUN <<..\n#!/bin/sh\n..\n", "cannot be named '..'"),
    ("RUN --mount=type=tmpfs,target=/dev/pipes <<EOF\n#!/bin/sh\nEOF\n", "covers /dev/pipes"),
])
def test_bad_shebang_here_documents(text, match):
    with pytest.raises(InvalidArgument, match=match):
        plan("FROM busybox\n" + text)


def test_copy_here_documents_are_files_named_after_their_delimiters():
    steps = _steps("FROM busybox\nARG A=1\nCOPY <<one <<'two' /d/\n$A ${A}\none\n$A\ntwo\n")
    copy = steps[2].copy
    assert (copy.sources, copy.dest, copy.inline) == (("one", "two"), "/d/", (("one", "1 1\n"), ("two", "$A\n")))


@pytest.mark.parametrize(("body", "expanded"), [
    # BuildKit's testCopyHeredocSpecialSymbols, and the rule behind it: a backslash makes the next
    # character literal and goes (before a newline too: the lines stay apart); quotes are text
    ("\\", "\n"),  # the body is each text and a newline
    ("\\\\", "\\\n"),
    ("\\$", "$\n"),
    ("\\$A \\${A} $A", "$A ${A} 1\n"),
    ('"quotes in file"', '"quotes in file"\n'),
    ("'$A' \"$A\" ${A:-'x'} ${B:-'x'}", "'1' \"1\" 1 'x'\n"),
    ("a\\\nb\\q", "a\nbq\n"),
])
def test_unquoted_copy_here_documents_expand_as_buildkit(body, expanded):
    for escape in ("", "# escape=`\n"):  # the escape directive does not apply to the body
        steps = _steps(f"{escape}FROM busybox\nARG A=1\nCOPY <<EOF /f\n{body}\nEOF\n")
        assert steps[2].copy.inline == (("EOF", expanded),), (escape, body)
        raw = _steps(f"{escape}FROM busybox\nARG A=1\nCOPY <<'EOF' /f\n{body}\nEOF\n")
        assert raw[2].copy.inline == (("EOF", body + "\n"),)


@pytest.mark.parametrize(("text", "error", "match"), [
    ("COPY <<EOF file /d/\nx\nEOF\n", Unimplemented, "together with other sources"),
    ("COPY --from=busybox <<EOF /d\nx\nEOF\n", InvalidArgument, "cannot copy here-documents"),
    ("COPY <<.. /d\nx\n..\n", InvalidArgument, "cannot be named"),
])
def test_bad_copy_here_documents(text, error, match):
    with pytest.raises(error, match=match):
        plan("FROM busybox\n" + text)


def test_run_mounts_are_planned():
    p = plan("FROM busybox AS tools\nFROM busybox\nARG D=/c\nWORKDIR /w\n"
             "RUN --mount=type=cache,target=$D,mode=0700,uid=1,sharing=locked "
             "--mount=from=tools,source=/etc,target=rel --mount=type=tmpfs,dst=/t,size=1024 "
             "--mount=target=/ctx,rw echo\n")
    cache, bind, tmpfs, ctx = p.stage(1).steps[-1].run.mounts
    assert (cache.type, cache.target, cache.id, cache.mode, cache.uid, cache.readonly) == \
        ("cache", "/c", "/c", 0o700, 1, False)
    assert (bind.type, bind.target, bind.source, bind.from_stage, bind.readonly) == ("bind", "/w/rel", "etc", 0, True)
    assert (tmpfs.type, tmpfs.target, tmpfs.size) == ("tmpfs", "/t", 1024)
    assert (ctx.type, ctx.source, ctx.from_stage, ctx.readonly) == ("bind", "", None, False)


@pytest.mark.parametrize(("flag", "error", "match"), [
    ("--mount=type=secret,id=x,target=/s,size=1", InvalidArgument, "secret mount has no option size"),
    ("--mount=type=volume,target=/v", InvalidArgument, "unknown mount type"),
    ("--mount=type=cache", InvalidArgument, "needs a target"),
    ("--mount=type=tmpfs,target=/t,source=x", InvalidArgument, "has no option source"),
    ("--mount=type=cache,target=/c,sharing=sometimes", InvalidArgument, "sharing=sometimes"),
    ("--mount=target=/a --mount=type=tmpfs,target=/a", InvalidArgument, "same target"),
    ("--mount=target=/", InvalidArgument, "cannot cover the root"),
    ("--mount=typ=tmpfs,target=/t", InvalidArgument, "unknown key 'typ' in --mount"),
])
def test_bad_run_mounts(flag, error, match):
    with pytest.raises(error, match=match):
        plan(f"FROM busybox\nRUN {flag} true\n")


@pytest.mark.parametrize("trigger, message", [
    ("BOGUS x", "unknown instruction: BOGUS"),
    ("FROM x", "FROM is not allowed as an ONBUILD trigger"),
    ("ONBUILD RUN x", "ONBUILD is not allowed as an ONBUILD trigger"),
    ("ENV", "ENV requires at least one argument"),
])
def test_a_bad_onbuild_trigger_is_named_with_its_from(trigger, message):
    images = Images(bad=BASE.replace(config=BASE.config.replace(OnBuild=(trigger,))))
    with pytest.raises(InvalidArgument) as info:
        plan("FROM busybox\nFROM bad\nRUN echo\n", images=images)
    assert info.value.field == f"Dockerfile:2: ONBUILD trigger {trigger!r} of bad"
    assert message in str(info.value)


@pytest.mark.parametrize("text", ["ARG S=build\nCOPY --from=$S /a /b\n", "COPY --from=${S:-build} /a /b\n"])
def test_copy_from_a_variable_says_expansion_is_not_supported(text):
    with pytest.raises(InvalidArgument, match="variable expansion is not supported in COPY --from"):
        plan("FROM busybox AS build\nFROM busybox\n" + text)


@pytest.mark.parametrize("text, sources, dest", [
    ("COPY a $EMPTY\n", ("a",), "/w/"),
    ("COPY a ${UNSET}\n", ("a",), "/w/"),
    ('COPY ["a", "$EMPTY"]\n', ("a",), "/w/"),
    ("COPY $FILES /d/\n", ("x", "y"), "/d/"),
    ("COPY a $EMPTY/sub/\n", ("a",), "/sub/"),
])
def test_an_empty_destination_is_the_workdir(text, sources, dest):
    step = plan("FROM busybox\nWORKDIR /w\nARG EMPTY=\nARG FILES='x y'\n" + text).stage(0).steps[-1].copy
    assert (step.sources, step.dest) == (sources, dest)


def test_an_image_from_scratch_gets_the_default_path():
    assert config("FROM scratch\nENV A=1\n").Env == (DEFAULT_PATH, "A=1")
    assert config("FROM scratch\nENV PATH=/bin\n").Env == ("PATH=/bin",)
    assert config("FROM busybox\n").Env == (DEFAULT_PATH, "BASEVAR=base")  # a base's Env is kept as it is


def test_onbuild_here_documents_are_kept_and_run_in_the_child():
    parent = config("FROM busybox\nONBUILD RUN <<EOF\necho from a trigger\nEOF\nONBUILD COPY <<-f.txt /f\n\tbody\n\tf.txt\n")
    assert parent.OnBuild == ("RUN <<EOF\necho from a trigger\nEOF", "COPY <<-f.txt /f\nbody\nf.txt")
    images = Images(parent=BASE.replace(config=parent))
    child = plan("FROM parent\n", images=images).stage(0)
    run, copy = [s for s in child.steps if s.run or s.copy]
    assert "echo from a trigger" in " ".join(run.run.args)
    assert copy.copy.inline == (("f.txt", "body\n"),)


@pytest.mark.parametrize(("text", "field"), [
    ("ENV A=${\n", "Dockerfile:2: ${"),
    ("COPY <<EOF /f\nfine\n${B:?must be set}\nEOF\n", "Dockerfile:2: the here-document EOF"),
    ("LABEL x=\"open\n", "Dockerfile:2"),
])
def test_errors_of_word_processing_name_the_line(text, field):
    with pytest.raises(InvalidArgument) as caught:
        plan("FROM busybox\n" + text)
    assert caught.value.field.startswith(field), caught.value.field


@pytest.mark.parametrize("text", [
    "RUN --mount=type=cache,target=/c,uid=99999999999999999999 true\n",
    "RUN --mount=type=cache,target=/c,gid=\u00b2 true\n",
])
def test_mount_ids_out_of_range_are_refused(text):
    with pytest.raises(InvalidArgument, match="no option"):
        plan("FROM busybox\n" + text)


@pytest.mark.parametrize(("text", "match"), [
    ("EXPOSE \u00b2\n", "invalid port"),
    ("HEALTHCHECK --retries=\u00b2 CMD true\n", "whole number"),
    ("STOPSIGNAL \u00b2\n", "not a signal"),
    ("HEALTHCHECK --interval=\u00b2s CMD true\n", "interval"),
])
def test_digits_that_are_not_ascii_are_refused(text, match):
    with pytest.raises(InvalidArgument, match=match):
        plan("FROM busybox\n" + text)
