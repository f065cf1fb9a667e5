"""The training recipe: what defines a run, its step budget and the table a run trains on
(no torch import, so the command line can show its options at once).

Shared by training (which runs a recipe) and evaluation (which reads the recipe a run or a
model recorded); it sits above both, so evaluation never imports training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from gfascreen.model.backbone import DEFAULT_BACKBONE


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    The budget is ``steps`` optimiser steps per member (one-cycle schedule: warm-up over
    the first 15 %, cosine decay to the end), whatever the table's size: 800 steps are
    ~10 epochs of the full table and ~90 epochs of a few hundred alloys. ``epochs`` > 0
    sets the budget in epochs instead.

    These defaults are the recipe for a new table. The shipped members were trained before
    the step budget existed, with ``epochs=10`` and every other field at today's default
    (``gfascreen train --epochs 10``: 79 steps an epoch of the full table, 790 in all,
    validated every epoch); their manifest records it, and that record is the shipped
    recipe's one owner (:func:`recorded_recipe`, what ``gfascreen release`` trains with by
    default). The 800-step budget has not been measured against it on every fold
    (docs/research-log.md, "Bulk-glass thickness")."""

    folds: int = 5
    grouping: str = "random"
    steps: int = 800
    epochs: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lds: bool = False
    fds: bool = False
    mixup: float = 0.0
    class_head: bool = True
    class_weight: float = 0.2
    bmg_weight: float = 1.0
    head: str = "direct"
    patience: int = 3
    val_fraction: float = 0.1
    min_count: int = 20
    order: str = "z"
    seed: int = 0
    init: str = "scratch"
    max_rows: int | None = None
    max_steps: int | None = None
    coords: bool = False
    amp: bool = False
    target: str = "floor"
    stem: str = "resnet"
    backbone: str = DEFAULT_BACKBONE
    pairs: str = ""
    only_folds: list[int] | None = field(default=None)
    device: str = "auto"

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config a run or model recorded (``config.json``, ``manifest.config``):
        fields it lacks take their defaults, keys this version does not know are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def recorded_recipe(source: str | Path = "default") -> TrainConfig:
    """The recipe a model or a run recorded: ``default`` (the shipped model's manifest) or
    another model directory (its manifest's config), a run directory (``config.json``) or
    a JSON file of :class:`TrainConfig` fields (refused when it names a field that does not
    exist, so a misspelt option is not silently dropped)."""
    import json

    from gfascreen.errors import GfaError

    p = Path(source)
    if source != "default" and (p.is_file() or (p / "config.json").is_file()) \
            and not (p / "manifest.json").is_file():
        f = p if p.is_file() else p / "config.json"
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GfaError(f"recipe {f} is not valid JSON ({exc})") from None
        unknown = sorted(set(d) - {x.name for x in fields(TrainConfig)}) \
            if isinstance(d, dict) else ["(not an object)"]
        if unknown:
            raise GfaError(f"recipe {f}: not a TrainConfig (unknown fields {unknown})")
        return TrainConfig.from_dict(d)
    from gfascreen.model.saved import ModelDir

    return TrainConfig.from_dict(ModelDir(source).manifest.config)


def step_budget(config: TrainConfig, n_rows: int) -> tuple[int, int, int]:
    """Optimiser steps per epoch, total steps and epochs for ``n_rows`` training rows."""
    per_epoch = max(1, int(math.ceil(n_rows / config.batch_size)))
    if config.max_steps is not None:
        per_epoch = min(per_epoch, config.max_steps)
    total = config.epochs * per_epoch if config.epochs > 0 else max(1, config.steps)
    return per_epoch, total, int(math.ceil(total / per_epoch))


#: Up to this many alloys, ``train --init MODEL`` updates the model on all of them
#: (:mod:`gfascreen.model.training.update`); above it, it fine-tunes K-fold members with
#: out-of-fold predictions as usual.
UPDATE_MAX_ROWS = 50
#: Fewer training rows per member than this get a note: the class balance, the spread of
#: the inner validation split and the epoch count all change character below it.
SMALL_TABLE_ROWS = 2000


