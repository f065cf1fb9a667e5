"""Evaluate a training run: metrics from out-of-fold predictions, a parity plot (HTML and
PNG), and the baselines on the identical folds. The result is read as
:class:`~gfascreen.model.evaluation.evaluation_report.Evaluation` and its tables rendered by
:mod:`gfascreen.model.evaluation.markdown`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model.backbone import DEFAULT_BACKBONE
from gfascreen.model.evaluation.metrics import regression_report
from gfascreen.model.evaluation.screening_metrics import screening_report
from gfascreen.model.evaluation.system_ranking import system_evidence
from gfascreen.tableio import write_parquet_atomic


def parity_plot(oof: pd.DataFrame, out: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    d = oof[oof[DMAX_COLUMN].notna()]
    hi = float(max(d[DMAX_COLUMN].max(), d["pred_mm"].max())) * 1.05
    fig = go.Figure()
    for cls, g in d.groupby("gfa_class"):
        fig.add_trace(go.Scatter(x=g[DMAX_COLUMN], y=g["pred_mm"], mode="markers", name=cls,
                                 text=g["composition"], marker={"size": 5, "opacity": 0.6}))
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", name="y = x",
                             line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title=title, xaxis_title="measured Dmax (mm)",
                      yaxis_title="predicted Dmax (mm, out of fold)", width=700, height=650)
    html = out / "parity.html"
    fig.write_html(html, include_plotlyjs="inline")
    f, ax = plt.subplots(figsize=(5, 5))
    for cls, g in d.groupby("gfa_class"):
        ax.scatter(g[DMAX_COLUMN], g["pred_mm"], s=6, alpha=0.5, label=cls)
    ax.plot([0, hi], [0, hi], "k--", lw=0.8)
    ax.set_xlabel("measured Dmax (mm)")
    ax.set_ylabel("predicted Dmax (mm, out of fold)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    f.tight_layout()
    png = out / "parity.png"
    f.savefig(png, dpi=150)
    plt.close(f)
    return [html, png]


def with_difficulty(oof: pd.DataFrame, spread_model: str) -> pd.DataFrame:
    """Add ``sigma_log`` to out-of-fold predictions: the spread (log10(1+Dmax)) of
    ``spread_model``'s members at each composition, the difficulty a screen with that model
    sees. The fold-relative domain and neighbours' spread are added by
    :func:`gfascreen.model.evaluation.calibrate.lso_frame` (with the model's own domain rule)."""
    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(spread_model, device="cpu")
    amounts, reasons = ens.featurizer.parse(oof["composition"].tolist())
    if any(reasons):
        raise GfaError(f"{spread_model} cannot score every alloy of the run: "
                       f"{next(r for r in reasons if r)}")
    reg, _ = ens.member_log_dmax(ens.featurizer.from_amounts(amounts))
    out = oof.copy()
    out["sigma_log"] = reg.std(0, unbiased=False).numpy()
    return out


def member_oof(ens, x, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Out-of-fold log10(1+Dmax) and class probabilities of an ensemble whose member
    trained without fold K predicts the rows of fold K (``folds``)."""
    reg = np.full(len(x), np.nan)
    prob = np.zeros((len(x), len(ens.classes))) if ens.classes else None
    for j, info in enumerate(ens.manifest.members):
        sel = np.flatnonzero(folds == info.fold)
        r, p = ens.member_log_dmax(x[sel], members=[j])
        reg[sel] = r[0].numpy()
        if prob is not None and p is not None:
            prob[sel] = p.numpy()
    return reg, prob


def evaluate_run(run_dir: str | Path, baselines: bool = True, data: str | Path | None = None,
                 spread_model: str | None = None) -> dict:
    """Metrics (and baselines on the same folds) for a finished run; writes
    ``evaluation.json``, ``parity.html`` and ``parity.png`` into the run directory.
    With ``spread_model`` also the calibration measurements (and ``oof_calibration.parquet``)."""
    run = Path(run_dir)
    oof = _read_oof(run)
    cfg = json.loads((run / "config.json").read_text())
    done = sorted(int(f) for f in oof["fold"].unique())
    report = {"model": regression_report(oof), "folds_scored": done,
              "folds_total": cfg["folds"],
              "backbone": cfg.get("backbone", DEFAULT_BACKBONE)}
    report["model"]["screening"] = screening_report(oof)
    if cfg.get("grouping") == "system":  # every prediction for a system never seen
        report["model"]["screening"]["systems"] = system_evidence(oof)
    if spread_model:
        # The calibration measurement of `gfascreen calibrate` (cross-conformal over this
        # run's folds): every interval candidate, the chosen one's lower bounds and
        # P(Dmax >= T), P(glass) / P(bulk glass) beside the raw head and the class prior.
        from gfascreen.model.evaluation.calibrate import lso_frame, measure
        from gfascreen.model.saved import ModelDir

        oof = lso_frame(ModelDir(spread_model), with_difficulty(oof, spread_model))
        write_parquet_atomic(oof, run / "oof_calibration.parquet")
        report["calibration"] = measure(oof)
        report["calibration_spread_model"] = str(spread_model)
    parity_plot(oof, run, f"{run.name}: out-of-fold, {cfg['folds']}-fold {cfg['grouping']}"
                + ("" if len(done) == cfg["folds"] else f" ({len(done)} folds scored)"))
    if baselines:
        report["baselines"] = _baselines(run, cfg, data, done)
    (run / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def _read_oof(run: Path) -> pd.DataFrame:
    parts = sorted(run.glob("oof_[0-9]*.parquet"))
    if (run / "oof.parquet").is_file():
        return pd.read_parquet(run / "oof.parquet")
    if parts:  # an unfinished run: score the folds that are done, and say so
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    raise GfaError(f"{run} has no out-of-fold predictions: train it first (or resume it "
                   "with `gfascreen train --resume --out DIR`)")


def _baselines(run: Path, cfg: dict, data: str | Path | None, done: list[int]) -> dict:
    from gfascreen.model.evaluation.baselines import run_baselines
    from gfascreen.model.recipe import TrainConfig, prepare_table

    data_path = Path(data) if data else Path("train.parquet")
    if not data_path.is_file():
        raise GfaError(f"baselines need the training table; {data_path} not found "
                       "(pass --data or --no-baselines)")
    config = TrainConfig.from_dict(cfg)
    t, vocab = prepare_table(pd.read_parquet(data_path), config)
    folds = pd.read_parquet(run / "folds.parquet")
    if not np.array_equal(folds["composition"].to_numpy(), t["composition"].to_numpy()):
        raise GfaError(f"{data_path} is not the table {run} was trained on")
    return run_baselines(t, folds["fold"].to_numpy(), list(vocab.elements), seed=config.seed,
                         cache=data_path.with_suffix(".magpie.parquet"), test_folds=done)
