"""Words and variables in Dockerfile arguments: quotes, escapes, ``$VAR`` and ``${VAR:-default}``.

Most instructions (``FROM``, ``COPY``, ``ADD``, ``ENV``, ``ARG``, ``LABEL``, ``EXPOSE``,
``VOLUME``, ``USER``, ``WORKDIR``, ``STOPSIGNAL``) have their arguments processed by the
builder itself, by a small subset of the POSIX shell's rules. ``RUN``, ``CMD`` and
``ENTRYPOINT`` are *not* processed: their shell form is handed to the shell in the container,
which does its own expansion at run time.

* ``'single quotes'`` keep everything literally;
* ``"double quotes"`` keep spaces but expand variables; inside them the escape character only
  escapes ``"``, ``$`` and itself;
* outside quotes the escape character (``\\`` or the ``# escape=`` one) makes the next
  character literal;
* ``$NAME`` and ``${NAME}`` expand to the variable's value (empty when unset), and
  ``${NAME:-word}`` (``word`` if unset or empty), ``${NAME-word}`` (if unset),
  ``${NAME:+word}`` (``word`` if set and not empty), ``${NAME+word}`` (if set),
  ``${NAME:?message}`` and ``${NAME?message}`` (an error if unset) are the modifiers docker
  supports. ``word`` is itself processed, so defaults may hold quotes and variables;
* ``${NAME#glob}`` and ``${NAME##glob}`` remove the shortest or longest prefix matching a
  shell pattern (``*``, ``?``, ``[...]``), ``%`` and ``%%`` a suffix, ``${NAME/glob/text}``
  replaces the first longest match and ``${NAME//glob/text}`` every one;
* positional and special parameters (``$1``, ``$@``, ``$#``, ``$$``...) have no value in a
  Dockerfile and expand to nothing, as BuildKit expands them.

:meth:`Lexer.word` processes a text into one string (``WORKDIR /my dir`` is one path);
:meth:`Lexer.words` also splits it at unquoted blanks, including blanks that an unquoted
expansion produced, as the shell does (``COPY $FILES /dst/``). :func:`pairs` splits
``ENV``/``LABEL``/``ARG`` arguments into ``name=value`` words *before* processing, keeping the
quotes for the processing to remove. :meth:`Lexer.expand` is the third way, for the body of an
unquoted ``COPY <<EOF`` here-document: variables and backslashes only, quotes stay text.
"""

from __future__ import annotations

from collections.abc import Mapping

from boxen.common.errors import InvalidArgument

_BLANKS = " \t\r\n"


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c == "_"


class _Out:
    """The words being built; ``split`` says whether unquoted blanks separate words."""

    def __init__(self, split: bool) -> None:
        self.split = split
        self.words: list[str] = []
        self.current: list[str] = []
        self.started = False  # a word is open even if empty (it had quotes: "")

    def raw(self, text: str) -> None:
        """Literal text: quoted, escaped, or ordinary characters."""
        self.current.append(text)
        self.started = True

    def expanded(self, text: str) -> None:
        """An unquoted expansion: its blanks split words when splitting."""
        if not self.split:
            self.raw(text)
            return
        for c in text:
            if c in _BLANKS:
                self.end()
            else:
                self.raw(c)

    def end(self) -> None:
        if self.started:
            self.words.append("".join(self.current))
        self.current = []
        self.started = False


