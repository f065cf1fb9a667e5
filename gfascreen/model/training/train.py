"""K-fold training of the OP-image ResNet ensemble (one member per fold).

A run directory holds ``config.json``, ``folds.parquet``, one ``member_K.safetensors``
per finished fold, ``ckpt_K.ckpt`` while a fold trains (tensors only, loaded with
``weights_only=True``), ``oof_K.parquet`` (out-of-fold predictions) and, when every fold
is done, ``oof.parquet``, ``metrics.json`` and the ensemble ``manifest.json``.
``--resume`` continues from the last finished epoch; the result equals an uninterrupted
run because every epoch's shuffling and Mixup draws come from a generator seeded by
(seed, fold, epoch).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from gfascreen.data.labels import CLASSES, DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.featurize import ImageSpec, OPImageFeaturizer, Vocabulary
from gfascreen.featurize.pairs import pair_matrices, parse_pairs
from gfascreen.model.evaluation.metrics import regression_report
from gfascreen.model.known import write_known_alloys
from gfascreen.model.network import NetworkSpec, build_network, forward_batches
from gfascreen.model.parts import sha256_file
from gfascreen.model.precision import autocast, resolve_device
from gfascreen.model.recipe import (
    TrainConfig,
    init_model,
    prepare_table,
    step_budget,
    table_note,
)
from gfascreen.model.saved import (
    Manifest,
    ModelDir,
    library_versions,
    write_manifest,
)
from gfascreen.model.targets import TARGETS, from_target, to_target
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.trainer import Batches, DmaxLoss, EarlyStopping, Optimiser
from gfascreen.tableio import write_parquet_atomic


def specs_for(config: TrainConfig, vocab: Vocabulary) -> tuple[ImageSpec, NetworkSpec]:
    """The image and network a run's configuration describes over ``vocab``."""
    image = ImageSpec(vocab, 1, bool(config.coords),
                      pair_matrices(parse_pairs(config.pairs), vocab.elements))
    network = NetworkSpec(image.in_channels, config.stem, config.class_head, config.fds,
                          CLASSES if config.class_head else None, config.target, config.head,
                          config.backbone)
    return image, network


def check_init_model(config: TrainConfig, base: ModelDir) -> None:
    """A fine-tune must keep the image, target and heads of the model it starts from."""
    have_image, have_net = base.manifest.image_spec, base.manifest.network_spec
    image, net = specs_for(config, have_image.vocabulary)
    wanted = {"--target": (net.target, have_net.target),
              "--stem": (net.stem, have_net.stem),
              "--backbone": (net.name, have_net.name),
              "--head": (net.head, have_net.head),
              "--pairs": (",".join(image.pairs), ",".join(have_image.pairs)),
              "--coords": (image.coords, have_image.coords),
              "--class-head": (net.class_head, have_net.class_head),
              "--fds": (net.fds, have_net.fds)}
    for flag, (got, need) in wanted.items():
        if got != need:
            raise GfaError(f"--init {config.init}: the model was trained with {flag} "
                           f"{need!r}, this run has {got!r}; pass {flag} {need} (a "
                           "fine-tune keeps the model's image, target and heads)")


#: Below this image side, CPU bf16 stays off in training: oneDNN's bf16 backward pass
#: returned NaN gradients for 5- and 8-pixel images (stride-2 convolutions on 1x1 maps;
#: measured), never for 20 or 43.
MIN_SIDE_CPU_BF16 = 16


def _train_autocast(device: torch.device, amp: bool, side: int):
    """Precision of the training forward pass (``--amp``), see :func:`autocast`; on CPU
    only for images of at least ``MIN_SIDE_CPU_BF16`` pixels. On this project's 2-core
    AVX512-BF16 CPU a training step measured 1.4-1.6x faster than fp32, a whole epoch
    (N = 43) ~1.25x (35-38 s vs 44-48 s). Weights, optimiser state and the loss stay fp32.
    On CUDA the training step runs bf16 autocast whatever ``amp`` says (as it always has)."""
    return autocast(device, bf16=device.type == "cuda" or (amp and side >= MIN_SIDE_CPU_BF16))


