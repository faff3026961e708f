"""Typed reading of JSON documents into :class:`~boxen.common.record.Record` types.

The OCI specs are JSON documents with a schema; boxen declares each object of a spec as a
Record whose field names are the spec's own property names (``noNewPrivileges``,
``cgroupsPath``) and whose annotations give the JSON type::

    class LinuxIDMapping(Record):
        containerID: U32
        hostID: U32
        size: U32

:func:`from_json` walks a parsed document against those declarations and builds the
records. Every mistake is reported with its JSON path, as an
:class:`~boxen.common.errors.InvalidArgument` whose ``field`` is, for example,
``linux.uidMappings[0].size`` and whose message says what was expected. Properties the
declaration does not know are ignored, as the runtime and image specs require of readers.

Annotations are read as text (modules use ``from __future__ import annotations``), in this
small grammar:

* ``str``, ``bool``, ``int``, ``float``, ``object`` (any JSON value, kept as parsed)
* fixed-width integers, checked for range: ``U8 U16 U32 U64 I32 I64``
* ``tuple[T, ...]`` for a JSON array, ``dict[str, T]`` for a JSON object used as a map
* the name of another Record class in the same module
* ``T | None``: the property may be absent or ``null``

A field without a class-level default is required. A property whose JSON name is not a
Python identifier (``os.version``) is mapped by the class attribute ``__json_names__``.

:func:`to_json` goes the other way, leaving out fields that are ``None``.
"""

from __future__ import annotations

import sys

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    R = TypeVar("R", bound=Record)

# Fixed-width integer types: aliases of int for readers and type checkers, ranges for us.
# One assignment each: type checkers take ``U8 = int`` as an alias, not ``U8 = U16 = int``.
U8 = int
U16 = int
U32 = int
U64 = int
I32 = int
I64 = int

_RANGES = {
    "U8": (0, 2**8 - 1),
    "U16": (0, 2**16 - 1),
    "U32": (0, 2**32 - 1),
    "U64": (0, 2**64 - 1),
    "I32": (-(2**31), 2**31 - 1),
    "I64": (-(2**63), 2**63 - 1),
}

_JSON_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _describe(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Type:
    """A parsed annotation: knows how to convert one JSON value."""

    __slots__ = ("kind", "arg", "optional", "text")

    def __init__(self, kind: str, arg: object, optional: bool, text: str) -> None:
        self.kind = kind
        self.arg = arg
        self.optional = optional
        self.text = text


def _split_top(text: str, sep: str) -> list[str]:
    if "[" not in text:
        return [part.strip() for part in text.split(sep)]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i + len(sep)
    parts.append(text[start:].strip())
    return parts


_PARSED: dict[tuple[str, int], _Type] = {}


def _parse(text: str, namespace: dict[str, object]) -> _Type:
    """The _Type of an annotation (cached: most fields share a few annotations)."""
    key = (text, id(namespace))
    t = _PARSED.get(key)
    if t is None:
        t = _PARSED[key] = _parse_text(text, namespace)
    return t


def _parse_text(text: str, namespace: dict[str, object]) -> _Type:
    alternatives = _split_top(text, "|")
    optional = "None" in alternatives
    rest = [a for a in alternatives if a != "None"]
    if len(rest) != 1:
        raise TypeError(f"unsupported annotation {text!r}")
    t = rest[0]
    if t in ("str", "bool", "int", "float", "object"):
        return _Type(t, None, optional, t)
    if t in _RANGES:
        return _Type("range", (t, _RANGES[t]), optional, t)
    if t.startswith("tuple[") and t.endswith(", ...]"):
        return _Type("array", _parse(t[6:-6], namespace), optional, t)
    if t.startswith("dict[str,") and t.endswith("]"):
        return _Type("map", _parse(t[9:-1], namespace), optional, t)
    target = namespace.get(t)
    if isinstance(target, type) and issubclass(target, Record):
        return _Type("record", target, optional, t)
    raise TypeError(f"unsupported annotation {text!r}")


_PLANS: dict[type[Record], tuple[tuple[str, str, _Type, bool], ...]] = {}


def _plan(cls: type[Record]) -> tuple[tuple[str, str, _Type, bool], ...]:
    """(attribute, JSON name, type, required) for each field, computed once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        # Each annotation is read in the module of the class that declares it.
        declared: dict[str, tuple[str, dict]] = {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("__annotations__")
            if own:
                namespace = sys.modules[klass.__module__].__dict__
                for name, text in own.items():
                    declared[name] = (text, namespace)
        json_names = getattr(cls, "__json_names__", {})
        plan = tuple(
            (f, json_names.get(f, f), _parse(*declared[f]), f not in cls.__defaults__)
            for f in cls.__fields__
        )
        _PLANS[cls] = plan
    return plan


def _convert(t: _Type, value: object, path: str) -> object:
    if value is None:
        if t.optional:
            return None
        raise InvalidArgument(f"expected {_expected(t)}, got null", field=path)
    kind = t.kind
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind in ("int", "range"):
        if isinstance(value, int) and not isinstance(value, bool):
            if kind == "range":
                low, high = _RANGES[t.text]
                if not low <= value <= high:
                    raise InvalidArgument(f"{value} is out of range for {_expected(t)}", field=path)
            return value
        if isinstance(value, float) and value.is_integer() and kind == "int":
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind == "object":
        return value
    elif kind == "array":
        if isinstance(value, list):
            item = t.arg
            return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))  # type: ignore[arg-type]
    elif kind == "map":
        if isinstance(value, dict):
            item = t.arg
            return {k: _convert(item, v, f"{path}[{k!r}]") for k, v in value.items()}  # type: ignore[arg-type]
    elif kind == "record":
        if isinstance(value, dict):
            return from_json(t.arg, value, path)  # type: ignore[arg-type]
    raise InvalidArgument(f"expected {_expected(t)}, got {_describe(value)}", field=path)


def _expected(t: _Type) -> str:
    kind = t.kind
    if kind == "range":
        low, high = _RANGES[t.text]
        return f"an integer from {low} to {high}"
    if kind == "array":
        return f"an array of {_expected(t.arg).removeprefix('a ').removeprefix('an ')}s"  # type: ignore[arg-type]
    if kind == "map":
        return "an object"
    if kind == "record":
        return "an object"
    return {"str": "a string", "bool": "a boolean", "int": "an integer", "float": "a number"}.get(kind, kind)


def from_json(cls: type[R], data: object, path: str = "") -> R:
    """Build a ``cls`` record from the parsed JSON ``data``; ``path`` prefixes error fields."""
    if not isinstance(data, dict):
        raise InvalidArgument(f"expected an object, got {_describe(data)}", field=path or None)
    values = {}
    for attr, name, t, required in _plan(cls):
        if name in data:
            values[attr] = _convert(t, data[name], _join(path, name))
        elif required:
            raise InvalidArgument("is required", field=_join(path, name))
    return cls(**values)


def to_json(value: object) -> object:
    """The JSON form of a record (or of tuples, dicts and scalars holding records)."""
    if isinstance(value, Record):
        names = getattr(type(value), "__json_names__", {})
        out = {}
        for f in value.__fields__:
            v = getattr(value, f)
            if v is not None:
                out[names.get(f, f)] = to_json(v)
        return out
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
