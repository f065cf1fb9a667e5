"""Nested out-of-fold stacking of the network and the descriptor partner.

Given the network's out-of-fold predictions on some folds (``pred_log``, ``p_crystal``,
``p_ribbon``, ``p_bmg``: the model's ``lso_oof.parquet`` for leave-system-out, or a
random-fold run) and the partner's out-of-fold predictions on the *identical* folds
(:func:`gfascreen.model.training.partner.partner_oof`), :func:`nested_stack_oof` fits a
:class:`~gfascreen.model.stack.Stack` for each held-out fold on the other folds' rows
and predicts the held-out fold: the stack's own predictions are out of fold too.
:func:`fit_stack` fits the one that ships, on every fold.

Rows whose ``scored`` flag is False (the pure metals added as crystals) take part in
fitting and are left out of every reported figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.model.evaluation.side_by_side import ranking_score
from gfascreen.model.local_average import DEFAULT_STEP_AT_PCT
from gfascreen.model.stack import Stack, StackOutput, stack_features
from gfascreen.model.targets import from_target, to_target

NET_PROBA = (pc.P_CRYSTAL, pc.P_RIBBON, pc.P_BMG)
GB_PROBA = ("gb_p_crystal", "gb_p_ribbon", "gb_p_bmg")


def features_of(frame: pd.DataFrame) -> np.ndarray:
    """Stack inputs from a frame with the network's and the partner's columns."""
    return stack_features(frame["pred_log"], frame[list(NET_PROBA)].to_numpy(),
                          frame["gb_log"], frame[list(GB_PROBA)].to_numpy(),
                          frame["gb_log_bmg"])


#: Candidate network weights of the ranking Dmax (declared before any measurement).
RANK_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def fit_stack(frame: pd.DataFrame, C: float = 1.0, rank_weight: float | None = None) -> Stack:
    """A stack fitted on every row of ``frame``; ``rank_weight`` None: chosen by
    :func:`choose_rank_weight` on ``frame``'s own folds."""
    if rank_weight is None:
        rank_weight = choose_rank_weight(frame, C)
    y = to_target(frame[DMAX_COLUMN].to_numpy(dtype=float))
    # Fitted on the partner read at each held-out alloy; read at prediction as its average
    # over the 1 at.% neighbourhood, which on the shipped model's leave-system-out folds
    # gives the same figures (docs/research-log.md) and no spike at training alloys.
    return Stack(C=C, rank_weight=rank_weight, partner_step_at_pct=DEFAULT_STEP_AT_PCT).fit(
        features_of(frame), frame["gfa_class"], y)


def choose_rank_weight(frame: pd.DataFrame, C: float = 1.0) -> float:
    """The :data:`RANK_WEIGHTS` value whose stack, fitted fold by fold on ``frame``'s other
    folds, ranks ``frame``'s held-out alloys best (pooled + within-system Spearman,
    :func:`~gfascreen.model.evaluation.side_by_side.ranking_score`; scored rows only)."""
    folds = frame["fold"].to_numpy()
    if len(np.unique(folds)) < 2:  # nothing to choose on: the declared default
        return Stack.rank_weight
    y = to_target(frame[DMAX_COLUMN].to_numpy(dtype=float))
    feats = features_of(frame)
    outs = {w: [] for w in RANK_WEIGHTS}
    for k in np.unique(folds):
        te = folds == k
        base = Stack(C=C).fit(feats[~te], frame["gfa_class"].to_numpy()[~te], y[~te])
        for w in RANK_WEIGHTS:
            base.rank_weight = w
            outs[w].append(output_frame(base.predict(feats[te]), frame.index[te]))
    scored = frame["scored"] if "scored" in frame.columns else True
    ref = frame[["system", "gfa_class", DMAX_COLUMN]]
    scores = {w: ranking_score(ref.join(pd.concat(o))[scored]) for w, o in outs.items()}
    return float(max(scores, key=scores.get))


def output_frame(out: StackOutput, index) -> pd.DataFrame:
    """The stack's columns: ``pred_mm``, ``pred_log``, ``p_*``, ``pred_bmg_mm``."""
    return pd.DataFrame({
        "pred_mm": out.dmax_mm, "pred_log": out.log_dmax,
        pc.P_CRYSTAL: out.proba[:, 0], pc.P_RIBBON: out.proba[:, 1],
        pc.P_BMG: out.proba[:, 2],
        "pred_bmg_mm": out.dmax_bmg_mm}, index=index)


def nested_stack_oof(frame: pd.DataFrame, C: float = 1.0) -> tuple[pd.DataFrame, dict]:
    """For each fold, a stack fitted on the other folds (its ranking weight chosen on
    those folds alone) predicts it: columns of :func:`output_frame`, aligned with
    ``frame``, and the weight chosen for each held-out fold."""
    parts, weights = [], {}
    for k in np.unique(frame["fold"]):
        te = (frame["fold"] == k).to_numpy()
        stack = fit_stack(frame[~te], C)
        weights[int(k)] = stack.rank_weight
        parts.append(output_frame(stack.predict(features_of(frame[te])), frame.index[te]))
    return pd.concat(parts).loc[frame.index], weights


def part_frames(frame: pd.DataFrame, stacked: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables of the network, the partner and the stack in the one format the
    metrics read (``pred_mm``, ``p_crystal``, ``p_bmg``; ``pred_bmg_mm`` the thickness if
    a bulk glass)."""
    base = frame[["composition", "system", "fold", "gfa_class", DMAX_COLUMN]]
    net = base.assign(pred_mm=frame["pred_mm"], pred_bmg_mm=frame["pred_mm"],
                      **{c: frame[c] for c in [pc.P_CRYSTAL, pc.P_BMG]})
    gb = base.assign(pred_mm=from_target(frame["gb_log"]),
                     pred_bmg_mm=from_target(frame["gb_log_bmg"]),
                     **{c: frame[f"gb_{c}"] for c in [pc.P_CRYSTAL, pc.P_BMG]})
    stack = base.join(stacked)
    return {"network": net, "partner": gb, "stack": stack}
