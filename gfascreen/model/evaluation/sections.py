"""Reading a recorded section (a mapping from a manifest, ``evaluation.json`` or a
function's result) into a typed result, and writing it back.

A missing, malformed or unexpected key is one :class:`~gfascreen.errors.GfaError` that
names where it is (``calibration_report.intervals.bmg.90: missing 'coverage'``), never a
``KeyError``. Unexpected keys are refused rather than dropped, so ``to_dict`` gives back
exactly what ``from_dict`` read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from gfascreen.errors import GfaError

T = TypeVar("T")
_KINDS = {"float": ((int, float), "a number"), "int": ((int,), "an integer"),
          "str": ((str,), "a string")}


def mapping(d: Any, where: str) -> Mapping:
    """``d`` itself if it is a mapping."""
    if not isinstance(d, Mapping):
        raise GfaError(f"{where}: expected a mapping, got {type(d).__name__}")
    return d


def only(d: Mapping, where: str, allowed) -> None:
    """Refuse keys outside ``allowed``."""
    extra = [k for k in d if k not in allowed]
    if extra:
        raise GfaError(f"{where}: unexpected {', '.join(repr(k) for k in extra)}")


def need(d: Mapping, key: str, where: str) -> Any:
    """``d[key]``, or an error naming the missing key."""
    if key not in d:
        raise GfaError(f"{where}: missing {key!r}")
    return d[key]


def scalar(value: Any, kind: str, where: str) -> Any:
    """``value`` if it is of ``kind`` (``float``: int or float, ``int``, ``str``), unchanged
    (so that writing it back gives the same JSON)."""
    types, say = _KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, types):
        raise GfaError(f"{where}: expected {say}, got {type(value).__name__}")
    return value


def value(d: Mapping, key: str, where: str, kind: str = "float") -> Any:
    """``d[key]``, checked to be of ``kind`` (see :func:`scalar`)."""
    return scalar(need(d, key, where), kind, f"{where}.{key}")


def section(d: Mapping, key: str, where: str, read: Callable[[Any, str], T]) -> T:
    """``read(d[key], where.key)``, or an error naming the missing key."""
    return read(need(d, key, where), f"{where}.{key}")


def each(d: Any, where: str, read: Callable[[Any, str], T]) -> dict[str, T]:
    """A mapping of name → section, each read by ``read(section, where.name)``."""
    return {str(k): read(v, f"{where}.{k}") for k, v in mapping(d, where).items()}


def optional(d: Mapping, key: str, where: str, read: Callable[[Any, str], T]) -> T | None:
    """``read(d[key], where.key)`` when the key is there, else None."""
    return read(d[key], f"{where}.{key}") if key in d else None


def put(out: dict, **values: Any) -> dict:
    """``out`` with the values that are not None (an absent section stays absent)."""
    out.update({k: v for k, v in values.items() if v is not None})
    return out


class Flat:
    """Mixin for a frozen dataclass of scalars (``float``, ``int``, ``str``, each possibly
    ``| None``): its dict has one key per field, a None field absent."""

    @classmethod
    def from_dict(cls, d: Any, where: str):
        d = mapping(d, where)
        only(d, where, {f.name for f in fields(cls)})
        values = {}
        for f in fields(cls):
            if f.name not in d:
                if f.default is MISSING:
                    raise GfaError(f"{where}: missing {f.name!r}")
                continue
            kind = str(f.type).split("|")[0].strip()
            values[f.name] = scalar(d[f.name], kind, f"{where}.{f.name}")
        return cls(**values)

    def to_dict(self) -> dict:
        return put({}, **{f.name: getattr(self, f.name) for f in fields(self)})


__all__ = ["Flat", "each", "mapping", "need", "only", "optional", "put", "scalar", "section",
           "value"]
