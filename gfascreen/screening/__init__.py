"""Grid -> chunks -> scores -> Parquet (Dask past one machine), reports, suggestions.
Names resolve on first use, so importing the package (or its light ``options``) loads
nothing heavy."""

from importlib import import_module

_WHERE = {"CompositionGrid": "grid", "composition_grid": "grid", "ScreenConfig": "options",
          "screen": "run"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"gfascreen.screening.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gfascreen.screening' has no attribute {name!r}")
