"""Closing the loop: update a saved model with a few alloys a lab has cast.

An update covers every part of the model, and the manifest's ``update`` record says what
became of each:

- **known alloys**: the cast alloys join them (a cast composition already known takes the
  new measurement), so the applicability domain, the neighbours' spread in the intervals
  and the reports' overlay see them;
- **casts** (:mod:`gfascreen.model.casts`): what moves the predictions by default. The cast
  alloys (with the base's earlier casts) and the uncorrected model's distributions at them
  are stored; at prediction time a Gaussian process on their residuals moves the
  thickness, and their outcomes the class masses, near them and nowhere else. Chosen by the
  loop simulation on the leave-system-out folds (``scripts/loop_simulation.py``, nested:
  at k = 5 random casts of an unseen system the rest's mean |error| of log10(1 + Dmax/mm)
  fell 0.182 -> 0.131 with the within-system Spearman up 0.444 -> 0.492). Seconds;
- **descriptor partner**: carried, or (``UpdateConfig.partner``, ``--refit-partner``) its
  three boosters refitted on the merged known alloys (pure metals added as crystals, as
  ``gfascreen stack`` fits it), with the settings and element table the base's partner
  was fitted with (on 11 cast alloys their error fell 64 % by the refit alone; 1.5-9 min
  on a shared 2-core CPU; not measured in the loop simulation: a refit per simulated
  system is hours here). The casts' correction is then fitted on the refitted model;
- **members**: carried unchanged by default; with ``UpdateConfig.members``
  (``--fine-tune-members``) every member is fine-tuned on all the new alloys at once (too
  few for folds), each step pairing them with a fresh sample of the base's known alloys
  (rehearsal), so the network moves towards the new measurements without forgetting the
  rest. Only the last stage of the trunk and the heads learn (:data:`TRAINABLE`); the
  earlier stages and every batch-norm statistic stay frozen (with the refit the cast
  alloys' error fell 85 %; 5-30 min on that CPU). A model without a calibration always
  fine-tunes its members (the casts' correction reads the calibrated distribution: nothing
  else could move);
- **stack, calibration, leave-system-out predictions**: carried unchanged and marked so;
  they were fitted on the base model's out-of-fold predictions, which a handful of alloys
  cannot re-measure.

The model is written into a hidden sibling of ``out`` and renamed into place only once it
loads and predicts (:func:`verify_updated`): a failed update leaves no folder behind.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.backbone import prefixes
from gfascreen.model.known import KNOWN_ALLOYS, known_alloys_table
from gfascreen.model.network import OPResNet
from gfascreen.model.parts import CastsEntry, FileEntry, MemberEntry, PartnerPart, sha256_file
from gfascreen.model.recipe import UPDATE_MAX_ROWS, TrainConfig, left_out, prepare_table
from gfascreen.model.saved import (
    Manifest,
    ModelDir,
    write_manifest,
)
from gfascreen.model.training.train import FoldTrainer, table_tensors
from gfascreen.model.training.trainer import Batches, Optimiser
from gfascreen.tableio import write_parquet_atomic

#: Parameters an update trains (name prefixes): the trunk's last stage and the heads.
#: Manifest key of the update record (what the update did, and the previous one's).
UPDATE = "update"
TRAINABLE = (*prefixes("stage4"), "reg.", "cls.")
#: What the update record says of the parts it carries unchanged.
CARRIED = {
    "stack": "carried: fitted on the base model's out-of-fold predictions",
    "calibration": "carried: the base model's, not re-measured after the update",
    "lso_oof": "carried: the base model's leave-system-out predictions (its known alloys)",
    "figures": "carried: metrics, evaluations and the model card are the base model's",
}


@dataclass
class UpdateConfig:
    """How a model is updated. ``partner``: refit the descriptor partner on the known and
    cast alloys. ``members``: fine-tune the members too (always, for a model without a
    calibration): ``steps`` AdamW steps at learning rate ``lr``, each on
    all new alloys plus ``replay`` rehearsal alloys, the two halves of the loss weighted
    equally. Adam moves every weight by about ``lr`` per step, so the Dmax head's weights
    (the backbone's feature width: 2,048 for ResNet50) move its output by up to ~2,048 x lr
    x the mean feature (~0.5) per step: at 1e-5 that is ~0.01 in log10 Dmax, ~0.4 over 40
    steps at most."""

    steps: int = 40
    lr: float = 1e-5
    replay: int = 32
    seed: int = 0
    members: bool = False
    partner: bool = False


def batches(trainer: FoldTrainer, table: pd.DataFrame, target: str) -> Batches:
    """A table's alloys as training tensors (fractions, target, weights, classes)."""
    return trainer.batches(*table_tensors(table, trainer.vocab, target))


def _freeze_batch_norm(model: OPResNet) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def update_member(trainer: FoldTrainer, model: OPResNet, new: Batches, replay: Batches,
                  config: UpdateConfig) -> OPResNet:
    """Fine-tune ``model`` in place on ``new`` with rehearsal on ``replay`` (the run's
    loss and the one :class:`~gfascreen.model.training.trainer.Optimiser`, at a constant
    ``lr``); returns it."""
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith(TRAINABLE))
    opt = Optimiser([p for p in model.parameters() if p.requires_grad], config.lr,
                      trainer.c.weight_decay, what="update")
    g = torch.Generator().manual_seed(config.seed)
    _freeze_batch_norm(model)
    dev = trainer.device
    k = len(new.x)
    new = new.take(torch.arange(k), dev)
    for _ in range(config.steps):
        rehearse = replay.take(torch.randint(len(replay.x), (config.replay,), generator=g), dev)
        b = new.cat(rehearse)
        out = model(trainer.feat.images(b.x).contiguous(memory_format=torch.channels_last))
        # The two halves of the loss, each the training loss of its own rows.
        loss = (trainer.loss({n: v[:k] for n, v in out.items()}, new)
                + trainer.loss({n: v[k:] for n, v in out.items()}, rehearse))
        opt.step(loss)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


