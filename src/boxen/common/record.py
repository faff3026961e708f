"""Frozen value types that cost nothing to import.

boxen decides in pure code and then executes: mount plans, cgroup writes, capability sets
and seccomp rules are values. ``dataclasses`` is the obvious tool for such values, but it
imports ``inspect``, ``re`` and ``enum``, and costs more than a bare interpreter's whole start
(bench/RESULTS.md, "Import costs"), a large part of the budget of a ``boxen-runtime run``. :class:`Record` gives the part of a frozen
dataclass that boxen uses, built from the class annotations, with no imports at all::

    class Mount(Record):
        destination: str
        type: str = "bind"
        options: tuple[str, ...] = ()

    m = Mount("/proc", type="proc")
    m.replace(options=("nosuid",))

Fields are the annotated names in order (base classes first); a class attribute gives a
field its default. Instances have ``__slots__``, compare and hash by value, and refuse
attribute assignment. Defaults must be immutable (``None``, numbers, strings, tuples,
frozensets). Type checkers see a Record as a frozen dataclass (``dataclass_transform``):
constructor calls are checked against the fields, and assignments are refused.
"""

from __future__ import annotations

# Type checkers read ``Record`` subclasses as frozen dataclasses (a typed ``__init__``, no
# assignment). ``TYPE_CHECKING`` is false at run time, so ``typing`` is never imported;
# mypy and pyright honour the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar, Self, dataclass_transform
else:

    def dataclass_transform(**_options):
        return lambda cls: cls


_MISSING = object()


@dataclass_transform(frozen_default=True)
class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]):  # noqa: N804 (metaclass)
        fields: list[str] = []
        defaults: dict[str, object] = {}
        for base in reversed(bases):
            for f in getattr(base, "__fields__", ()):
                if f not in fields:
                    fields.append(f)
            defaults.update(getattr(base, "__defaults__", {}))
        annotations: dict[str, str] = namespace.get("__annotations__", {})  # type: ignore[assignment]
        own = [f for f in annotations if not f.startswith("_")]
        for f in own:
            if f in namespace:
                defaults[f] = namespace.pop(f)
            if f not in fields:
                fields.append(f)
        namespace["__slots__"] = tuple(own)
        namespace["__fields__"] = tuple(fields)
        namespace["__defaults__"] = defaults
        namespace["__match_args__"] = tuple(fields)
        return super().__new__(mcls, name, bases, namespace)


class Record(metaclass=_RecordMeta):
    """Base class of frozen, slotted, value-compared records (see the module docstring)."""

    __slots__ = ()
    __fields__: ClassVar[tuple[str, ...]] = ()
    __defaults__: ClassVar[dict[str, object]] = {}

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = self.__fields__
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} positional arguments")
        setter = object.__setattr__
        for name, value in zip(fields, args):
            setter(self, name, value)
        defaults = self.__defaults__
        for name in fields[len(args):]:
            value = kwargs.pop(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__} missing field {name!r}")
            setter(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(kwargs))!r}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self.__fields__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__fields__)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self):
        return (_rebuild, (type(self), self._values()))

    def replace(self, **changes: object) -> Self:
        """Return a copy with the given fields changed."""
        values = {f: getattr(self, f) for f in self.__fields__}
        for name in changes:
            if name not in values:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
        values.update(changes)
        return type(self)(**values)

    def as_dict(self) -> dict[str, object]:
        """The fields as a dict, records and tuples of records converted recursively."""
        return {f: _plain(getattr(self, f)) for f in self.__fields__}


def _rebuild(cls, values):
    return cls(*values)


def _plain(value: object) -> object:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return sorted(_plain(v) for v in value)  # type: ignore[type-var]
    return value
