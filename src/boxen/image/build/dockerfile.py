"""Reading a Dockerfile: directives, logical lines, instructions, flags, JSON or shell form.

A Dockerfile is a list of **instructions**, one per *logical* line: ``KEYWORD arguments``.
The syntax is small but has corners that every builder (docker, BuildKit, buildah) agrees on:

* **Parser directives** come first, written as comments: ``# escape=`` picks the **escape
  character** (``\\``, or ````` for Windows paths), ``# syntax=`` names a frontend (recorded,
  not used). They are only recognised before anything else: after the first instruction,
  comment or empty line, ``# escape=x`` is an ordinary comment.
* A line ending with the escape character **continues** on the next one: the escape character
  and the line break are removed and the lines joined as they are (``echo a \\`` + ``  && b``
  gives ``echo a   && b``). Comment lines and empty lines inside a continuation are dropped.
* A line whose first non-blank character is ``#`` is a **comment**; ``#`` anywhere else is
  part of the arguments (``RUN echo # not a comment``).
* The keyword is case-insensitive (``run`` is ``RUN``). Words right after it that start with
  ``--`` are **flags** (``COPY --from=build``, ``HEALTHCHECK --interval=5s``).
* ``RUN``, ``CMD``, ``ENTRYPOINT``, ``SHELL``, ``COPY``, ``ADD``, ``VOLUME`` and the command of
  ``HEALTHCHECK`` take a **JSON form** (``["executable", "arg"]``, run without a shell) besides
  the **shell form** (``echo $HOME``, run by ``SHELL``, by default ``/bin/sh -c``). Arguments
  that start with ``[`` but are not a JSON array of strings are shell form, as docker reads them.

* ``RUN``, ``COPY`` and ``ADD`` (shell form) take **here-documents**: ``<<EOF`` (or ``<<-EOF``,
  which strips leading tabs, or ``<<'EOF'`` / ``<<"EOF"``, whose body is not expanded) makes
  the lines after the instruction, up to a line ``EOF``, a document of its own. ``RUN``
  hands them to the shell, which reads here-documents itself (``RUN <<EOF`` alone runs the
  document as the script); in ``COPY``/``ADD`` each one is a file named after its delimiter.

This module only reads syntax; what each instruction means (variables, stages, ARG scoping)
is :mod:`boxen.image.build.plan`'s business. Errors are ``InvalidArgument`` whose ``field``
names the file and line (``Dockerfile:7``).
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

#: Every instruction a Dockerfile may hold, and the flags each accepts.
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"network", "mount"}),
    "CMD": frozenset(),
    "ENTRYPOINT": frozenset(),
    "SHELL": frozenset(),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "checksum", "link", "exclude", "unpack"}),
    "ENV": frozenset(),
    "ARG": frozenset(),
    "LABEL": frozenset(),
    "WORKDIR": frozenset(),
    "USER": frozenset(),
    "EXPOSE": frozenset(),
    "VOLUME": frozenset(),
    "STOPSIGNAL": frozenset(),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
    "ONBUILD": frozenset(),
    "MAINTAINER": frozenset(),
}

#: Instructions whose arguments may be a JSON array.
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})

DIRECTIVES = ("escape", "syntax", "check")


class Heredoc(Record):
    """A here-document: ``name`` is its delimiter; ``expand`` is false when it was quoted
    (``<<'EOF'``), ``chomp`` when it was written ``<<-`` (leading tabs already stripped)."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False


#: The instructions whose shell form takes here-documents.
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})


class Instruction(Record):
    """One logical line: ``keyword`` (upper case), its ``flags`` and ``args`` as written.

    ``json`` is the parsed array when the arguments are in JSON form. ``original`` is the
    whole logical line with continuations joined; ``line`` is where it starts (1-based).
    ``body`` is everything after the keyword, flags included, as written (history records
    it). For ``ONBUILD``, ``trigger`` is the instruction it carries.
    """

    keyword: str
    args: str
    flags: tuple[tuple[str, str | None], ...]
    json: tuple[str, ...] | None
    line: int
    original: str
    body: str = ""
    trigger: Instruction | None = None
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str) -> str | None:
        """The value of ``--name`` (the last one given), ``None`` if absent."""
        value = None
        for key, given in self.flags:
            if key == name:
                value = given if given is not None else ""
        return value


class Dockerfile(Record):
    """A parsed Dockerfile: its parser directives and its instructions in order."""

    instructions: tuple[Instruction, ...]
    escape: str = "\\"
    directives: tuple[tuple[str, str], ...] = ()
    name: str = "Dockerfile"


def _directive(line: str) -> tuple[str, str] | None:
    """``(name, value)`` if ``line`` is written like a parser directive."""
    text = line.strip()
    if not text.startswith("#"):
        return None
    body = text[1:].strip()
    name, eq, value = body.partition("=")
    name = name.strip().lower()
    if not eq or not name or not all(c.isalnum() or c == "_" for c in name):
        return None
    return name, value.strip()


