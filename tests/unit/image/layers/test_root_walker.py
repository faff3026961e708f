"""The one walker for paths inside a root, against hostile trees.

Every case runs against each way of resolving: the path-string :func:`resolve` (a tree nobody
else changes, such as a build's own snapshot), and :func:`open_file` both through the kernel's
``openat2(RESOLVE_IN_ROOT)`` and through the user-space walk over directory descriptors that
stands in where the kernel lacks it.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading

import pytest

from boxen.common.errors import InvalidArgument, KernelError, NotFound, kernel_error
from boxen.image.layers.paths import NotADirectory, resolve
from boxen.image.layers.rootfiles import NotARegularFile, open_file, read_file


def _has_openat2() -> bool:
    from boxen.runtime.inroot import open_in_root

    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        os.close(open_in_root(fd, ".", os.O_PATH))
        return True
    except KernelError as exc:
        return exc.errno not in (errno.ENOSYS, errno.EPERM)
    finally:
        os.close(fd)


OPENAT2 = pytest.param(True, id="openat2", marks=pytest.mark.skipif(
    not _has_openat2(), reason="this kernel has no openat2 (Linux >= 5.6), or seccomp forbids it"))
WALK = pytest.param(False, id="walk")


def read(root, path, kernel):
    """The content of ``path`` in ``root`` the way each backend reads it."""
    if kernel is None:
        with open(resolve(str(root), path), "rb") as f:
            return f.read()
    return read_file(str(root), path, 1 << 20, kernel=kernel)


ALL = [pytest.param(None, id="resolve"), OPENAT2, WALK]
OPENERS = [OPENAT2, WALK]


@pytest.fixture
def tree(tmp_path):
    """A root with /etc/passwd, a host directory beside it holding a secret."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(b"inside")
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "os-release").write_bytes(b"release")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(b"OUTSIDE")
    return root, outside


@pytest.mark.parametrize("kernel", ALL)
def test_absolute_and_dotdot_links_stay_in_the_root(tree, kernel):
    root, outside = tree
    os.symlink(str(outside), root / "abs")  # the host's directory, if followed naively
    os.symlink("../../../../../../..", root / "up")
    os.symlink("/etc/passwd", root / "etc" / "link")
    os.symlink("../usr/lib/os-release", root / "etc" / "os-release")
    with pytest.raises(NotFound):
        read(root, "abs/passwd", kernel)  # <root>/<outside>/passwd, which does not exist
    assert read(root, "up/etc/passwd", kernel) == b"inside"
    assert read(root, "/../../etc/./passwd", kernel) == b"inside"
    assert read(root, "etc/link", kernel) == b"inside"
    assert read(root, "/etc/os-release", kernel) == b"release"


@pytest.mark.parametrize("kernel", ALL)
def test_symlink_loops_are_refused(tree, kernel):
    root, _ = tree
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("self", root / "self")
    os.symlink("/loop/x", root / "loop")
    for path in ("a", "self/x", "loop"):
        with pytest.raises(InvalidArgument, match="symbolic links"):
            read(root, path, kernel)


@pytest.mark.parametrize("kernel", ALL)
def test_a_file_where_a_directory_is_expected_is_not_found(tree, kernel):
    root, _ = tree
    os.symlink("passwd", root / "etc" / "alias")
    for path in ("etc/passwd/x", "etc/alias/x", "etc/passwd/.", "etc/passwd/../passwd", "missing/../etc/passwd"):
        with pytest.raises(NotFound):
            read(root, path, kernel)


def test_making_directories_through_a_file_is_refused(tree):
    root, _ = tree
    with pytest.raises(NotADirectory, match="/etc/passwd is not a directory"):
        resolve(str(root), "etc/passwd/x", make_directory=os.mkdir)
    made = resolve(str(root), "/abs-missing/a/b", make_directory=os.mkdir)
    assert made == str(root / "abs-missing" / "a" / "b") and os.path.isdir(made)


def _deep(root, levels: int, name: str) -> str:
    """``levels`` nested directories of 250-byte names under ``root`` (made by descriptor, as
    the path may outgrow PATH_MAX), a file ``name`` at the bottom; returns the relative path."""
    component = "d" * 250
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir(component, dir_fd=fd)
        below = os.open(component, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(out, b"deep")
    os.close(out)
    os.close(fd)
    return "/".join([component] * levels + [name])


@pytest.mark.parametrize("kernel", ALL)
def test_a_tree_just_under_path_max(tree, kernel):
    root, _ = tree
    path = _deep(root, 15, "f")  # 15 * 251 + 1 bytes of the 4096 a path may have
    assert len(str(root)) + len(path) < 4096
    assert read(root, path, kernel) == b"deep"


@pytest.mark.parametrize("kernel", OPENERS)
def test_a_tree_deeper_than_path_max_is_read_by_descriptor(tree, kernel):
    root, _ = tree
    path = _deep(root, 20, "f")
    assert len(path) > 4096
    assert read(root, path, kernel) == b"deep"
    with pytest.raises(KernelError) as caught:  # a path string cannot name it: a clear error, not a traceback
        resolve(str(root), path)
    assert caught.value.errno == errno.ENAMETOOLONG


@pytest.mark.parametrize("kernel", OPENERS)
def test_only_regular_files_are_opened(tree, kernel):
    root, _ = tree
    os.mkfifo(root / "etc" / "group")  # opening it for reading would block until a writer came
    os.symlink("group", root / "etc" / "to-fifo")
    with pytest.raises(NotARegularFile, match="a FIFO"):
        open_file(str(root), "/etc/group", kernel=kernel)
    with pytest.raises(NotARegularFile, match="a FIFO"):
        open_file(str(root), "/etc/to-fifo", kernel=kernel)
    with pytest.raises(NotARegularFile, match="a directory"):
        open_file(str(root), "/etc", kernel=kernel)
    with pytest.raises(NotARegularFile, match="a directory"):
        open_file(str(root), "/", kernel=kernel)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CAP_MKNOD)")
