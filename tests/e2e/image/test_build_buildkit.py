"""boxen-image build end to end on what BuildKit adds to Dockerfiles: RUN --mount=type=secret and
type=ssh with ``--secret`` and ``--ssh``, cache mounts seeded from a stage, tmpfs sizes, and the
COPY/ADD flags. Builds from the local busybox test image (fixtures of test_build_cli)."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import uuid

import test_build_cli
from test_build_cli import BASE, cached, dockerfile

boxen = test_build_cli.boxen  # the module-scoped fixture: a data root with the busybox test image

SECRET = f"s3cr3t-{uuid.uuid4().hex}"

SECRETS = f"""FROM {BASE}
RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /seen.txt && \
    stat -c %a /run/secrets/tok > /mode.txt
RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0444,uid=5 stat -c '%a %u' /etc/tok > /custom.txt
RUN --mount=type=secret,id=fromenv,env=TOKEN printf %s "$TOKEN" | sha256sum | cut -c1-64 > /env.txt
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent > /absent.txt
"""


def _everything_under(root: str):
    """The bytes of every file under ``root``, gzip blobs decompressed."""
    for parent, _, names in os.walk(root):
        for name in names:
            path = os.path.join(parent, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            if data[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError):
                    pass
            yield path, data


def test_secrets_are_lent_to_run_and_never_kept(boxen, tmp_path):
    ctx = dockerfile(tmp_path, SECRETS)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    env_secret = SECRET[::-1]
    boxen.env["BOXEN_TEST_TOKEN"] = env_secret
    try:
        first = boxen.build(ctx, "-t", "localhost/secrets:1", "--secret", f"id=tok,src={secret}",
                            "--secret", "id=fromenv,env=BOXEN_TEST_TOKEN")
        bundle = tmp_path / "bundle"
        boxen("unpack", "localhost/secrets:1", str(bundle))
        rootfs = bundle / "rootfs"
        assert (rootfs / "seen.txt").read_text() == hashlib.sha256(SECRET.encode()).hexdigest() + "\n"
        assert (rootfs / "mode.txt").read_text() == "400\n"
        assert (rootfs / "custom.txt").read_text() == "444 5\n"
        assert (rootfs / "env.txt").read_text() == hashlib.sha256(env_secret.encode()).hexdigest() + "\n"
        assert (rootfs / "absent.txt").read_text() == "absent\n"  # not required: left out
        assert not (rootfs / "run" / "secrets").exists() and not (rootfs / "etc" / "tok").exists()
        for path, data in _everything_under(boxen.root):
            if path.startswith(str(bundle)):
                continue
            assert SECRET.encode() not in data and env_secret.encode() not in data, path
        # the secret's content is not in the cache key: another content reuses the layers
        secret.write_text("another")
        again = boxen.build(ctx, "-t", "localhost/secrets:1", "--secret", f"id=tok,src={secret}",
                            "--secret", "id=fromenv,env=BOXEN_TEST_TOKEN")
        assert cached(again) == 4 and again.stdout == first.stdout
    finally:
        del boxen.env["BOXEN_TEST_TOKEN"]
    assert boxen.leftovers() == []


def test_a_required_secret_or_agent_that_is_missing_fails_clearly(boxen, tmp_path):
    for flag, message in (("type=secret,id=needed,required=true", "needs the secret 'needed'"),
                          ("type=ssh,required", "needs the ssh 'default'")):
        ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN --mount={flag} true\n")
        proc = boxen.build(ctx, "-q", check=False)
        assert proc.returncode == 1 and message in proc.stderr and "Dockerfile:2" in proc.stderr, proc.stderr
        assert boxen.leftovers() == []
    proc = boxen.build(dockerfile(tmp_path, f"FROM {BASE}\n"), "--secret", "id=x,src=/nonexistent", check=False)
    assert proc.returncode == 1 and "--secret" in proc.stderr and "/nonexistent is not a file" in proc.stderr
    proc = boxen.build(dockerfile(tmp_path, f"FROM {BASE}\n"), "--ssh", "default=/nonexistent.sock", check=False)
    assert proc.returncode == 1 and "--ssh" in proc.stderr and "No such file" in proc.stderr
    assert "--secret SECRET" in boxen("build", "--help").stdout


def test_ssh_agent_socket_is_relayed_into_run(boxen, tmp_path):
    agent_path = str(tmp_path / "agent.sock")
    ctx = dockerfile(tmp_path, f"""FROM {BASE}
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock.txt && \\
    stat -c '%a %u' "$SSH_AUTH_SOCK" > /mode.txt
