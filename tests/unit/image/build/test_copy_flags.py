"""BuildKit's COPY/ADD flags: --parents, --exclude, --link, ADD --unpack, symbolic --chmod and
ADD --chown of an archive's entries."""

import io
import os
import tarfile

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.build import modes
from boxen.image.build.builder import excluding, parent_paths
from boxen.image.build.context import IgnoreRules, Tree
from boxen.image.build.copy import Copier
from boxen.image.build.dockerfile import parse
from boxen.image.build.plan import DEFAULT_PATH, CopyStep, plan_build
from boxen.oci.image import ContainerConfig, ImageConfig, Platform, RootFS

AMD64 = Platform("amd64", "linux")
BUSYBOX = ImageConfig("amd64", "linux", RootFS("layers", ("sha256:" + "a" * 64,)),
                      config=ContainerConfig(Env=(DEFAULT_PATH,), WorkingDir="/"))


def plan(text):
    return plan_build(parse(text), lookup=lambda reference, platform: BUSYBOX, platform=AMD64)


ROOT = os.geteuid() == 0


@pytest.fixture
def ctx(tmp_path):
    context = tmp_path / "ctx"
    for rel in ("x/a.txt", "x/deep/b.txt", "x/deep/c.log", "y/d.txt", "y/e.log", "top.txt", "top.log"):
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel + "\n")
    os.chmod(context / "top.txt", 0o666)
    return Tree(str(context))


def copy(tmp_path, tree, sources, dest, **kwargs):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir(exist_ok=True)
    step = CopyStep(tuple(sources), dest, dest, **kwargs)
    selected = tree.select(sources)
    if step.exclude:
        tree, selected = excluding(tree, selected, step.exclude)
    kept = parent_paths(tree, step.sources) if step.parents else None
    Copier(str(rootfs), step, tree, owner=(0, 0), field="Dockerfile:1").copy(selected, kept=kept)
    return rootfs


def files(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


def test_parents_keep_the_source_path_under_the_destination(tmp_path, ctx):
    rootfs = copy(tmp_path, ctx, ["x/deep/b.txt", "y", "top.txt"], "/dst/", parents=True)
    assert files(rootfs) == ["dst/top.txt", "dst/x/deep/b.txt", "dst/y/d.txt", "dst/y/e.log"]
    rootfs = copy(tmp_path, ctx, ["*/*.txt"], "/glob", parents=True)
    assert files(rootfs / "glob") == ["x/a.txt", "y/d.txt"]
    rootfs = copy(tmp_path, ctx, ["./x/./deep/*.txt", "x/./a.txt", "y/e.log", "./top.txt"], "/pivot/", parents=True)
    assert files(rootfs / "pivot") == ["a.txt", "deep/b.txt", "top.txt", "y/e.log"]


def test_exclude_under_each_directory_and_by_file_name(tmp_path, ctx):
    rootfs = copy(tmp_path, ctx, ["x", "top.txt", "top.log"], "/d/", exclude=("*.log", "deep/b.txt"))
    assert files(rootfs) == ["d/a.txt", "d/deep/c.log", "d/top.txt"]  # (*.log: one component, as docker)
    rootfs = copy(tmp_path, ctx, ["."], "/all/", exclude=("**/*.log", "!y/e.log"))
    assert files(rootfs / "all") == ["top.txt", "x/a.txt", "x/deep/b.txt", "y/d.txt", "y/e.log"]


def test_exclude_adds_to_the_dockerignore_rules(ctx):
    tree = Tree(ctx.root, IgnoreRules(["y"]))
    narrowed, sources = excluding(tree, tree.select(["."]), ("x/deep",))
    assert [rel for rel, _ in narrowed.walk()] == ["top.log", "top.txt", "x", "x/a.txt"]
    assert [s.rel for s in sources] == [""]


@pytest.mark.parametrize(("text", "mode", "is_dir", "expected"), [
    ("go-w", 0o666, False, 0o644), ("u+x", 0o644, False, 0o744), ("a=r", 0o777, False, 0o444),
    ("u=rwX,go=rX", 0o600, True, 0o755), ("u=rwX,go=rX", 0o600, False, 0o644), ("u=rwX,go=rX", 0o700, False, 0o755),
    ("g=u", 0o740, False, 0o770), ("+x-w", 0o666, False, 0o555), ("u+s,+t", 0o755, True, 0o5755),
    ("o=", 0o777, False, 0o770),
])
def test_symbolic_modes(text, mode, is_dir, expected):
    assert modes.apply(text, mode, directory=is_dir) == expected


@pytest.mark.parametrize("text", ["", "u", "u+q", "z+x", "u+x,", "0888", "rwx"])
def test_bad_symbolic_modes(text):
    with pytest.raises(InvalidArgument, match="--chmod"):
        modes.check(text, field="f")


def test_symbolic_chmod_applies_to_each_file_and_directory(tmp_path, ctx):
    rootfs = copy(tmp_path, ctx, ["top.txt", "x"], "/d/", chmod="go-w,u+x")
    assert os.stat(rootfs / "d/top.txt").st_mode & 0o7777 == 0o744
    assert os.stat(rootfs / "d/deep").st_mode & 0o7777 == 0o755


def _archive(path, owner=(123, 456)):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("pkg/", None), ("pkg/file", b"f\n")):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.uid, info.gid = owner
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o4755
                tar.addfile(info, io.BytesIO(data))