def table_note(config: TrainConfig, n_rows: int) -> str | None:
    """A note for the user when a table is small enough to change how training behaves
    (None otherwise)."""
    n_fit = int(n_rows * (config.folds - 1) / config.folds * (1 - config.val_fraction))
    if n_fit >= SMALL_TABLE_ROWS:
        return None
    per_epoch, total, epochs = step_budget(config, n_fit)
    return (f"note: a small table ({n_rows} alloys, ~{n_fit} training rows per member): "
            f"{total} optimiser steps = {epochs} epochs of {per_epoch} steps, early stopping "
            f"on {max(1, round(config.val_fraction * n_fit))} validation alloys; compare with "
            "`gfascreen evaluate RUN` (baselines on the same folds) before trusting it")



def init_model(init: str):
    """The saved model (a :class:`~gfascreen.model.saved.ModelDir`) a run fine-tunes from
    (``--init default`` or ``--init MODEL_DIR``), or None when ``init`` is scratch,
    imagenet or a trunk weights file."""
    if init == "default" or Path(init).is_dir():
        from gfascreen.model.saved import ModelDir

        return ModelDir(init)
    return None


def prepare_table(table, config: TrainConfig):
    """``(rows, vocabulary)``: the in-domain rows of ``table`` (every element in the
    vocabulary) and the vocabulary itself: the table's elements found in at least
    ``min_count`` alloys, or, when fine-tuning a saved model (``--init``), that model's
    vocabulary."""
    import pandas as pd

    from gfascreen.featurize import Vocabulary
    from gfascreen.tableio import table_elements

    base = init_model(config.init)
    vocab = (base.manifest.image_spec.vocabulary if base is not None
             else Vocabulary.from_table(table, config.min_count, config.order))
    els = table_elements(table)
    outside = [e for e in els if e not in vocab.elements]
    keep = (table[outside] <= 0).all(axis=1) if outside else pd.Series(True, index=table.index)
    t = table[keep].reset_index(drop=True)
    if config.max_rows is not None and len(t) > config.max_rows:
        t = t.sample(config.max_rows, random_state=config.seed).sort_values("composition")
        t = t.reset_index(drop=True)
    return t, vocab


def left_out(table, vocab, config: TrainConfig):
    """The rows of ``table`` that :func:`prepare_table` leaves out (an element outside
    ``vocab``), one per row: ``composition``, ``elements`` (those outside), ``reason`` and
    ``keep`` (the option that keeps the row)."""
    import pandas as pd

    from gfascreen.tableio import table_elements

    els = table_elements(table)
    outside = [e for e in els if e not in vocab.elements]
    cols = ["composition", "elements", "reason", "keep"]
    if not outside:
        return pd.DataFrame(columns=cols)
    counts = (table[els] > 0).sum()
    held = table[outside] > 0
    rows = held.any(axis=1).to_numpy()
    rare = [[e for e in outside if h[e]] for _, h in held[rows].iterrows()]
    if init_model(config.init) is not None:
        reason = [f"holds {' '.join(r)}, outside the vocabulary of --init {config.init}"
                  for r in rare]
        keep = ["train from scratch (no --init): the vocabulary is then the table's"] * len(rare)
    else:
        reason = [f"holds {' '.join(f'{e} (in {counts[e]} alloys)' for e in r)}, found in "
                  f"fewer than --min-count {config.min_count} alloys" for r in rare]
        keep = [f"--min-count {min(counts[e] for e in r)}" for r in rare]
    return pd.DataFrame({"composition": table["composition"].to_numpy()[rows],
                         "elements": [" ".join(r) for r in rare], "reason": reason,
                         "keep": keep}, columns=cols)


def left_out_note(left, n_rows: int, config: TrainConfig) -> str | None:
    """One line for the rows :func:`left_out` lists (None when there are none): how many,
    the elements that cost the most rows, and the option that keeps them all."""
    if not len(left):
        return None
    per = left["elements"].str.split().explode().value_counts()
    top = ", ".join(f"{e} {n}" for e, n in per.head(8).items()) + (" ..." if len(per) > 8 else "")
    if init_model(config.init) is not None:
        why = f"an element outside the vocabulary of --init {config.init}"
        keep = left["keep"].iloc[0]
    else:
        least = min(int(k.split()[-1]) for k in left["keep"])
        why = f"an element found in fewer than --min-count {config.min_count} alloys"
        keep = f"--min-count {least} keeps them all"
    return (f"note: {len(left)} of {n_rows} alloys left out: each holds {why} (rows per "
            f"element: {top}); {keep}")


__all__ = ["SMALL_TABLE_ROWS", "UPDATE_MAX_ROWS", "TrainConfig", "init_model", "left_out",
           "left_out_note", "prepare_table", "recorded_recipe", "step_budget", "table_note"]
