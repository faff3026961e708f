"""The layer cache table and keys, the RUN container's config, mount stubs, progress renderers."""

import io
import json
import os
from pathlib import Path

from boxen.image.build.cache import BuildCache, CacheEntry, cache_key
from boxen.image.build.plan import RunStep
from boxen.image.build.progress import make
from boxen.image.build.run import CAPABILITIES, etc_files, missing_mountpoints, remove_mountpoints, run_spec
from boxen.image.build.snapshot import chain_id
from boxen.image.unpack import chain_ids
from boxen.oci.image import OCI_LAYER_GZIP, Descriptor

DIGEST = "sha256:" + "1" * 64


def test_cache_key_depends_on_parent_kind_and_inputs():
    key = cache_key("sha256:p", "RUN", {"args": ["true"]})
    assert key.startswith("sha256:") and len(key) == 71
    assert key == cache_key("sha256:p", "RUN", {"args": ["true"]})
    assert key != cache_key("sha256:q", "RUN", {"args": ["true"]})
    assert key != cache_key("sha256:p", "RUN", {"args": ["false"]})
    assert key != cache_key(None, "RUN", {"args": ["true"]})
    assert cache_key(None, "COPY", {}) != cache_key(None, "ADD", {})


def test_cache_table(tmp_path):
    cache = BuildCache(str(tmp_path / "build" / "cache.db"))
    entry = CacheEntry("sha256:k", "sha256:chain", "sha256:diff", Descriptor(OCI_LAYER_GZIP, DIGEST, 12),
                       "/bin/sh -c true", "2024-01-01T00:00:00.000000000Z")
    assert cache.get("sha256:k") is None
    cache.put(entry)
    assert cache.get("sha256:k") == entry
    assert BuildCache(str(tmp_path / "build" / "cache.db")).get("sha256:k") == entry  # shared on disk
    cache.delete("sha256:k")
    assert cache.entries() == []
    cache.close()


def test_chain_id_matches_unpack():
    diff_ids = ["sha256:" + c * 64 for c in "abc"]
    chain = None
    for diff_id, expected in zip(diff_ids, chain_ids(diff_ids)):
        chain = chain_id(chain, diff_id)
        assert chain == expected


def test_run_spec(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nextra:x:7:app\n")
    files = etc_files(str(tmp_path), "abc123", host_network=False)
    assert Path(files["/etc/hostname"]).read_text() == "abc123\n"
    assert "127.0.1.1\tabc123" in Path(files["/etc/hosts"]).read_text()
    step = RunStep(("/bin/sh", "-c", "make"), ("PATH=/bin", "A=1"), "app", "/src", "default")
    spec = run_spec(step, str(rootfs), hostname="abc123", files=files)
    process = spec["process"]
    assert process["args"] == ["/bin/sh", "-c", "make"] and process["env"] == ["PATH=/bin", "A=1"]
    assert process["cwd"] == "/src" and process["terminal"] is False and process["noNewPrivileges"] is False
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [7]}
    assert process["capabilities"]["bounding"] == CAPABILITIES
    assert spec["root"] == {"path": str(rootfs), "readonly": False}
    assert {"type": "network"} in spec["linux"]["namespaces"]
    binds = {m["destination"]: m["source"] for m in spec["mounts"] if m["type"] == "bind"}
    assert binds == files
    json.dumps(spec)
    host = run_spec(step.replace(network="host"), str(rootfs), hostname="abc123", files=files)
    assert {"type": "network"} not in host["linux"]["namespaces"]


def test_mount_stubs_are_found_and_removed_only_when_empty(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "proc").mkdir(parents=True)
    spec = {"mounts": [{"destination": d} for d in ("/proc", "/dev", "/dev/pts", "/etc/hosts", "/run/x")]}
    missing = missing_mountpoints(str(rootfs), spec)
    assert missing == ["dev", "etc", "run"]
    for rel in ("dev/pts", "etc", "run/x"):
        (rootfs / rel).mkdir(parents=True)
    (rootfs / "etc" / "hosts").write_text("")
    (rootfs / "run" / "x" / "written").write_text("the command wrote this")
    assert remove_mountpoints(str(rootfs), missing) == ["dev", "etc"]
    assert sorted(os.listdir(rootfs)) == ["proc", "run"]


def test_progress_renderers():
    out = io.StringIO()
    text = make("text", out)
    text.step(1, 2, "FROM busybox")
    text.output(b"hello\n")
    text.cached("sha256:" + "a" * 64)
    text.image("sha256:" + "b" * 64, ("docker.io/library/x:1",))
    assert out.getvalue() == ("STEP 1/2: FROM busybox\nhello\n--> Using cache aaaaaaaaaaaa\n"
                              "Successfully tagged docker.io/library/x:1\n--> bbbbbbbbbbbb\n")
    out = io.StringIO()
    as_json = make("json", out)
    as_json.step(1, 1, "RUN x")
    as_json.image("sha256:c", ())
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"stream": "STEP 1/1: RUN x\n"}, {"aux": {"ID": "sha256:c"}}]
    quiet = make("quiet", out)
    quiet.output(b"x" * 5000)
    quiet.output(b"tail")
    assert len(quiet.tail) == 4096 and quiet.tail.endswith(b"tail")


def test_file_digests_are_remembered_while_the_file_is_unchanged(tmp_path):
    cache = BuildCache(str(tmp_path / "cache.db"))
    path = tmp_path / "f"
    path.write_text("one")
    computed = []

    def compute(p):
        computed.append(p)
        return f"digest-{len(computed)}"

    assert cache.file_digest(str(path), os.stat(path), compute) == "digest-1"
    assert cache.file_digest(str(path), os.stat(path), compute) == "digest-1"
    path.write_text("two")
    assert cache.file_digest(str(path), os.stat(path), compute) == "digest-2"
    assert len(computed) == 2
    cache.close()


def test_damaged_cache_file_is_started_afresh(tmp_path):
    (tmp_path / "cache.db").write_bytes(b"this is not a database" * 100)
    cache = BuildCache(str(tmp_path / "cache.db"))
    assert cache.entries() == []
    cache.close()


def test_recovery_names_and_liveness():
    from boxen.image.build.cleanup import _alive, _owner

    assert _owner("1234-abcd") == 1234
    assert _owner("build-1234-abcd step 2") == 1234
    assert _owner("build-view-77-abcd stage 0") == 77
    assert _owner("extract-5-x") is None and _owner("other") is None
    assert _alive(os.getpid())


def test_mount_stubs_behind_a_symlink_are_left_alone(tmp_path):
    outside = tmp_path / "outside"
    (outside / "stub").mkdir(parents=True)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "etc").symlink_to(str(outside))  # made by the command after the check
    assert remove_mountpoints(str(rootfs), ["etc/stub"]) == []
    assert (outside / "stub").is_dir()


def test_command_output_reaches_the_progress_once():
    """The progress writes to the terminal, never into the pipe it reads the command's output from."""
    from boxen.image.build.run import CommandOutput

    progress = make("text", os.fdopen(2, "w", closefd=False))
    assert progress.out.fileno() not in (0, 1, 2)
    with CommandOutput(progress.output):
        os.write(1, b"printed once\n")
        os.write(2, b"and once more\n")
    assert bytes(progress.tail) == b"printed once\nand once more\n"


def test_cache_key_of_a_dockerfile_that_is_not_utf8():
    text = b"\xff".decode("utf-8", "surrogateescape")  # (how the builder reads such bytes)
    assert cache_key(None, "RUN", {"args": [text]}) != cache_key(None, "RUN", {"args": ["\ufffd"]})
