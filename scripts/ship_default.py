"""Evaluate, calibrate and document the shipped model (the default ensemble).

Steps (each reusing what is on disk):
1. ``--pack``: pack a finished random-fold run into the package (``runs/random5``);
   otherwise the packed members already shipped are kept.
2. Random 5-fold evaluation: out-of-fold predictions recomputed from the shipped members
   (member K predicts fold K of the same seeded split) into ``runs/default_random5``, then
   ``gfascreen evaluate`` with baselines on the identical folds.
3. Leave-system-out: ``gfascreen evaluate runs/system5 --spread-model default`` (baselines,
   screening metrics, calibration measurements), then ``gfascreen calibrate default --lso
   runs/system5``: the calibration chosen, fitted and attached with the predictions
   themselves (``lso_oof.parquet``), checksums in the manifest.
4. The model card.

Usage: python scripts/ship_default.py [--pack RUN [--id ID]] [--system runs/system5]
           [--random-oof runs/default_random5] [--data train.parquet]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import pandas as pd
import torch

from gfascreen.model.calibrate import calibrate_model
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.evaluate import (
    calibration_table,
    evaluate_run,
    member_oof,
    metrics_table,
    screening_table,
)
from gfascreen.model.folds import assign_folds
from gfascreen.model.saved import GROUP, ModelDir, default_model_dir, model_hash
from gfascreen.model.targets import from_target
from gfascreen.model.train import TrainConfig, prepare_table
from gfascreen.tableio import write_parquet_atomic


def cached_evaluation(run: Path, data: str, **kw) -> dict:
    """``evaluation.json`` of a run if newer than its predictions, else evaluate."""
    ev = run / "evaluation.json"
    if ev.exists() and ev.stat().st_mtime > (run / "oof.parquet").stat().st_mtime:
        return json.loads(ev.read_text())
    return evaluate_run(run, data=data, **kw)


def random_oof_run(model: str, data: str, out: Path) -> Path:
    """A run directory holding the shipped members' random-fold out-of-fold predictions
    (kept when already there and made by the same members: ``model_hash.txt``)."""
    ens = Ensemble.load(model, device="cpu")
    stamp = out / "model_hash.txt"
    if (out / "oof.parquet").exists() and stamp.exists() \
            and stamp.read_text().strip() == model_hash(ens.manifest):
        return out
    cfg = TrainConfig(**{**ens.manifest.config, "max_rows": None})
    t, _ = prepare_table(pd.read_parquet(data), cfg)
    folds = assign_folds(t, cfg.folds, cfg.grouping, cfg.seed)
    reg, prob = member_oof(ens, ens.featurizer.from_table(t), folds)
    oof = pd.DataFrame({"composition": t["composition"], "system": t["system"], "fold": folds,
                        "gfa_class": t["gfa_class"].astype(str), "dmax_mm": t["dmax_mm"],
                        "pred_log": reg, "pred_mm": from_target(reg)})
    for i, c in enumerate(ens.classes):
        oof[f"p_{c}"] = prob[:, i]
    oof["pred_class"] = [ens.classes[i] for i in prob.argmax(1)]
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(oof, out / "oof.parquet")
    write_parquet_atomic(pd.DataFrame({"composition": t["composition"], "fold": folds}),
                         out / "folds.parquet")
    (out / "config.json").write_text(json.dumps(ens.manifest.config, indent=2))
    stamp.write_text(model_hash(ens.manifest))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pack", default=None, help="random-fold run to pack (default: keep)")
    p.add_argument("--system", default="runs/system5")
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--out", default=str(default_model_dir()))
    p.add_argument("--id", default="gfascreen-default-v2", help="model id when packing")
    p.add_argument("--random-oof", default="runs/default_random5",
                   help="where the shipped members' random-fold predictions are kept")
    a = p.parse_args()
    torch.set_num_threads(2)
    if a.pack:
        from gfascreen.model.pack import pack_ensemble

        pack_ensemble(a.pack, a.out, model_id=a.id)
        md = ModelDir(a.out)
        md.manifest.extra["training_wall_s"] = [
            json.loads(f.read_text())["wall_s"]
            for f in sorted(Path(a.pack).glob("member_*.json"))]
        md.write_manifest()
    md = ModelDir(a.out)
    ev_r = cached_evaluation(random_oof_run(a.out, a.data, Path(a.random_oof)), a.data)
    ev_s = cached_evaluation(Path(a.system), a.data, spread_model=a.out)
    if not (Path(a.system) / "oof_calibration.parquet").exists():
        ev_s = evaluate_run(a.system, data=a.data, spread_model=a.out)
    ev_s["run"] = str(a.system)
    Path(a.system, "evaluation.json").write_text(json.dumps(ev_s, indent=2))
    # The product command: choose, fit and attach the calibration, keep the predictions.
    ev_s["calibration"] = calibrate_model(a.out, lso=a.system)
    md = ModelDir(a.out)
    md.manifest.extra["evaluation"] = {"random": ev_r, "system": ev_s}
    md.manifest.extra["system_training_wall_s"] = [
        json.loads(f.read_text())["wall_s"] for f in sorted(Path(a.system).glob("member_*.json"))]
    md.write_manifest()
    card = model_card(md, ev_r, ev_s, pd.read_parquet(a.data))
    (md.path / "MODEL_CARD.md").write_text(card)
    print(card)


def fmt_block(b: dict) -> str:
    return (f"R² {b['r2_mm']:.3f} (mm), R² {b['r2_log']:.3f} (log10(1+Dmax)), "
            f"MAE {b['mae_mm']:.3f} mm, RMSE {b['rmse_mm']:.3f} mm, Spearman {b['spearman']:.3f}"
            f" (n = {b['n']})")


def _image_text(image: dict) -> str:
    pairs = list(image.get("pairs") or {})
    return "one channel x xᵀ" + (f" plus physics channels x_i x_j f(i, j) for {', '.join(pairs)}"
                                 if pairs else "")


def model_card(md: ModelDir, ev_r: dict, ev_s: dict, table: pd.DataFrame) -> str:
    m = md.manifest
    cfg, q, cal = m.config, m.extra["quantization_check"], m.calibration
    counts = table["gfa_class"].value_counts().to_dict()
    els = m.vocabulary["elements"]
    flags = " ".join(("--" if cfg.get(k) else "--no-") + k for k in ("lds", "fds", "coords", "amp"))
    flags += "".join(f" --{k} {cfg[k]}" for k in ("target", "order", "stem", "pairs")
                     if cfg.get(k))
    order = "atomic number" if cfg.get("order", "z") == "z" else "Mendeleev number"
    return f"""# Model card: {m.id}

