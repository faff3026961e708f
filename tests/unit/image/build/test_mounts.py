"""RUN --mount as BuildKit reads it: secrets, SSH agents, cache seeds, tmpfs sizes, and the
``--secret``/``--ssh`` sources of ``boxen-image build``."""

import socket

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.build.dockerfile import parse
from boxen.image.build.plan import DEFAULT_PATH, plan_build
from boxen.image.build.run import run_spec
from boxen.image.build.secrets import AgentRelay, AgentSource, SecretSource, parse_secret, parse_ssh
from boxen.image.build.settings import byte_size
from boxen.oci.image import ContainerConfig, ImageConfig, Platform, RootFS

AMD64 = Platform("amd64", "linux")
BUSYBOX = ImageConfig("amd64", "linux", RootFS("layers", ("sha256:" + "a" * 64,)),
                      config=ContainerConfig(Env=(DEFAULT_PATH,), WorkingDir="/"))


def plan(text):
    return plan_build(parse(text), lookup=lambda reference, platform: BUSYBOX, platform=AMD64)


def mounts(flags, prefix=""):
    p = plan(f"FROM busybox AS tools\nFROM busybox\n{prefix}RUN {flags} true\n")
    return p.stage(1).steps[-1].run


def test_secret_mounts_default_to_run_secrets_and_read_only_0400():
    run = mounts("--mount=type=secret,id=npm --mount=type=secret,target=/etc/token "
                 "--mount=type=secret,id=aws,env=AWS_KEY,required=true "
                 "--mount=type=secret,id=k,target=/k,env=K,mode=0440,uid=7,gid=8,required=false")
    npm, token, aws, k = run.mounts
    assert (npm.type, npm.id, npm.target, npm.mode, npm.readonly, npm.required) == \
        ("secret", "npm", "/run/secrets/npm", 0o400, True, False)
    assert (token.id, token.target) == ("token", "/etc/token")  # the id defaults to the target's name
    [nested] = mounts("--mount=type=secret,id=aws/key").mounts
    assert (nested.id, nested.target) == ("aws/key", "/run/secrets/key")  # the target, to the id's base name
    assert (aws.id, aws.target, aws.env, aws.required) == ("aws", "", "AWS_KEY", True)  # env only: no file
    assert (k.target, k.env, k.mode, k.uid, k.gid, k.required) == ("/k", "K", 0o440, 7, 8, False)
    assert not any("AWS_KEY" in e or "K=" in e for e in run.env)  # values are read when the command runs


def test_ssh_mounts_get_numbered_sockets_and_ssh_auth_sock():
    run = mounts("--mount=type=ssh --mount=type=ssh,id=work,target=/agent,required,mode=0660,uid=1000,gid=1001")
    first, second = run.mounts
    assert (first.type, first.id, first.target, first.required, first.mode, first.uid) == \
        ("ssh", "default", "/run/buildkit/ssh_agent.0", False, 0o600, 0)
    assert (second.id, second.target, second.required, second.mode, second.uid, second.gid) == \
        ("work", "/agent", True, 0o660, 1000, 1001)
    assert "SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0" in run.env
    assert not any(e.startswith("SSH_AUTH_SOCK=") for e in mounts("--mount=type=tmpfs,target=/t").env)


def test_cache_mount_source_and_from_and_tmpfs_sizes():
    cache, seeded, image, tmpfs = mounts("--mount=type=cache,target=/c,source=sub/dir "
                                         "--mount=type=cache,target=/s,from=tools,source=/etc "
                                         "--mount=type=cache,target=/i,from=alpine:3 "
                                         "--mount=type=tmpfs,target=/t,size=64m").mounts
    assert (cache.source, cache.from_stage, cache.id) == ("sub/dir", None, "/c")
    assert (seeded.source, seeded.from_stage) == ("etc", 0)
    assert image.from_image == "alpine:3"
    assert tmpfs.size == 64 << 20


@pytest.mark.parametrize(("text", "size"), [
    ("1024", 1024), ("64m", 64 << 20), ("64M", 64 << 20), ("1g", 1 << 30), ("512k", 512 << 10),
    ("512KiB", 512 << 10), ("2mb", 2 << 20), ("1.5g", 3 << 29), ("10b", 10),
])
def test_byte_sizes(text, size):
    assert byte_size(text, field="size") == size


@pytest.mark.parametrize("text", ["", "m", "-1", "64x", "1.2.3m", "0x10", "1_0"])
def test_bad_byte_sizes(text):
    with pytest.raises(InvalidArgument, match="invalid size"):
        byte_size(text, field="size")


@pytest.mark.parametrize(("flag", "error", "match"), [
    ("--mount=typ=tmpfs,target=/t", InvalidArgument, "unknown key 'typ' in --mount"),
    ("--mount=type=tmpfs,target=/t,sizes=1", InvalidArgument, "unknown key 'sizes'"),
    ("--mount=type=tmpfs,target=/t,size=lots", InvalidArgument, "invalid size 'lots'"),
    ("--mount=type=secret", InvalidArgument, "needs an id or a target"),
    ("--mount=type=secret,id=x,from=tools", InvalidArgument, "secret mount has no option from"),
    ("--mount=type=secret,id=x,required=maybe", InvalidArgument, "has no option required=maybe"),
    ("--mount=type=ssh,mode=rw", InvalidArgument, "ssh mount has no option mode=rw"),
    ("--mount=type=ssh,env=X", InvalidArgument, "ssh mount has no option env"),
    ("--mount=type=secret,id=a --mount=type=secret,id=b,target=/run/secrets/a", InvalidArgument, "same target"),
    ("--mount=type=volume,target=/v", InvalidArgument, "unknown mount type 'volume'"),
])
def test_bad_mounts_name_what_is_wrong(flag, error, match):
    with pytest.raises(error, match=match) as info:
        mounts(flag)
    assert info.value.field.startswith("Dockerfile:3")