def _read_directives(lines: list[str], name: str) -> tuple[dict[str, str], int]:
    """Directives at the top of the file, and the index of the first line after them."""
    found: dict[str, str] = {}
    i = 0
    while i < len(lines):
        parsed = _directive(lines[i])
        if parsed is None or parsed[0] not in DIRECTIVES:
            break
        key, value = parsed
        if key in found:
            raise InvalidArgument(f"the {key} parser directive may be given only once", field=f"{name}:{i + 1}")
        found[key] = value
        i += 1
    escape = found.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidArgument(f"invalid escape character {escape!r}: must be \\ or `", field=f"{name}:1")
    return found, i


def _continues(line: str, escape: str) -> str | None:
    """The line without its trailing escape character if it continues, else ``None``.

    As in BuildKit, an escape character that is itself escaped (``ENV C a\\\\``) is text,
    not a continuation: the line continues only if the character before the last escape is
    something else.
    """
    stripped = line.rstrip(" \t\r")
    if stripped.endswith(escape) and not stripped.endswith(escape * 2):
        return stripped[:-1]
    return None


def heredoc_markers(text: str) -> list[tuple[str, bool, bool]]:
    """``(name, expand, chomp)`` of each ``<<NAME`` in ``text``, outside quotes, in order.

    ``<<<`` (a here-string) and ``<< NAME`` with a space are not here-documents, as in
    BuildKit; a quoted name (``<<'EOF'``, ``<<"EOF"``) is one whose body is not expanded.
    """
    found = []
    i, quote = 0, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                i += 1
            i += 1
            continue
        if c in "'\"":
            quote = c
        elif text.startswith("<<", i) and not text.startswith("<<<", i) and (i == 0 or text[i - 1] != "<"):
            j = i + 2
            chomp = text.startswith("-", j)
            j += chomp
            delimiter = text[j] if j < len(text) and text[j] in "'\"" else ""
            k = j + len(delimiter)
            end = k
            while end < len(text) and (text[end].isalnum() or text[end] in "_.-"):
                end += 1
            if end > k and (not delimiter or text.startswith(delimiter, end)):
                found.append((text[k:end], not delimiter, chomp))
                i = end + len(delimiter)
                continue
        i += 1
    return found


def _takes_heredocs(text: str) -> bool:
    keyword, _, after = text.partition(" ")
    if keyword.upper() == "ONBUILD":  # the trigger's here-documents follow the ONBUILD line
        return _takes_heredocs(after.strip())
    if keyword.upper() not in HEREDOC_KEYWORDS:
        return False
    _, args = split_flags(after.strip())
    return not args.startswith("[") and "<<" in args


def _read_heredocs(lines: list[str], i: int, text: str, name: str, line: int) -> tuple[tuple[Heredoc, ...], int]:
    """The bodies of the here-documents ``text`` opens, from ``lines[i]`` on; and the next index."""
    docs = []
    for delimiter, expand, chomp in heredoc_markers(text):
        body = []
        while True:
            if i >= len(lines):
                raise InvalidArgument(f"the here-document <<{delimiter} has no end line {delimiter!r}",
                                      field=f"{name}:{line}")
            raw = lines[i].rstrip("\r")
            i += 1
            if chomp:
                raw = raw.lstrip("\t")
            if raw == delimiter:
                break
            body.append(raw + "\n")
        docs.append(Heredoc(delimiter, "".join(body), expand, chomp))
    return tuple(docs), i


def _logical_lines(lines: list[str], start: int, escape: str,
                   name: str) -> list[tuple[int, str, tuple[Heredoc, ...]]]:
    """``(first line number, text, here-documents)`` of each logical line: comments dropped,
    continuations joined, the bodies of its here-documents read."""
    out: list[tuple[int, str, tuple[Heredoc, ...]]] = []
    pending: str | None = None
    first = 0
    i = start
    while i < len(lines):
        raw = lines[i].rstrip("\r")
        i += 1
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and pending is None):
            continue
        if not stripped:  # an empty line inside a continuation: skipped, as docker does
            continue
        if pending is None:
            first = i  # (i is already past this line: 1-based, it is its number)
            raw = raw.lstrip()
            pending = ""
        body = _continues(raw, escape)
        if body is not None:
            pending += body
            continue
        text = (pending + raw).strip()
        docs: tuple[Heredoc, ...] = ()
        if _takes_heredocs(text):
            docs, i = _read_heredocs(lines, i, text, name, first)
        out.append((first, text, docs))
        pending = None
    if pending is not None:
        if pending.strip():
            out.append((first, pending.strip(), ()))
        else:
            raise InvalidArgument("the file ends in the middle of a line continuation", field=f"{name}:{first}")
    return out


