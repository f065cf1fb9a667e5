"""``gfascreen stack MODEL``: give a trained network its descriptor partner and its stack.

1. The partner's out-of-fold predictions on the folds of the network's own out-of-fold
   predictions (the model's ``lso_oof.parquet``: leave-system-out), identical folds;
2. the nested stack on them (:func:`~gfascreen.model.training.nested_stack.nested_stack_oof`),
   and the side-by-side figures of network, partner and stack
   (:mod:`gfascreen.model.evaluation.side_by_side`), also on random folds when a
   random-fold out-of-fold table of the same members is given;
3. the partner trained on every alloy, the stack fitted on every fold, both written into
   the model (checksummed) and the model's ``lso_oof.parquet`` replaced by the stack's
   nested predictions (the network's and the partner's kept as ``net_*`` / ``gb_*``);
4. the calibration refitted on those predictions (``gfascreen calibrate``), which also
   rewrites the model card.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable
from gfascreen.model import columns as pc
from gfascreen.model.evaluation.calibration_report import CalibrationReport
from gfascreen.model.evaluation.recorded import STACK_EVALUATION
from gfascreen.model.evaluation.side_by_side import headline
from gfascreen.model.evaluation.stack_report import StackEvaluation
from gfascreen.model.parts import PartnerPart
from gfascreen.model.saved import ModelDir
from gfascreen.model.targets import from_target
from gfascreen.model.training.nested_stack import fit_stack, nested_stack_oof, part_frames
from gfascreen.model.training.partner import (
    PartnerConfig,
    fit_boosters,
    partner_oof,
    pure_metals_as_crystals,
    table_fractions,
    with_pure_metals,
)

NET_COLUMNS = ("pred_log", "pred_mm", pc.P_CRYSTAL, pc.P_RIBBON, pc.P_BMG)


def network_oof(lso: pd.DataFrame) -> pd.DataFrame:
    """The network's own columns of a model's out-of-fold table (``net_*`` once stacked)."""
    if "net_pred_log" in lso.columns:
        return pd.DataFrame({c: lso[f"net_{c}"] for c in NET_COLUMNS})
    return lso[list(NET_COLUMNS)].copy()


def pure_metal_network(md: ModelDir, elements: list[str]) -> pd.DataFrame:
    """The shipped members' predictions for each pure metal (no member trained on one)."""
    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(md.path, device="cpu", parts="network")
    reg, prob = ens.member_log_dmax(torch.eye(len(elements), dtype=torch.float32))
    log = reg.mean(0).numpy().astype(float)
    return pd.DataFrame({"pred_log": log, "pred_mm": from_target(log),
                         pc.P_CRYSTAL: prob[:, 0].numpy(), pc.P_RIBBON: prob[:, 1].numpy(),
                         pc.P_BMG: prob[:, 2].numpy()}, index=list(elements))


def stack_refusal(md: ModelDir, known: pd.DataFrame, folds: np.ndarray) -> str | None:
    """Why the stack cannot be fitted on these known alloys and folds (None: it can). It
    joins the two parts' class scores, so the members need a class head, and each fold's
    nested fits need crystal, ribbon and bulk-glass rows (a bulk glass with a Dmax):
    each class in at least 3 folds (both, for 2 folds); pure metals supply crystals."""
    if not md.manifest.classes:
        return "the members have no class head to join (the table holds one class)"
    k = len(np.unique(folds))
    need = min(3, k)
    cls = known["gfa_class"].astype(str).to_numpy()
    has_y = np.isfinite(known[DMAX_COLUMN].to_numpy(dtype=float))
    rows = {"ribbons": cls == "ribbon", "bulk glasses with a Dmax": (cls == "bmg") & has_y}
    if any(len(np.unique(folds[r])) < need for r in rows.values()):
        have = ", ".join(f"{int(r.sum())} {name}" for name, r in rows.items())
        return (f"it needs ribbons and bulk glasses with a Dmax in at least {need} of the "
                f"{k} folds each (pure metals supply the crystals); the table has {have}")
    return None


def stack_frame(full: pd.DataFrame, n_known: int, net: pd.DataFrame, folds: np.ndarray,
                pure: pd.DataFrame, d: np.ndarray, config: PartnerConfig) -> pd.DataFrame:
    """The known alloys and the pure metals after them (``full``, from
    :func:`with_pure_metals`) with the network's and the partner's out-of-fold columns on
    ``folds`` (pure metals spread over the folds, ``scored`` False)."""
    rows = full[["composition", "system", "gfa_class", DMAX_COLUMN]].copy()
    n_pure = len(rows) - n_known
    rows["fold"] = np.r_[folds, np.arange(n_pure) % len(np.unique(folds))]
    rows["scored"] = np.arange(len(rows)) < n_known
    for c in NET_COLUMNS:
        rows[c] = np.r_[net[c].to_numpy(float), pure[c].to_numpy(float)]
    return rows.join(partner_oof(d, rows, rows["fold"].to_numpy(), config))


