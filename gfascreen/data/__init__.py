"""Raw data sets -> one curated training table (:func:`build_table`)."""

from gfascreen.data.build import build_table, table_elements, write_parquet_atomic
from gfascreen.data.labels import CLASSES, RIBBON_DMAX_MM
from gfascreen.data.parse import alloy_system, composition_key, normalise, parse_formula
from gfascreen.data.sources import SOURCES, fetch

__all__ = [
    "CLASSES", "RIBBON_DMAX_MM", "SOURCES", "alloy_system", "build_table", "composition_key",
    "fetch", "normalise", "parse_formula", "table_elements", "write_parquet_atomic",
]
