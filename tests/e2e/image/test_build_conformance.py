"""A conformance sweep of boxen-image build, modelled on BuildKit's Dockerfile frontend tests
(``frontend/dockerfile/dockerfile_*_test.go``): small Dockerfiles, one per behaviour, each built
from the busybox test image and checked by the files and the config of the image it gives, as
BuildKit's tests check them. The areas: ARG/ENV expansion, here-documents, COPY/ADD (owners,
modes, wildcards, symlinks, directories, archives), WORKDIR/USER, ONBUILD, multi-stage
``--from``, ``.dockerignore``, SHELL, CMD/ENTRYPOINT, EXPOSE/VOLUME/LABEL/STOPSIGNAL/HEALTHCHECK,
``RUN --mount``; and bad input, which must end in a clear error, never a traceback.

The expectations are BuildKit's (its tests' or, where they have none, what ``docker buildx``
gives), not boxen's own reading. The same cases are built by buildah 1.28 too, from the test
image pushed to a loopback registry, and checked against the same expectations: where buildah
reads a case otherwise, :data:`BUILDAH_DEVIATIONS` says how, and the case is an expected failure
for it (so a buildah that catches up shows as an unexpected pass).
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import uuid

import pytest

import test_build_buildah
import test_build_cli
from test_build_cli import BASE

boxen = test_build_cli.boxen  # the module-scoped fixture: a data root with the busybox test image
buildah, base = test_build_buildah.buildah, test_build_buildah.base  # (and conftest's registry)

CACHE_ID = f"boxen-conformance-{uuid.uuid4().hex}"


class Link(str):
    """A symbolic link in a test's context, to this target."""


class Fifo:
    """A named pipe in a test's context."""


class Mode:
    """A context file with this content and mode."""

    def __init__(self, content: str, mode: int) -> None:
        self.content = content
        self.mode = mode