ResNet50 (torchvision, trained from scratch) regressing {m.target.replace('dmax_mm', 'Dmax/mm')}
from outer-product composition images ({_image_text(m.image)}), with a joint crystal / ribbon /
bulk-glass classification head;
{len(m.members)} members, one per fold of a random {cfg['folds']}-fold cross-validation.
Prediction = mean of the members in mm; spread = their standard deviation; the interval
`dmax_lo`..`dmax_hi` is calibrated (below).

## Data
- Training table: `{m.data['table']}`, sha256 `{m.data['sha256']}`, built by
  `gfascreen data build` from Xiong 2020, Forrest & Greer 2022 and Ward 2018
  ({len(table)} unique compositions: {counts}); {m.data['rows']} of them use only
  the {len(els)} vocabulary elements and were used. They ship with the model
  (`known_alloys.parquet`): the applicability domain and the reports' known alloys.
- Elements covered (order = {order}, image rows/columns): {' '.join(els)}.
  Elements in fewer than {m.vocabulary['min_count']} training alloys are out of domain.

## Training
- `bash scripts/train_default.sh`, i.e. `gfascreen train --folds {cfg['folds']} --epochs
  {cfg['epochs']} --lr {cfg['lr']} {flags} --mixup {cfg['mixup']}`; seed {cfg['seed']}, batch
  {cfg['batch_size']}, AdamW, one-cycle schedule, early stopping (patience {cfg['patience']},
  counted only in the second half of the budget) on a 10 % inner validation split of each
  fold's training part. Init: scratch (no ImageNet weights offline).
- Wall time per member (s): {m.extra.get('training_wall_s')} (random folds),
  {m.extra.get('system_training_wall_s')} (leave-system-out), {platform.processor() or 'x86_64'}
  CPU, 2 cores, no GPU.

## Random {cfg['folds']}-fold (identical folds for every model; out of fold, rows with a Dmax)
Recomputed from the shipped members (member K predicts fold K): `python scripts/ship_default.py`.
- All: {fmt_block(ev_r['model']['all'])}
- Bulk glasses only: {fmt_block(ev_r['model']['bmg'])}

{metrics_table(ev_r)}

{screening_table(ev_r)}

## Leave-alloy-system-out (same recipe retrained on folds grouped by system; not shipped)
Every alloy system (its set of elements) lies wholly in one fold, so each prediction is for
a system that member never saw (sub- and super-systems may be in its training part).
`gfascreen evaluate {ev_s.get('run', 'runs/system5')} --spread-model default`.
- All: {fmt_block(ev_s['model']['all'])}
- Bulk glasses only: {fmt_block(ev_s['model']['bmg'])}

{metrics_table(ev_s)}

{screening_table(ev_s)}

## Calibration (probabilities, P(Dmax >= T), intervals, lower bounds)
Fitted and chosen by `gfascreen calibrate` on {cal['calibrated_on']}: interval method
`{cal['method']}`, difficulty `{cal['difficulty']}` (beta {cal['beta']}), Mondrian binning
`{cal['binning']}`, probability maps `{cal['probabilities']['binning']}`. Every candidate,
measured cross-conformally on the leave-system-out folds:

{calibration_table(ev_s)}

The chosen configuration's reliability tables are in `CALIBRATION.md` beside this card.

## Compact storage
Conv/linear weights int8 with one float16 scale per output channel and group of {GROUP}
inputs; the stem, the first stage and the first block of the second stage, and every
batch-norm, in float16 (`{m.quant}`): members of {q['member_mb']} MB. Largest difference
from full precision over all {q['compositions']} training alloys:
{q['max_abs_diff_log10_1p_dmax']:.4f} in log10(1+Dmax) (mean
{q['mean_abs_diff_log10_1p_dmax']:.5f}); {q['max_abs_diff_mm']:.3f} mm.

## Do not trust it for
- Alloys with an element outside the list above (refused), or far from every training
  alloy (`in_domain` = False: fewer than {m.domain['min_neighbours']} training alloys within
  {m.domain['radius_at_pct']:g} at.% L1 distance).
- Absolute Dmax of the largest glass formers: the tail above ~20 mm holds a few dozen
  alloys and the ensemble underestimates it (docs/parity-random5.png).
- Systems with no training alloys: leave-system-out R² is
  {ev_s['model']['all']['r2_mm']:.2f} (mm), not {ev_r['model']['all']['r2_mm']:.2f}; read such maps
  as a ranking hint, with the calibrated interval rather than the spread.
- Processing effects (purity, casting method, fluxing): the labels mix them.
- Dmax of ribbon-only glasses is a placeholder (0.1 mm), not a measurement.
"""


if __name__ == "__main__":
    main()
