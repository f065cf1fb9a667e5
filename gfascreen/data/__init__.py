"""Raw data sets -> one curated training table (:func:`build_table`).

Names are resolved on first use, so importing a light module of this package (``parse``,
``labels``) does not load the builder."""

from importlib import import_module

_WHERE = {"build_table": "build", "CLASSES": "labels", "RIBBON_DMAX_MM": "labels",
          "alloy_system": "parse", "composition_key": "parse", "normalise": "parse",
          "parse_formula": "parse", "SOURCES": "sources", "fetch": "sources"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"gfascreen.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gfascreen.data' has no attribute {name!r}")