def _epoch_generator(config: TrainConfig, fold: int, epoch: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(config.seed * 1_000_003 + fold * 1009 + epoch)
    return g


def predict_member(model, feat: OPImageFeaturizer, x: torch.Tensor, batch_size: int = 256
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Transformed-target predictions and class probabilities of one model (numpy)."""
    reg, prob = forward_batches(model, feat, x, batch_size)
    return reg.numpy(), (prob.numpy() if prob is not None else None)


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - p) ** 2).sum()) / ss if ss > 0 else float("nan")


class FoldTrainer:
    """Trains one fold's member with early stopping, checkpointing every epoch (the loop of
    :mod:`.trainer`: :class:`Batches`, :class:`DmaxLoss`, :class:`Optimiser`,
    :class:`EarlyStopping`)."""

    def __init__(self, config: TrainConfig, vocab: Vocabulary, out: Path, fold: int,
                 device: torch.device, progress: bool = True):
        self.c, self.vocab, self.out, self.fold = config, vocab, out, fold
        self.device, self.progress = device, progress
        self.image_spec, self.net_spec = specs_for(config, vocab)
        self.feat = self.image_spec.featurizer(device)
        self.loss = DmaxLoss(self.net_spec.head, config.target, config.class_weight)

    def batches(self, x: torch.Tensor, y: np.ndarray, cls: np.ndarray) -> Batches:
        """Training rows of this run's recipe (its LDS and bulk-glass loss weights)."""
        return Batches.make(self.c, x, y, cls)

    def _setup(self, n_rows: int) -> tuple[torch.nn.Module, Optimiser]:
        c = self.c
        torch.manual_seed(c.seed * 7919 + self.fold)
        base = init_model(c.init)
        model = build_network(self.net_spec, "scratch" if base else c.init)
        if base is not None:  # fine-tune: member k starts from the model's member k
            entry = base.manifest.members[self.fold % len(base.manifest.members)]
            model.load_state_dict(base.member_state(entry))
        model = model.to(self.device)
        model = model.to(memory_format=torch.channels_last)
        _, total, _ = step_budget(c, n_rows)
        optimiser = Optimiser(model.parameters(), c.lr, c.weight_decay, total_steps=total,
                              pct_start=0.15, what=f"fold {self.fold}")
        return model, optimiser

    def _restore(self, ckpt: Path, model, optimiser: Optimiser) -> dict:
        saved = torch.load(ckpt, map_location=self.device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved)
        state = json.loads(saved["state"])
        if state["history"]:
            optimiser.skipped = state["history"][-1].get("skipped_steps", 0)
        return state

    def fit(self, x: torch.Tensor, y: np.ndarray, cls: np.ndarray, x_val: torch.Tensor,
            y_val: np.ndarray, resume: bool) -> tuple[dict, dict]:
        """Train with early stopping on ``(x_val, y_val)``; returns the best weights and
        the training state (epochs, history)."""
        from safetensors.torch import load_file

        c = self.c
        model, optimiser = self._setup(len(x))
        data = self.batches(x, y, cls)
        ckpt = self.out / f"ckpt_{self.fold}.ckpt"
        best_path = self.out / f".best_{self.fold}.safetensors"
        state = {"epoch": 0, "best": -float("inf"), "bad": 0, "history": []}
        if resume and ckpt.exists():
            state = self._restore(ckpt, model, optimiser)
        per_epoch, total, epochs = step_budget(c, len(x))
        bar = tqdm(total=epochs, initial=state["epoch"], desc=f"fold {self.fold}",
                   disable=not self.progress, unit="epoch")
        # Validation about 20 times per budget (every epoch of a large table); early stopping
        # only once the one-cycle schedule has passed its peak and half the budget is spent
        # (validation scores swing in the high-learning-rate phase); patience counts
        # validations.
        every = max(1, epochs // 20)
        stop = EarlyStopping(c.patience, (epochs + 1) // 2, state["best"], state["bad"])
        while state["epoch"] < epochs and not stop.done(state["epoch"]):
            t0 = time.time()
            loss = 0.0
            for _ in range(every if state["epoch"] + every <= epochs else epochs - state["epoch"]):
                epoch = state["epoch"]
                loss = self._epoch(model, optimiser, data, epoch,
                                   min(per_epoch, total - epoch * per_epoch))
                state["epoch"] = epoch + 1
                bar.update(1)
            pv, _ = predict_member(model, self.feat, x_val)
            score = _r2(y_val, pv)
            if stop.record(score, state["epoch"]):
                save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                          str(best_path))
            state["best"], state["bad"] = stop.best, stop.bad
            state["history"].append({"epoch": state["epoch"], "loss": loss,
                                     "val_r2_log": score, "seconds": round(time.time() - t0, 1),
                                     "skipped_steps": optimiser.skipped})
            self._checkpoint(ckpt, model, optimiser, state)
            bar.set_postfix(loss=f"{loss:.4f}", val_r2_log=f"{score:.3f}")
        bar.close()
        if not best_path.exists():  # no validation scored (one value: R² undefined)
            save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                      str(best_path))
        return load_file(str(best_path)), state

    @staticmethod
    def _checkpoint(ckpt: Path, model, optimiser: Optimiser, state: dict) -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), **optimiser.state_dict(),
                    "state": json.dumps(state)}, tmp)
        os.replace(tmp, ckpt)

    def _epoch(self, model, optimiser: Optimiser, data: Batches, epoch: int, n_steps: int
               ) -> float:
        """One pass over the shuffled rows, stopped after ``n_steps`` optimiser steps."""
        c = self.c
        model.train()
        g = _epoch_generator(c, self.fold, epoch)
        perm = torch.randperm(len(data.x), generator=g)
        total, n = 0.0, 0
        for bi, i in enumerate(range(0, len(data.x), c.batch_size)):
            if bi >= n_steps:
                break
            idx = perm[i:i + c.batch_size]
            if len(idx) < 2:
                continue
            b = data.take(idx, self.device)
            img = self.feat.images(b.x)
            lam, j = 1.0, None
            if c.mixup > 0:
                draw = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
                lam = float(np.random.default_rng(draw).beta(c.mixup, c.mixup))
                j = torch.randperm(len(idx), generator=g).to(self.device)
                img = lam * img + (1 - lam) * img[j]
            img = img.contiguous(memory_format=torch.channels_last)
            with _train_autocast(self.device, c.amp, img.shape[-1]):
                out = model(img, b.y if c.fds else None)
            loss = self.loss(out, b, lam, j)
            # A skipped step is fatal once it is no longer rare (1 % of the steps so far).
            optimiser.step(loss, max(3, 0.01 * (epoch + 1) * len(data) / c.batch_size))
            if model.fds is not None:
                model.fds.accumulate(out["features"][b.has_y], b.y[b.has_y])
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        if model.fds is not None:
            model.fds.update()
        return total / max(n, 1)


