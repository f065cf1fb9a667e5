"""The ordered element vocabulary that fixes the OP image's rows and columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from pymatgen.core import Element

from gfascreen.errors import GfaError

#: Default minimum number of training alloys an element must appear in to get an image row.
MIN_COUNT = 20
ORDERS = ("z", "mendeleev")


def _order_key(order: str):
    if order == "z":
        return lambda s: Element(s).Z
    if order == "mendeleev":
        # Pettifor's chemical scale (pymatgen's Mendeleev number): chemically similar
        # elements become image neighbours.
        return lambda s: (Element(s).mendeleev_no or 0, Element(s).Z)
    raise GfaError(f"unknown element order {order!r}; choose one of {', '.join(ORDERS)}")


@dataclass(frozen=True)
class Vocabulary:
    """Ordered element symbols; position i is row/column i of the OP image.

    ``order`` is ``"z"`` (atomic number, the default) or ``"mendeleev"`` (Pettifor's
    Mendeleev number). ``min_count`` records the threshold the vocabulary was built with.
    """

    elements: tuple[str, ...]
    order: str = "z"
    min_count: int = MIN_COUNT

    def __post_init__(self) -> None:
        if len(set(self.elements)) != len(self.elements):
            raise GfaError("vocabulary has duplicated elements")
        for el in self.elements:
            if not Element.is_valid_symbol(el):
                raise GfaError(f"vocabulary element {el!r} is not a chemical element")

    @classmethod
    def from_elements(cls, elements: Iterable[str], order: str = "z",
                      min_count: int = 0) -> Vocabulary:
        return cls(tuple(sorted(set(elements), key=_order_key(order))), order, min_count)

    @classmethod
    def from_table(cls, table: pd.DataFrame, min_count: int = MIN_COUNT,
                   order: str = "z") -> Vocabulary:
        """Elements present (at.% > 0) in at least ``min_count`` rows of a training table."""
        from gfascreen.tableio import table_elements

        els = table_elements(table)
        counts = (table[els] > 0).sum()
        keep = [e for e in els if counts[e] >= min_count]
        return cls.from_elements(keep, order=order, min_count=min_count)

    def __len__(self) -> int:
        return len(self.elements)

    def index(self, element: str) -> int:
        try:
            return self.elements.index(element)
        except ValueError:
            raise GfaError(
                f"element {element!r} is outside the model's vocabulary "
                f"({len(self)} elements: {' '.join(self.elements)})"
            ) from None

    def to_dict(self) -> dict:
        return {"elements": list(self.elements), "order": self.order,
                "min_count": self.min_count}

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        return cls(tuple(d["elements"]), d.get("order", "z"), int(d.get("min_count", 0)))
