"""Grid -> scores -> Parquet -> report."""

from gfascreen.screening.grid import CompositionGrid, composition_grid
from gfascreen.screening.run import ScreenConfig, screen

__all__ = ["CompositionGrid", "ScreenConfig", "composition_grid", "screen"]