def _open_run(table_path: Path, out: Path, config: TrainConfig, resume: bool
              ) -> tuple[pd.DataFrame, pd.DataFrame, TrainConfig]:
    """Check the inputs and the run directory (nothing written yet); returns the table,
    the rows that could not be read (a CSV's) and the run's config (the saved one when
    resuming)."""
    if not table_path.is_file():
        raise GfaError(f"training table {table_path} not found; build it with "
                       "`gfascreen data build --out train.parquet`")
    cfg_path = out / "config.json"
    if cfg_path.exists() and not resume:
        raise GfaError(f"{out} already holds a training run; pass --resume to continue it "
                       "or choose another --out")
    if resume and cfg_path.exists():
        saved = json.loads(cfg_path.read_text())
        config = TrainConfig.from_dict({**saved, "only_folds": config.only_folds})
    from gfascreen.data.user_table import read_training_rows  # pymatgen: only when training

    table, rejects = read_training_rows(table_path)
    need = {"composition", "gfa_class", DMAX_COLUMN, "system"}
    if not need <= set(table.columns):
        raise GfaError(f"{table_path} lacks columns {sorted(need - set(table.columns))}")
    return table, rejects, config


def _start_run_dir(table_path: Path, out: Path, table: pd.DataFrame, rejects: pd.DataFrame
                   ) -> Path:
    """Create the run directory; returns the table's Parquet path (a CSV of formulas and
    Dmax is converted into ``out/table.parquet``, its unreadable rows kept beside it)."""
    out.mkdir(parents=True, exist_ok=True)
    if table_path.suffix.lower() not in (".csv", ".txt"):
        return table_path
    write_parquet_atomic(table, out / "table.parquet")
    write_parquet_atomic(rejects, out / "table.rejects.parquet")
    return out / "table.parquet"


