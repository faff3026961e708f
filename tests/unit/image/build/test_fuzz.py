"""No input makes the Dockerfile parser, the planner or the ignore rules fail with anything but a
clear error.

Hypothesis writes Dockerfiles from every instruction, flag and the characters that mean
something to them (quotes, escapes, ``$``, braces, here-document markers, JSON brackets) and
plans them against a fake image store: the only exceptions allowed are boxen's own errors,
which the CLI prints as one line naming the place, never as a traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from boxen.common.errors import BoxenError
from boxen.image.build.context import IgnoreRules
from boxen.image.build.dockerfile import parse
from boxen.image.build.plan import DEFAULT_PATH, plan_build
from boxen.oci.image import ContainerConfig, ImageConfig, Platform, RootFS

AMD64 = Platform("amd64", "linux")
BASE = ImageConfig("amd64", "linux", RootFS("layers", ("sha256:" + "a" * 64,)), config=ContainerConfig(
    Env=(DEFAULT_PATH,), Cmd=("/bin/sh",), OnBuild=("RUN echo $X", "COPY a b")))

KEYWORDS = ("FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
            "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER", "from", "Run")
FLAGS = ("--from=", "--chown=", "--chmod=", "--mount=", "--mount=type=", "--network=", "--platform=", "--link",
         "--parents", "--exclude=", "--unpack=", "--checksum=", "--interval=", "--retries=", "--start-period=",
         "--mount=type=cache,target=", "--mount=type=secret,id=", "--mount=type=bind,from=")
PIECES = ("$", "${", "}", "${A:-", "${A#", "${A/", "$1", "$@", "\\", "\\\n", "\n", "'", '"', "[", "]", ",", "=",
          "<<", "<<-", "<<'E'", "E\n", "EOF", "\nEOF\n", " ", "\t", "#!/bin/sh\n", "AS", " AS b", "scratch",
          "busybox", "0", "/", "..", "*", "?", "-", ":", "A", "a", "b", "\x00", "\x7f", "é", "%", "%%", "##", "//")

text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=12).map("".join)
line = st.builds(lambda k, flags, args: f"{k} {' '.join(flags)} {args}", st.sampled_from(KEYWORDS),
                 st.lists(st.builds(str.__add__, st.sampled_from(FLAGS), text), max_size=2), text)
dockerfile = st.builds(lambda directive, first, lines: directive + first + "\n" + "\n".join(lines) + "\n",
                       st.sampled_from(("", "# escape=`\n", "# syntax=x\n", "# escape=x\n")),
                       st.sampled_from(("FROM busybox", "FROM scratch AS s", "ARG A=1\nFROM busybox", "")),
                       st.lists(line, max_size=6))


def lookup(reference, platform):
    return BASE


def _plan(source: str) -> None:
    try:
        plan_build(parse(source), lookup=lookup, platform=AMD64, build_args={"A": "x", "HTTP_PROXY": "p"})
    except BoxenError as exc:
        assert str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfile)
@example("FROM busybox\nRUN [ \"$(id -u)\" = \"0\" ]\nCMD [\"echo\",[\"x\"]]\n")
@example("FROM busybox\nCOPY <<EOF /f\n${\nEOF\n")
@example("FROM busybox\nRUN <<..\n#!/bin/sh\n..\n")
@example("FROM busybox\nENV A=${A/\n")
@example("FROM busybox\nONBUILD RUN <<EOF\nx\nEOF\n")
@example("FROM busybox\nHEALTHCHECK --interval=1y CMD x\n")
def test_no_input_gives_a_traceback(source):
    _plan(source)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="*?[]^!-\\/.az{}", max_size=8), max_size=4),
       st.text(alphabet="az/.[]", max_size=8))
@example(["[z-a]"], "a")
@example(["[]"], "a")
def test_no_ignore_file_gives_a_traceback(lines, path):
    try:
        rules = IgnoreRules(lines)
    except BoxenError as exc:
        assert str(exc) and exc.field.startswith(".dockerignore:")
        return
    rules.excluded(path.strip("/"))
