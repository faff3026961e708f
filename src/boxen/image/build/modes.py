"""File mode bits for ``COPY --chmod`` and ``ADD --chmod``: octal or ``chmod(1)``'s symbolic form.

A file's mode holds twelve permission bits: read, write and execute for its owner (``u``),
its group (``g``) and everyone else (``o``), ``0o400`` down to ``0o001``, plus set-user-ID
(``0o4000``), set-group-ID (``0o2000``) and sticky (``0o1000``). ``--chmod`` gives them
either as an **octal number** (``0644``), which replaces every file's bits, or **symbolically**,
which changes each file's own bits (BuildKit reads both):

* clauses are separated by commas: ``u+x,go-w``;
* a clause names *who* (``u``, ``g``, ``o``, ``a`` for all; none means all), then one or more
  operations: ``+`` adds bits, ``-`` removes them, ``=`` sets exactly them for *who*;
* the bits are ``r``, ``w``, ``x``, ``X`` (execute, but only for directories and files that
  some class may already execute), ``s`` (set-ID), ``t`` (sticky), or one class's current
  bits copied (``g=u``).

So ``--chmod=go-w`` leaves ``0755`` directories at ``0755`` and makes a ``0666`` file ``0644``,
where an octal value would give both the same mode.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

_CLASS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # every bit each class owns (sticky goes with o)
_PERM = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


def check(text: str, *, field: str) -> None:
    """Refuse a ``--chmod`` value that is neither octal bits nor valid symbolic clauses."""
    if _octal(text) is None:
        try:
            apply(text, 0, directory=False)
        except ValueError as exc:
            raise InvalidArgument(f"--chmod={text}: {exc} (expected octal bits like 0644, or clauses like "
                                  "u+x,go-w)", field=field) from None


def _octal(text: str) -> int | None:
    if text and len(text) <= 4 and all(c in "01234567" for c in text):
        return int(text, 8)
    return None


def apply(text: str, mode: int, *, directory: bool) -> int:
    """The permission bits ``--chmod=text`` gives a file (a directory if ``directory``) whose
    bits were ``mode``. Raises ValueError for a malformed symbolic mode."""
    octal = _octal(text)
    if octal is not None:
        return octal
    if not text:
        raise ValueError("empty mode")
    for clause in text.split(","):
        i = 0
        who = 0
        while i < len(clause) and clause[i] in "ugoa":
            who |= 0o7777 if clause[i] == "a" else _CLASS[clause[i]]
            i += 1
        who = who or 0o7777
        if i == len(clause):
            raise ValueError(f"clause {clause!r} has no +, - or =")
        while i < len(clause):
            op = clause[i]
            if op not in "+-=":
                raise ValueError(f"unexpected {op!r} in clause {clause!r}")
            i += 1
            bits = 0
            if i < len(clause) and clause[i] in "ugo":
                shift = {"u": 6, "g": 3, "o": 0}[clause[i]]
                bits = ((mode >> shift) & 7) * 0o111
                i += 1
            else:
                while i < len(clause) and clause[i] in "rwxXst":
                    c = clause[i]
                    if c == "X":
                        bits |= 0o111 if directory or mode & 0o111 else 0
                    else:
                        bits |= _PERM[c]
                    i += 1
            bits &= who
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~who) | bits
    return mode & 0o7777
