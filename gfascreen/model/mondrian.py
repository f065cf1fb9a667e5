"""Mondrian bins of the conformal calibration: each bin keeps its own residuals.

The bins use only what is known at prediction time: in / out of the training domain and
P(bmg) (the calibrated probability when the model has one, else the class head's).
"""

from __future__ import annotations

import numpy as np

from gfascreen.errors import GfaError

#: Mondrian binnings: ``none`` (one pool of scores), ``domain`` (in / out of domain),
#: ``domain+bmg`` (that, crossed with P(bmg) > 0.5: 4 bins), ``domain+bmg4`` (crossed
#: with P(bmg) below 0.1, 0.1-0.5, 0.5-0.9, above 0.9: 8 bins).
BINNINGS = ("none", "domain", "domain+bmg", "domain+bmg4")
#: P(bmg) edges of the ``domain+bmg4`` bins.
BMG_EDGES = (0.1, 0.5, 0.9)


def mondrian_bins(binning: str, in_domain=None, p_bmg=None) -> np.ndarray | None:
    """Bin index per composition for ``binning`` (None for ``none``)."""
    if binning == "none":
        return None
    if binning not in BINNINGS:
        raise GfaError(f"unknown calibration binning {binning!r}; choose {BINNINGS}")
    dom = np.asarray(in_domain, dtype=int)
    if binning == "domain":
        return dom
    if binning == "domain+bmg4":
        return dom + 2 * np.digitize(np.asarray(p_bmg, dtype=float), BMG_EDGES)
    return dom + 2 * (np.asarray(p_bmg, dtype=float) > 0.5).astype(int)
