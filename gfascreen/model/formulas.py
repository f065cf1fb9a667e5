"""The formula API of a predictor: formulas, ``{element: amount}`` dicts or pymatgen
``Composition`` objects in, one row per input out (:meth:`gfascreen.model.ensemble.
Ensemble.predict`). Inputs the network cannot read (an element outside its vocabulary)
that the descriptor partner knows are read by the partner alone
(:mod:`gfascreen.model.partner_route`); the others carry their ``reason``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc


def predict_formulas(ens, compositions, strict: bool, confidence: float,
                     thresholds_mm) -> pd.DataFrame:
    """The rows of :meth:`~gfascreen.model.ensemble.Ensemble.predict` (its docstring
    names the columns) of the predictor ``ens``."""
    from gfascreen.featurize.op_image import as_written

    if isinstance(compositions, str | Mapping):
        compositions = [compositions]
    compositions = list(compositions)
    amounts, reasons = ens.featurizer.parse(compositions)
    ok = np.array([r is None for r in reasons], dtype=bool)
    wide, reasons = _outside_vocabulary(ens, compositions, reasons, confidence,
                                        thresholds_mm)
    if strict and any(reasons):
        raise GfaError(next(r for r in reasons if r))
    x = ens.featurizer.from_amounts(amounts[ok]) if ok.any() else None
    parts = [ens.predict_fractions(x, confidence, thresholds_mm=thresholds_mm)
             .set_axis(np.flatnonzero(ok))] if x is not None else []
    keys = _keys(amounts, ok, ens.vocabulary.elements)
    route = np.where(ok, pc.ROUTE_STACK if ens.stack is not None else pc.ROUTE_NETWORK, "")
    if wide is not None:
        frame, wide_keys = wide
        parts.append(frame.astype(parts[0].dtypes.to_dict()) if parts else frame)
        keys = [wide_keys.get(i, k) for i, k in enumerate(keys)]
        route[frame.index] = pc.ROUTE_PARTNER_ONLY
    df = (pd.concat(parts) if parts else pd.DataFrame(
        columns=pc.prediction_columns(thresholds_mm))).reindex(range(len(compositions)))
    df[pc.IN_DOMAIN] = df[pc.IN_DOMAIN].astype("boolean").fillna(False).astype(bool)
    df.insert(0, "input", [as_written(c) for c in compositions])
    df.insert(1, "composition", keys)
    df = df.join(ens.measured(keys))
    df["in_vocabulary"] = ok
    df[pc.ROUTE] = route
    df["reason"] = [r or "" for r in reasons]
    return df


def _outside_vocabulary(ens, compositions: list, reasons: list, confidence: float,
                        thresholds_mm) -> tuple[tuple | None, list]:
    """The inputs the network refused, read by its descriptor partner alone where the
    partner's element table covers them (:mod:`gfascreen.model.partner_route`): their
    predictions (indexed by input) and composition keys (by input), or None; and every
    input's reason, the route's for those it refuses too."""
    from gfascreen.model.partner_route import PartnerRoute

    refused = [i for i, r in enumerate(reasons) if r is not None]
    if ens.partner is None or not refused:
        return None, reasons
    cal = ens.calibration.partner_only if ens.calibration is not None else None
    route = PartnerRoute(ens.partner, cal, ens.stack.partner_step_at_pct)
    amounts, why = route.parse([compositions[i] for i in refused])
    reasons = list(reasons)
    for i, w in zip(refused, why, strict=True):
        reasons[i] = w
    good = np.array([w is None for w in why], dtype=bool)
    if not good.any():
        return None, reasons
    rows = np.asarray(refused)[good]
    frame = route.predict_fractions(route.featurizer.from_amounts(amounts[good]),
                                    confidence, thresholds_mm).set_axis(rows)
    keys = _keys(amounts[good], good[good], route.vocabulary.elements)
    return (frame, dict(zip(rows.tolist(), keys, strict=True))), reasons


def _keys(amounts: np.ndarray, ok: np.ndarray, elements) -> list[str]:
    """Each row's composition key (at.%, :func:`~gfascreen.data.parse.composition_key`) of
    its amounts over ``elements``; "" where ``ok`` is false."""
    from gfascreen.data.parse import composition_key

    return [composition_key({elements[j]: 100 * v / row.sum() for j, v in enumerate(row)
                             if v > 0}) if good else ""
            for row, good in zip(amounts, ok, strict=True)]