def _archive(compress: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        data = b"from the archive\n"
        info = tarfile.TarInfo("inner/file.txt")
        info.size = len(data)
        info.uid = info.gid = 1234
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Case:
    """One Dockerfile: its context ``files``, ``build_args``, and what the image must hold:
    ``files`` (path -> content, ``None`` for absent, or a predicate on the path), ``config``
    (keys of the image's container config and their values), or the ``error`` the build must
    fail with."""

    def __init__(self, name: str, dockerfile: str, *, context: dict | None = None, build_args: tuple = (),
                 files: dict | None = None, config: dict | None = None, error: str | None = None) -> None:
        self.name = name
        self.template = dockerfile.replace("$CACHE_ID", CACHE_ID)
        self.dockerfile = self.template.replace("$BASE", BASE)
        self.context = context or {}
        self.build_args = build_args
        self.files = files or {}
        self.config = config or {}
        self.error = error


def _mode(expected: int, *, uid: int | None = None, gid: int | None = None, kind=stat.S_ISREG):
    def check(path) -> bool:
        st = os.lstat(path)
        return (kind(st.st_mode) and stat.S_IMODE(st.st_mode) == expected
                and (uid is None or st.st_uid == uid) and (gid is None or st.st_gid == gid))
    check.__doc__ = f"mode {expected:o}, owner {uid}:{gid}"
    return check


def _link(target: str):
    def check(path) -> bool:
        return os.path.islink(path) and os.readlink(path) == target
    check.__doc__ = f"a symlink to {target}"
    return check


def _owner(uid: int, gid: int):
    def check(path) -> bool:
        st = os.lstat(path)
        return (st.st_uid, st.st_gid) == (uid, gid)
    check.__doc__ = f"owned by {uid}:{gid}"
    return check


CASES = [
    # --- ARG and ENV ------------------------------------------------------------------------
    Case("env-expansion", """FROM $BASE
ARG A=1
ENV B=$A C=${A}x D="${UNSET:-dflt}" E='$A'
ENV A=2 F=$A
RUN echo "$A $B $C $D $E $F" > /out
""", files={"out": "2 1 1x dflt $A 1\n"}, config={"Env": lambda env: {"B=1", "C=1x", "E=$A", "F=1", "A=2"} <= set(env)}),
    Case("arg-global-scope", """ARG V=global
FROM $BASE
RUN echo "[$V]" > /before
ARG V
RUN echo "[$V]" > /after
""", files={"before": "[]\n", "after": "[global]\n"}),
    Case("build-arg-beats-default", """FROM $BASE
ARG X=default
ARG Y=kept
RUN echo "$X $Y" > /x
""", build_args=("X=given",), files={"x": "given kept\n"}, config={"Env": lambda env: not any(
        e.startswith(("X=", "Y=")) for e in env)}),
    Case("arg-pattern-operators", """FROM $BASE
ARG F=archive.tar.gz
ENV P=${F%%.*} S=${F#*.} R=${F/tar/zip} L=${F%.*} N=${#}x
""", config={"Env": lambda env: {"P=archive", "S=tar.gz", "R=archive.zip.gz", "L=archive.tar", "N=x"} <= set(env)}),
    Case("escaped-backslash-ends-the-line", """FROM $BASE
ENV C a\\\\
ENV D=after
""", config={"Env": lambda env: {"C=a\\", "D=after"} <= set(env)}),
    Case("escape-directive", """# escape=`
FROM $BASE
ENV W=C:\\dir\\x
RUN echo one `
    two > /joined
""", files={"joined": "one two\n"}, config={"Env": lambda env: "W=C:\\dir\\x" in env}),
    Case("arg-in-from", """ARG REPO=localhost/test
ARG TAG=busybox
FROM ${REPO}:$TAG AS Named
RUN echo ok > /ok
FROM scratch
COPY --from=named /ok /ok
""", files={"ok": "ok\n"}),
    Case("env-legacy-form", """FROM $BASE
ENV X  two words  here
ENV Y=$X
""", config={"Env": lambda env: {"X=two words  here", "Y=two words  here"} <= set(env)}),
    Case("continuation-with-comment", """FROM $BASE
RUN echo a \\
# a comment inside the continuation
    b \\

    c > /abc
""", files={"abc": "a b c\n"}),
    Case("lowercase-keywords", """from $BASE as lower
run echo hi > /hi
env K=v
""", files={"hi": "hi\n"}, config={"Env": lambda env: "K=v" in env}),
    Case("automatic-platform-args", """FROM $BASE AS named
ARG TARGETOS TARGETARCH TARGETSTAGE
RUN echo "$TARGETOS $TARGETSTAGE" > /p && test -n "$TARGETARCH"
""", files={"p": "linux named\n"}),

    # --- here-documents -----------------------------------------------------------------------
    Case("heredoc-copy-special-symbols", """FROM $BASE
COPY <<EOF quotefile
"quotes in file"
EOF
COPY <<EOF slashfile1
\\
EOF
COPY <<EOF slashfile2
\\\\
EOF
COPY <<EOF slashfile3
\\$
EOF
COPY <<"EOF" rawslashfile1
\\
EOF
COPY <<"EOF" rawslashfile2
\\\\
EOF
COPY <<"EOF" rawslashfile3
\\$
EOF
""", files={"quotefile": '"quotes in file"\n', "slashfile1": "\n", "slashfile2": "\\\n", "slashfile3": "$\n",
            "rawslashfile1": "\\\n", "rawslashfile2": "\\\\\n", "rawslashfile3": "\\$\n"}),
    Case("heredoc-var-substitution", """FROM $BASE
ARG name=world
COPY <<EOF /dest/c1
Hello ${name}!
EOF
COPY <<'EOF' /dest/c2
Hello ${name}!
EOF
COPY <<"EOF" /dest/c3
Hello ${name}!
EOF
COPY <<EOF /dest/q1
Hello '${name}'!
EOF
COPY <<EOF /dest/q2
Hello "${name}"!
EOF
RUN <<EOF
greeting="Hello"
echo "${greeting} ${name}!" > /dest/r1
EOF
RUN <<EOF
name="new world"
echo "Hello ${name}!" > /dest/r2
EOF
""", files={"dest/c1": "Hello world!\n", "dest/c2": "Hello ${name}!\n", "dest/c3": "Hello ${name}!\n",
            "dest/q1": "Hello 'world'!\n", "dest/q2": 'Hello "world"!\n', "dest/r1": "Hello world!\n",
            "dest/r2": "Hello new world!\n"}),
    Case("heredoc-shebang-runs-as-a-file", """FROM $BASE
RUN <<EOF
#!/bin/awk -f
BEGIN {
\tprint "hello" >> "/dest"
\tprint "world" >> "/dest"
}
EOF
RUN <<-SCRIPT
\t#!/bin/sh
\techo "$0" > /argv0
\tif read -r line; then echo "read $line" > /stdin; else echo empty > /stdin; fi
\tSCRIPT
USER nobody
RUN <<EOF
#!/bin/sh
id -u > /tmp/uid
EOF
""", files={"dest": "hello\nworld\n", "argv0": "/dev/pipes/SCRIPT\n", "stdin": "empty\n", "tmp/uid": "65534\n",
            "dev/pipes": None}),
    Case("heredoc-indent", """FROM $BASE
COPY <<EOF /dest/foo-copy
\tfoo
EOF
COPY <<-EOF /dest/bar-copy
\tbar
EOF
RUN <<-EOF
echo "
\tbar" > /dest/bar-run
EOF
RUN <<-EOF
#!/bin/sh
echo "
\tbar" > /dest/bar2-run
EOF
RUN <<-EOF sh > /dest/bar3-run
echo "
\tbar"
EOF
""", files={"dest/foo-copy": "\tfoo\n", "dest/bar-copy": "bar\n", "dest/bar-run": "\nbar\n",
            "dest/bar2-run": "\nbar\n", "dest/bar3-run": "\nbar\n"}),
    Case("heredoc-complex", """FROM $BASE
WORKDIR /dest
RUN cat <<EOF1 | tr '[:upper:]' '[:lower:]' > ./out1; \\
\tcat <<EOF2 | tr '[:lower:]' '[:upper:]' > ./out2
hello WORLD
EOF1
HELLO world
EOF2
RUN <<EOF 3<<IN1 4<<IN2 awk -f -
BEGIN {
\twhile ((getline line < "/proc/self/fd/3") > 0)
\t\tprint tolower(line) > "./fd3"
\twhile ((getline line < "/proc/self/fd/4") > 0)
\t\tprint toupper(line) > "./fd4"
}
EOF
hello WORLD
IN1
HELLO world
IN2
""", files={"dest/out1": "hello world\n", "dest/out2": "HELLO WORLD\n", "dest/fd3": "hello world\n",
            "dest/fd4": "HELLO WORLD\n"}),
    Case("heredoc-fake-shell", """FROM $BASE
SHELL ["/bin/awk"]
RUN <<EOF
BEGIN {
\tprint "foo" > "/dest"
}
EOF
""", files={"dest": "foo\n"}),

    # --- COPY and ADD ---------------------------------------------------------------------------
    Case("copy-chown-chmod", """FROM $BASE
COPY --chown=1000:1001 --chmod=0750 a /a
COPY --chown=nobody b /b
COPY --chmod=go-w,u+x c /c
COPY --chmod=0700 dir /dir/
""", context={"a": "a", "b": "b", "c": Mode("c", 0o666), "dir/f": Mode("f", 0o644)},
        files={"a": _mode(0o750, uid=1000, gid=1001), "b": _owner(65534, 65534), "c": _mode(0o744),
               "dir/f": _mode(0o700)}),
    Case("copy-wildcards", """FROM $BASE
COPY *.txt /dst/
COPY nomatch* /none/
COPY s?b/*.md /md/
""", context={"a.txt": "a", "b.txt": "b", "c.md": "c", "sub/x.md": "x", "sub/y.txt": "y"},
        files={"dst/a.txt": "a", "dst/b.txt": "b", "dst/c.md": None, "md/x.md": "x", "md/y.txt": None}),
    Case("copy-directory-contents", """FROM $BASE
COPY dir /d/
COPY dir/sub /s
""", context={"dir/top": "t", "dir/sub/f": "f", "dir/sub/deeper/g": "g"},
        files={"d/top": "t", "d/sub/f": "f", "d/dir": None, "s/f": "f", "s/deeper/g": "g"}),
    Case("copy-symlinks", """FROM $BASE
COPY link /one/
COPY link /named
COPY tree /tree/
""", context={"target.txt": "target content", "link": Link("target.txt"), "tree/f": "f", "tree/ln": Link("f")},
        files={"one/link": "target content", "one/target.txt": None, "named": "target content",
               "tree/ln": _link("f")}),
    Case("copy-destinations", """FROM $BASE
COPY a /newdir/
COPY a /file
WORKDIR /w
COPY a .
COPY a rel/
COPY a $EMPTY
COPY .hidden .config/x /h/
""", context={"a": "a", ".hidden": "h", ".config/x": "x"},
        files={"newdir/a": "a", "file": "a", "w/a": "a", "w/rel/a": "a", "h/.hidden": "h", "h/x": "x"}),
    Case("copy-parents-and-exclude", """FROM $BASE
COPY --parents a/b/f x/y /p/
COPY --exclude=*.md --exclude=sub/skip src/ /ex/
COPY --link a/b/f /linked
""", context={"a/b/f": "f", "x/y": "y", "src/keep.txt": "k", "src/doc.md": "d", "src/sub/skip": "s",
              "src/sub/ok": "o"},
        files={"p/a/b/f": "f", "p/x/y": "y", "ex/keep.txt": "k", "ex/doc.md": None, "ex/sub/skip": None,
               "ex/sub/ok": "o", "linked": "f"}),
    Case("add-archives", """FROM $BASE
ADD arch.tar.gz /x/
COPY arch.tar.gz /y/
ADD --chown=5:6 arch.tar /z/
ADD --unpack=false arch.tar /u/
""", context={"arch.tar.gz": _archive(True), "arch.tar": _archive(False)},
        files={"x/inner/file.txt": "from the archive\n", "y/arch.tar.gz": lambda p: os.path.isfile(p),
               "z/inner/file.txt": _owner(5, 6), "u/arch.tar": lambda p: os.path.isfile(p)}),
    Case("copy-from-stage-and-image", """FROM $BASE AS first
RUN echo first > /first
FROM $BASE AS unused
RUN exit 1
FROM scratch
COPY --from=first /first /from-name
COPY --from=0 /first /from-index
COPY --from=$BASE /bin/busybox /bb
""", files={"from-name": "first\n", "from-index": "first\n", "bb": lambda p: os.path.getsize(p) > 100000},
        config={"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}),

    Case("copy-into-existing-directory", """FROM $BASE
RUN mkdir /existing
COPY a /existing
COPY dir/ /made
COPY a /dotted/.
COPY --from=$BASE /bin/sh /sh
""", context={"a": "a", "dir/f": "f"},
        files={"existing/a": "a", "made/f": "f", "dotted/a": "a", "sh": lambda p: os.path.getsize(p) > 100000}),
    Case("copy-owners-by-name-and-variable", """FROM $BASE
ARG U=5
COPY --chown=nobody:nogroup a /named
COPY --chown=$U:$U a /numbered
COPY --chown=${U} a /user-only
COPY --chmod=755 <<EOF /script.sh
#!/bin/sh
EOF
ADD <<EOF /added
added $U
EOF
""", context={"a": "a"},
        files={"named": _owner(65534, 65534), "numbered": _owner(5, 5), "user-only": _owner(5, 5),
               "script.sh": _mode(0o755), "added": "added 5\n"}),
    Case("fifos-are-made-not-read", """FROM $BASE
COPY fifo /f
ADD fifo /added
COPY . /all/
""", context={"fifo": Fifo()}, files={"f": lambda p: stat.S_ISFIFO(os.lstat(p).st_mode),
                                       "added": lambda p: stat.S_ISFIFO(os.lstat(p).st_mode),
                                       "all/fifo": lambda p: stat.S_ISFIFO(os.lstat(p).st_mode)}),
    Case("add-a-file-that-only-looks-like-an-archive", """FROM $BASE
ADD fake.tar.gz /f/
""", context={"fake.tar.gz": "not an archive"}, files={"f/fake.tar.gz": "not an archive"}),
    Case("env-quotes-and-escapes", """FROM $BASE
ENV A="x y" B='$A' C=\\$A D=${A:+set} E="a\\"b" F=a\\ b
RUN echo "$A|$B|$C|$D|$E|$F" > /env
""", files={"env": 'x y|$A|$A||a"b|a b\n'}),  # (D sees A as it was before this ENV: unset)
    Case("json-run-and-numeric-user", """FROM $BASE
ENV A=1
RUN ["sh", "-c", "echo $A > /j"]
USER 1234:5678
RUN id -u > /tmp/u && id -g >> /tmp/u
""", files={"j": "1\n", "tmp/u": "1234\n5678\n"}, config={"User": "1234:5678"}),
    Case("workdir-relative-at-first", """FROM scratch
WORKDIR rel
COPY --from=$BASE /bin/busybox ./bb
""", files={"rel/bb": lambda p: os.path.isfile(p)}, config={"WorkingDir": "/rel"}),
    Case("stage-inherits-config", """FROM $BASE AS base
ENV FROM_BASE=1
WORKDIR /app
USER nobody
FROM base
RUN pwd > /tmp/pwd && echo $FROM_BASE >> /tmp/pwd
""", files={"tmp/pwd": "/app\n1\n"}, config={"User": "nobody", "WorkingDir": "/app"}),
    Case("mount-defaults-and-variables", """FROM $BASE
ARG T=/mnt/t
RUN --mount=target=/ctx ls /ctx > /ls
RUN --mount=type=tmpfs,target=$T test -d /mnt/t && echo ok > /tmpfs-var
""", context={"x": "x", "y": "y"}, files={"ls": "Dockerfile\nx\ny\n", "tmpfs-var": "ok\n", "ctx": None}),
    Case("config-spellings", """FROM $BASE
EXPOSE 80/TCP 53/Udp
STOPSIGNAL 9
LABEL multi="a=b" \\
      second=2
ENTRYPOINT []
""", config={"ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "StopSignal": "9",
             "Labels": {"multi": "a=b", "second": "2"}, "Entrypoint": None}),

    # --- WORKDIR, USER, ONBUILD -------------------------------------------------------------------
    Case("workdir-and-user", """FROM $BASE
USER nobody
WORKDIR /home/nobody/w
RUN id -u > uid && pwd > pwd
WORKDIR sub
WORKDIR ${PWDVAR:-x}
""", files={"home/nobody/w": _owner(65534, 65534), "home/nobody/w/uid": "65534\n",
            "home/nobody/w/pwd": "/home/nobody/w\n"},
        config={"User": "nobody", "WorkingDir": "/home/nobody/w/sub/x"}),
    Case("onbuild-from-a-stage", """FROM $BASE AS parent
ONBUILD RUN echo triggered > /trig
ONBUILD RUN <<EOF
echo heredoc > /hd
EOF
FROM parent
RUN cat /trig /hd > /seen
""", files={"seen": "triggered\nheredoc\n"}, config={"OnBuild": None}),

    # --- context ------------------------------------------------------------------------------------
    Case("dockerignore", """FROM $BASE
COPY . /ctx/
""", context={".dockerignore": "*.log\n!keep.log\nsub/**/x\n", "a.log": "a", "keep.log": "k", "sub/d/x": "x",
              "sub/d/y": "y"},
        files={"ctx/a.log": None, "ctx/keep.log": "k", "ctx/sub/d/x": None, "ctx/sub/d/y": "y"}),
    Case("dockerfile-dockerignore-wins", """FROM $BASE
COPY . /ctx/
""", context={".dockerignore": "a\n", "Dockerfile.dockerignore": "b\n", "a": "a", "b": "b"},
        files={"ctx/a": "a", "ctx/b": None}),

    # --- SHELL, CMD, ENTRYPOINT, config -----------------------------------------------------------
    Case("shell-form-uses-shell", """FROM $BASE
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo ok > /ran
CMD echo hi
""", files={"ran": "ok\n"}, config={"Shell": ["/bin/busybox", "sh", "-c"],
                                      "Cmd": ["/bin/busybox", "sh", "-c", "echo hi"]}),
    Case("healthcheck-none", """FROM $BASE
HEALTHCHECK CMD ["true"]
HEALTHCHECK NONE
""", config={"Healthcheck": {"Test": ["NONE"]}}),
    Case("cmd-and-entrypoint", """FROM $BASE
CMD ["a", "b"]
ENTRYPOINT ["/bin/echo"]
""", config={"Cmd": ["a", "b"], "Entrypoint": ["/bin/echo"]}),
    Case("entrypoint-resets-inherited-cmd", """FROM $BASE
ENTRYPOINT top -b
""", config={"Cmd": None, "Entrypoint": ["/bin/sh", "-c", "top -b"]}),
    Case("json-looking-shell-form", """FROM $BASE
RUN [ "$(id -u)" = "0" ] && echo root > /root_ok
CMD ["echo",["x"]]
""", files={"root_ok": "root\n"}, config={"Cmd": ["/bin/sh", "-c", '["echo",["x"]]']}),
    Case("config-instructions", """FROM $BASE
ARG P=9000
EXPOSE 80 443/udp 8000-8001 $P
VOLUME ["/data"]
VOLUME /logs
LABEL a=b "c d"=e
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s --retries=2 CMD true
""", config={"ExposedPorts": {"80/tcp": {}, "443/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "9000/tcp": {}},
             "Volumes": {"/data": {}, "/logs": {}}, "Labels": {"a": "b", "c d": "e"}, "StopSignal": "SIGKILL",
             "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 2}}),

    # --- RUN --mount ----------------------------------------------------------------------------
    Case("run-mounts", """FROM $BASE AS s
RUN echo from-stage > /s
FROM $BASE
RUN --mount=type=bind,source=f,target=/m cat /m > /bound
RUN --mount=from=s,target=/st cat /st/s > /staged
RUN --mount=type=cache,target=/c,id=$CACHE_ID echo 1 >> /c/n
RUN --mount=type=cache,target=/c,id=$CACHE_ID echo 1 >> /c/n
RUN --mount=type=cache,target=/c,id=$CACHE_ID,ro wc -l < /c/n > /count
RUN --mount=type=tmpfs,target=/t,size=1m touch /t/x && grep ' /t ' /proc/mounts | cut -d' ' -f3 > /tfs
""", context={"f": "bound content\n"},
        files={"bound": "bound content\n", "staged": "from-stage\n", "count": "2\n", "tfs": "tmpfs\n",
               "m": None, "st": None, "c": None, "t": None}),

    # --- bad input: clear errors, no traceback -------------------------------------------------------
    Case("unknown-mount-key", "FROM $BASE\nRUN --mount=typ=tmpfs,target=/x true\n", error="unknown key 'typ'"),
    Case("copy-from-variable", "FROM $BASE\nARG V=x\nCOPY --from=$V /a /b\n",
         error="variable expansion is not supported"),
    Case("missing-source", "FROM $BASE\nCOPY nothere /x\n", error="nothere"),
    Case("run-fails", "FROM $BASE\nRUN exit 3\n", error="exited with code 3"),
    Case("bad-substitution", "FROM $BASE\nENV A=${\n", error="Dockerfile:2"),
    Case("nul-in-an-instruction", "FROM $BASE\nWORKDIR /a\x00b\n", error="Dockerfile:2: a NUL character"),
    Case("chown-out-of-range", "FROM $BASE\nCOPY --chown=99999999999999999999 Dockerfile /d\n", error="is not an ID"),
    Case("unterminated-heredoc", "FROM $BASE\nRUN <<EOF\necho\n", error="has no end line"),
]


def _write_context(root, case: Case, base: str = BASE) -> None:
    root.mkdir()
    (root / "Dockerfile").write_text(case.template.replace("$BASE", base))
    for name, value in case.context.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Link):
            os.symlink(str(value), path)
        elif isinstance(value, Fifo):
            os.mkfifo(path)
        elif isinstance(value, Mode):
            path.write_text(value.content)
            os.chmod(path, value.mode)
        elif isinstance(value, bytes):
            path.write_bytes(value)
        else:
            path.write_text(value)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(boxen, tmp_path, case: Case):
    context = tmp_path / "ctx"
    _write_context(context, case)
    args = [a for arg in case.build_args for a in ("--build-arg", arg)]
    tag = f"localhost/conformance-{case.name}:1"
    proc = boxen.build(context, "-t", tag, *args, check=case.error is None)
    assert "Traceback" not in proc.stderr, proc.stderr
    if case.error is not None:
        assert proc.returncode == 1 and case.error in proc.stderr, proc.stderr
        assert boxen.leftovers() == []
        return
    bundle = tmp_path / "bundle"
    boxen("unpack", tag, str(bundle))
    _check(case, bundle / "rootfs", json.loads(boxen("inspect", "--raw", "config", tag).stdout).get("config") or {})
    assert boxen.leftovers() == []


def _check(case: Case, rootfs, config: dict) -> None:
    for name, expected in case.files.items():
        path = rootfs / name
        if expected is None:
            assert not os.path.lexists(path), f"{name} should not be in the image"
        elif callable(expected):
            assert os.path.lexists(path) and expected(path), f"{name}: expected {expected.__doc__ or 'a check'}"
        else:
            assert path.read_text() == expected, name
    for key, expected in case.config.items():
        value = config.get(key)
        if callable(expected):
            assert expected(value), f"{key}: {value!r}"
        else:
            assert value == expected, f"{key}: {value!r}"


#: Where buildah 1.28 reads a case otherwise than BuildKit (and boxen): the same expectations,
#: expected to fail for buildah.
BUILDAH_DEVIATIONS = {
    "arg-pattern-operators": "refuses ${F%%.*}, ${F#*.}, ${F/a/b} ('Missing : in substitution')",
    "escaped-backslash-ends-the-line": "joins the next line after ENV C a\\\\",
    "escape-directive": "drops the backslashes of ENV W=C:\\dir under # escape=`",
    "automatic-platform-args": "has no TARGETSTAGE",
    "heredoc-copy-special-symbols": "no COPY here-documents (stat /<<EOF)",
    "heredoc-var-substitution": "no COPY here-documents (stat /<<EOF)",
    "heredoc-shebang-runs-as-a-file": "reads the here-document's lines as instructions",
    "heredoc-indent": "no COPY here-documents (stat /<<EOF)",
    "heredoc-complex": "reads the here-document's lines as instructions",
    "heredoc-fake-shell": "runs a RUN here-document through the shell even with SHELL [awk]",
    "copy-chown-chmod": "refuses a symbolic --chmod (go-w,u+x)",
    "copy-wildcards": "fails on a wildcard that matches nothing",
    "copy-parents-and-exclude": "has no COPY --parents, --exclude or --link",
    "add-archives": "has no ADD --unpack",
    "copy-into-existing-directory": "COPY a /dotted/. makes a file named dotted",
    "copy-owners-by-name-and-variable": "no COPY here-documents (stat /<<EOF)",
    "fifos-are-made-not-read": "a FIFO named as a source does not arrive as a FIFO",
    "config-spellings": "keeps EXPOSE 80/TCP's protocol as written",
    "onbuild-from-a-stage": "reads an ONBUILD here-document's lines as instructions",
    "shell-form-uses-shell": "ignores SHELL for the shell form of CMD",
    "entrypoint-resets-inherited-cmd": "leaves Cmd [] rather than none",
    "json-looking-shell-form": "refuses CMD [\"echo\",[\"x\"]] rather than taking it as shell form",
    "config-instructions": "keeps EXPOSE 8000-8001 as one range key",
    "run-mounts": "refuses a tmpfs mount's size=",
}
#: Cases that cannot be given to buildah as they are.
NOT_FOR_BUILDAH = {"arg-in-from": "names the boxen test image by its parts, which the registry copy does not have"}


def _buildah_cases():
    for case in CASES:
        if case.error is not None:
            continue
        marks = []
        if case.name in NOT_FOR_BUILDAH:
            marks.append(pytest.mark.skip(reason=NOT_FOR_BUILDAH[case.name]))
        if case.name in BUILDAH_DEVIATIONS:
            marks.append(pytest.mark.xfail(reason=BUILDAH_DEVIATIONS[case.name], strict=True))
        yield pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", list(_buildah_cases()))
def test_buildah_conformance(buildah, base, tmp_path, case: Case):
    """The same cases built by buildah, for comparison: its deviations from BuildKit are listed."""
    context = tmp_path / "ctx"
    _write_context(context, case, base)
    args = [a for arg in case.build_args for a in ("--build-arg", arg)]
    tag = f"localhost/conformance-{case.name}:1"
    buildah("bud", "--layers", "--format", "docker", "--tls-verify=false", "-q", "-t", tag, *args, str(context))
    layout = str(tmp_path / "layout")
    buildah("push", tag, f"oci:{layout}:{tag}")
    test_build_buildah.unpacked(layout, tag, str(tmp_path / "bundle"))
    config = json.loads(buildah("inspect", "--type", "image", tag))["Docker"]["config"]
    _check(case, tmp_path / "bundle" / "rootfs", config)
