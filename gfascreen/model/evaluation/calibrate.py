"""Fit, choose, measure and attach a model's calibration (``gfascreen calibrate``).

Input: leave-system-out out-of-fold predictions (each alloy predicted by a member that
never saw its system), with the shipped members' spread at each alloy (``sigma_log``) and
raw class probabilities: the ``lso_oof.parquet`` a model carries, or a run's
``oof_calibration.parquet`` from ``gfascreen evaluate RUN --spread-model MODEL``.

Everything is measured cross-conformally over the leave-system-out folds (fit on four,
measure on the fifth, in turn): the class maps (:func:`choose_probability_binning`) and the
one distribution's thickness, its spread weight chosen by the rule declared here
(:func:`choose_weight`) inside each outer fold, so the reported readings are nested; the
final calibration is then fitted on every fold and stored in the model (:func:`attach`).
The neighbours of an alloy (domain, target spread) are always the alloys of the *other*
folds: what its predicting member was trained on, as a new system at screening time has
only the training alloys around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN, castable_class
from gfascreen.errors import GfaError
from gfascreen.featurize import OPImageFeaturizer
from gfascreen.model import columns as pc
from gfascreen.model.calibration import CALIBRATION_FILE, PARTNER_ONLY, Calibration
from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM
from gfascreen.model.difficulty import NEIGHBOURS, neighbourhood
from gfascreen.model.distribution import ThicknessModel
from gfascreen.model.evaluation.calibration_report import (
    CalibrationReport,
)
from gfascreen.model.evaluation.markdown import CALIBRATION_PAGE, calibration_page
from gfascreen.model.evaluation.recorded import CALIBRATION_REPORT
from gfascreen.model.parts import CalibrationEntry
from gfascreen.model.probabilities import (
    EVENTS,
    PROB_BINNINGS,
)
from gfascreen.model.saved import ModelDir
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE
from gfascreen.model.statements import (
    BMG_LOG,
    P_BMG_CAL,
    P_GLASS_CAL,
    Batch,
    ClassProbabilities,
    Distribution,
    Exceedance,
    dmax_statements,
)
from gfascreen.model.targets import from_target, to_target

CONFIDENCES = (0.68, 0.9, 0.95)
#: The candidate weights w of the members' spread in the thickness's scale
#: (:class:`~gfascreen.model.distribution.ThicknessModel`: σ ∝ 1 + w · spread / median).
SPREAD_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
#: The weight where there are too few folds to choose one inside a fold (declared).
DEFAULT_SPREAD_WEIGHT = 0.5


def weight_key(w: float) -> str:
    return f"one distribution, thickness scale 1 + {w:g} x members' spread / median"


@dataclass(frozen=True)
class Candidate:
    """One calibration configuration of the declared search."""

    method: str
    difficulty: str
    binning: str
    beta: float

    @property
    def key(self) -> str:
        return f"{self.method}, {self.difficulty}, {self.binning}, beta {self.beta:g}"

    def calibration(self) -> Calibration:
        return Calibration(beta=self.beta, binning=self.binning, method=self.method,
                           difficulty=self.difficulty, k=NEIGHBOURS)


# -- the calibration frame ----------------------------------------------------------------
def read_lso(model: ModelDir, lso: str | Path | None = None) -> pd.DataFrame:
    """Leave-system-out predictions: ``lso`` (a run directory with
    ``oof_calibration.parquet`` or that file) or the ones the model carries."""
    if lso is None:
        if model.manifest.lso_oof is None:
            raise GfaError(f"{model.path} carries no leave-system-out predictions; pass "
                           "--lso RUN (a run evaluated with `gfascreen evaluate RUN "
                           "--spread-model MODEL`)")
        return pd.read_parquet(model.verified(model.manifest.lso_oof))
    p = Path(lso)
    p = p / "oof_calibration.parquet" if p.is_dir() else p
    if not p.is_file():
        raise GfaError(f"--lso {lso}: no oof_calibration.parquet there; run `gfascreen "
                       "evaluate RUN --spread-model MODEL` first")
    return pd.read_parquet(p)


def lso_frame(model: ModelDir, lso: pd.DataFrame) -> pd.DataFrame:
    """The predictions with what calibration needs: ``y`` (log10(1 + Dmax/mm), NaN where
    unmeasured), ``bmg_log`` (μ: the thickness if a bulk glass, log), fold-relative
    ``in_domain`` and ``knn_spread``, and ``gfa_class`` under the castable rule
    (:func:`~gfascreen.data.labels.castable_class`: a bulk glass is castable at 1 mm)."""
    need = {"composition", "fold", "gfa_class", DMAX_COLUMN, "pred_log", "sigma_log",
            pc.P_CRYSTAL, pc.P_BMG}
    if not need <= set(lso.columns):
        raise GfaError(f"leave-system-out predictions lack {sorted(need - set(lso.columns))}")
    feat = OPImageFeaturizer(model.manifest.image_spec.vocabulary)
    amounts, reasons = feat.parse(lso["composition"].tolist())
    if any(reasons):
        raise GfaError(f"the model cannot read every calibration alloy: "
                       f"{next(r for r in reasons if r)}")
    x = feat.from_amounts(amounts)
    out = lso.reset_index(drop=True).copy()
    out["gfa_class"] = castable_class(out["gfa_class"], out[DMAX_COLUMN])
    out["y"] = to_target(out[DMAX_COLUMN].to_numpy(dtype=float))
    out[BMG_LOG] = (to_target(out["pred_bmg_mm"].to_numpy(dtype=float))
                    if "pred_bmg_mm" in out.columns else out["pred_log"].to_numpy(dtype=float))
    folds = out["fold"].to_numpy()
    dom = np.zeros(len(out), dtype=bool)
    spread = np.zeros(len(out))
    radius = float(model.manifest.domain.radius_at_pct)
    need_n = int(model.manifest.domain.min_neighbours)
    for k in np.unique(folds):
        te, tr = folds == k, folds != k
        nb = neighbourhood(x[te], x[tr], out["y"].to_numpy()[tr], radius, need_n, NEIGHBOURS)
        dom[te], spread[te] = nb.in_domain, nb.knn_spread
    out[pc.IN_DOMAIN] = dom
    out["knn_spread"] = spread
    return out


# -- cross-fitting --------------------------------------------------------------------------
def cross_fit(frame: pd.DataFrame, make: Callable[[], list], confidences=CONFIDENCES,
              thresholds=DEFAULT_THRESHOLDS_MM) -> dict:
    """Out-of-fold values of the statements ``make()`` returns (fresh each call,
    :mod:`gfascreen.model.statements`): fitted on the rows of the other folds, for every
    row. By the statements' ``oof`` keys; a statement that depends on the confidence gives
    ``{confidence: values}`` there."""
    n = len(frame)
    folds = frame["fold"].to_numpy()
    out: dict = {}
    for k in np.unique(folds):
        te = folds == k
        train, held = frame[~te], frame[te]
        for st in [st.fit(train) for st in make()]:
            for c in confidences if st.by_confidence else (None,):
                batch = Batch.from_frame(held, DEFAULT_CONFIDENCE if c is None else c,
                                         thresholds)
                for key, v in st.oof(batch).items():
                    slot = out.setdefault(key, {}) if c is not None else out
                    name = c if c is not None else key
                    if name not in slot:
                        slot[name] = np.full((n, *np.shape(v)[1:]), np.nan)
                    slot[name][te] = v
    return out


def _confidences(res: dict, confidences) -> dict:
    """``res`` with its by-confidence values kept for ``confidences`` only."""
    return {k: ({c: v[c] for c in confidences} if isinstance(v, dict) else v)
            for k, v in res.items()}


def cross_fit_intervals(frame: pd.DataFrame, cand: Candidate,
                        confidences=CONFIDENCES, thresholds=DEFAULT_THRESHOLDS_MM) -> dict:
    """Out-of-fold intervals (``lo``, ``hi``: log), lower bounds (``at_least``: log) and
    exceedance probabilities (``exceedance``) of ``cand``'s Dmax statements: fitted on the
    rows of the other folds with a Dmax, for every row."""
    return cross_fit(frame, lambda: dmax_statements(cand.calibration()), confidences,
                     thresholds)


def interval_report(frame: pd.DataFrame, res: dict, confidences=CONFIDENCES) -> dict:
    """Coverage, median width (mm) and lower-bound coverage per group and confidence,
    on rows with a measured Dmax: the measurements of the Dmax statements that depend
    on the confidence, side by side."""
    res = _confidences(res, confidences)
    reps = [st.measure(frame, res) for st in dmax_statements(Calibration()) if st.by_confidence]
    return {g: {c: {k: v for rep in reps for k, v in rep[g][c].items()} for c in reps[0][g]}
            for g in reps[0]}


def exceedance_report(frame: pd.DataFrame, res: dict,
                      thresholds=DEFAULT_THRESHOLDS_MM) -> dict:
    """Reliability of each P(Dmax >= t), out of fold, on rows with a measured Dmax."""
    return Exceedance(Calibration()).measure(frame, res, thresholds)


def cross_fit_probabilities(frame: pd.DataFrame, binning: str) -> dict[str, np.ndarray]:
    """Out-of-fold calibrated ``p_glass`` and ``p_bmg`` (fit on four folds, apply to the
    fifth)."""
    return cross_fit(frame, lambda: [ClassProbabilities(binning=binning)])


def probabilities_report(frame: pd.DataFrame, cf: dict[str, np.ndarray]) -> dict:
    """Reliability of calibrated P(glass) and P(bulk glass) (``cf``, out of fold from
    :func:`cross_fit_probabilities`) beside the raw head's."""
    return ClassProbabilities().measure(frame, cf)