# -- the parts -----------------------------------------------------------------------------
def fine_tune_members(base: ModelDir, t: pd.DataFrame, known: pd.DataFrame, out: Path,
                      config: UpdateConfig, device: str) -> list[MemberEntry]:
    """Every member of ``base`` fine-tuned on the new alloys ``t`` (rehearsing on
    ``known``), written float32 into ``out``; returns the manifest's member entries."""
    m = base.manifest
    tcfg = TrainConfig.from_dict(m.config)
    trainer = FoldTrainer(tcfg, m.image_spec.vocabulary, out, 0, torch.device(device),
                          progress=False)
    new, replay = batches(trainer, t, tcfg.target), batches(trainer, known, tcfg.target)
    members = []
    for j, entry in enumerate(m.members):
        model = m.network_spec.build()
        model.load_state_dict(base.member_state(entry))
        model = model.to(device).to(memory_format=torch.channels_last)
        update_member(trainer, model, new, replay, replace(config, seed=config.seed + j))
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                  str(out / entry.file))
        members.append(replace(entry, sha256=sha256_file(out / entry.file)))
    return members


def carry_files(base: ModelDir, out: Path, entries) -> None:
    """Copy the listed files of ``base`` into ``out``, each verified first."""
    for entry in entries:
        if entry is not None:
            shutil.copy2(base.verified(entry), out / entry.file)


def refit_partner(base: ModelDir, known: pd.DataFrame, out: Path) -> PartnerPart:
    """The base's descriptor partner refitted on ``known`` (its settings and element
    table), written into ``out``; returns its manifest entry."""
    from gfascreen.featurize.descriptors import ElementTable
    from gfascreen.model.training.partner import PartnerConfig, fit_partner

    part = base.manifest.partner
    elements = list(base.manifest.vocabulary["elements"])
    table = ElementTable.load(base.verified(part.table))
    partner = fit_partner(known, elements, PartnerConfig(**part.config), table)
    files = partner.save(out)
    return part.with_files(out, files["table"], files["boosters"], features=files["features"])


