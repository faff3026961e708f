""".dockerignore rules, source selection in the build context, and the digest of copied sources."""

import os

import pytest

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.build.context import IgnoreRules, Tree, clean, digest_sources, read_ignore


@pytest.mark.parametrize("patterns, path, excluded", [
    (["*.log"], "a.log", True),
    (["*.log"], "dir/a.log", False),
    (["**/*.log"], "dir/sub/a.log", True),
    (["**/*.log"], "a.log", True),
    (["build"], "build/out/x", True),
    (["build/**"], "build", False),
    (["build/**"], "build/x/y", True),
    (["/secret"], "secret", True),
    (["./a//b"], "a/b", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md", "README*"], "README.md", True),
    (["te?t"], "test", True),
    (["te?t"], "te/t", False),
    (["[a-c]x"], "bx", True),
    (["[^a-c]x"], "bx", False),
    (["# comment", "", "x"], "x", True),
    (["dir", "!dir/keep"], "dir/keep", False),
    (["dir", "!dir/keep"], "dir/other", True),
])
def test_ignore_rules(patterns, path, excluded):
    assert IgnoreRules(patterns).excluded(path) is excluded


def test_may_reinclude_only_for_exceptions_under_the_directory():
    rules = IgnoreRules(["dir", "!dir/keep", "!**/anywhere"])
    assert rules.may_reinclude("dir")
    assert not rules.may_reinclude("other")


def make(tmp_path, files):
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        elif content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_text(content)
    return Tree(str(tmp_path), read_ignore(str(tmp_path)))


def test_dockerignore_hides_files_from_walks_and_selection(tmp_path):
    tree = make(tmp_path, {
        ".dockerignore": "*.log\nbuild\n!build/keep.txt\n",
        "a.txt": "a", "b.log": "b", "build/out.o": "o", "build/keep.txt": "k", "src/c.txt": "c",
    })
    # an excluded directory is searched for exceptions but not listed itself
    assert [rel for rel, _ in tree.walk()] == [".dockerignore", "a.txt", "build/keep.txt", "src", "src/c.txt"]
    with pytest.raises(NotFound, match="excluded"):
        tree.select(["b.log"])
    build = tree.select(["build"])[0]
    assert [rel for rel, _, _ in tree.entries(build)] == ["keep.txt"]


def test_containerignore_is_read_too(tmp_path):
    (tmp_path / ".containerignore").write_text("x\n")
    assert read_ignore(str(tmp_path)).excluded("x")


def test_select_globs_paths_and_symlinks(tmp_path):
    tree = make(tmp_path, {"a.txt": "a", "b.txt": "b", "sub/c.txt": "c", "link": "->sub/c.txt",
                           "abs": "->/sub"})
    assert [s.rel for s in tree.select(["*.txt"])] == ["a.txt", "b.txt"]
    assert [s.rel for s in tree.select(["*/c.txt"])] == ["sub/c.txt"]
    link = tree.select(["link"])[0]
    assert link.rel == "sub/c.txt" and not link.is_dir
    absolute = tree.select(["abs"])[0]  # an absolute link resolves inside the context
    assert absolute.rel == "sub" and absolute.is_dir
    assert tree.select(["/sub/../a.txt"])[0].rel == "a.txt"
    assert tree.select(["."])[0].rel == ""
    assert tree.select(["*.none"]) == []  # BuildKit: a wildcard matching nothing copies nothing
    with pytest.raises(NotFound, match="does not exist"):
        tree.select(["missing"])


def test_sources_outside_the_context_are_refused():
    with pytest.raises(InvalidArgument, match="outside the build context"):
        clean("../secret")
    assert clean("a/../b") == "b" and clean("/") == ""


def test_digest_covers_content_and_mode_not_times(tmp_path):
    tree = make(tmp_path, {"d/x": "1", "d/y": "2"})
    sources = tree.select(["d"])
    kind, first = digest_sources(tree, sources)
    assert kind == "dir"
    os.utime(tmp_path / "d/x", (1, 1))
    assert digest_sources(tree, sources)[1] == first
    (tmp_path / "d/x").write_text("changed")
    changed = digest_sources(tree, sources)[1]
    assert changed != first
    os.chmod(tmp_path / "d/x", 0o600)
    assert digest_sources(tree, sources)[1] != changed
    assert digest_sources(tree, tree.select(["d/x"]))[0] == "file"
    assert digest_sources(tree, tree.select(["d/x", "d/y"]))[0] == "multi"


def test_names_with_a_leading_dot_keep_it(tmp_path):
    tree = make(tmp_path, {".hidden": "h", ".config/x": "x", "sub/.muttrc": "m"})
    assert [(s.rel, s.name) for s in tree.select([".hidden", ".config/x", "./sub/.muttrc"])] == [
        (".hidden", ".hidden"), (".config/x", "x"), ("sub/.muttrc", ".muttrc")]
    assert tree.select([".config"])[0].is_dir


def test_a_symlink_source_keeps_its_own_name(tmp_path):
    tree = make(tmp_path, {"sub/c.txt": "c", "link": "->sub/c.txt"})
    link = tree.select(["link"])[0]
    assert (link.rel, link.name) == ("sub/c.txt", "link")


def test_a_lone_exclamation_mark_is_refused(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n# comment\n!\n")
    with pytest.raises(InvalidArgument, match='illegal exclusion pattern "!"') as caught:
        read_ignore(str(tmp_path))
    assert caught.value.field == ".dockerignore:3"


@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir])
def test_an_ignore_file_that_is_no_file_is_refused_without_waiting(tmp_path, make):
    make(str(tmp_path / ".dockerignore"))  # (a FIFO opened to read would wait for a writer)
    with pytest.raises(InvalidArgument, match="is not a regular file") as caught:
        read_ignore(str(tmp_path))
    assert caught.value.field == ".dockerignore"


def test_the_dockerfiles_own_ignore_file_wins(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert read_ignore(str(tmp_path), str(tmp_path / "Dockerfile")).excluded("a")
    (tmp_path / "Dockerfile.dockerignore").write_text("b\n")
    rules = read_ignore(str(tmp_path), str(tmp_path / "Dockerfile"))
    assert rules.excluded("b") and not rules.excluded("a")
    assert read_ignore(str(tmp_path)).excluded("a")  # without a Dockerfile: the context's


def test_the_dockerfile_is_found_under_docker_and_podman_names(tmp_path):
    from boxen.image.build.builder import find_dockerfile

    with pytest.raises(NotFound, match="no Dockerfile"):
        find_dockerfile(str(tmp_path), None)
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    assert find_dockerfile(str(tmp_path), None) == str(tmp_path / "Containerfile")
    (tmp_path / "dockerfile").write_text("FROM scratch\n")  # lower case, as docker accepts it
    assert find_dockerfile(str(tmp_path), None) == str(tmp_path / "dockerfile")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert find_dockerfile(str(tmp_path), None) == str(tmp_path / "Dockerfile")