@pytest.mark.parametrize("kernel", OPENERS)
def test_a_device_node_is_refused_without_being_opened(tree, kernel):
    root, _ = tree
    os.mknod(root / "etc" / "shadow", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    with pytest.raises(NotARegularFile, match="a character device"):
        open_file(str(root), "/etc/shadow", kernel=kernel)


@pytest.mark.parametrize("kernel", OPENERS)
def test_files_over_the_limit_are_refused(tree, kernel):
    root, _ = tree
    with pytest.raises(InvalidArgument, match="more than the 3 allowed"):
        read_file(str(root), "/etc/passwd", 3, kernel=kernel)


@pytest.mark.parametrize("kernel", OPENERS)
def test_links_swapped_during_the_walk_never_lead_out(tree, kernel):
    """A thread flips ``d`` between a directory and a symlink to the host's directory while
    the walk runs: every read gives the root's file or an error, never the host's."""
    root, outside = tree
    (root / "d").mkdir()
    (root / "d" / "passwd").write_bytes(b"inside")
    (root / "d" / "file-or-link").write_bytes(b"inside")
    stop = threading.Event()
    flips = []

    def flip() -> None:
        while not stop.is_set():
            flips.append(1)
            os.rename(root / "d", root / "d.dir")
            os.symlink(str(outside), root / "d")
            os.unlink(root / "d")
            os.symlink("../../../../../../../../../../../../" + str(outside), root / "d")
            os.unlink(root / "d")
            os.rename(root / "d.dir", root / "d")

    flipper = threading.Thread(target=flip)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the flips land inside walks
    flipper.start()
    seen = set()
    try:
        for _ in range(3000):
            try:
                seen.add(read(root, "d/passwd", kernel))
            except (NotFound, InvalidArgument) as exc:
                seen.add(type(exc).__name__)
    finally:
        stop.set()
        flipper.join()
        sys.setswitchinterval(interval)
    assert flips and b"OUTSIDE" not in seen
    assert read(root, "d/passwd", kernel) == b"inside"


def test_the_walk_stands_in_when_the_kernel_has_no_openat2(tree, monkeypatch):
    import boxen.runtime.inroot

    calls = []

    def no_openat2(root_fd, path, flags, *, display=None):
        calls.append(path)
        raise kernel_error(errno.ENOSYS, "openat2", path)

    monkeypatch.setattr(boxen.runtime.inroot, "open_in_root", no_openat2)
    root, _ = tree
    assert read_file(str(root), "/etc/passwd", 100) == b"inside"
    assert calls  # the kernel was asked first


@pytest.mark.parametrize("kernel", OPENERS)
def test_names_the_kernel_cannot_hold_and_a_missing_root_are_clear_errors(tree, kernel):
    root, _ = tree
    with pytest.raises(KernelError) as caught:
        open_file(str(root), "etc/" + "n" * 300, kernel=kernel)
    assert caught.value.errno == errno.ENAMETOOLONG
    with pytest.raises(NotFound, match="does not exist"):
        open_file(str(root / "nothing"), "etc/passwd", kernel=kernel)


def test_a_directory_swapped_for_a_symlink_right_after_it_was_checked(tree, monkeypatch):
    """The race made certain: the walk has seen ``d`` as a directory, then ``d`` becomes a link
    to the host's directory before the walk goes on. The descriptor walk notices; a path
    string, opened afterwards, would have gone through the link."""
    from boxen.image.layers import rootfiles

    root, outside = tree
    (root / "d").mkdir()
    (root / "d" / "passwd").write_bytes(b"inside")
    looked = rootfiles._Descriptors.look

    def look_then_swap(self, stack, part):
        kind = looked(self, stack, part)
        if part == "d" and not (root / "d.dir").exists():
            os.rename(root / "d", root / "d.dir")
            os.symlink(str(outside), root / "d")
        return kind

    monkeypatch.setattr(rootfiles._Descriptors, "look", look_then_swap)
    with pytest.raises(InvalidArgument, match="/d changed while it was walked"):
        read_file(str(root), "d/passwd", 100, kernel=False)
    with open(str(root / "d" / "passwd"), "rb") as naive:  # what opening by path string now reads
        assert naive.read() == b"OUTSIDE"