def replay(md: ModelDir, frame: pd.DataFrame, confidences=CONFIDENCES) -> dict:
    """The configuration a model ships with, measured out of fold on ``frame`` (from
    :func:`lso_frame`): sets the frame's out-of-fold class masses (its probability binning,
    cross-fitted) and returns its out-of-fold readings (``lo``, ``hi``, ``at_least``:
    log, by confidence; ``exceedance``)."""
    entry = md.manifest.calibration.info if md.manifest.calibration else {}
    pbin = (entry.get("probabilities") or {}).get("binning", "none")
    cross = cross_fit_probabilities(frame, pbin)
    frame[P_BMG_CAL], frame[P_GLASS_CAL] = cross[pc.P_BMG], cross[pc.P_GLASS]
    if isinstance(entry.get("thickness"), dict):
        return cross_fit_distribution(frame, float(entry["thickness"]["spread_weight"]),
                                      confidences)
    cand = Candidate(entry.get("method", "symmetric"), entry.get("difficulty", "members"),
                     entry.get("binning", "none"), float(entry.get("beta", 0.01)))
    return cross_fit_intervals(frame, cand, confidences=confidences)


# -- the declared rule ----------------------------------------------------------------------
def choose_probability_binning(reports: dict[str, dict]) -> str:
    """The declared rule for the probability maps: the binning with the lower summed
    out-of-fold Brier score of P(glass) and P(bulk glass) (ties: fewer bins)."""
    return min(reports, key=lambda b: (round(sum(reports[b][e]["brier"]
                                                       for e in EVENTS), 5),
                                       PROB_BINNINGS.index(b)))


