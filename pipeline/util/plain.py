"""Plain records for the values every command defines at start (run events, selections, reports).

Written like a dataclass -- annotated fields, optional defaults -- but defining one is a plain
class statement: a dataclass or a named tuple generates and compiles code for each class
(about 0.7 and 1 million instructions under valgrind), which every command's start, a cached
`status` included, would pay for tens of times over. Instances take their fields in order or by
name, compare equal field by field, and print as Name(field=value, ...).
"""
from __future__ import annotations

from typing import Any


class _Fields(type):
    """Turns a class body's annotated names into its __slots__, and their values into defaults."""

    def __new__(mcs, name: str, bases: tuple, namespace: dict[str, Any]):
        own = tuple(namespace.get("__annotations__", {})) if bases else ()
        inherited = bases[0]._fields if bases else ()
        defaults = {**(bases[0]._defaults if bases else {}), **{f: namespace.pop(f) for f in own if f in namespace}}
        namespace.update(__slots__=own, _fields=inherited + own, _defaults=defaults)
        return super().__new__(mcs, name, bases, namespace)


class Plain(metaclass=_Fields):
    """The base of a plain record: subclass it and annotate its fields (see the module's doc)."""

    def __init__(self, *values: Any, **named: Any):
        if len(values) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} values, not {len(values)}")
        given = {**self._defaults, **dict(zip(self._fields, values)), **named}
        missing = [f for f in self._fields if f not in given]
        unknown = [f for f in given if f not in self._fields]
        if missing or unknown:
            raise TypeError(f"{type(self).__name__}: missing {missing}, unknown {unknown}")
        for f in self._fields:
            object.__setattr__(self, f, given[f])

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable values inside: not hashable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"