def side_by_side(frame: pd.DataFrame) -> tuple[dict, pd.DataFrame, dict]:
    """Nested stack predictions and the headline figures of each part (scored rows)."""
    stacked, weights = nested_stack_oof(frame)
    scored = frame["scored"].to_numpy()
    figures = {part: headline(f[scored]) for part, f in part_frames(frame, stacked).items()}
    return figures, stacked, weights


def own_oof(md: ModelDir, known: pd.DataFrame) -> pd.DataFrame | None:
    """The training run's own out-of-fold predictions (``oof_K.parquet`` beside the
    members, the folds it was trained on), in known-alloy order; None when absent."""
    files = sorted(md.path.glob("oof_*.parquet"))
    if not files:
        return None
    oof = pd.concat([pd.read_parquet(f) for f in files]).drop_duplicates("composition")
    if set(oof["composition"]) != set(known["composition"]):
        return None
    return oof.set_index("composition").loc[known["composition"]].reset_index()


def _aligned(df: pd.DataFrame, known: pd.DataFrame, what: str) -> pd.DataFrame:
    if len(df) != len(known) or set(df["composition"]) != set(known["composition"]):
        raise GfaError(f"{what}: its rows are not the model's known alloys; stack a model "
                       "with out-of-fold predictions of its own training table")
    return df.set_index("composition").loc[known["composition"]].reset_index()


def oof_groupings(md: ModelDir, known: pd.DataFrame, lso: str | Path | None,
                  random_oof: str | Path | None) -> dict[str, pd.DataFrame]:
    """Out-of-fold tables to stack on: ``system`` (an LSO run given, else the ones the
    model carries) and ``random`` (a given table, else the training run's own)."""
    from gfascreen.model.evaluation.calibrate import read_lso

    out = {}
    carried = md.lso_oof() if lso is None else read_lso(md, lso)
    if carried is not None:
        out["system"] = _aligned(carried, known, str(lso or "lso_oof.parquet"))
    if random_oof is not None:
        p = Path(random_oof)
        out["random"] = _aligned(pd.read_parquet(p / "oof.parquet" if p.is_dir() else p),
                                 known, str(random_oof))
    elif (own := own_oof(md, known)) is not None:
        out["random"] = own
    if not out:
        raise GfaError(f"{md.path} carries no out-of-fold predictions to stack on: train it "
                       "with `gfascreen train` (its folds) or pass --lso RUN")
    return out


def _relabel(known: pd.DataFrame, elements: list[str], progress
             ) -> tuple[pd.DataFrame, np.ndarray]:
    """Known alloys with pure metals as crystals, and which rows changed (labels only: the
    alloys, their order and the folds stay)."""
    relabelled = pure_metals_as_crystals(known, elements)
    changed = relabelled["gfa_class"].to_numpy() != known["gfa_class"].astype(str).to_numpy()
    if changed.any():
        progress(f"pure metals relabelled crystal: {', '.join(known['composition'][changed])}")
    return relabelled, changed