# -- the class masses and the thickness, measured ----------------------------------------
def class_masses(frame: pd.DataFrame) -> tuple[str, dict]:
    """Both probability binnings' reports; the chosen one's out-of-fold P(glass) and P(bmg)
    are written into ``frame`` (the distribution's class masses)."""
    cross, probs = {}, {}
    for b in PROB_BINNINGS:
        try:
            cross[b] = cross_fit_probabilities(frame, b)
        except GfaError:  # a bin too small to fit a map in some fold: not a candidate
            continue
        probs[b] = probabilities_report(frame, cross[b])
    if not probs:
        raise GfaError("too few alloys to calibrate class probabilities (at least 20 per "
                       "fold's training part are needed)")
    pbin = choose_probability_binning(probs)
    frame[P_BMG_CAL] = cross[pbin][pc.P_BMG]
    frame[P_GLASS_CAL] = cross[pbin][pc.P_GLASS]
    return pbin, probs


def cross_fit_distribution(frame: pd.DataFrame, weight: float, confidences=CONFIDENCES,
                           thresholds=DEFAULT_THRESHOLDS_MM) -> dict:
    """Out-of-fold readings of the one distribution with spread weight ``weight``: the
    thickness fitted on the other folds' bulk glasses, the class masses the frame's
    out-of-fold ``p_glass_cal``/``p_bmg_cal``."""
    return cross_fit(frame, lambda: [Distribution(ThicknessModel(weight))], confidences,
                     thresholds)