def test_unpack_false_copies_the_archive_and_true_is_the_default(tmp_path):
    (tmp_path / "ctx").mkdir()
    _archive(tmp_path / "ctx" / "a.tgz")
    tree = Tree(str(tmp_path / "ctx"))
    rootfs = copy(tmp_path, tree, ["a.tgz"], "/kept/", add=True, unpack=False)
    assert files(rootfs) == ["kept/a.tgz"]
    copy(tmp_path, tree, ["a.tgz"], "/out/", add=True)
    assert (rootfs / "out/pkg/file").read_text() == "f\n"


def test_a_download_is_extracted_only_with_unpack_true(tmp_path):
    (tmp_path / "downloads").mkdir()
    _archive(tmp_path / "downloads" / "a.tgz")
    tree = Tree(str(tmp_path / "downloads"), name="downloads")
    rootfs = copy(tmp_path, tree, ["a.tgz"], "/plain/", add=True, urls=("http://h/a.tgz",))
    copy(tmp_path, tree, ["a.tgz"], "/unpacked/", add=True, urls=("http://h/a.tgz",), unpack=True)
    assert files(rootfs) == ["plain/a.tgz", "unpacked/pkg/file"]


@pytest.mark.skipif(not ROOT, reason="giving files owners needs root")
def test_add_chown_applies_to_the_archives_entries_and_keeps_setuid(tmp_path):
    (tmp_path / "ctx").mkdir()
    _archive(tmp_path / "ctx" / "a.tgz")
    tree = Tree(str(tmp_path / "ctx"))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    step = CopyStep(("a.tgz",), "/opt/", "/opt/", add=True, chown="7:8")
    Copier(str(rootfs), step, tree, owner=(7, 8), field="Dockerfile:1").copy(tree.select(["a.tgz"]))
    for rel in ("opt/pkg", "opt/pkg/file"):
        st = os.lstat(rootfs / rel)
        assert (st.st_uid, st.st_gid) == (7, 8), rel
    assert os.stat(rootfs / "opt/pkg/file").st_mode & 0o7777 == 0o4755
    plain = tmp_path / "plain"
    plain.mkdir()
    step = CopyStep(("a.tgz",), "/opt/", "/opt/", add=True)
    Copier(str(plain), step, tree, owner=(0, 0), field="Dockerfile:1").copy(tree.select(["a.tgz"]))
    assert os.lstat(plain / "opt/pkg/file").st_uid == 123  # without --chown the archive's owners stay


def test_flags_are_planned():
    p = plan("FROM busybox\nCOPY --parents --exclude=*.log --exclude=!keep.log --link a b /d/\n"
             "ADD --unpack=false --link=false --chmod=go-w a.tgz /d/\nADD --unpack=true http://h/a.tgz /d/\n"
             "COPY --chmod=0640 a /x\n")
    copy1, add, url, octal = (s.copy for s in p.stage(0).steps[1:])
    assert (copy1.parents, copy1.exclude, copy1.unpack) == (True, ("*.log", "!keep.log"), None)
    assert (add.unpack, add.chmod, add.parents) == (False, "go-w", False)
    assert url.unpack is True and octal.chmod == "0640"


@pytest.mark.parametrize(("text", "match"), [
    ("COPY --parents=maybe a /d/", "--parents=maybe: expected true or false"),
    ("COPY --exclude= a /d/", "--exclude needs a pattern"),
    ("ADD --parents a /d/", "unknown flag --parents for ADD"),
    ("COPY --unpack a /d/", "unknown flag --unpack for COPY"),
    ("ADD --exclude=x http://h/a /d/", "not URLs"),
    ("COPY --chmod=u+z a /d/", "--chmod"),
])
def test_bad_flags(text, match):
    with pytest.raises(InvalidArgument, match=match):
        plan("FROM busybox\n" + text + "\n")