def merged_known(known: pd.DataFrame, t: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """The base's known alloys with the new alloys ``t`` added (a composition already
    known takes the new row)."""
    new = known_alloys_table(t, elements)
    return pd.concat([known[~known["composition"].isin(new["composition"])], new],
                     ignore_index=True).fillna({e: 0.0 for e in elements})


# -- the update ---------------------------------------------------------------------------
def new_alloys(base: ModelDir, table: pd.DataFrame, progress=lambda message: None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(new alloys within the model's vocabulary, the base's known alloys)``; each alloy
    left out is said (``progress``) with its reason."""
    config = TrainConfig(init=str(base.path))
    t, vocab = prepare_table(table, config)
    for _, r in left_out(table, vocab, config).iterrows():
        progress(f"{r['composition']} left out: it {r['reason']}")
    if t.empty:
        raise GfaError("none of the new alloys uses only elements the model knows "
                       f"({', '.join(vocab.elements)})")
    known = base.known_alloys()
    if known is None:
        raise GfaError(f"{base.path} carries no known alloys to update")
    return t, known


def staging_dir(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write the model into (``out`` must not exist
    or be empty; its parent must exist)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GfaError(f"--out {out} is not empty; choose another --out")
    if not out.parent.is_dir():
        raise GfaError(f"--out {out}: folder {out.parent} does not exist")
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def update_model(base_dir: str, table: pd.DataFrame, out: str | Path,
                 config: UpdateConfig | None = None, device: str = "cpu",
                 progress=lambda message: None) -> dict:
    """Write ``out``: the base model updated on ``table``'s alloys (a training table:
    composition, at.% columns, gfa_class, dmax_mm, system), every part updated or carried
    (module docstring). Returns the ``update`` record plus ``moved``: the before/after
    table of :func:`~gfascreen.model.evaluation.moved.moved_table`."""
    config = config or UpdateConfig()
    base, out = ModelDir(base_dir), Path(out)
    tmp = staging_dir(out)
    try:
        t, known = new_alloys(base, table, progress)
        record = _write_updated(base, tmp, t, known, config, device, progress)
        progress("loading the updated model and predicting the cast alloys (verification)")
        moved = verify_updated(base, tmp, t)
        write_update_note(tmp, record, moved)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**record, "moved": moved}


def _members(base: ModelDir, out: Path, t: pd.DataFrame, known: pd.DataFrame,
             config: UpdateConfig, device: str, progress) -> tuple[list[dict], str, dict]:
    """The members fine-tuned (asked for, or a model without a partner) or carried:
    their manifest entries, their storage (``quant``) and the update record's fields."""
    m = base.manifest
    if not (config.members or m.calibration is None):
        carry_files(base, out, m.members)
        return m.members, m.quant, {
            "members": "carried unchanged (--fine-tune-members fine-tunes them)"}
    progress(f"fine-tuning {len(m.members)} members on {len(t)} alloys "
             f"({config.steps} steps each)")
    t0 = time.time()
    members = fine_tune_members(base, t, known, out, config, device)
    return members, "float32", {
        "members": f"fine-tuned: {config.steps} steps at lr {config.lr:g}, "
                   f"{config.replay} rehearsal alloys a step",
        "steps": config.steps, "lr": config.lr, "replay": config.replay,
        "seconds": {"members": round(time.time() - t0, 1)}}


def _carried(m: Manifest) -> dict:
    """The update record's lines for the parts carried unchanged (those the base has)."""
    have = {"stack": m.stack is not None, "calibration": m.calibration is not None,
            "lso_oof": m.lso_oof is not None, "figures": True}
    return {k: text if have[k] else "none: the base model has none"
            for k, text in CARRIED.items()}


def _partner(base: ModelDir, out: Path, merged: pd.DataFrame, config: UpdateConfig,
             record: dict, progress) -> PartnerPart | None:
    """The descriptor partner refitted (asked for) or carried: its manifest entry (None:
    the base has none); the update record says which."""
    entry = base.manifest.partner
    if entry is None:
        return None
    if not config.partner:
        carry_files(base, out, entry.files)
        record["partner"] = "carried unchanged (--refit-partner refits it)"
        return entry
    progress(f"refitting the descriptor partner on {len(merged)} alloys")
    t0 = time.time()
    entry = refit_partner(base, merged, out)
    record["seconds"]["partner"] = round(time.time() - t0, 1)
    record["partner"] = f"refitted on {len(merged)} known alloys and the pure metals"
    return entry


def _write_updated(base: ModelDir, out: Path, t: pd.DataFrame, known: pd.DataFrame,
                   config: UpdateConfig, device: str, progress) -> dict:
    """Every part of the updated model written into ``out``; returns the update record."""
    m = base.manifest
    merged = merged_known(known, t, list(m.vocabulary["elements"]))
    members, quant, record = _members(base, out, t, known, config, device, progress)
    record = {"base": m.id, "alloys": int(len(t)), **_carried(m), "seconds": {}, **record}
    new = replace(m, id=f"{m.id}+update", members=members, quant=quant,
                  extra=copy.deepcopy(m.extra))
    new.casts = None
    partner = _partner(base, out, merged, config, record, progress)
    if partner is not None:
        new.partner = partner
    if quant != m.quant:  # the packing's check no longer describes these members
        new.extra.pop("quantization_check", None)
    write_parquet_atomic(merged, out / KNOWN_ALLOYS)
    carry_files(base, out, (m.calibration, m.lso_oof))
    if (base.path / "CALIBRATION.md").is_file():
        shutil.copy2(base.path / "CALIBRATION.md", out / "CALIBRATION.md")
    record["known_alloys"] = f"merged: {len(known)} known, {len(t)} cast, {len(merged)} in all"
    progress("carried unchanged: " + ", ".join(
        k for k, v in record.items() if isinstance(v, str) and v.startswith("carried")))
    if UPDATE in m.extra:
        record["previous"] = m.extra[UPDATE]
    new.known_alloys = FileEntry.of(out, KNOWN_ALLOYS, rows=int(len(merged)))
    write_manifest(out, new)
    if m.calibration is not None:
        new.casts = write_casts(base, out, t)
        record["casts"] = (f"{new.casts.info['alloys']} cast alloys correct the distribution "
                           "near them (gfascreen.model.casts)")
    new.extra[UPDATE] = record
    write_manifest(out, new)
    return record


def cast_table(base: ModelDir, t: pd.DataFrame) -> pd.DataFrame:
    """The casts: the base's earlier ones (if any) with the new alloys ``t`` (a composition
    cast again takes the new row); class under the castable rule."""
    from gfascreen.data.labels import castable_class

    new = t[["composition", "gfa_class", DMAX_COLUMN]].copy()
    new["gfa_class"] = castable_class(new["gfa_class"], new[DMAX_COLUMN])
    entry = base.manifest.casts
    if entry is None:
        return new.reset_index(drop=True)
    old = pd.read_parquet(base.verified(entry))[["composition", "gfa_class", DMAX_COLUMN]]
    return pd.concat([old[~old["composition"].isin(new["composition"])], new],
                     ignore_index=True)


def write_casts(base: ModelDir, out: Path, t: pd.DataFrame) -> CastsEntry:
    """The casts' part of the model in ``out`` (whose manifest has no casts yet): the cast
    alloys with the model's uncorrected distributions at them; its manifest entry."""
    from gfascreen.model.casts import CastCorrection
    from gfascreen.model.ensemble import Ensemble

    casts = cast_table(base, t)
    ens = Ensemble.load(out, device="cpu")
    p = ens.predict(casts["composition"].tolist(), strict=True)
    casts = casts.assign(before_mu_log=p[pc.BMG_LOC_LOG].to_numpy(float),
                         before_p_glass=p[pc.P_GLASS].to_numpy(float),
                         before_p_bmg=p[pc.P_BMG].to_numpy(float))
    return CastsEntry.write(CastCorrection().fit_table(casts, ens.featurizer), out)


def verify_updated(base: ModelDir, out: Path, t: pd.DataFrame) -> pd.DataFrame:
    """Load the updated model as any model is loaded (every checksum, every part) and
    predict with it beside the base: the before/after table; refused (GfaError) when a
    cast alloy's prediction is not finite."""
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.evaluation.moved import moved_table

    before = Ensemble.load(base.path, device="cpu")
    after = Ensemble.load(out, device="cpu")
    moved = moved_table(before, after, t)
    cast = moved[moved["role"] == "cast"]
    if not cast["after_mm"].notna().all():
        raise GfaError("the updated model predicts no finite Dmax for "
                       f"{', '.join(cast.loc[cast['after_mm'].isna(), 'alloy'])}; nothing "
                       "was written")
    return moved


def write_update_note(out: Path, record: dict, moved: pd.DataFrame) -> None:
    """``UPDATE.md``: what became of each part, and the before/after table."""
    from gfascreen.model.evaluation.moved import moved_text

    parts = [f"- {k}: {record[k]}" for k in ("casts", "members", "partner", "known_alloys",
                                             "stack",
                                             "calibration", "lso_oof", "figures")
             if k in record]
    (out / "UPDATE.md").write_text(
        f"# Update of {record['base']} on {record['alloys']} alloys\n\n"
        + "\n".join(parts) + "\n\n" + moved_text(moved) + "\n")


__all__ = ["UPDATE_MAX_ROWS", "UpdateConfig", "update_member", "update_model"]
