"""Validation against experiments: screen known systems, compare with their alloys.

For each system: a screening run and report, measured vs predicted Dmax for every known
alloy of the system (predicted at its exact composition), Spearman rank agreement, and the
distance (L1, at.%) from the predicted maximum to the best known glass former.
``holdout=True`` first retrains the ensemble without any alloy of the system (same
configuration as the model; it costs as much as training the model), so the check is not
answered from memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from gfascreen.errors import GfaError
from gfascreen.screening.grid import parse_system


def _holdout_model(model: str, data: Path, system: list[str], out: Path, device: str) -> str:
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.train import TrainConfig, train_cv

    ens = Ensemble.load(model, device="cpu")
    cfg = TrainConfig(**{**ens.manifest["config"], "device": device, "only_folds": None})
    table = pd.read_parquet(data)
    key = "-".join(sorted(system))
    held = table[table["system"] != key]
    tpath = out / f"train_without_{key}.parquet"
    held.to_parquet(tpath, index=False)
    run = out / f"model_without_{key}"
    train_cv(tpath, run, cfg, resume=(run / "config.json").exists())
    return str(run)


def validate_system(system: str, step: float, model: str, data: str | Path, out: Path,
                    device: str = "auto", holdout: bool = False) -> dict:
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.screening.report import write_report
    from gfascreen.screening.run import ScreenConfig, screen

    elements = parse_system(system)
    data = Path(data)
    if not data.is_file():
        raise GfaError(f"--data {data} not found; build it with `gfascreen data build`")
    out.mkdir(parents=True, exist_ok=True)
    if holdout:
        model = _holdout_model(model, data, elements, out, device)
    run_dir = out / f"screen_{'-'.join(elements)}_step{step:g}"
    screen(ScreenConfig(system=system, step=step, out=str(run_dir), model=model, device=device,
                        resume=(run_dir / "_run.json").exists(), progress=True))
    report = write_report(run_dir, data=data)
    table = pd.read_parquet(data)
    known = table[(table["system"] == "-".join(sorted(elements)))]
    grid = pd.read_parquet(run_dir)
    best_pred = grid.loc[grid["dmax_mm"].idxmax()]
    res = {"system": system, "report": str(report), "n_known": int(len(known)),
           "predicted_max": {e: float(best_pred[e]) for e in elements}
           | {"dmax_mm": float(best_pred["dmax_mm"])}, "holdout": holdout}
    if len(known):
        ens = Ensemble.load(model, device=device)
        pred = ens.predict(known["composition"].tolist())
        cmp = pd.DataFrame({"composition": known["composition"].to_numpy(),
                            "class": known["gfa_class"].astype(str).to_numpy(),
                            "measured_mm": known["dmax_mm"].to_numpy(),
                            "predicted_mm": pred["dmax_mm"].to_numpy(),
                            "spread_mm": pred["dmax_std"].to_numpy()})
        cmp.to_csv(run_dir / "_report" / "validation.csv", index=False)
        m = cmp.dropna(subset=["measured_mm"])
        if len(m) > 2 and m["measured_mm"].nunique() > 1:
            res["spearman"] = float(spearmanr(m["measured_mm"], m["predicted_mm"]).statistic)
        bmg = known[known["gfa_class"] == "bmg"].dropna(subset=["dmax_mm"])
        if len(bmg):
            best = bmg.loc[bmg["dmax_mm"].idxmax()]
            dist = float(np.abs(np.array([best[e] for e in elements])
                                - np.array([best_pred[e] for e in elements])).sum())
            res["best_known"] = {"composition": best["composition"],
                                 "dmax_mm": float(best["dmax_mm"])}
            res["l1_distance_pred_max_to_best_known_at_pct"] = dist
        res["table"] = cmp.round(3).to_dict(orient="records")
    return res


def validate(systems: list[str], step: float = 1.0, model: str = "default",
             data: str | Path = "train.parquet", out: str | Path = "validation",
             device: str = "auto", holdout: bool = False) -> str:
    out = Path(out)
    results = [validate_system(s, step, model, data, out, device, holdout) for s in systems]
    (out / "summary.json").write_text(json.dumps(results, indent=2))
    lines = ["| system | known alloys | Spearman (measured vs predicted) | best known | "
             "predicted maximum | L1 distance (at.%) |", "|---|---|---|---|---|---|"]
    for r in results:
        pm = r["predicted_max"]
        pm_s = "".join(f"{e}{pm[e]:g}" for e in parse_system(r["system"])) + \
            f" ({pm['dmax_mm']:.1f} mm)"
        bk = r.get("best_known", {})
        dist = r.get("l1_distance_pred_max_to_best_known_at_pct", float("nan"))
        lines.append(f"| {r['system']} | {r['n_known']} | {r.get('spearman', float('nan')):.2f} | "
                     f"{bk.get('composition', '-')} ({bk.get('dmax_mm', float('nan')):g} mm) | "
                     f"{pm_s} | {dist:.0f} |")
    text = "\n".join(lines)
    (out / "summary.md").write_text(text + "\n")
    return text