def test_the_history_and_the_step_never_hold_a_secret_value():
    p = plan("FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n")
    step = p.stage(0).steps[-1]
    assert step.created_by == "/bin/sh -c --mount=type=secret,id=tok cat /run/secrets/tok"


def test_run_spec_adds_the_secret_environment_last(tmp_path):
    run = mounts("--mount=type=secret,id=k,env=K")
    spec = run_spec(run, str(tmp_path), hostname="h", files={}, env=["K=value"])
    assert spec["process"]["env"][-1] == "K=value"


def test_secret_sources(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    environ = {"API_TOKEN": "from-env", "OTHER": "other"}
    assert parse_secret(f"id=tok,src={secret}", environ) == SecretSource("tok", str(secret))
    assert parse_secret(f"id=tok,source={secret},type=file", environ) == SecretSource("tok", str(secret))
    assert parse_secret("id=tok,env=OTHER", environ) == SecretSource("tok", env="OTHER")
    assert parse_secret("id=tok,src=OTHER,type=env", environ) == SecretSource("tok", env="OTHER")
    assert parse_secret("env=API_TOKEN", environ) == SecretSource("API_TOKEN", env="API_TOKEN")
    assert parse_secret("id=API_TOKEN", environ) == SecretSource("API_TOKEN", env="API_TOKEN")
    monkeypatch.chdir(tmp_path)
    assert parse_secret("id=token", environ) == SecretSource("token", str(secret))  # the file named like it
    assert parse_secret(f"src={secret}", environ).id == "token"
    assert parse_secret(f"id=tok,src={secret}", environ).value() == b"s3cr3t"
    assert parse_secret("id=tok,env=OTHER", environ).value(environ) == b"other"


@pytest.mark.parametrize(("text", "error", "match"), [
    ("id=x,src=/nonexistent/file", NotFound, "is not a file"),
    ("id=x,env=UNSET_VARIABLE", NotFound, "UNSET_VARIABLE is not set"),
    ("id=x,type=ftp,src=f", InvalidArgument, "type is file or env"),
    ("id=x,colour=red", InvalidArgument, "unknown key 'colour'"),
    ("x", InvalidArgument, "expected KEY=VALUE"),
])
def test_bad_secret_sources(text, error, match):
    with pytest.raises(error, match=match) as info:
        parse_secret(text, {})
    assert info.value.field == "--secret"


def test_ssh_sources(tmp_path):
    path = str(tmp_path / "agent.sock")
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind(path)
        assert parse_ssh("default", {"SSH_AUTH_SOCK": path}) == AgentSource("default", path)
        assert parse_ssh(f"work={path}", {}) == AgentSource("work", path)
        with pytest.raises(InvalidArgument, match="SSH_AUTH_SOCK is not set"):
            parse_ssh("default", {})
        with pytest.raises(NotFound, match="No such file"):
            parse_ssh(f"default={tmp_path}/none", {})
        (tmp_path / "key").write_text("not a socket")
        with pytest.raises(InvalidArgument, match="is not a unix socket"):
            parse_ssh(f"default={tmp_path}/key", {})


def test_a_bind_source_is_kept_as_written_for_the_context_to_refuse_a_climb():
    from boxen.image.build.context import Tree

    [bind] = mounts("--mount=source=../outside,target=/m").mounts
    assert bind.source == "../outside"
    with pytest.raises(InvalidArgument, match="outside the build context"):
        Tree("/nonexistent").select([bind.source])


def test_the_agent_relay_forwards_connections_with_its_own_mode(tmp_path):
    import os
    import stat
    import threading

    agent_path = str(tmp_path / "agent.sock")
    deep = tmp_path / ("d" * 100)  # longer than a socket path may be: bound through a descriptor
    deep.mkdir()
    relay_path = str(deep / "relay.sock")
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind(agent_path)
        agent.listen(4)

        def answer():
            for _ in range(2):
                conn, _ = agent.accept()
                with conn:
                    conn.sendall(b"agent: " + conn.recv(100))

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        with AgentRelay(agent_path, relay_path, mode=0o660, uid=os.geteuid(), gid=os.getegid()):
            st = os.stat(relay_path)
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
            for message in (b"one", b"two"):
                with socket.socket(socket.AF_UNIX) as client:
                    client.settimeout(10)
                    directory = os.open(deep, os.O_PATH)
                    try:
                        client.connect(f"/proc/self/fd/{directory}/relay.sock")
                    finally:
                        os.close(directory)
                    client.sendall(message)
                    assert client.recv(100) == b"agent: " + message
        server.join(10)
    assert not os.path.exists(relay_path)
