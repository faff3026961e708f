"""Debian's control-file format (deb822), read by dpkg for its database and by DEP-5.

A control file is a list of *paragraphs* separated by blank lines; each paragraph is a
list of ``Field: value`` lines, and a line that starts with a space or a tab continues the
previous field's value (a line holding only `` .`` stands for an empty line). Field names
are case-insensitive. ``/var/lib/dpkg/status`` is one paragraph per package::

    Package: libssl3
    Status: install ok installed
    Source: openssl
    Version: 3.0.11-1~deb12u2
    Description: Secure Sockets Layer toolkit - shared libraries
     This package is part of the OpenSSL project's implementation ...

and a machine-readable ``copyright`` file (DEP-5) is one header paragraph followed by
``Files:``/``License:`` paragraphs in the same syntax.
"""

from __future__ import annotations

from collections.abc import Iterator

from boxen.common.errors import InvalidArgument


def paragraphs(text: str, source: str) -> Iterator[tuple[int, dict[str, str]]]:
    """``(first line number, fields)`` for each paragraph; field names are lowercased.

    A value is the text after the colon, continuation lines joined with newlines.
    Raises InvalidArgument (``field`` is ``source:line``) for a line that is neither a
    field nor a continuation.
    """
    fields: dict[str, str] = {}
    start = 0
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, current = {}, None
            continue
        if line[0] in " \t":
            if current is None:
                raise InvalidArgument("continuation line before any field", field=f"{source}:{number}")
            fields[current] += "\n" + line.strip()
            continue
        if line.startswith("#"):
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidArgument(f"expected 'Field: value', got {line[:60]!r}", field=f"{source}:{number}")
        if not fields:
            start = number
        current = name.strip().lower()
        fields[current] = value.strip()
    if fields:
        yield start, fields
