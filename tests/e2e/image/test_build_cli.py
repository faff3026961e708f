"""boxen-image build end to end: the layer cache, failures and what they leave, output modes,
hostile input, RUN's user and network, and the built image running and passing validation."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from support.boxen_image import BIN, BoxenImage

RUNTIME = os.path.join(os.path.dirname(sys.executable), "boxen-runtime")
BASE = "localhost/test:busybox"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (containers, mounts)")


class Boxen(BoxenImage):
    def build(self, context, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self("build", *args, str(context), check=check)

    def leftovers(self) -> list[str]:
        """What a finished build must not leave: mounts, temporary directories, containers,
        active snapshots, ingests."""
        from boxen.image.content.local import LocalContentStore
        from boxen.image.snapshots import ACTIVE, open_snapshotter

        found = []
        with open("/proc/self/mountinfo") as f:
            found += [line for line in f.read().splitlines() if f" {self.root}/" in line]
        for sub in ("build/tmp", "build/runtime"):
            path = os.path.join(self.root, sub)
            if os.path.isdir(path):
                found += [f"{sub}/{name}" for name in os.listdir(path)]
        snapshotter = open_snapshotter(os.path.join(self.root, "snapshots"))
        found += [f"active snapshot {s.name}" for s in snapshotter.walk() if s.kind == ACTIVE]
        snapshotter.close()
        found += [f"ingest {s.ref}" for s in LocalContentStore(os.path.join(self.root, "content")).statuses()]
        return found


@pytest.fixture(scope="module")
def boxen(tmp_path_factory, busybox_layout):
    if not os.path.exists(BIN):
        pytest.skip(f"{BIN} is missing (make venv)")
    b = Boxen(str(tmp_path_factory.mktemp("boxen-root")))
    layout, _ = busybox_layout
    b("load", "-i", layout, "--repository", "localhost/test")
    yield b
    left = b.leftovers()
    _detach_mounts(b.root)
    assert left == []


def _detach_mounts(root: str) -> None:
    """Lazily unmount whatever a failed test left mounted under ``root`` (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def dockerfile(tmp_path, text: str, **files: str):
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(text)
    for name, content in files.items():
        (context / name).write_text(content)
    return context


def cached(proc: subprocess.CompletedProcess) -> int:
    """How many steps of a build came from the cache."""
    return sum(line.startswith("--> Using cache") for line in proc.stderr.splitlines())


def test_second_build_hits_the_cache_and_gives_the_same_image(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN echo built > /built\nCOPY payload /payload\nENV X=1\n",
                     payload="one\n")
    first = boxen.build(ctx, "-t", "localhost/cached:1")
    second = boxen.build(ctx, "-t", "localhost/cached:1")
    assert first.stdout == second.stdout
    assert cached(second) == 2
    os.utime(ctx / "payload", (1, 1))  # times are not part of the key
    assert cached(boxen.build(ctx, "-t", "localhost/cached:1")) == 2
    (ctx / "payload").write_text("two\n")  # content is: the COPY and what follows run again
    changed = boxen.build(ctx, "-t", "localhost/cached:1")
    assert cached(changed) == 1
    assert changed.stdout != first.stdout
    fresh = boxen.build(ctx, "--no-cache", "-t", "localhost/cached:1")
    assert "Using cache" not in fresh.stderr


HEREDOCS = f"""FROM {BASE}
ARG WHO=builder
ENV GREETING=hello
RUN <<EOF
echo "$GREETING from a script" > /script.txt
echo second line >> /script.txt
EOF
RUN cat <<-INNER > /redirected.txt && cat <<'RAW' > /raw.txt
\tindented $WHO
\tINNER
kept $WHO
RAW
COPY <<greeting.txt <<-'literal.txt' /docs/
$GREETING, ${{WHO}}
greeting.txt
\t$GREETING stays
\tliteral.txt
COPY <<EOF /single
one file
EOF
"""


def test_here_documents(boxen, tmp_path):
    ctx = dockerfile(tmp_path, HEREDOCS)
    boxen.build(ctx, "-t", "localhost/heredocs:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/heredocs:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "script.txt").read_text() == "hello from a script\nsecond line\n"
    assert (rootfs / "redirected.txt").read_text() == "indented builder\n"  # the shell expands, strips tabs
    assert (rootfs / "raw.txt").read_text() == "kept $WHO\n"  # a quoted delimiter: not expanded
    assert (rootfs / "docs/greeting.txt").read_text() == "hello, builder\n"
    assert (rootfs / "docs/literal.txt").read_text() == "$GREETING stays\n"
    assert (rootfs / "single").read_text() == "one file\n"
    assert oct((rootfs / "single").stat().st_mode & 0o777) == "0o644"
    again = boxen.build(ctx, "-t", "localhost/heredocs:1")
    assert cached(again) == 4
    changed = dockerfile(tmp_path, HEREDOCS.replace("one file", "another file"))
    assert cached(boxen.build(changed, "-t", "localhost/heredocs:1")) == 3  # the body is in the key


MOUNTS = f"""FROM {BASE} AS tools
RUN echo from-stage > /tool.txt
FROM {BASE}
RUN --mount=type=bind,source=data,target=/data cat /data/in.txt > /copied.txt && ls /data > /listing.txt
RUN --mount=type=bind,target=/ctx,rw echo scratch > /ctx/written && cat /ctx/data/in.txt > /rw.txt
RUN --mount=type=bind,from=tools,source=tool.txt,target=/t.txt cat /t.txt > /from-stage.txt
RUN --mount=type=cache,target=/cache,id=boxen-test-{{}} echo x >> /cache/runs && wc -l < /cache/runs > /runs.txt
RUN --mount=type=tmpfs,target=/scratch echo gone > /scratch/f && ls /scratch > /tmpfs.txt
"""


def test_run_mounts(boxen, tmp_path):
    import uuid

    text = MOUNTS.replace("boxen-test-{}", f"boxen-test-{uuid.uuid4().hex}")
    ctx = dockerfile(tmp_path, text)
    (ctx / "data").mkdir()
    (ctx / "data" / "in.txt").write_text("input\n")
    (ctx / "data" / "secret.key").write_text("ignored\n")
    (ctx / ".dockerignore").write_text("data/secret.key\n")
    boxen.build(ctx, "-t", "localhost/mounts:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/mounts:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "copied.txt").read_text() == "input\n"
    assert (rootfs / "listing.txt").read_text() == "in.txt\n"  # .dockerignore holds in a bind mount
    assert (rootfs / "rw.txt").read_text() == "input\n"
    assert (rootfs / "from-stage.txt").read_text() == "from-stage\n"
    assert (rootfs / "runs.txt").read_text().strip() == "1"
    assert (rootfs / "tmpfs.txt").read_text() == "f\n"
    for target in ("data", "ctx", "t.txt", "cache", "scratch"):  # the mount points stay out of the image
        assert not (rootfs / target).exists(), target
    assert not (ctx / "written").exists()  # a writable bind mount writes to a copy

    again = boxen.build(ctx, "-t", "localhost/mounts:1")
    assert cached(again) == 6
    (ctx / "data" / "in.txt").write_text("changed\n")  # a bind mount's content is in the key
    changed = boxen.build(ctx, "--no-cache", "-t", "localhost/mounts:2")
    boxen("unpack", "localhost/mounts:2", str(tmp_path / "bundle2"))
    assert (tmp_path / "bundle2/rootfs/runs.txt").read_text().strip() == "2"  # the cache mount was kept
    assert "Using cache" not in changed.stderr
    partly = boxen.build(ctx, "-t", "localhost/mounts:1")
    assert cached(partly) == 6  # (the --no-cache build stored its layers: same inputs now)
    (ctx / "data" / "in.txt").write_text("changed again\n")
    # the first RUN that mounts data misses, and so does every step after it; the other stage hits
    assert cached(boxen.build(ctx, "-t", "localhost/mounts:1")) == 1


@pytest.fixture
def web(tmp_path):
    """A plain HTTP server on loopback serving ``tmp_path/www``: ``(base URL, directory)``."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()
    thread.join()


def test_add_of_a_url(boxen, tmp_path, web):
    base, www = web
    (www / "notes.txt").write_text("served\n")
    with tarfile.open(www / "bundle.tar", "w") as tar:
        info = tarfile.TarInfo("inside.txt")
        tar.addfile(info, io.BytesIO(b""))
    digest = hashlib.sha256(b"served\n").hexdigest()
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nADD --checksum=sha256:{digest} {base}/notes.txt /fetched/\n"
                               f"ADD {base}/bundle.tar /kept.tar\n")
    boxen.build(ctx, "-t", "localhost/fetched:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/fetched:1", str(bundle))
    fetched = bundle / "rootfs/fetched/notes.txt"
    assert fetched.read_text() == "served\n" and oct(fetched.stat().st_mode & 0o777) == "0o600"
    assert (bundle / "rootfs/kept.tar").is_file()  # a downloaded archive is not extracted, as docker does
    assert cached(boxen.build(ctx, "-t", "localhost/fetched:1")) == 2  # the same content: cache hits
    (www / "notes.txt").write_text("changed\n")
    failed = boxen.build(ctx, "-t", "localhost/fetched:2", check=False)
    assert failed.returncode == 1 and "--checksum asked for" in failed.stderr
    missing = boxen.build(dockerfile(tmp_path, f"FROM {BASE}\nADD {base}/absent /x\n"), check=False)
    assert missing.returncode == 1 and "could not fetch" in missing.stderr and "404" in missing.stderr
    assert boxen.leftovers() == []


def test_cache_entries_of_pruned_layers_are_misses(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN echo prune-me > /p\n")
    boxen.build(ctx, "-t", "localhost/pruned:1")
    boxen("rm", "localhost/pruned:1")
    boxen("prune")
    again = boxen.build(ctx, "-t", "localhost/pruned:1", "--explain")
    assert "pruned since: miss" in again.stderr and "Using cache" not in again.stderr


def test_failing_run_names_the_step_and_leaves_nothing(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nCOPY Dockerfile /d\nRUN echo about to fail && exit 3\n")
    proc = boxen.build(ctx, "-q", "-t", "localhost/failing:1", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Dockerfile:3" in proc.stderr and "exited with code 3" in proc.stderr
    assert "about to fail" in proc.stderr  # quiet: the command's output is kept for the error
    assert boxen("inspect", "localhost/failing:1", check=False).returncode == 1
    assert boxen.leftovers() == []


def test_output_modes(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nARG USED=1\nRUN echo say $USED\n")
    quiet = boxen.build(ctx, "-q", "--build-arg", "UNUSED=x")
    assert quiet.stderr == "" and quiet.stdout.strip().startswith("sha256:") and len(quiet.stdout.split()) == 1
    text = boxen.build(ctx, "--no-cache", "--build-arg", "UNUSED=x")
    assert "STEP 3/3: RUN echo say $USED" in text.stderr and "say 1" in text.stderr
    assert "build args were not consumed: [UNUSED]" in text.stderr
    events = [json.loads(line) for line in boxen.build(ctx, "--json").stdout.splitlines()]
    assert events[0] == {"stream": "STEP 1/3: FROM localhost/test:busybox\n"}
    assert events[-1]["aux"]["ID"] == text.stdout.strip()  # the cache holds what --no-cache made
    explained = boxen.build(ctx, "--explain", "--no-cache").stderr
    assert "cache key sha256:" in explained and "committed snapshot sha256:" in explained


def test_workdir_is_made_owned_by_the_user_even_with_nothing_after_it(boxen, tmp_path):
    """WORKDIR makes its directory (as the USER of its time), in the next layer or in one of its
    own at the end of the stage; FROM scratch gets docker's default PATH; USER gets its groups."""
    ctx = dockerfile(tmp_path, f"""FROM {BASE} AS base
USER nobody
WORKDIR /home/nobody/work
USER root
RUN id -G > /groups
FROM scratch
WORKDIR /empty/dir
""")
    boxen.build(ctx, "--target", "base", "-t", "localhost/workdir:base")
    boxen("unpack", "localhost/workdir:base", str(tmp_path / "base"))
    rootfs = tmp_path / "base/rootfs"
    st = os.stat(rootfs / "home/nobody/work")
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    groups = (rootfs / "etc/group").read_text().splitlines()
    expected = {"0"} | {line.split(":")[2] for line in groups if "root" in line.split(":")[3].split(",")}
    assert set((rootfs / "groups").read_text().split()) == expected  # root's groups from /etc/group
    boxen.build(ctx, "-t", "localhost/workdir:scratch")
    boxen("unpack", "localhost/workdir:scratch", str(tmp_path / "scratch"))
    assert (tmp_path / "scratch/rootfs/empty/dir").is_dir()
    config = json.loads((tmp_path / "scratch/config.json").read_text())
    assert config["process"]["cwd"] == "/empty/dir"
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in config["process"]["env"]
    again = boxen.build(ctx, "-t", "localhost/workdir:scratch")  # the WORKDIR layer comes from the cache
    assert again.stdout == boxen.build(ctx, "-t", "localhost/workdir:scratch").stdout


def test_run_user_workdir_and_network(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"""FROM {BASE}
WORKDIR /work/dir
USER nobody
RUN id -u > /tmp/uid && pwd > /tmp/pwd
USER root
RUN ls /sys/class/net > /tmp/own-net
RUN --network=host ls /sys/class/net > /tmp/host-net
""")
    boxen.build(ctx, "-t", "localhost/runtime:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/runtime:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "tmp/uid").read_text() == "65534\n" and (rootfs / "tmp/pwd").read_text() == "/work/dir\n"
    assert (rootfs / "tmp/own-net").read_text().split() == ["lo"]
    assert sorted((rootfs / "tmp/host-net").read_text().split()) == sorted(os.listdir("/sys/class/net"))
    assert not (rootfs / "etc/hosts").exists()  # the RUN's mount points did not leak into the image
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN ls /sys/class/net > /net\nRUN --network=none ls /sys/class/net > /none\n")
    boxen.build(ctx, "--network", "host", "-t", "localhost/runtime:2")
    boxen("unpack", "localhost/runtime:2", str(tmp_path / "bundle2"))
    assert sorted((tmp_path / "bundle2/rootfs/net").read_text().split()) == sorted(os.listdir("/sys/class/net"))
    assert (tmp_path / "bundle2/rootfs/none").read_text().split() == ["lo"]


def test_built_image_runs_and_validates(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nCOPY hello /hello\nCMD [\"cat\", \"/hello\"]\n", hello="hello built\n")
    boxen.build(ctx, "-t", "localhost/runs:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/runs:1", str(bundle))
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    state = tmp_path / "state"
    proc = subprocess.run([RUNTIME, "--root", str(state), "run", "-b", str(bundle), "boxen-build-test-run"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "hello built\n"), proc.stderr
    if shutil.which("oci-image-tool"):
        layout = tmp_path / "layout"
        boxen("save", "--format", "oci-dir", "-o", str(layout), "localhost/runs:1")
        index = json.loads((layout / "index.json").read_text())
        ref = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        check = subprocess.run(["oci-image-tool", "validate", "--type", "image", "--ref", f"name={ref}", str(layout)],
                               check=False, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_bad_input_gives_clear_errors_and_changes_nothing(boxen, tmp_path):
    cases = {
        "FROM localhost/test:busybox\nFORM x\n": "Dockerfile:2: unknown instruction: FORM",
        "FROM localhost/test:busybox\nCOPY ../outside /x\n": "outside the build context",
        "FROM localhost/test:busybox\nCOPY missing /x\n": "missing does not exist in the build context",
        "FROM localhost/test:busybox\nADD evil.tar /opt/\n": "climbs out of the root",
        "FROM localhost/test:busybox\nCOPY --chown=nosuchuser Dockerfile /x\n": "no user 'nosuchuser'",
    }
    for text, message in cases.items():
        ctx = dockerfile(tmp_path, text)
        with tarfile.open(ctx / "evil.tar", "w") as tar:
            info = tarfile.TarInfo("../../escaped")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        proc = boxen.build(ctx, "-q", check=False)
        assert proc.returncode == 1 and message in proc.stderr, (text, proc.stderr)
        assert boxen.leftovers() == []
    assert not (tmp_path / "escaped").exists()
    assert not any(name == "escaped" for _, _, names in os.walk(boxen.root) for name in names)


def test_sigterm_during_run_cleans_up(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN sleep 60\n")
    proc = subprocess.Popen([BIN, "--root", boxen.root, "build", "-q", str(ctx)], env=boxen.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_container(boxen, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # stopped like ^C stops it
    assert boxen.leftovers() == []


def test_next_build_cleans_up_after_a_killed_build(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN sleep 60\n")
    proc = subprocess.Popen([BIN, "--root", boxen.root, "build", "-q", str(ctx)], env=boxen.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_container(boxen, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert boxen.leftovers() != []
    (tmp_path / "other").mkdir()
    other = dockerfile(tmp_path / "other", f"FROM {BASE}\nRUN true\n")
    cleaned = boxen.build(other, "--explain", "-q")
    assert "cleaned up after a build that died" in cleaned.stderr
    assert boxen.leftovers() == []


def _wait_for_container(boxen, proc) -> None:
    """Wait until the build's RUN container exists (its state directory in the build's runtime root)."""
    runtime = os.path.join(boxen.root, "build", "runtime")
    deadline = time.monotonic() + 60
    while not (os.path.isdir(runtime) and os.listdir(runtime)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the RUN step did not start"
        time.sleep(0.05)
    time.sleep(0.3)  # let the container's process start


def test_symlinks_in_the_image_never_lead_out_of_it(boxen, tmp_path):
    outside = tmp_path / "host-directory"
    outside.mkdir()
    ctx = dockerfile(tmp_path, f"""FROM {BASE}
RUN ln -s {outside} /escape && mkdir /app && ln -s {outside} /app/conf
COPY file /escape/file
COPY dir/ /app/
""", file="file\n")
    (ctx / "dir" / "conf").mkdir(parents=True)
    (ctx / "dir" / "conf" / "setting").write_text("x\n")
    boxen.build(ctx, "-t", "localhost/symlinks:1")
    assert os.listdir(outside) == []
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/symlinks:1", str(bundle))
    assert (bundle / "rootfs" / str(outside).lstrip("/") / "file").read_text() == "file\n"
    assert (bundle / "rootfs/app/conf/setting").read_text() == "x\n"


def test_built_image_pushes_and_skopeo_reads_it(boxen, tmp_path, registry):
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN echo pushed > /pushed\nLABEL pushed=yes\n")
    image_id = boxen.build(ctx, "-q", "-t", "localhost/pushed:1").stdout.strip()
    remote = f"{registry.host}/build/pushed:1"
    boxen("push", "-q", "localhost/pushed:1", remote)
    inspect = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{remote}"],
                                        check=True, capture_output=True, text=True).stdout)
    assert inspect["Labels"] == {"pushed": "yes"} and len(inspect["Layers"]) == 2
    config = subprocess.run(["skopeo", "inspect", "--config", "--raw", "--tls-verify=false", f"docker://{remote}"],
                            check=True, capture_output=True).stdout
    assert "sha256:" + hashlib.sha256(config).hexdigest() == image_id


def test_dockerfiles_that_crashed_the_builder(boxen, tmp_path):
    """Issue 9's crashes: JSON-looking shell forms, sources with a leading dot, a symlink
    source's name, a wildcard matching nothing."""
    ctx = dockerfile(tmp_path, f"""FROM {BASE}
COPY .hidden /
ADD .muttrc /home/
COPY .config/x /cfg/
COPY tolink /linked/
COPY *.none /nothing/
RUN [ "$(id -u)" = "0" ]
CMD ["echo",["x"]]
""", **{".hidden": "hidden\n", ".muttrc": "mutt\n", "target.txt": "target\n"})
    (ctx / ".config").mkdir()
    (ctx / ".config" / "x").write_text("x\n")
    (ctx / "tolink").symlink_to("target.txt")
    boxen.build(ctx, "-q", "-t", "localhost/crashes:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/crashes:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / ".hidden").read_text() == "hidden\n"
    assert (rootfs / "home" / ".muttrc").read_text() == "mutt\n"
    assert (rootfs / "cfg" / "x").read_text() == "x\n"
    assert os.listdir(rootfs / "linked") == ["tolink"] and (rootfs / "linked" / "tolink").read_text() == "target\n"
    assert not (rootfs / "nothing").exists() or os.listdir(rootfs / "nothing") == []
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/sh", "-c", '["echo",["x"]]']


def test_a_fifo_or_device_at_etc_passwd_is_a_clear_error_not_a_hang(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN rm /etc/passwd && mkfifo /etc/passwd\nUSER 1000\n")
    boxen.build(ctx, "-q", "-t", "localhost/fifo-passwd:1")
    bundle = tmp_path / "bundle"
    proc = subprocess.run([BIN, "--root", boxen.root, "unpack", "localhost/fifo-passwd:1", str(bundle)],
                          env=boxen.env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "/etc/passwd in the image is a FIFO, not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not bundle.exists()  # nothing of the failed unpack is left


def test_buildkit_readings_of_destinations_modes_and_substitutions(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"""FROM {BASE}
WORKDIR /w
ARG EMPTY=
ARG F=dir/sub/file.tar.gz
COPY --chmod=go-w,u+x payload $EMPTY
ENV NAME=${{F##*/}} STEM=${{F%%.*}} DASHED=${{F//\\//-}} POSITIONAL=[$1$@]
ENV C=a\\\\
ENV D=d
ADD --chown=1000:1000 arch.tar /arch/
""", payload="p\n")
    os.chmod(ctx / "payload", 0o666)
    with tarfile.open(ctx / "arch.tar", "w") as tar:
        info = tarfile.TarInfo("in/file")
        info.size, info.uid, info.gid = 2, 7, 7
        tar.addfile(info, io.BytesIO(b"f\n"))
    boxen.build(ctx, "-q", "-t", "localhost/readings:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/readings:1", str(bundle))
    assert os.stat(bundle / "rootfs" / "w" / "payload").st_mode & 0o7777 == 0o744
    for path in ("arch/in", "arch/in/file"):
        st = os.lstat(bundle / "rootfs" / path)
        assert (st.st_uid, st.st_gid) == (1000, 1000), path
    env = json.loads((bundle / "config.json").read_text())["process"]["env"]
    assert {"NAME=file.tar.gz", "STEM=dir/sub/file", "DASHED=dir-sub-file.tar.gz", "POSITIONAL=[]",
            "C=a\\", "D=d"} <= set(env)