def least_rows(config: TrainConfig) -> int:
    """The fewest alloys a K-fold run trains on: each member fits at least 2 of them and
    validates on at least 1."""
    n = config.folds
    while True:
        fit = n - math.ceil(n / config.folds)
        if fit - max(1, int(round(config.val_fraction * fit))) >= 2:
            return n
        n += 1


def check_table(t: pd.DataFrame, n_rows: int, config: TrainConfig) -> None:
    """Refuse, before any training, a table the run cannot train on (one line: the
    problem and the fix)."""
    if config.folds < 2:
        raise GfaError(f"--folds must be at least 2, got {config.folds}")
    least = least_rows(config)
    if config.grouping == "random" and len(t) < least:
        fewer = least_rows(replace(config, folds=2))
        raise GfaError(f"the table has {len(t)} alloy(s) to train on (of {n_rows} rows); "
                       f"--folds {config.folds} needs at least {least} (each member fits on "
                       "2 or more and validates on 1): add alloys"
                       + (f" or lower --folds (2 folds need {fewer})"
                          if config.folds > 2 and len(t) >= fewer else ""))
    if not np.isfinite(t[DMAX_COLUMN].to_numpy(dtype=float)).any():
        raise GfaError("no alloy of the table has a Dmax, and the members regress it: give "
                       "a Dmax column in mm (a crystal 0, a ribbon 0.1, a bulk glass its "
                       "thickness) or a class column of crystal / ribbon / bmg")


def check_folds(t: pd.DataFrame, folds: np.ndarray, config: TrainConfig) -> None:
    """Each member validates on alloys with a Dmax from its training part: refuse folds
    whose training part has none."""
    has_y = np.isfinite(t[DMAX_COLUMN].to_numpy(dtype=float))
    empty = [k for k in range(config.folds) if not has_y[folds != k].any()]
    if empty:
        raise GfaError(f"the training part of fold {empty[0]} holds no alloy with a Dmax "
                       f"(the table has {int(has_y.sum())}): add Dmax values or lower --folds")