class Lexer:
    """Processes words with the Dockerfile's escape character (see the module docstring)."""

    def __init__(self, escape: str = "\\", *, quotes: bool = True) -> None:
        self.escape = escape
        self.quotes = quotes  # whether quotes quote (not in a here-document's body)

    def word(self, text: str, env: Mapping[str, str]) -> str:
        """``text`` with quotes removed and variables expanded, as one string."""
        out = _Out(split=False)
        self._process(text, env, out)
        out.end()
        return "".join(out.words)

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """``text`` split into words at unquoted blanks, each processed."""
        out = _Out(split=True)
        self._process(text, env, out)
        out.end()
        return out.words

    @staticmethod
    def expand(text: str, env: Mapping[str, str]) -> str:
        """The body of an unquoted ``COPY <<EOF`` here-document with its variables expanded, as
        BuildKit does it: quotes are ordinary characters, and a backslash (always ``\\``,
        whatever the ``# escape=`` directive says) makes the next character literal and goes:
        ``\\$`` gives ``$``, ``\\\\`` gives ``\\``, a backslash before a newline leaves the
        newline (the lines are not joined), and one at the very end goes."""
        return Lexer("\\", quotes=False).word(text, env)

    # --- the scanner -----------------------------------------------------------------------

    def _process(self, text: str, env: Mapping[str, str], out: _Out, stop: str | None = None) -> int:
        """Process ``text`` into ``out`` until one of the characters ``stop`` (unquoted) or the end;
        returns the index reached."""
        i = 0
        n = len(text)
        escape = self.escape
        while i < n:
            c = text[i]
            if stop is not None and c in stop:
                return i
            if c == "'" and self.quotes:
                end = text.find("'", i + 1)
                if end < 0:
                    raise InvalidArgument("unexpected end of text while looking for the matching single quote",
                                          field=text)
                out.raw(text[i + 1:end])
                i = end + 1
            elif c == '"' and self.quotes:
                i = self._double_quoted(text, i + 1, env, out)
            elif c == "$":
                value, i = self._dollar(text, i + 1, env)
                out.expanded(value)
            elif c == escape:
                if i + 1 < n:
                    out.raw(text[i + 1])
                i += 2
            elif c in _BLANKS and out.split:
                out.end()
                i += 1
            else:
                out.raw(c)
                i += 1
        if stop is not None:
            raise InvalidArgument(f"missing {' or '.join(map(repr, stop))} in variable substitution", field=text)
        return i

    def _double_quoted(self, text: str, i: int, env: Mapping[str, str], out: _Out) -> int:
        n = len(text)
        chunk: list[str] = []
        while True:
            if i >= n:
                raise InvalidArgument("unexpected end of text while looking for the matching double quote",
                                      field=text)
            c = text[i]
            if c == '"':
                out.raw("".join(chunk))
                return i + 1
            if c == "$":
                value, i = self._dollar(text, i + 1, env)
                chunk.append(value)
                continue
            if c == self.escape and i + 1 < n and text[i + 1] in ('"', "$", self.escape):
                chunk.append(text[i + 1])
                i += 2
                continue
            chunk.append(c)
            i += 1

    def _dollar(self, text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
        """The value of the substitution starting after ``$`` at ``i``, and the index after it."""
        n = len(text)
        if i < n and text[i] == "{":
            return self._braced(text, i + 1, env)
        name, i = _name(text, i)
        if not name:
            return "$", i
        return env.get(name, ""), i

    def _word(self, text: str, env: Mapping[str, str], stop: str) -> tuple[str, int]:
        """The processed word of a substitution up to one of the characters ``stop``, and the
        length of its text."""
        out = _Out(split=False)
        end = self._process(text, env, out, stop=stop)
        out.end()
        return "".join(out.words), end

    def _braced(self, text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
        n = len(text)
        name, i = _name(text, i)
        if not name:
            raise InvalidArgument("bad substitution: expected a variable name after ${", field=text)
        if i >= n:
            raise InvalidArgument("missing '}' in variable substitution", field=text)
        if text[i] == "}":
            return env.get(name, ""), i + 1
        if text[i] in "#%/":
            return self._pattern(text, i, name, env)
        colon = text[i] == ":"
        if colon:
            i += 1
        modifier = text[i] if i < n else ""
        if modifier not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier {(':' if colon else '') + modifier!r} in substitution "
                                  f"of {name} (supported: :- - :+ + :? ? # ## % %% / //)", field=text)
        word, end = self._word(text[i + 1:], env, "}")
        value = env.get(name)
        is_set = value is not None and (value != "" or not colon)
        after = i + 1 + end + 1
        if modifier == "-":
            return (value if is_set else word), after  # type: ignore[return-value]
        if modifier == "+":
            return (word if is_set else ""), after
        if not is_set:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}", field=text)
        return value, after  # type: ignore[return-value]


    def _pattern(self, text: str, i: int, name: str, env: Mapping[str, str]) -> tuple[str, int]:
        """``${name#p}``, ``##``, ``%``, ``%%`` (remove the shortest or longest prefix or suffix
        matching the glob ``p``) and ``${name/p/r}``, ``//`` (replace the first or every longest
        match of ``p`` with ``r``), from the operator at ``i``."""
        value = env.get(name, "")
        op = text[i]
        twice = text.startswith(op, i + 1)
        i += 2 if twice else 1
        if op != "/":
            pattern, end = self._word(text[i:], env, "}")
            return _strip(value, pattern, prefix=op == "#", longest=twice), i + end + 1
        pattern, end = self._word(text[i:], env, "/}")
        i += end
        replacement = ""
        if text[i] == "/":  # ${name/p} without a replacement deletes the match
            replacement, end = self._word(text[i + 1:], env, "}")
            i += 1 + end
        return _replace(value, pattern, replacement, every=twice), i + 1


