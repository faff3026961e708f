"""The build context: the files a build may ``COPY``, filtered by ``.dockerignore``, and their digest.

``boxen-image build CONTEXT`` gives the builder a directory; ``COPY`` and ``ADD`` read from it
and nothing outside it (``COPY ../secret /`` is refused). A ``.dockerignore`` file (or
``.containerignore``, as buildah calls it) at its top removes files from what the build sees,
one pattern per line, with docker's rules:

* ``#`` starts a comment line; patterns are cleaned (``./a//b`` is ``a/b``, a leading ``/``
  means nothing);
* ``*`` matches within one path component, ``?`` one character, ``[a-z]`` a class, and ``**``
  any number of components (``**/*.go``, ``build/**``);
* a pattern that matches a directory excludes everything beneath it;
* ``!pattern`` is an **exception**: it brings back what earlier patterns excluded. The *last*
  matching line decides. An excluded directory is only searched for exceptions if an
  exception pattern starts with its path (``!build/keep.txt`` after ``build``), as docker does.
  A ``!`` with no pattern is an error;
* a Dockerfile may have its own ignore file beside it, ``Dockerfile.dockerignore`` (the
  Dockerfile's name plus ``.dockerignore``), which is then used instead of the context's.

The same patterns are used by :meth:`Tree.select` to expand wildcards in ``COPY`` sources
(``COPY *.txt /dst/``), where ``*`` and ``?`` never cross a ``/`` (Go's ``filepath.Match``);
a pattern that matches nothing selects nothing (BuildKit's COPY then copies nothing and
succeeds), while a plain path that does not exist is an error.

For the layer cache, a ``COPY`` is named by the **digest** of what it copies
(:func:`digest_sources`): every path, type, mode and link target, and the sha256 of every
file's bytes. Times are left out, as docker leaves them out, so touching a file does not
invalidate the cache, but any change of content does.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator

from boxen.common.errors import InvalidArgument, NotFound
from boxen.common.record import Record

IGNORE_FILES = (".dockerignore", ".containerignore")


def _translate(pattern: str, *, doublestar: bool) -> str:
    """A regular expression for a docker/Go path pattern."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if doublestar and i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise InvalidArgument(f"unterminated character class in pattern {pattern!r}", field=pattern)
            body = pattern[i + 1:end]
            if body.startswith(("^", "!")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _compile(pattern: str, *, doublestar: bool) -> re.Pattern:
    """The regular expression matching the whole of a path for a docker/Go path pattern."""
    try:
        return re.compile(_translate(pattern, doublestar=doublestar) + r"\Z", re.DOTALL)
    except re.error as exc:  # a character class like [z-a]
        raise InvalidArgument(f"bad pattern {pattern!r}: {exc.msg}", field=pattern) from None


def clean(path: str) -> str:
    """``path`` normalised and relative to the top (``""`` for the top); refuses to climb above it."""
    rel = posixpath.normpath(path.lstrip("/")) if path.strip("/") else "."
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"{path!r} is outside the build context", field=path)
    return "" if rel == "." else rel


class IgnorePattern(Record):
    text: str
    exception: bool
    regex: re.Pattern


class IgnoreRules:
    """The patterns of a ``.dockerignore`` file (see the module docstring)."""

    def __init__(self, lines: list[str] | tuple[str, ...] = (), *, source: str = ".dockerignore") -> None:
        self.patterns: list[IgnorePattern] = []
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            exception = text.startswith("!")
            if exception:
                text = text[1:].strip()
                if not text:
                    raise InvalidArgument('illegal exclusion pattern "!": an exception needs a pattern after "!"',
                                          field=f"{source}:{number}")
            text = posixpath.normpath(text)
            if text.startswith("/") and len(text) > 1:
                text = text.lstrip("/")
            if text in (".", "/"):
                text = "."  # docker: matches the whole context
            try:
                regex = _compile(text, doublestar=True) if text != "." else re.compile(r".*\Z", re.DOTALL)
            except InvalidArgument as exc:
                exc.field = f"{source}:{number}"
                raise
            self.patterns.append(IgnorePattern(text, exception, regex))
        self.has_exceptions = any(p.exception for p in self.patterns)

    def excluded(self, rel: str) -> bool:
        """Whether context path ``rel`` (cleaned, relative) is left out of the build."""
        if not rel:
            return False
        parents = []
        parts = rel.split("/")
        for i in range(1, len(parts)):
            parents.append("/".join(parts[:i]))
        matched = False
        for pattern in self.patterns:
            if pattern.exception != matched:
                continue  # an exception only matters once excluded, an exclusion only while included
            if pattern.regex.match(rel) or any(pattern.regex.match(p) for p in parents):
                matched = not pattern.exception
        return matched

    def may_reinclude(self, rel_dir: str) -> bool:
        """Whether an exception might bring back something under the excluded directory ``rel_dir``."""
        prefix = rel_dir + "/"
        return any(p.exception and (p.text + "/").startswith(prefix) for p in self.patterns)


def read_ignore(directory: str, dockerfile: str | None = None) -> IgnoreRules:
    """The rules for the context ``directory``, none if it has no ignore file.

    A per-Dockerfile ignore file, ``DOCKERFILE.dockerignore`` beside the Dockerfile
    (``Dockerfile.dockerignore``, ``app.Dockerfile.dockerignore``), wins over the context's
    ``.dockerignore`` (or ``.containerignore``), as BuildKit reads them.
    """
    candidates = [f"{dockerfile}.dockerignore"] if dockerfile else []
    candidates += [os.path.join(directory, name) for name in IGNORE_FILES]
    for path in candidates:
        try:  # (without blocking: a FIFO there would wait for a writer)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InvalidArgument(f"cannot read {path}: {exc.strerror}", field=os.path.basename(path)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidArgument(f"{path} is not a regular file", field=os.path.basename(path))
        with open(fd, encoding="utf-8", errors="surrogateescape") as f:
            return IgnoreRules(f.read().splitlines(), source=os.path.basename(path))
    return IgnoreRules()