def _split_fold(folds: np.ndarray, y: np.ndarray, k: int, config: TrainConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit, inner-validation and test indices of fold ``k`` (validation: a seeded share
    of the training part's rows with a Dmax; never the test fold)."""
    train_idx = np.flatnonzero(folds != k)
    test_idx = np.flatnonzero(folds == k)
    rng = np.random.default_rng(config.seed + k)
    reg_train = train_idx[np.isfinite(y[train_idx])]
    n_val = max(1, int(round(config.val_fraction * len(reg_train))))
    val_idx = rng.choice(reg_train, size=n_val, replace=False)
    return np.setdiff1d(train_idx, val_idx), val_idx, test_idx


def oof_table(t: pd.DataFrame, idx: np.ndarray, k: int | np.ndarray, reg: np.ndarray,
              prob: np.ndarray | None, target: str = "log1p") -> pd.DataFrame:
    """The one out-of-fold table: predictions ``reg`` (in ``target``) and class
    probabilities of the rows ``idx`` of table ``t``, made by the member that did not train
    on fold ``k`` (one fold, or one per row); ``pred_log`` is log10(1 + Dmax/mm) whatever
    the training target."""
    mm = from_target(reg, target)
    oof = pd.DataFrame({
        "composition": t["composition"].to_numpy()[idx],
        "system": t["system"].to_numpy()[idx],
        "fold": k,
        "gfa_class": t["gfa_class"].astype(str).to_numpy()[idx],
        DMAX_COLUMN: t[DMAX_COLUMN].to_numpy()[idx],
        "pred_log": reg if target == "log1p" else to_target(mm),
        "pred_mm": mm,
    })
    if prob is not None:
        for i, c in enumerate(CLASSES):
            oof[f"p_{c}"] = prob[:, i]
        oof["pred_class"] = [CLASSES[i] for i in prob.argmax(1)]
    return oof


@dataclass(frozen=True)
class RunData:
    """What every fold of a run trains on: the prepared table, its vocabulary, each row's
    fold, and the rows as fractions, training targets and class indices."""

    table: pd.DataFrame
    vocab: Vocabulary
    folds: np.ndarray
    x: torch.Tensor
    y: np.ndarray
    cls: np.ndarray

    @classmethod
    def of(cls, t: pd.DataFrame, vocab: Vocabulary, folds: np.ndarray, target: str
           ) -> RunData:
        return cls(t, vocab, folds, *table_tensors(t, vocab, target))


def table_tensors(t: pd.DataFrame, vocab: Vocabulary, target: str
                  ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A training table's rows as fractions over ``vocab``, ``target`` values and class
    indices (what :meth:`FoldTrainer.batches` takes)."""
    return (OPImageFeaturizer(vocab).from_table(t),
            to_target(t[DMAX_COLUMN].to_numpy(dtype=float), target),
            t["gfa_class"].astype(str).map({c: i for i, c in enumerate(CLASSES)}).to_numpy())


def _train_fold(k: int, data: RunData, out: Path, config: TrainConfig, device: torch.device,
                resume: bool, progress: bool) -> None:
    """Train fold ``k``'s member, write its out-of-fold predictions, weights and log."""
    t0 = time.time()
    t, vocab, x, y, cls = data.table, data.vocab, data.x, data.y, data.cls
    fit_idx, val_idx, test_idx = _split_fold(data.folds, y, k, config)
    trainer = FoldTrainer(config, vocab, out, k, device, progress)
    best, state = trainer.fit(x[fit_idx], y[fit_idx], cls[fit_idx], x[val_idx], y[val_idx],
                              resume)
    model = trainer.net_spec.build().to(device)
    model.load_state_dict(best)
    model = model.to(memory_format=torch.channels_last)
    reg, prob = predict_member(model, trainer.feat, x[test_idx])
    write_parquet_atomic(oof_table(t, test_idx, k, reg, prob, config.target),
                         out / f"oof_{k}.parquet")
    member = out / f"member_{k}.safetensors"
    tmp = member.with_name(f".{member.name}.tmp")
    save_file({k2: v.contiguous() for k2, v in best.items()}, str(tmp),
              metadata={"fold": str(k), "epochs": str(state["epoch"])})
    os.replace(tmp, member)
    info = {"fold": k, "wall_s": round(time.time() - t0, 1), "device": str(device),
            "history": state["history"], "best_val_r2_log": state["best"],
            "n_fit": int(len(fit_idx)), "n_val": int(len(val_idx)), "n_test": int(len(test_idx))}
    (out / f"member_{k}.json").write_text(json.dumps(info, indent=2))
    (out / f"ckpt_{k}.ckpt").unlink(missing_ok=True)
    (out / f".best_{k}.safetensors").unlink(missing_ok=True)


def write_model(out: Path, config: TrainConfig, vocab: Vocabulary, table_path: Path,
                t: pd.DataFrame, metrics: dict) -> Manifest:
    """Turn a finished run directory into a model directory: the known training alloys
    and the typed manifest (what :class:`~gfascreen.model.ensemble.Ensemble` loads)."""
    members = sorted(out.glob("member_*.safetensors"), key=lambda p: int(p.stem.split("_")[1]))
    manifest = Manifest.from_specs(
        *specs_for(config, vocab),
        id=out.resolve().name,
        members=[{"file": p.name, "fold": int(p.stem.split("_")[1]), "sha256": sha256_file(p)}
                 for p in members],
        config=asdict(config),
        folds={"k": config.folds, "grouping": config.grouping, "seed": config.seed},
        data={"table": table_path.name, "sha256": sha256_file(table_path), "rows": len(t)},
        metrics=metrics,
        versions=library_versions(),
        known_alloys=write_known_alloys(out, t, list(vocab.elements)),
    )
    write_manifest(out, manifest)
    return manifest


def _report_rows(table: pd.DataFrame, rejects: pd.DataFrame, t: pd.DataFrame, vocab,
                 config: TrainConfig, notes) -> pd.DataFrame:
    """Say what becomes of every row: the unreadable ones, those left out of the
    vocabulary (with the option that keeps them), a sample's size; returns the rows left
    out (each with its reason)."""
    from gfascreen.model.recipe import left_out, left_out_note

    for _, r in rejects.head(10).iterrows():
        notes(f"row {r['row']} ({r['raw_formula']!r}) left out: {r['reason']}")
    if len(rejects) > 10:
        notes(f"... and {len(rejects) - 10} more rows that could not be read")
    left = left_out(table, vocab, config)
    if (line := left_out_note(left, len(table), config)) is not None:
        notes(line)
    if config.max_rows is not None and len(table) - len(left) > len(t):
        notes(f"note: --max-rows {config.max_rows}: a random {len(t)} of "
              f"{len(table) - len(left)} alloys (without --max-rows: all of them)")
    unread = pd.DataFrame({"composition": rejects["raw_formula"], "elements": "",
                           "reason": [f"row {r}: {why}" for r, why in
                                      zip(rejects["row"], rejects["reason"], strict=True)],
                           "keep": "correct the row in the file"})
    return pd.concat([unread, left], ignore_index=True)


def _class_head(config: TrainConfig, t: pd.DataFrame, notes) -> TrainConfig:
    """The run's config, its class head off for a table of one class (a note says so)."""
    classes = sorted(t["gfa_class"].astype(str).unique())
    if config.class_head and len(classes) < 2 and init_model(config.init) is None:
        notes(f"note: every alloy is of class {classes[0]}: the members get no class head "
              "(nothing to classify), so no stack either (it joins class scores)")
        return replace(config, class_head=False)
    return config


def train_cv(table_path: str | os.PathLike, out: str | os.PathLike, config: TrainConfig,
             resume: bool = False, progress: bool = True, notes=lambda line: None
             ) -> dict | None:
    """Train (or resume) a K-fold ensemble into ``out``; returns metrics when complete.
    ``notes``: called with each line the user should read (rows left out and why, a small
    table); a table the run cannot train on is refused before anything is written."""
    out, table_path = Path(out), Path(table_path)
    if config.target not in TARGETS:
        raise GfaError(f"--target {config.target!r}: choose {' or '.join(TARGETS)}")
    parse_pairs(config.pairs)
    base = init_model(config.init)
    if base is not None:
        check_init_model(config, base)
    table, rejects, config = _open_run(table_path, out, config, resume)
    device = resolve_device(config.device)
    t, vocab = prepare_table(table, config)
    left = _report_rows(table, rejects, t, vocab, config, notes)
    check_table(t, len(table) + len(rejects), config)
    if (line := table_note(config, len(t))) is not None:
        notes(line)
    config = _class_head(config, t, notes)
    folds = assign_folds(t, config.folds, config.grouping, config.seed)
    check_folds(t, folds, config)
    table_path = _start_run_dir(table_path, out, table, rejects)
    if len(left):
        left.to_csv(out / "left_out.csv", index=False)
        notes(f"each row left out is listed with its reason in {out / 'left_out.csv'}")
    if not (out / "config.json").exists():
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
        write_parquet_atomic(pd.DataFrame({"composition": t["composition"], "fold": folds}),
                             out / "folds.parquet")
        (out / "vocabulary.json").write_text(json.dumps(vocab.to_dict(), indent=2))
    data = RunData.of(t, vocab, folds, config.target)
    todo = config.only_folds if config.only_folds is not None else range(config.folds)
    for k in todo:
        if not (out / f"member_{k}.safetensors").exists():
            _train_fold(k, data, out, config, device, resume, progress)
    if any(not (out / f"member_{k}.safetensors").exists() for k in range(config.folds)):
        return None
    oof = pd.concat([pd.read_parquet(out / f"oof_{k}.parquet") for k in range(config.folds)])
    oof = oof.sort_values("composition").reset_index(drop=True)
    write_parquet_atomic(oof, out / "oof.parquet")
    metrics = regression_report(oof)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_model(out, config, vocab, table_path, t, metrics)
    return metrics
