"""Alpine package versions, ordered as ``apk version -t`` orders them.

An apk version has a strict grammar (``digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}``)::

    1.36.1-r15          numbers, then the package revision -r15
    2.3.0b-r1           one letter after the numbers
    0.8_beta2           a suffix with a number: alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p
    1.2_git20240101~ab12cd   a commit hash after a tilde

apk reads a version as a sequence of typed tokens and compares two versions token by
token while the two tokens have the same type: numbers as numbers (except that a
dotted number with a leading zero, ``1.02``, compares as a string, as Gentoo does), letters
by character, suffixes by the list above. At the first pair of tokens of *different* types
the version that continues with a pre-release suffix (``_alpha`` ... ``_rc``) is the older
one; otherwise the version whose token comes *later* in the grammar is the older one, and
the end of the string counts as the latest token of all. So ``1.0`` < ``1.0.1`` (the end
comes after a number), ``1.0_rc1`` < ``1.0`` (a pre-release), ``1.0`` < ``1.0-r1``, and
``1.0_p1`` < ``1.0.1`` (a suffix comes later in the grammar than a dotted number).

:func:`key` turns a version into a sort key that encodes exactly that rule, so versions can
be sorted and compared with ``<``; strings that break the grammar are refused.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

# Token types, in grammar order (apk compares "later in the grammar" as older).
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _COMMIT_HASH, _REVISION_NO, _END = range(8)

#: Suffix names and their order; those below ``_NO_SUFFIX`` mark pre-releases.
_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
_NO_SUFFIX = 4
_PRE_RELEASE_RANK = -100  # a pre-release suffix is older than any token of another type

_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdef")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")


def _invalid(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{text!r} is not an apk version: {why}", field="version")


def _span(text: str, start: int, allowed: frozenset[str]) -> int:
    end = start
    while end < len(text) and text[end] in allowed:
        end += 1
    return end


def tokens(text: str) -> list[tuple[int, object]]:
    """The typed tokens of ``text``, ending with ``(_END, 0)``; raises on a malformed version."""
    end = _span(text, 0, _DIGITS)
    if end == 0:
        raise _invalid(text, "it must start with a digit")
    out: list[tuple[int, object]] = [(_INITIAL_DIGIT, int(text[:end]))]
    i = end
    kind = _INITIAL_DIGIT
    while i < len(text):
        c = text[i]
        if c in _LOWER:
            if kind > _DIGIT:
                raise _invalid(text, f"letter {c!r} after a suffix, hash or revision")
            kind = _LETTER
            out.append((kind, ord(c)))
            i += 1
        elif c == "." or c in _DIGITS:
            if c == "." and kind > _DIGIT:
                raise _invalid(text, "'.' after a letter, suffix, hash or revision")
            start = i + 1 if c == "." else i
            if kind in (_INITIAL_DIGIT, _DIGIT):
                kind = _DIGIT
            elif kind == _SUFFIX and c != ".":
                kind = _SUFFIX_NO
            else:
                raise _invalid(text, f"number at offset {i} where none may stand")
            end = _span(text, start, _DIGITS)
            if end == start:
                raise _invalid(text, f"'.' at offset {i} is not followed by a number")
            digits = text[start:end]
            if kind == _DIGIT and digits[0] == "0":
                out.append((kind, (0, digits)))  # leading zero: compared as a string, before numbers
            elif kind == _DIGIT:
                out.append((kind, (1, int(digits))))
            else:
                out.append((kind, int(digits)))
            i = end
        elif c == "_":
            if kind > _SUFFIX_NO:
                raise _invalid(text, "suffix after a hash or revision")
            end = _span(text, i + 1, _LOWER)
            name = text[i + 1:end]
            if name not in _SUFFIXES:
                raise _invalid(text, f"unknown suffix {name!r} (expected one of {', '.join(_SUFFIXES)})")
            kind = _SUFFIX
            out.append((kind, _SUFFIXES[name]))
            i = end
        elif c == "~":
            if kind >= _COMMIT_HASH:
                raise _invalid(text, "a second hash, or a hash after the revision")
            end = _span(text, i + 1, _HEX)
            if end == i + 1:
                raise _invalid(text, "'~' is not followed by a lowercase hex commit hash")
            kind = _COMMIT_HASH
            out.append((kind, text[i + 1:end]))
            i = end
        elif c == "-":
            if kind >= _REVISION_NO or not text.startswith("-r", i):
                raise _invalid(text, "'-' must introduce the one package revision, -r<number>")
            end = _span(text, i + 2, _DIGITS)
            if end == i + 2:
                raise _invalid(text, "'-r' is not followed by a number")
            kind = _REVISION_NO
            out.append((kind, int(text[i + 2:end])))
            i = end
        else:
            raise _invalid(text, f"unexpected character {c!r} at offset {i}")
    out.append((_END, 0))
    return out


def _rank(kind: int, value: object) -> int:
    if kind == _SUFFIX and value < _NO_SUFFIX:  # type: ignore[operator]
        return _PRE_RELEASE_RANK
    return -kind


def key(text: str) -> tuple[tuple[int, object], ...]:
    """A sort key: ``key(a) < key(b)`` exactly when apk orders ``a`` before ``b``."""
    return tuple((_rank(kind, value), value) for kind, value in tokens(text))


def validate(text: str) -> str:
    """Return ``text`` if it is a well-formed apk version, else raise InvalidArgument."""
    tokens(text)
    return text


def compare(a: str, b: str) -> int:
    """Negative if ``a`` is older than ``b``, 0 if they are equal, positive if newer."""
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)