def split_flags(args: str) -> tuple[tuple[tuple[str, str | None], ...], str]:
    """Leading ``--name[=value]`` words of ``args`` and the text after them."""
    flags: list[tuple[str, str | None]] = []
    rest = args
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if "\t" in word:
            word, _, tail = word.partition("\t")
            after = tail + " " + after
        body = word[2:]
        if not body:  # a bare "--" ends the flags
            rest = after.lstrip()
            break
        key, eq, value = body.partition("=")
        if eq and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        flags.append((key.lower(), value if eq else None))
        rest = after.lstrip(" \t")
    return tuple(flags), rest


def parse_json_array(text: str) -> tuple[str, ...] | None:
    """The strings of ``text`` if it is a JSON array of strings, else ``None``.

    ``None`` (the shell form, as docker falls back to it) also for text that only looks like
    JSON: ``RUN [ "$(id -u)" = "0" ]`` is the shell's ``test``, ``CMD ["echo",["x"]]`` a
    string. The standard ``json`` module reads it: its decoder is what ``_json`` needs to
    report a syntax error (the build is not on a start-up path).
    """
    if not text.startswith("["):
        return None
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def parse_instruction(text: str, line: int, name: str = "Dockerfile",
                      heredocs: tuple[Heredoc, ...] = ()) -> Instruction:
    """One logical line as an :class:`Instruction` (with the bodies of its here-documents)."""
    where = f"{name}:{line}"
    if "\0" in text:  # (no path, argument or variable can hold one)
        raise InvalidArgument("a NUL character in the instruction", field=where)
    keyword, _, after = text.partition(" ")
    if "\t" in keyword:
        keyword, _, tail = keyword.partition("\t")
        after = tail + " " + after
    keyword = keyword.upper()
    if keyword not in FLAGS:
        raise InvalidArgument(f"unknown instruction: {keyword}", field=where)
    after = after.strip()
    flags, args = split_flags(after)
    allowed = FLAGS[keyword]
    for flag, _ in flags:
        if flag not in allowed:
            known = ", ".join(f"--{f}" for f in sorted(allowed)) or "none"
            raise InvalidArgument(f"unknown flag --{flag} for {keyword} (it accepts: {known})", field=where)
    json = parse_json_array(args) if keyword in JSON_FORMS else None
    trigger = None
    if keyword == "ONBUILD":
        if not args:
            raise InvalidArgument("ONBUILD needs an instruction to run later", field=where)
        try:
            trigger = parse_instruction(args, line, name, heredocs)
        except InvalidArgument as exc:
            raise InvalidArgument(f"ONBUILD trigger {args!r}: {exc.message}", field=where) from None
        if trigger.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
            raise InvalidArgument(f"{trigger.keyword} is not allowed as an ONBUILD trigger", field=where)
    if keyword == "SHELL" and json is None:
        raise InvalidArgument("SHELL requires the JSON form: SHELL [\"executable\", \"parameters\"]", field=where)
    if not args and keyword not in ("CMD", "ENTRYPOINT"):
        raise InvalidArgument(f"{keyword} requires at least one argument", field=where)
    return Instruction(keyword, args, flags, json, line, text, after, trigger, heredocs)


def trigger_text(instruction: Instruction) -> str:
    """What an image config's ``OnBuild`` keeps of ``ONBUILD`` ``instruction``: the trigger's
    line, then the bodies and end lines of its here-documents, as BuildKit keeps them."""
    return instruction.args + "".join(f"\n{doc.content}{doc.name}" for doc in instruction.heredocs)


def parse_trigger(text: str, line: int, name: str) -> Instruction:
    """An ``OnBuild`` entry of a base image (see :func:`trigger_text`) as an :class:`Instruction`."""
    first, _, rest = text.partition("\n")
    docs: tuple[Heredoc, ...] = ()
    if rest:
        docs, _ = _read_heredocs(rest.split("\n"), 0, first, name, line)
    return parse_instruction(first, line, name, docs)


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile (see the module docstring); ``name`` is used in errors."""
    lines = text.removeprefix("\ufeff").split("\n")  # a byte order mark some editors write
    directives, start = _read_directives(lines, name)
    escape = directives.get("escape", "\\")
    instructions = tuple(parse_instruction(body, line, name, docs)
                         for line, body, docs in _logical_lines(lines, start, escape, name))
    if not instructions:
        raise InvalidArgument("the Dockerfile has no instructions", field=name)
    if instructions[0].keyword not in ("FROM", "ARG"):
        raise InvalidArgument(f"the first instruction must be FROM (or ARG before FROM), not "
                              f"{instructions[0].keyword}", field=f"{name}:{instructions[0].line}")
    return Dockerfile(instructions, escape, tuple(directives.items()), name)