def distribution_report(frame: pd.DataFrame, res: dict, confidences=CONFIDENCES) -> dict:
    """Coverage and widths of the interval, the lower bound and the conditional interval,
    per group and confidence, on rows with a measured Dmax."""
    res = _confidences(res, confidences)
    return Distribution(ThicknessModel()).measure(frame, res)


def choose_weight(reports: dict[float, dict]) -> float:
    """The declared rule: among the weights whose 90 % conditional interval covers
    0.88-0.92 of the bulk glasses, the narrowest median conditional width (mm); if none
    does, the coverage nearest 0.9."""
    def cov(w):
        return reports[w]["bmg"]["90"]["bmg_coverage"]

    ok = [w for w in reports if 0.88 <= cov(w) <= 0.92]
    if ok:
        return min(ok, key=lambda w: (round(reports[w]["bmg"]["90"]["bmg_median_width_mm"], 3),
                                      w))
    return min(reports, key=lambda w: (abs(cov(w) - 0.9), w))


def _weight_reports(frame: pd.DataFrame, weights=SPREAD_WEIGHTS) -> dict[float, dict]:
    return {w: distribution_report(frame, cross_fit_distribution(frame, w, (0.9,)), (0.9,))
            for w in weights}


class _ChosenInside(Distribution):
    """The one distribution with its spread weight chosen on the rows it is fitted on (by
    :func:`choose_weight` on a cross-fit over their folds; :data:`DEFAULT_SPREAD_WEIGHT`
    with one fold), each choice appended to ``chosen``; among ``weights`` (one: that one)."""

    def __init__(self, chosen: list[float], weights=SPREAD_WEIGHTS):
        super().__init__(ThicknessModel())
        self.chosen, self.weights = chosen, tuple(weights)

    def fit(self, frame: pd.DataFrame) -> Distribution:
        if len(self.weights) == 1:
            w = self.weights[0]
        else:
            w = (choose_weight(_weight_reports(frame, self.weights))
                 if frame["fold"].nunique() > 1 else DEFAULT_SPREAD_WEIGHT)
        self.chosen.append(w)
        self.thickness = ThicknessModel(w)
        return super().fit(frame)


def nested_distribution(frame: pd.DataFrame, confidences=CONFIDENCES,
                        thresholds=DEFAULT_THRESHOLDS_MM, weights=SPREAD_WEIGHTS
                        ) -> tuple[dict, list[float]]:
    """Out-of-fold readings with the spread weight chosen (among ``weights``) inside each
    outer fold, so the reported figures never saw the fold they are measured on; and each
    fold's weight."""
    chosen: list[float] = []
    return (cross_fit(frame, lambda: [_ChosenInside(chosen, weights)], confidences,
                      thresholds), chosen)


