"""Evaluate a training run: metrics from out-of-fold predictions, a parity plot (HTML and
PNG), and the baselines on the identical folds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model.metrics import regression_report


def parity_plot(oof: pd.DataFrame, out: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    d = oof[oof["dmax_mm"].notna()]
    hi = float(max(d["dmax_mm"].max(), d["pred_mm"].max())) * 1.05
    fig = go.Figure()
    for cls, g in d.groupby("gfa_class"):
        fig.add_trace(go.Scatter(x=g["dmax_mm"], y=g["pred_mm"], mode="markers", name=cls,
                                 text=g["composition"], marker={"size": 5, "opacity": 0.6}))
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", name="y = x",
                             line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title=title, xaxis_title="measured Dmax (mm)",
                      yaxis_title="predicted Dmax (mm, out of fold)", width=700, height=650)
    html = out / "parity.html"
    fig.write_html(html, include_plotlyjs="inline")
    f, ax = plt.subplots(figsize=(5, 5))
    for cls, g in d.groupby("gfa_class"):
        ax.scatter(g["dmax_mm"], g["pred_mm"], s=6, alpha=0.5, label=cls)
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


def evaluate_run(run_dir: str | Path, baselines: bool = True, data: str | Path | None = None
                 ) -> dict:
    """Metrics (and baselines on the same folds) for a finished run; writes
    ``evaluation.json``, ``parity.html`` and ``parity.png`` into the run directory."""
    run = Path(run_dir)
    parts = sorted(run.glob("oof_*.parquet"))
    if (run / "oof.parquet").is_file():
        oof = pd.read_parquet(run / "oof.parquet")
    elif parts:
        # An unfinished run: score the folds that are done, and say so.
        oof = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    else:
        raise GfaError(f"{run} has no out-of-fold predictions: train it first (or resume it "
                       "with `gfascreen train --resume --out DIR`)")
    cfg = json.loads((run / "config.json").read_text())
    done = sorted(int(f) for f in oof["fold"].unique())
    report = {"model": regression_report(oof), "folds_scored": done,
              "folds_total": cfg["folds"]}
    parity_plot(oof, run, f"{run.name}: out-of-fold, {cfg['folds']}-fold {cfg['grouping']}"
                + ("" if len(done) == cfg["folds"] else f" ({len(done)} folds scored)"))
    if baselines:
        from gfascreen.model.baselines import run_baselines
        from gfascreen.model.train import TrainConfig, prepare_table

        data_path = Path(data) if data else Path("train.parquet")
        if not data_path.is_file():
            raise GfaError(f"baselines need the training table; {data_path} not found "
                           "(pass --data or --no-baselines)")
        config = TrainConfig(**cfg)
        t, vocab = prepare_table(pd.read_parquet(data_path), config)
        folds = pd.read_parquet(run / "folds.parquet")
        if not np.array_equal(folds["composition"].to_numpy(), t["composition"].to_numpy()):
            raise GfaError(f"{data_path} is not the table {run} was trained on")
        report["baselines"] = run_baselines(t, folds["fold"].to_numpy(),
                                            list(vocab.elements), seed=config.seed,
                                            cache=data_path.with_suffix(".magpie.parquet"),
                                            test_folds=done)
    (run / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report
