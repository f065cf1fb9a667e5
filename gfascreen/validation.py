"""Validation against experiments: screen known systems and compare with their alloys.

Two workflows:

- :func:`validate` screens each system with a model, writes its report, and compares the
  known alloys (the training alloys the model carries, or ``--data``) with the predictions
  at their exact compositions: Spearman rank agreement and the distance (L1, at.%) from
  the predicted maximum to the best known glass former. The known alloys are in the
  model's training data, so this checks consistency. ``holdout=True`` first retrains
  without the system (costs a full training).
- :func:`validate_blind` reads the leave-system-out out-of-fold predictions the model
  keeps (``lso_oof.parquet``): each alloy predicted by the member that never saw its
  system, with intervals calibrated on the other folds. No retraining, no grid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE
from gfascreen.screening.grid import parse_system

#: What :func:`validate` and :func:`validate_blind` write into their ``out`` directory.
SUMMARY_FILES = ("summary.md", "summary.json")
BLIND_FILES = ("blind.md", "blind.csv")
#: Said under the summary when its known alloys are training alloys of the model.
SEEN_NOTE = ("Seen in training: known alloys the model was trained on; their Spearman and "
             "distance check consistency, not the prediction of unseen alloys (`gfascreen "
             "validate --blind`: each system predicted by members that never saw it).")

#: The systems the reference studies validated on: La-Co-Al and Al-Co-Zr (the seed study),
#: Mg-Cu-Gd and Al-Cu-Zr (its follow-up), Ca-Mg-Zn (the same group's later work).
REFERENCE_SYSTEMS = ("La-Co-Al", "Al-Co-Zr", "Mg-Cu-Gd", "Al-Cu-Zr", "Ca-Mg-Zn")
#: What ``validate`` screens when no system is named (the seed study's two).
DEFAULT_SYSTEMS = REFERENCE_SYSTEMS[:2]


def _holdout_model(model: str, data: Path, system: list[str], out: Path, device: str) -> str:
    from gfascreen.model.saved import ModelDir
    from gfascreen.model.training.train import TrainConfig, train_cv

    cfg = TrainConfig.from_dict({**ModelDir(model).manifest.config, "device": device,
                                 "only_folds": None})
    table = pd.read_parquet(data)
    key = alloy_system(system)
    tpath = out / f"train_without_{key}.parquet"
    table[table["system"] != key].to_parquet(tpath, index=False)
    run = out / f"model_without_{key}"
    train_cv(tpath, run, cfg, resume=(run / "config.json").exists())
    return str(run)


def _known(model: str, data: str | Path | None, elements: list[str]) -> pd.DataFrame:
    from gfascreen.screening.known import system_alloys

    return system_alloys(model, elements, data)[0]


def _seen(model: str, known: pd.DataFrame) -> np.ndarray:
    """Which of ``known`` the model was trained on (among the alloys it carries)."""
    from gfascreen.model.saved import ModelDir

    carried = ModelDir(model).known_alloys()
    if carried is None:
        return np.zeros(len(known), dtype=bool)
    return known["composition"].isin(set(carried["composition"])).to_numpy()


def _compare(known: pd.DataFrame, pred: pd.DataFrame, elements: list[str],
             best_pred: pd.Series, seen: np.ndarray) -> dict:
    cmp = pd.DataFrame({"composition": known["composition"].to_numpy(),
                        "seen_in_training": seen,
                        "class": known["gfa_class"].astype(str).to_numpy(),
                        "measured_mm": known[DMAX_COLUMN].to_numpy(),
                        "predicted_mm": pred[pc.DMAX_MM].to_numpy(),
                        "interval_lo_mm": pred[pc.DMAX_LO].to_numpy(),
                        "interval_hi_mm": pred[pc.DMAX_HI].to_numpy(),
                        "spread_mm": pred[pc.DMAX_STD].to_numpy()})
    res: dict = {"table": cmp.round(3).to_dict(orient="records")}
    m = cmp.dropna(subset=["measured_mm"])
    if len(m) > 2 and m["measured_mm"].nunique() > 1:
        res["spearman"] = float(spearmanr(m["measured_mm"], m["predicted_mm"]).statistic)
    bmg = known[known["gfa_class"].astype(str) == "bmg"].dropna(subset=[DMAX_COLUMN])
    if len(bmg):
        best = bmg.loc[bmg[DMAX_COLUMN].idxmax()]
        res["best_known"] = {"composition": best["composition"],
                             DMAX_COLUMN: float(best[DMAX_COLUMN])}
        res["l1_distance_pred_max_to_best_known_at_pct"] = float(np.abs(
            np.array([best[e] for e in elements])
            - np.array([best_pred[e] for e in elements])).sum())
    return res


def validate_system(system: str, step: float, model: str, data: str | Path | None, out: Path,
                    device: str = "auto", holdout: bool = False) -> dict:
    """Screen one system, write its report, compare with its known alloys (scored by the
    ensemble the screen loaded, on its device and in its precision)."""
    from gfascreen.screening.report import write_report
    from gfascreen.screening.run import ScreenConfig, load_model, plan_screen, screen
    from gfascreen.screening.runs import load_run

    elements = parse_system(system)
    out.mkdir(parents=True, exist_ok=True)
    if holdout:
        if not data or not Path(data).is_file():
            raise GfaError("--holdout-system retrains, so it needs the training table: "
                           "pass --data train.parquet")
        model = _holdout_model(model, Path(data), elements, out, device)
    known = _known(model, data, elements)
    run_dir = out / f"screen_{'-'.join(elements)}_step{step:g}"
    cfg = ScreenConfig(system=system, step=step, out=str(run_dir), model=model, device=device,
                       resume=(run_dir / "_run.json").exists(), progress=True)
    plan = plan_screen(cfg)
    screen(plan)
    report = write_report(run_dir, data=data)
    grid = load_run(run_dir).table
    best_pred = grid.loc[grid[pc.DMAX_MM].idxmax()]
    seen = _seen(model, known)
    res = {"system": system, "report": str(report), "n_known": int(len(known)),
           "n_seen_in_training": int(seen.sum()),
           "predicted_max": {e: float(best_pred[e]) for e in elements}
           | {pc.DMAX_MM: float(best_pred[pc.DMAX_MM])}, "holdout": holdout}
    if len(known):
        pred = load_model(plan).ensemble.predict(known["composition"].tolist(),
                                                 confidence=plan.confidence)
        res |= _compare(known, pred, elements, best_pred, seen)
        pd.DataFrame(res["table"]).to_csv(run_dir / "_report" / "validation.csv", index=False)
    return res


def validate(systems: list[str], step: float = 1.0, model: str = "default",
             data: str | Path | None = None, out: str | Path = "validation",
             device: str = "auto", holdout: bool = False) -> str:
    """Validate each system; writes :data:`SUMMARY_FILES` (and each system's screen and
    report), returns the table: known alloys, how many of them the model was trained on
    (:data:`SEEN_NOTE` under the table when any), Spearman, best known, predicted
    maximum and their distance."""
    out = Path(out)
    results = [validate_system(s, step, model, data, out, device, holdout) for s in systems]
    (out / SUMMARY_FILES[1]).write_text(json.dumps(results, indent=2))
    lines = ["| system | known alloys | seen in training | Spearman (measured vs predicted) | "
             "best known | predicted maximum | L1 distance (at.%) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        pm = r["predicted_max"]
        pm_s = "".join(f"{e}{pm[e]:g}" for e in parse_system(r["system"])) + \
            f" ({pm[pc.DMAX_MM]:.1f} mm)"
        bk = r.get("best_known", {})
        dist = r.get("l1_distance_pred_max_to_best_known_at_pct", float("nan"))
        lines.append(f"| {r['system']} | {r['n_known']} | {r['n_seen_in_training']} | "
                     f"{r.get('spearman', float('nan')):.2f} | "
                     f"{bk.get('composition', '-')} ({bk.get(DMAX_COLUMN, float('nan')):g} mm) | "
                     f"{pm_s} | {dist:.0f} |")
    if any(r["n_seen_in_training"] for r in results):
        lines += ["", SEEN_NOTE]
    text = "\n".join(lines)
    (out / SUMMARY_FILES[0]).write_text(text + "\n")
    return text


# -- blind, from the kept leave-system-out predictions -------------------------------------
def blind_table(frame: pd.DataFrame, cross: dict, systems: list[str],
                confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Per system, from leave-system-out predictions calibrated on the other folds
    (``frame`` from :func:`gfascreen.model.evaluation.calibrate.lso_frame` with ``p_bmg_cal``,
    ``cross`` from :func:`~gfascreen.model.evaluation.calibrate.cross_fit_intervals`): alloys,
    Spearman (measured vs blind prediction), the best measured alloy's rank, the coverage
    of ``confidence`` intervals, and the reliability of the calibrated probabilities: mean
    P(bulk glass) vs the observed share of bulk glasses, mean P(Dmax >= 5 mm) vs the
    observed share."""
    from gfascreen.model.reliability import coverage

    pct = round(100 * confidence)
    rows = []
    for s in systems:
        key = alloy_system(parse_system(s))
        every = frame["system"] == key
        m = every & frame[DMAX_COLUMN].notna()
        g = frame[m]
        row = {"system": s, "alloys": int(every.sum()), "spearman": np.nan, "best_known": "-",
               "best_measured_mm": np.nan, "best_predicted_mm": np.nan, "best_rank": "-",
               f"coverage_{pct}": np.nan, "mean_p_bmg": np.nan, "bmg_share": np.nan,
               "mean_p_ge_5mm": np.nan, "share_ge_5mm": np.nan}
        if every.any():
            row["mean_p_bmg"] = float(frame.loc[every, "p_bmg_cal"].mean())
            row["bmg_share"] = float((frame.loc[every, "gfa_class"] == "bmg").mean())
        if len(g):
            idx = np.flatnonzero(m.to_numpy())
            row[f"coverage_{pct}"] = coverage(g["y"].to_numpy(), cross["lo"][confidence][idx],
                                              cross["hi"][confidence][idx])
            row["mean_p_ge_5mm"] = float(cross["exceedance"][idx, 1].mean())
            row["share_ge_5mm"] = float((g[DMAX_COLUMN] >= 5).mean())
            if g[DMAX_COLUMN].nunique() > 1 and len(g) > 2:
                row["spearman"] = float(spearmanr(g[DMAX_COLUMN], g["pred_mm"]).statistic)
            best = g.loc[g[DMAX_COLUMN].idxmax()]
            rank = int((g["pred_mm"] > best["pred_mm"]).sum()) + 1
            row |= {"best_known": best["composition"],
                    "best_measured_mm": float(best[DMAX_COLUMN]),
                    "best_predicted_mm": float(best["pred_mm"]),
                    "best_rank": f"{rank} of {len(g)}"}
        rows.append(row)
    return pd.DataFrame(rows)