# -- the whole procedure --------------------------------------------------------------------
def measure(frame: pd.DataFrame, weights=SPREAD_WEIGHTS,
            point: str = "stack, read at the point") -> dict:
    """The class probabilities (both binnings; the chosen one's out-of-fold masses go into
    ``frame``), the cross-fitted report of every spread weight of ``weights``, and the
    readings of the one distribution with the weight chosen inside each outer fold
    (nested): interval, lower bound, conditional interval and P(Dmax >= T). ``point``
    names the frame's own reading in the headline figures."""
    pbin, probs = class_masses(frame)
    reports = _weight_reports(frame, weights)
    res, per_fold = nested_distribution(frame, weights=weights)
    exc = Exceedance(Calibration()).measure(
        frame, {"exceedance": res["exceedance"][DEFAULT_CONFIDENCE]})
    return {"candidates": {weight_key(w): r for w, r in reports.items()},
            "chosen": weight_key(choose_weight(reports)),
            "chosen_per_fold": [weight_key(w) for w in per_fold],
            "headline": ranking_figures(frame, res, point),
            "intervals": distribution_report(frame, res),
            "exceedance": exc, "probability_binning": pbin,
            "probabilities": probs, "n_rows": int(len(frame)),
            "n_with_dmax": int(frame["y"].notna().sum()),
            "folds": int(frame["fold"].nunique())}


def ranking_figures(frame: pd.DataFrame, res: dict, point: str = "stack, read at the point"
                    ) -> dict[str, dict]:
    """The headline figures (:func:`~gfascreen.model.evaluation.side_by_side.headline`) of
    the frame's own reading (``point``: the stack's, as the leave-system-out table holds
    it) beside the one distribution's (its mean ranks, its conditional median is the
    thickness, its class masses the probabilities; nested out of fold)."""
    from gfascreen.model.evaluation.side_by_side import headline

    c = DEFAULT_CONFIDENCE
    glass, bmg = frame[P_GLASS_CAL].to_numpy(), frame[P_BMG_CAL].to_numpy()
    dist = frame.assign(**{"pred_mm": res["mean"][c], "pred_bmg_mm": res["bmg_median"][c],
                           pc.P_CRYSTAL: 1 - glass, pc.P_RIBBON: glass - bmg, pc.P_BMG: bmg})
    return {point: headline(frame),
            "one distribution (mean, conditional median)": headline(dist)}


#: The descriptor partner's own leave-system-out columns in a model's ``lso_oof.parquet``.
PARTNER_LSO = ("gb_log", "gb_p_crystal", "gb_p_ribbon", "gb_p_bmg", "gb_log_bmg")
#: The partner-only distribution's thickness scale has no members' spread to weigh.
PARTNER_WEIGHTS = (0.0,)


def partner_frame(frame: pd.DataFrame) -> pd.DataFrame | None:
    """The calibration frame (:func:`lso_frame`) as the descriptor partner alone reads it,
    for the alloys it predicts alone (an element outside the network's vocabulary): its
    own leave-system-out columns in place of the stack's (ŷ ``gb_log`` and μ
    ``gb_log_bmg``, log10(1 + Dmax/mm); the raw class scores ``gb_p_*``) and no members'
    spread (0). None where the predictions lack the partner's columns."""
    if not set(PARTNER_LSO) <= set(frame.columns):
        return None
    log, bmg = frame["gb_log"].to_numpy(float), frame["gb_log_bmg"].to_numpy(float)
    out = frame.drop(columns=[P_BMG_CAL, P_GLASS_CAL], errors="ignore")
    return out.assign(**{"pred_log": log, "pred_mm": from_target(log),
                         "pred_bmg_mm": from_target(bmg), BMG_LOG: bmg, "sigma_log": 0.0,
                         pc.P_CRYSTAL: frame["gb_p_crystal"], pc.P_RIBBON: frame["gb_p_ribbon"],
                         pc.P_BMG: frame["gb_p_bmg"]})