# A name after ``$``: letters, digits and ``_``; or digits alone (a positional parameter) or one
# of the shell's special parameters. Those have no value in a Dockerfile, so they expand to
# nothing, as in BuildKit.
_SPECIAL = frozenset("@*#?$!-")


def _name(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    start = i
    if i < n and text[i].isdigit():
        while i < n and text[i].isdigit():
            i += 1
        return text[start:i], i
    if i < n and text[i] in _SPECIAL:
        return text[i], i + 1
    while i < n and _is_name_char(text[i]):
        i += 1
    return text[start:i], i


def _strip(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    from fnmatch import fnmatchcase

    lengths = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for k in lengths:
        part = value[:k] if prefix else value[len(value) - k:]
        if fnmatchcase(part, pattern):
            return value[k:] if prefix else value[:len(value) - k]
    return value


def _replace(value: str, pattern: str, replacement: str, *, every: bool) -> str:
    from fnmatch import fnmatchcase

    if not pattern:
        return value
    out = []
    i = 0
    while i < len(value):
        end = next((e for e in range(len(value), i, -1) if fnmatchcase(value[i:e], pattern)), None)
        if end is None:
            out.append(value[i])
            i += 1
            continue
        out.append(replacement)
        i = end
        if not every:
            break
    return "".join(out) + value[i:]


def raw_words(text: str, escape: str = "\\") -> list[str]:
    """``text`` split at unquoted, unescaped blanks, quotes and escapes kept for later processing."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote:
            current.append(c)
            if c == escape and quote == '"' and i + 1 < n:
                current.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c == escape and i + 1 < n:
            current.append(c + text[i + 1])
            i += 1
        elif c in "\"'":
            quote = c
            current.append(c)
        elif c in _BLANKS:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(c)
        i += 1
    if current:
        words.append("".join(current))
    return words


def pairs(text: str, keyword: str, escape: str = "\\", *, field: str | None = None) -> list[tuple[str, str | None]]:
    """The raw ``(name, value)`` pairs of ``ENV``, ``LABEL`` or ``ARG`` arguments.

    ``ENV``/``LABEL`` take ``name=value ...`` or the legacy ``name value with blanks`` (one pair,
    the value running to the end of the line); ``ARG`` takes ``name`` or ``name=default``
    words (value ``None`` when there is no ``=``). Names and values still hold their quotes.
    """
    words = raw_words(text, escape)
    if not words:
        raise InvalidArgument(f"{keyword} needs at least one argument", field=field)
    if keyword == "ARG":
        out: list[tuple[str, str | None]] = []
        for word in words:
            name, eq, value = word.partition("=")
            out.append((name, value if eq else None))
        return out
    if "=" not in words[0]:
        name = words[0]
        value = text.strip()[len(name):].strip()
        if not value:
            raise InvalidArgument(f"{keyword} {name} needs a value: {keyword} name=value", field=field)
        return [(name, value)]
    result: list[tuple[str, str | None]] = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq:
            raise InvalidArgument(f"cannot find = in {word!r}: {keyword} takes name=value words", field=field)
        result.append((name, value))
    return result