class Source(Record):
    """A selected source: ``rel`` is its path in the tree, ``path`` where it is on the host
    (symlinks in the path followed inside the tree), ``is_dir`` whether its contents are copied,
    ``name`` the last component as the Dockerfile named it (a file copied into a directory
    keeps that name, even when it was reached through a symlink)."""

    rel: str
    path: str
    is_dir: bool
    name: str


class Tree:
    """A directory ``COPY`` reads from: the build context (with ignore rules) or a stage's root."""

    def __init__(self, root: str, rules: IgnoreRules | None = None, *, name: str = "build context") -> None:
        self.root = os.path.abspath(root)
        self.rules = rules or IgnoreRules()
        self.name = name

    def host(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def walk(self, rel: str = "", *, passages: bool = False) -> Iterator[tuple[str, os.stat_result]]:
        """Every path under directory ``rel`` that the rules keep, depth first in name order.

        With ``passages``, also the excluded directories searched for exceptions (their stat's
        mode is then of no concern: a copy makes them as plain ``0755`` directories)."""
        stack = [self._children(rel)]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                continue
            child, st, listed = item
            if listed or passages:
                yield child, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(self._children(child))

    def _children(self, directory: str) -> Iterator[tuple[str, os.stat_result, bool]]:
        """``(path, stat, listed)`` of the entries of ``directory`` to visit; an excluded directory
        is visited unlisted when an exception may bring back something beneath it."""
        with os.scandir(self.host(directory)) as it:
            names = sorted(e.name for e in it)
        for name in names:
            child = f"{directory}/{name}" if directory else name
            st = os.lstat(self.host(child))
            if not self.rules.excluded(child):
                yield child, st, True
            elif stat.S_ISDIR(st.st_mode) and self.rules.may_reinclude(child):
                yield child, st, False

    def _resolve(self, rel: str) -> str:
        """``rel`` with every symlink in it followed inside the tree (relative result)."""
        from boxen.image.layers.paths import resolve

        try:
            host = resolve(self.root, rel)
        except NotFound:
            raise NotFound(f"{rel or '/'} does not exist in the {self.name}", field=rel) from None
        real = os.path.relpath(host, self.root)
        return "" if real == "." else real

    def select(self, sources: tuple[str, ...] | list[str]) -> list[Source]:
        """The sources a ``COPY`` names: paths (symlinks followed) or wildcard patterns."""
        selected: list[Source] = []
        for source in sources:
            rel = clean(source)
            if any(c in rel for c in "*?["):
                regex = _compile(rel, doublestar=False)
                # a pattern that matches nothing copies nothing, as BuildKit does
                for match, _ in self.walk():
                    if regex.match(match):
                        selected.append(self._source(match, source))
                continue
            if rel and self.rules.excluded(rel) and not self.rules.may_reinclude(rel):
                raise NotFound(f"{source!r} is excluded from the {self.name} by .dockerignore", field=source)
            selected.append(self._source(rel, source))
        return selected

    def _source(self, rel: str, source: str) -> Source:
        real = self._resolve(rel)
        path = self.host(real)
        st = os.stat(path, follow_symlinks=False)
        return Source(real, path, stat.S_ISDIR(st.st_mode), rel.rpartition("/")[2])

    def entries(self, source: Source, *, passages: bool = False) -> Iterator[tuple[str, str, os.stat_result]]:
        """``(path relative to the source, host path, stat)`` of what copying ``source`` takes:
        the file itself (``""``), or everything kept under the directory (``passages``: see
        :meth:`walk`)."""
        if not source.is_dir:
            yield "", source.path, os.stat(source.path, follow_symlinks=False)
            return
        prefix = f"{source.rel}/" if source.rel else ""
        for rel, st in self.walk(source.rel, passages=passages):
            yield rel[len(prefix):], self.host(rel), st

    def excluded(self, rel: str) -> bool:
        return self.rules.excluded(rel)


def file_digest(path: str, st: os.stat_result | None = None) -> str:
    """The sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def digest_sources(tree: Tree, sources: list[Source], *, owners: bool = False,
                   digest_file: Callable[[str, os.stat_result], str] = file_digest) -> tuple[str, str]:
    """``(kind, hex digest)`` of what a ``COPY`` of ``sources`` takes from ``tree``.

    ``kind`` is ``file``, ``dir`` or ``multi`` (as the history records it). The digest covers
    names, types, modes, link targets, file contents, and owners when ``owners`` (a ``--from``
    copy keeps them). ``digest_file(path, stat)`` hashes one file (the builder remembers
    digests by inode, size and times, so an unchanged context is not read again).
    """
    h = hashlib.sha256()
    for source in sources:
        h.update(f"source {source.rel} {'dir' if source.is_dir else 'file'}\0".encode())
        for rel, path, st in tree.entries(source):
            mode = st.st_mode
            line = f"{rel}\0{stat.S_IFMT(mode):o}\0{stat.S_IMODE(mode):o}\0"
            if owners:
                line += f"{st.st_uid}:{st.st_gid}\0"
            if stat.S_ISREG(mode):
                line += digest_file(path, st)
            elif stat.S_ISLNK(mode):
                line += os.readlink(path)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                line += f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            h.update(line.encode("utf-8", "surrogateescape") + b"\n")
    kind = "multi" if len(sources) > 1 else ("dir" if sources and sources[0].is_dir else "file")
    return kind, h.hexdigest()
