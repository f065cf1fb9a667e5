"""Glass-forming-ability labels and the Dmax convention used for training.

``gfa_class`` is one of :data:`CLASSES`. ``dmax_mm`` (critical casting diameter, mm) is

* 0 for a crystal (no glass even as a melt-spun ribbon),
* :data:`RIBBON_DMAX_MM` for a glass obtained only as a melt-spun ribbon (the sources use
  0.1, 0.15 and 0.2 mm for the same meaning; we use Xiong's 0.1 mm, the thickness scale of
  a melt-spun ribbon, for every source),
* the measured value for a cast bulk glass; bulk glasses without a measured Dmax keep the
  class ``bmg`` and get no Dmax (NaN), so they are used for classification only.

A bulk glass means castable at :data:`BULK_MIN_MM` (1 mm) or thicker
(:func:`castable_class`): a source's ``bmg`` below 1 mm is read as the thinner glass it is.
"""

from __future__ import annotations

#: The alloy table's column of the training Dmax (mm; the convention above). It shares its
#: name with the prediction of the same quantity, ``gfascreen.model.columns.DMAX_MM``, so a
#: known alloy's row and its prediction line up; code above the data layer reads this name
#: for the measured value and the registry's for the predicted one.
DMAX_COLUMN = "dmax_mm"
CLASSES: tuple[str, ...] = ("crystal", "ribbon", "bmg")
CLASS_RANK: dict[str, int] = {c: i for i, c in enumerate(CLASSES)}
#: Placeholder Dmax (mm) for a ribbon-only glass, the same for every source.
RIBBON_DMAX_MM: float = 0.1
#: Sources whose measured Dmax disagree by more than this factor are flagged.
CONFLICT_FACTOR: float = 2.0


def class_of_dmax(dmax_mm: float) -> str:
    """The class a Dmax (mm, non-negative) says on its own, as in Xiong 2020: 0 = crystal,
    up to :data:`RIBBON_DMAX_MM` = a glass only as a ribbon, more = a bulk glass."""
    return "crystal" if dmax_mm == 0 else "ribbon" if dmax_mm <= RIBBON_DMAX_MM else "bmg"


def label_dmax(gfa_class: str, measured_mm: float | None) -> float | None:
    """Training Dmax (mm) for a class and an optional measured value."""
    if gfa_class == "crystal":
        return 0.0
    if gfa_class == "ribbon":
        return RIBBON_DMAX_MM
    return measured_mm


#: The least Dmax (mm) of a bulk glass: "bulk" means castable at 1 mm or thicker.
BULK_MIN_MM: float = 1.0


def castable_class(gfa_class, dmax_mm):
    """The classes under the castable rule: a ``bmg`` label whose measured Dmax is below
    :data:`BULK_MIN_MM` is a glass thinner than a bulk glass and reads ``ribbon`` (its
    measured Dmax stays); a ``bmg`` label without a Dmax stays ``bmg`` ("castable at 1 mm
    or more, thickness unknown"). Arrays or Series in, a numpy array of str out."""
    import numpy as np

    cls = np.asarray(gfa_class).astype(str).copy()
    d = np.asarray(dmax_mm, dtype=float)
    cls[(cls == "bmg") & (d < BULK_MIN_MM)] = "ribbon"
    return cls
