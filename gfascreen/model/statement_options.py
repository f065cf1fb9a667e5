"""What a user asks the statements for: the confidence level and the thresholds (mm).

Their defaults, the cap on thicknesses and the one-line checks of the options that set
them (``--confidence``, ``--thresholds``), shared by ``predict``, ``screen`` and
``suggest`` and by the statements themselves.
"""

from __future__ import annotations

import numpy as np

from gfascreen.errors import GfaError
from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM

#: The confidence level (a share) of intervals and lower bounds unless one is asked for.
DEFAULT_CONFIDENCE = 0.9
#: Upper bounds are capped here (mm): no glass thicker is known (the table's largest is
#: 72 mm), and a wider interval says only "somewhere up to the record".
CAP_MM = 100.0


def check_confidence(confidence: float, option: str = "--confidence") -> float:
    """The one range check of a confidence level (a share strictly between 0 and 1)."""
    if not 0 < confidence < 1:
        raise GfaError(f"{option} must lie between 0 and 1 (e.g. 0.9), got {confidence}")
    return confidence


def parse_thresholds(text: str | None) -> tuple[float, ...]:
    """``--thresholds 1,5,10`` -> (1.0, 5.0, 10.0) mm; one-line error on anything else."""
    if text is None or str(text).strip() == "":
        return DEFAULT_THRESHOLDS_MM
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise GfaError(f"--thresholds {text!r}: give thicknesses in mm separated by commas, "
                       "e.g. 1,5,10") from None
    if not all(np.isfinite(v) and 0 < v <= CAP_MM for v in vals):
        raise GfaError(f"--thresholds {text!r}: each must lie in (0, {CAP_MM:g}] mm")
    return tuple(dict.fromkeys(vals))
