"""JSON reading and writing for start-up-critical paths, without ``re``.

``import json`` is costly (bench/RESULTS.md, "Import costs"), because ``json.decoder`` and
``json.encoder`` compile regular expressions and ``re`` pulls in ``enum``; the scanner and
string escaping that do the real work are C functions in ``_json``, which imports in well
under a millisecond. This module drives those C functions directly.

:func:`loads` returns plain dicts, lists, strings, numbers, booleans and ``None``, and
raises :class:`~boxen.common.errors.InvalidArgument` naming the line and column of the
first error (``NaN`` and ``Infinity`` are refused: they are not JSON; so is nesting deeper
than the interpreter's recursion limit, about a thousand levels). :func:`dumps` writes
compact JSON, or indented JSON with ``indent``, with keys in insertion order.
"""

from __future__ import annotations

import _json

from boxen.common.errors import InvalidArgument


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constants)
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # typeshed wants a JSONDecoder; it reads only these
_WHITESPACE = " \t\n\r"


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - text.rfind("\n", 0, index)
    return f"line {line} column {column}"


def loads(text: str | bytes, *, source: str = "JSON") -> object:
    """Parse one JSON document. ``source`` names the input in error messages."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"not UTF-8: {exc}", field=source) from None
    index = 0
    length = len(text)
    while index < length and text[index] in _WHITESPACE:
        index += 1
    try:
        value, end = _scan(text, index)
    except StopIteration as stop:
        where = stop.value if isinstance(stop.value, int) else index
        if where >= length:
            raise InvalidArgument("unexpected end of JSON input", field=source) from None
        raise InvalidArgument(f"invalid JSON at {_position(text, where)}", field=source) from None
    except ValueError as exc:
        # _json raises json.decoder.JSONDecodeError (a ValueError) with a position.
        pos = getattr(exc, "pos", None)
        what = getattr(exc, "msg", str(exc))
        at = f" at {_position(text, pos)}" if isinstance(pos, int) else ""
        raise InvalidArgument(f"invalid JSON{at}: {what}", field=source) from None
    except RecursionError:
        # The C scanner recurses once per array or object level and stops at the interpreter's
        # recursion limit (about a thousand levels): no real document nests that deep.
        raise InvalidArgument("arrays or objects nested too deeply", field=source) from None
    while end < length and text[end] in _WHITESPACE:
        end += 1
    if end != length:
        raise InvalidArgument(f"extra data after JSON value at {_position(text, end)}", field=source)
    return value


_escape = _json.encode_basestring


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} cannot be written as JSON")
    return float.__repr__(value)


def _encode(value: object, indent: str | None, level: int, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_escape(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        out.append("{")
        inner = "\n" + indent * (level + 1) if indent is not None else ""
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            out.append(inner if first else "," + inner)
            first = False
            out.append(_escape(key))
            out.append(": " if indent is not None else ":")
            _encode(item, indent, level + 1, out)
        out.append("\n" + indent * level + "}" if indent is not None else "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        out.append("[")
        inner = "\n" + indent * (level + 1) if indent is not None else ""
        for i, item in enumerate(value):
            out.append(inner if i == 0 else "," + inner)
            _encode(item, indent, level + 1, out)
        out.append("\n" + indent * level + "]" if indent is not None else "]")
    else:
        raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def dumps(value: object, *, indent: int | str | None = None) -> str:
    """Write ``value`` as JSON: compact, or indented by ``indent`` spaces (or that string) per level."""
    out: list[str] = []
    _encode(value, " " * indent if isinstance(indent, int) else indent, 0, out)
    return "".join(out)