RUN --mount=type=ssh,id=other,target=/agent,mode=0660,uid=65534 stat -c '%a %u' /agent > /other.txt
""")
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind(agent_path)
        agent.listen(4)
        boxen.env["SSH_AUTH_SOCK"] = agent_path
        try:
            boxen.build(ctx, "-t", "localhost/ssh:1", "--ssh", "default", "--ssh", f"other={agent_path}")
        finally:
            del boxen.env["SSH_AUTH_SOCK"]
        # (busybox's nc cannot connect to a unix socket: the relay's forwarding is a unit test's)
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/ssh:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "sock.txt").read_text() == "/run/buildkit/ssh_agent.0\n"
    assert (rootfs / "mode.txt").read_text() == "600 0\n"  # BuildKit's default, not the agent's
    assert (rootfs / "other.txt").read_text() == "660 65534\n"
    assert not (rootfs / "run" / "buildkit").exists() and not (rootfs / "agent").exists()
    assert boxen.leftovers() == []


def test_cache_mounts_from_a_stage_with_a_source_and_tmpfs_sizes(boxen, tmp_path):
    cache_id = f"boxen-test-{uuid.uuid4().hex}"
    ctx = dockerfile(tmp_path, f"""FROM {BASE} AS seed
RUN mkdir -p /seed/sub && echo seeded > /seed/sub/file
FROM {BASE}
RUN --mount=type=cache,id={cache_id}-a,target=/c,from=seed,source=/seed cat /c/sub/file > /seeded.txt && \\
    echo more >> /c/sub/file
RUN --mount=type=cache,id={cache_id}-a,target=/c cat /c/sub/file > /kept.txt
RUN --mount=type=cache,id={cache_id}-b,target=/c,source=deep/er touch /c/mark
RUN --mount=type=cache,id={cache_id}-b,target=/c ls /c/deep/er > /sub.txt
RUN --mount=type=tmpfs,target=/t,size=1m df -k /t | tail -1 | awk '{{print $2}}' > /size.txt
""")
    boxen.build(ctx, "-t", "localhost/cachefrom:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/cachefrom:1", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "seeded.txt").read_text() == "seeded\n"
    assert (rootfs / "kept.txt").read_text() == "seeded\nmore\n"
    assert (rootfs / "sub.txt").read_text() == "mark\n"
    assert (rootfs / "size.txt").read_text() == "1024\n"
    assert not (rootfs / "c").exists() and not (rootfs / "t").exists()
    assert boxen.leftovers() == []


def test_a_misspelt_mount_key_is_named(boxen, tmp_path):
    ctx = dockerfile(tmp_path, f"FROM {BASE}\nRUN --mount=typ=tmpfs,target=/t true\n")
    proc = boxen.build(ctx, "-q", check=False)
    assert proc.returncode == 1 and "unknown key 'typ' in --mount" in proc.stderr, proc.stderr


def test_copy_and_add_flags(boxen, tmp_path):
    import io
    import tarfile

    ctx = dockerfile(tmp_path, f"""FROM {BASE}
COPY --parents x/deep/b.txt y /p/
COPY --parents ./x/./deep/b.txt /q/
COPY --exclude=*.log --exclude=deep x /e/
COPY --link top.txt /linked.txt
COPY --chmod=go-w,u+x top.txt /chmod.txt
ADD --unpack=false a.tgz /kept/
ADD --chown=7:8 a.tgz /owned/
RUN stat -c '%u:%g %a' /owned/pkg /owned/pkg/file > /owners.txt
""", **{"top.txt": "top\n"})
    for rel in ("x/a.txt", "x/c.log", "x/deep/b.txt", "y/d.txt"):
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(rel + "\n")
    os.chmod(ctx / "top.txt", 0o666)
    with tarfile.open(ctx / "a.tgz", "w:gz") as tar:
        for name, data in (("pkg", None), ("pkg/file", b"f\n")):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 1234
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o4755
                tar.addfile(info, io.BytesIO(data))
    boxen.build(ctx, "-t", "localhost/copyflags:1")
    bundle = tmp_path / "bundle"
    boxen("unpack", "localhost/copyflags:1", str(bundle))
    rootfs = bundle / "rootfs"

    def under(rel):
        return sorted(os.path.relpath(os.path.join(d, n), rootfs / rel)
                      for d, _, names in os.walk(rootfs / rel) for n in names)

    assert under("p") == ["x/deep/b.txt", "y/d.txt"]
    assert under("q") == ["deep/b.txt"]
    assert under("e") == ["a.txt"]
    assert (rootfs / "linked.txt").read_text() == "top\n"
    assert os.stat(rootfs / "chmod.txt").st_mode & 0o7777 == 0o744
    assert under("kept") == ["a.tgz"]
    assert (rootfs / "owners.txt").read_text() == "7:8 755\n7:8 4755\n"
    assert cached(boxen.build(ctx, "-t", "localhost/copyflags:1")) == 8
    (ctx / "x" / "c.log").write_text("changed, but excluded\n")
    assert cached(boxen.build(ctx, "-t", "localhost/copyflags:1")) == 8  # what is excluded is not in the key
    assert boxen.leftovers() == []