def calibrate_partner_only(frame: pd.DataFrame, source: str
                           ) -> tuple[Calibration, dict] | None:
    """The partner-only distribution, measured (nested, as :func:`measure` measures the
    main one) and fitted on every fold of :func:`partner_frame`; None without the
    partner's columns."""
    pf = partner_frame(frame)
    if pf is None:
        return None
    result = measure(pf, PARTNER_WEIGHTS, "partner, read at the point")
    return fit_final(pf, result, f"{source}, the partner's own columns"), result


def chosen_weight(result: dict) -> float:
    """The spread weight a measurement chose (its ``chosen`` key)."""
    return next(w for w in SPREAD_WEIGHTS if weight_key(w) == result["chosen"])


def fit_final(frame: pd.DataFrame, result: dict, source: str) -> Calibration:
    """The probability maps and the thickness with the chosen weight, fitted on every fold."""
    pb = result["probability_binning"]
    probs = ClassProbabilities(binning=pb, info={
        "method": "beta calibration (logistic regression on ln s and -ln(1 - s), "
                  "non-negative slopes; Kull et al. 2017) per event"
                  + (", one map in and one out of domain" if pb == "domain" else ""),
        "bmg_means": "castable at 1 mm or thicker (gfascreen.data.labels.castable_class)"}
    ).fit(frame)
    dist = Distribution(ThicknessModel(chosen_weight(result))).fit(frame)
    bmg = int(((frame["gfa_class"] == "bmg") & frame["y"].notna()).sum())
    info = {"calibrated_on": f"{bmg} leave-system-out bulk glasses with a measured Dmax "
                             f"({source}); probabilities on {len(frame)} alloys",
            "rule": "gfascreen.model.evaluation.calibrate.choose_weight"}
    return Calibration(info_=info, probabilities_=probs.maps, thickness=dist.thickness)


def attach(md: ModelDir, cal: Calibration, lso: pd.DataFrame | None = None
           ) -> CalibrationEntry:
    """Store the calibration (and, when given, the predictions it was fitted on) in the
    model directory; returns the manifest's calibration entry."""
    entry = cal.save(md.path / CALIBRATION_FILE)
    m = md.manifest
    m.calibration = md.entry(CALIBRATION_FILE, **{k: v for k, v in entry.items()
                                                   if k != "file"})
    if lso is not None:
        from gfascreen.tableio import write_parquet_atomic

        write_parquet_atomic(lso, md.path / "lso_oof.parquet")
        m.lso_oof = md.entry("lso_oof.parquet", rows=int(len(lso)))
    md.write_manifest(m)
    return m.calibration


def calibrate_model(model: str, lso: str | None = None) -> dict:
    """``gfascreen calibrate``: measure every candidate on the leave-system-out predictions,
    choose by the declared rule, fit on all of them, attach to the model with the
    measurement (manifest) and its tables (``CALIBRATION.md``). Returns the measurement."""
    md = ModelDir(model)
    raw = read_lso(md, lso)
    if md.manifest.stack is not None and "net_pred_log" not in raw.columns:
        raise GfaError(f"{model} predicts with a stack, and {lso} holds the network's "
                       "predictions alone: re-stack on them (`gfascreen calibrate MODEL --lso "
                       "RUN` does, or gfascreen.model.training.attach_stack.stack_model(MODEL, "
                       "lso=RUN)), which also calibrates")
    frame = lso_frame(md, raw)
    result = measure(frame)
    source = "the model's lso_oof.parquet" if lso is None else str(lso)
    cal = fit_final(frame, result, source)
    partner = calibrate_partner_only(frame, source)
    if partner is not None:
        cal.partner_only, result[PARTNER_ONLY] = partner
    attach(md, cal, None if lso is None else raw)
    slim = CalibrationReport.from_dict(result).without_candidates()
    md.manifest.extra[CALIBRATION_REPORT] = slim.to_dict()
    md.write_manifest()
    (md.path / CALIBRATION_PAGE).write_text(calibration_page(slim, md.manifest.id),
                                            encoding="utf-8")
    return result