def validate_blind(systems: list[str] | None = None, model: str = "default",
                   out: str | Path | None = None,
                   confidence: float = DEFAULT_CONFIDENCE) -> str:
    """Blind validation table (Markdown) from the model's kept leave-system-out predictions."""
    from gfascreen.model.saved import ModelDir

    md = ModelDir(model)
    oof = md.lso_oof()
    if oof is None:
        raise GfaError(f"model {model} keeps no leave-system-out predictions "
                       "(lso_oof.parquet); run `validate` without --blind, or attach them "
                       "with `gfascreen calibrate MODEL --lso RUN` (a step of `gfascreen "
                       "release`)")
    from gfascreen.model.evaluation.calibrate import lso_frame, replay

    frame = lso_frame(md, oof)
    cross = replay(md, frame, confidences=(confidence,))
    if isinstance(cross.get("exceedance"), dict):  # the one distribution: its mean ranks
        frame["pred_mm"] = cross["mean"][confidence]
        cross = {**cross, "exceedance": cross["exceedance"][confidence]}
    table = blind_table(frame, cross, list(systems or REFERENCE_SYSTEMS), confidence)
    text = table.to_markdown(index=False, floatfmt=".2f")  # tabulate comes with pymatgen
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / BLIND_FILES[0]).write_text(text + "\n")
        table.to_csv(Path(out) / BLIND_FILES[1], index=False)
    return text