def stack_model(model: str | Path, random_oof: str | Path | None = None,
                config: PartnerConfig | None = None, progress=print,
                recalibrate: bool = True, frames: str | Path | None = None,
                lso: str | Path | None = None) -> dict:
    """Build, measure and attach the partner and the stack (module docstring). The stack
    is fitted on the leave-system-out predictions when there are any (``lso``: a run
    evaluated with ``--spread-model``; else the carried ones), else on the training run's
    own folds (then nothing is calibrated: ``gfascreen calibrate MODEL --lso RUN``
    re-stacks on unseen systems and calibrates). ``frames``: a directory to keep each
    grouping's out-of-fold frame in (Parquet), for research without retraining."""
    from gfascreen.model.evaluation.calibrate import calibrate_model
    from gfascreen.model.partner import Partner

    t0 = time.time()
    config = config or PartnerConfig()
    md = ModelDir(model)
    known = md.known_alloys()
    if known is None:
        raise GfaError(f"{md.path} carries no known alloys to stack on")
    elements = list(md.manifest.vocabulary["elements"])
    groupings = oof_groupings(md, known, lso, random_oof)
    known, changed = _relabel(known, elements, progress)
    for oof in groupings.values():
        if (why := stack_refusal(md, known, oof["fold"].to_numpy())) is not None:
            raise GfaError(why)
    table = ElementTable.for_partner(elements)
    full = with_pure_metals(known, elements)
    d = DescriptorFeaturizer(table, elements)(table_fractions(full, elements)).numpy()
    pure = pure_metal_network(md, elements).loc[full["composition"].to_numpy()[len(known):]]
    report, frames_ = {}, {}
    for grouping, oof in groupings.items():
        frame = stack_frame(full, len(known), network_oof(oof), oof["fold"].to_numpy(), pure,
                            d, config)
        report[grouping], frames_[grouping] = _measure_grouping(frame, grouping, frames)
        progress(f"{grouping}: {report[grouping]['parts']['stack']} "
                 f"({time.time() - t0:.0f} s)")
    primary = "system" if "system" in groupings else "random"
    frame, stacked = frames_[primary]
    report["fitted_on"] = primary
    partner = Partner(table, elements, fit_boosters(d, full["gfa_class"], full[DMAX_COLUMN],
                                                    config))
    if changed.any():
        from gfascreen.model.known import write_known_alloys

        md.manifest.known_alloys = write_known_alloys(md.path, known, elements)
    lso_table = _lso_relabelled(groupings.get("system"), known, changed)
    _attach(md, partner, fit_stack(frame), lso_table, frame, stacked, report, config)
    if recalibrate and lso_table is not None:
        report["calibration"] = CalibrationReport.from_dict(
            calibrate_model(str(md.path))).without_candidates().to_dict()
    report["wall_s"] = round(time.time() - t0, 1)
    return report


def _measure_grouping(frame: pd.DataFrame, grouping: str, frames: str | Path | None
                      ) -> tuple[dict, tuple[pd.DataFrame, pd.DataFrame]]:
    """One grouping's side-by-side figures and per-fold rank weights, and its frame with
    the stack's nested predictions (kept as ``{grouping}_frame.parquet`` under ``frames``
    when given)."""
    figures, stacked, weights = side_by_side(frame)
    if frames is not None:
        Path(frames).mkdir(parents=True, exist_ok=True)
        frame.join(stacked.add_prefix("stack_")).to_parquet(
            Path(frames) / f"{grouping}_frame.parquet")
    return {"parts": figures, "rank_weight_per_fold": weights}, (frame, stacked)


def _lso_relabelled(lso_table: pd.DataFrame | None, known: pd.DataFrame, changed: np.ndarray
                ) -> pd.DataFrame | None:
    """The carried leave-system-out table with the known alloys' classes as relabelled
    (pure metals crystal: their Dmax 0 mm)."""
    if lso_table is None:
        return None
    return lso_table.assign(gfa_class=known["gfa_class"].to_numpy(),
                            **{DMAX_COLUMN: np.where(changed, 0.0, lso_table[DMAX_COLUMN])})


def _attach(md: ModelDir, partner, stack, lso: pd.DataFrame | None, frame: pd.DataFrame,
            stacked: pd.DataFrame, report: dict, config: PartnerConfig) -> None:
    """Write the partner's files, the stack and (for leave-system-out predictions) the
    stacked out-of-fold table."""
    from dataclasses import asdict

    from gfascreen.tableio import write_parquet_atomic

    files = partner.save(md.path)
    m = md.manifest
    m.partner = PartnerPart(md.entry(files["table"]),
                            {k: md.entry(f) for k, f in files["boosters"].items()},
                            {"features": files["features"], "config": asdict(config),
                             "citations": list(partner.featurizer.citations),
                             "elements": files["elements"]})
    m.stack = stack
    m.extra[STACK_EVALUATION] = StackEvaluation.from_dict(report).to_dict()
    if lso is None:  # fitted on the training folds: nothing leave-system-out to carry
        md.write_manifest(m)
        return
    n = len(lso)
    net = network_oof(lso)
    out = lso.drop(columns=[c for c in lso.columns if c.startswith(("net_", "gb_"))]
                   + ["pred_bmg_mm"], errors="ignore").copy()
    for c in NET_COLUMNS:
        out[f"net_{c}"] = net[c].to_numpy()
        out[c] = stacked[c].to_numpy()[:n]
    out["pred_bmg_mm"] = stacked["pred_bmg_mm"].to_numpy()[:n]
    for c in [c for c in frame.columns if c.startswith("gb_")]:
        out[c] = frame[c].to_numpy()[:n]
    write_parquet_atomic(out, md.path / "lso_oof.parquet")
    m.lso_oof = md.entry("lso_oof.parquet", rows=int(n))
    md.write_manifest(m)
