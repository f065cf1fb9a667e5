"""Reading a recorded section (a mapping from a manifest, ``evaluation.json`` or a
function's result) into a typed result, and writing it back.

A missing, malformed or unexpected key is one :class:`~gfascreen.errors.GfaError` that
names where it is (``calibration_report.intervals.bmg.90: missing 'coverage'``), never a
``KeyError``. Unexpected keys are refused rather than dropped, so ``to_dict`` gives back
exactly what ``from_dict`` read. Values are kept as read (an int where a float is allowed
stays an int), so the JSON written back is the JSON read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from functools import cache
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from gfascreen.errors import GfaError

T = TypeVar("T")
_KINDS = {"float": ((int, float), "a number"), "int": ((int,), "an integer"),
          "str": ((str,), "a string")}


def scalar(value: Any, kind: str, where: str) -> Any:
    """``value`` if it is of ``kind`` (``float``: int or float, ``int``, ``str``), unchanged."""
    types, say = _KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, types):
        raise GfaError(f"{where}: expected {say}, got {type(value).__name__}")
    return value


def mapping(d: Any, where: str) -> Mapping:
    """``d`` itself if it is a mapping."""
    if not isinstance(d, Mapping):
        raise GfaError(f"{where}: expected a mapping, got {type(d).__name__}")
    return d


def each(d: Any, where: str, read: Callable[[Any, str], T]) -> dict[str, T]:
    """A mapping of name → section, each read by ``read(section, where.name)``."""
    return {str(k): read(v, f"{where}.{k}") for k, v in mapping(d, where).items()}


def each_of(read: Callable[[Any, str], T]) -> Callable[[Any, str], dict[str, T]]:
    """A reader of a mapping of name → section (see :func:`each`)."""
    return lambda d, where: each(d, where, read)


def put(out: dict, **values: Any) -> dict:
    """``out`` with the values that are not None (an absent section stays absent)."""
    out.update({k: v for k, v in values.items() if v is not None})
    return out


class Reader:
    """One mapping being read: ``where`` names it in every error; keys outside ``allowed``
    are refused."""

    def __init__(self, d: Any, where: str, allowed: list[str]):
        self.d, self.where = mapping(d, where), where
        extra = [k for k in self.d if k not in allowed]
        if extra:
            raise GfaError(f"{where}: unexpected {', '.join(repr(k) for k in extra)}")

    def section(self, key: str, read: Callable[[Any, str], T]) -> T:
        """The value at ``key``, read by ``read(value, where.key)``; an error naming the key
        when it is missing."""
        if key not in self.d:
            raise GfaError(f"{self.where}: missing {key!r}")
        return read(self.d[key], f"{self.where}.{key}")


@dataclass(frozen=True)
class _Field:
    name: str
    key: str
    read: Callable[[Any, str], Any]
    optional: bool


def _list_of(read: Callable[[Any, str], T]) -> Callable[[Any, str], tuple[T, ...]]:
    def read_list(v: Any, where: str) -> tuple[T, ...]:
        if not isinstance(v, list):
            raise GfaError(f"{where}: expected a list, got {type(v).__name__}")
        return tuple(read(x, f"{where}[{i}]") for i, x in enumerate(v))
    return read_list


def _reader(tp) -> Callable[[Any, str], Any]:
    """How a field of type ``tp`` is read (see :class:`Record`)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _reader(rest[0])
    elif tp in (float, int, str):
        return lambda v, where: scalar(v, tp.__name__, where)
    elif origin is tuple:
        return _list_of(_reader(args[0]))
    elif origin is dict:
        return each_of(_reader(args[1]))
    elif hasattr(tp, "from_dict"):
        return tp.from_dict
    raise TypeError(f"no reader for {tp}: give the field metadata={{'read': ...}}")


@cache
def _fields(cls) -> tuple[_Field, ...]:
    hints = get_type_hints(cls)
    return tuple(_Field(f.name, f.metadata.get("key", f.name),
                        f.metadata.get("read") or _reader(hints[f.name]),
                        f.default is not MISSING) for f in fields(cls))


def _written(v: Any) -> Any:
    if hasattr(v, "to_dict"):
        return v.to_dict()
    if isinstance(v, tuple):
        return [_written(x) for x in v]
    if isinstance(v, dict):
        return {k: _written(x) for k, x in v.items()}
    return v


class Record:
    """Mixin for a frozen dataclass read from its dict field by field, in field order, as
    the field's type says: ``float`` (int or float), ``int``, ``str``; a class with
    ``from_dict``/``to_dict``; ``tuple[X, ...]`` (a list of X); ``dict[str, X]`` (a
    mapping of name → X). A field with a default may be absent (and is left out of the
    dict when None). ``metadata`` may name the field's ``key`` in the dict and its own
    ``read(value, where)``."""

    @classmethod
    def from_dict(cls, d: Any, where: str):
        specs = _fields(cls)
        r = Reader(d, where, [f.key for f in specs])
        return cls(**{f.name: r.section(f.key, f.read) for f in specs
                      if f.key in r.d or not f.optional})

    def to_dict(self) -> dict:
        return put({}, **{f.key: _written(getattr(self, f.name)) for f in _fields(type(self))})


__all__ = ["Reader", "Record", "each", "each_of", "mapping", "put", "scalar"]
