"""Known alloys of a system: the one lookup used by reports, suggestions and validation.

They come from the training alloys a model carries (offline, no training table needed;
the model's own table and what is measured at a composition: :mod:`gfascreen.model.known`),
or from a table given with ``--data``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError


def system_alloys(model: str, elements: list[str], data: str | Path | None = None,
                  subsystems: bool = False) -> tuple[pd.DataFrame, str]:
    """The known alloys of the system of ``elements`` and where they come from; raises a
    one-line error when the source cannot be read. ``subsystems``: also those of its
    subsystems (binaries, pure elements), i.e. every known alloy of the composition space."""
    from gfascreen.model.saved import ModelDir

    if data:
        if not Path(data).is_file():
            raise GfaError(f"--data {data} not found; build it with `gfascreen data build`")
        table, source = pd.read_parquet(data), f"the training table {Path(data).name}"
    else:
        table = ModelDir(model).known_alloys()
        if table is None:
            raise GfaError(f"model {model} carries no training alloys; pass --data TABLE")
        source = f"the {len(table):,} training alloys the model carries"
    if subsystems:
        inside = table["system"].map(lambda sy: set(str(sy).split("-")) <= set(elements))
        return table[inside].copy(), source
    return table[table["system"] == alloy_system(elements)].copy(), source


def known_alloys(run: dict, elements: list[str], data: str | Path | None = None,
                 subsystems: bool = False) -> tuple[pd.DataFrame, str]:
    """:func:`system_alloys` for a screening run's model; a model that cannot be opened
    gives no known alloys (and says so) instead of an error, so a report still renders."""
    import sys

    try:
        return system_alloys(run["model"]["path"], elements, data, subsystems)
    except GfaError as exc:
        if data:
            raise
        print(f"note: no known alloys on the map ({exc})", file=sys.stderr)
        return pd.DataFrame(), "no source (the run's model could not be opened)"


