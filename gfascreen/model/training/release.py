"""``gfascreen release``: build a shippable model from a training table, step by step.

The steps, each the function of one ``gfascreen`` command (``gfascreen release --plan``
prints them with those commands):

1. ``train-random``: the members, one per random fold (``gfascreen train``, resumable);
2. ``train-system``: the same recipe on leave-system-out folds (the calibration's data);
3. ``pack``: the members packed into the model directory (``gfascreen pack``);
4. ``random-oof``: the packed members' own random-fold out-of-fold predictions
   (:mod:`.random_oof`; no other command makes them);
5. ``evaluate-random`` and 6. ``evaluate-system``: metrics and baselines on the identical
   folds, recorded in the model (``gfascreen evaluate RUN --into MODEL``; the second with
   the model's spread, for the calibration measurements);
7. ``calibrate``: the leave-system-out predictions attached and a calibration fitted on them
   (``gfascreen calibrate MODEL --lso RUN``);
8. ``stack``: the descriptor partner and the stack fitted on those predictions, beside the
   random-fold ones, then recalibrated (``gfascreen stack MODEL --random-oof RUN``);
9. ``bf16-check``: bf16 against fp32 on the model's alloys, recorded for ``--precision
   auto`` (``gfascreen bf16-check MODEL --write``); skipped with a note on a machine without
   native bf16;
10. ``card``: ``MODEL_CARD.md`` (``gfascreen card MODEL``).

This is the order the shipped model was made in (v2 calibrated, then stacked into v3).
Re-running skips every step whose result is on disk (a finished training run, or a step
recorded in ``RUNS/release.json``); once one step runs, every later one runs again.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gfascreen.errors import GfaError, Interrupted
from gfascreen.model.recipe import TrainConfig

if TYPE_CHECKING:
    from gfascreen.model.training.partner import PartnerConfig

#: Recipe fields a resumed training run may differ in (where it runs, which folds now;
#: the class head switches itself off on a one-class table).
_NOT_COMPARED = ("only_folds", "device", "class_head")


@dataclass(frozen=True)
class Release:
    """What a release builds: the model directory ``out`` from the training table
    ``data``, with ``recipe`` on random folds and again on leave-system-out folds; the
    training runs, the out-of-fold tables and the release log live under ``runs``."""

    data: Path
    out: Path
    recipe: TrainConfig
    runs: Path = Path("runs")
    model_id: str | None = None
    #: Where ``recipe`` came from (``--recipe``), for the commands the plan prints.
    recipe_source: str = "default"
    #: The descriptor partner's boosters (None: :class:`PartnerConfig`'s defaults, the
    #: shipped model's).
    partner: PartnerConfig | None = None

    def config(self, grouping: str) -> TrainConfig:
        """The recipe of the ``random`` or the ``system`` training run."""
        return replace(self.recipe, grouping=grouping, only_folds=None)

    def run_dir(self, grouping: str) -> Path:
        return self.runs / f"{grouping}{self.recipe.folds}"

    @property
    def random_oof(self) -> Path:
        """Where the packed members' random-fold predictions go (``runs/default_random5``
        for the shipped model)."""
        return self.runs / f"{self.out.name}_random{self.recipe.folds}"

    @property
    def log(self) -> Path:
        return self.runs / "release.json"

    def inputs(self) -> dict:
        """What the log is kept for: another release into the same ``runs`` is refused."""
        return {"data": str(self.data), "out": str(self.out), "id": self.model_id,
                "recipe": asdict(self.config("random")),
                "partner": None if self.partner is None else asdict(self.partner)}

    def command(self, only: str | None = None) -> str:
        """The ``gfascreen release`` command of this release (``--steps only``)."""
        rehearsal = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                             (("max_rows", self.recipe.max_rows),
                              ("max_steps", self.recipe.max_steps)) if v is not None)
        return " ".join(x for x in [
            f"gfascreen release --data {_q(self.data)} --out {_q(self.out)} --runs "
            f"{_q(self.runs)} --recipe {_q(self.recipe_source)}",
            f"--id {_q(self.model_id)}" if self.model_id else "", rehearsal,
            f"--steps {only}" if only else ""] if x)


@dataclass(frozen=True)
class Step:
    """One step of a release: its name, what it does, the ``gfascreen`` command it equals,
    where its result lies, how to tell it is there and how to make it (``action`` returns
    a one-line summary)."""

    name: str
    what: str
    command: str
    output: Path
    finished: Callable[[], bool]
    action: Callable[[], str]


@dataclass(frozen=True)
class PlannedStep:
    """A step and whether this release would skip it (its result on disk)."""

    step: Step
    done: bool


def _q(p: Path | str) -> str:
    return shlex.quote(str(p))


def train_flags(config: TrainConfig) -> str:
    """The ``gfascreen train`` options of ``config`` (those that differ from the defaults,
    and the rehearsal limits ``--max-rows`` / ``--max-steps``)."""
    from gfascreen.model.evaluation.card import recipe_flags

    flags = recipe_flags(asdict(config))
    out = [] if flags == "(the defaults)" else [flags]
    out += [f"--max-rows {config.max_rows}"] if config.max_rows is not None else []
    out += [f"--max-steps {config.max_steps}"] if config.max_steps is not None else []
    return " ".join(out)


def read_log(rel: Release) -> dict:
    """The steps a release in ``rel.runs`` finished (name -> record); refuses a log of a
    release with other inputs."""
    if not rel.log.is_file():
        return {}
    log = json.loads(rel.log.read_text())
    if log.get("inputs") != rel.inputs():
        raise GfaError(f"{rel.runs} holds a release of other inputs ({rel.log}: "
                       f"{log.get('inputs')}); choose another --runs")
    return log.get("steps", {})


def _record(rel: Release, name: str, summary: str, wall_s: float) -> None:
    steps = {**read_log(rel), name: {"summary": summary, "wall_s": round(wall_s, 1),
                                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    rel.runs.mkdir(parents=True, exist_ok=True)
    tmp = rel.log.with_suffix(".tmp")
    tmp.write_text(json.dumps({"inputs": rel.inputs(), "steps": steps}, indent=2))
    tmp.replace(rel.log)


def _logged(rel: Release, name: str, output: Path) -> Callable[[], bool]:
    return lambda: name in read_log(rel) and output.exists()


def check_run(run: Path, config: TrainConfig) -> None:
    """A training run already in ``run`` must have the release's recipe (a resume keeps
    the saved one, so another recipe would pass silently)."""
    if not (run / "config.json").is_file():
        return
    saved = asdict(TrainConfig.from_dict(json.loads((run / "config.json").read_text())))
    want = asdict(config)
    diff = [f.name for f in fields(TrainConfig)
            if f.name not in _NOT_COMPARED and saved[f.name] != want[f.name]]
    if diff:
        raise GfaError(f"{run} holds a run of another recipe ("
                       + ", ".join(f"{k}: {saved[k]!r}, wanted {want[k]!r}" for k in diff)
                       + "); choose another --runs")


def _train(rel: Release, grouping: str, bars: bool) -> str:
    from gfascreen.model.training.train import train_cv

    run, cfg = rel.run_dir(grouping), rel.config(grouping)
    check_run(run, cfg)
    m = train_cv(rel.data, run, cfg, resume=True, progress=bars)
    if m is None:  # every fold is trained unless only_folds is set, which a release is not
        raise GfaError(f"{run}: training did not finish every fold")
    return f"{grouping} folds: R² {m['all']['r2_mm']:.3f} mm, Spearman {m['all']['spearman']:.3f}"


def _pack(rel: Release) -> str:
    from gfascreen.model.training.pack import pack_ensemble

    if (rel.out / "manifest.json").is_file() and "pack" not in read_log(rel):
        raise GfaError(f"{rel.out} already holds a model this release did not pack; choose "
                       "another --out")
    q = pack_ensemble(rel.run_dir("random"), rel.out, model_id=rel.model_id or rel.out.name)
    return (f"packed: largest difference {q['max_abs_diff_log10_1p_dmax']:.4f} in "
            f"log10(1+Dmax) over {q['compositions']} alloys")


def _random_oof(rel: Release) -> str:
    from gfascreen.model.training.random_oof import random_oof_run

    return f"written: {random_oof_run(rel.out, rel.data, rel.random_oof) / 'oof.parquet'}"


def _evaluate(rel: Release, run: Path, spread: bool) -> str:
    from gfascreen.model.evaluation.card import record_evaluation
    from gfascreen.model.evaluation.evaluate import evaluate_run

    rep = evaluate_run(run, data=rel.data, spread_model=str(rel.out) if spread else None)
    grouping = record_evaluation(rel.out, run, rep)
    a = rep["model"]["all"]
    return f"{grouping}: R² {a['r2_mm']:.3f} mm, Spearman {a['spearman']:.3f} (recorded)"


def _calibrate(rel: Release) -> str:
    from gfascreen.model.evaluation.calibrate import calibrate_model

    return f"chosen: {calibrate_model(str(rel.out), str(rel.run_dir('system')))['chosen']}"


def _stack(rel: Release, progress: Callable[[str], None]) -> str:
    from gfascreen.model.training.attach_stack import stack_model

    rep = stack_model(rel.out, rel.random_oof, config=rel.partner, progress=progress)
    return f"stack on unseen systems: {rep['system']['parts']['stack']}"


def _bf16_check(rel: Release) -> str:
    from gfascreen.model.training.bf16_check import release_step

    return release_step(str(rel.out))


def _card(rel: Release) -> str:
    from gfascreen.model.evaluation.card import write_model_card

    return f"written: {write_model_card(rel.out)}"


def steps(rel: Release, progress: Callable[[str], None] = print, bars: bool = True
          ) -> list[Step]:
    """The release's steps in order (module docstring)."""
    d, o, r, s, oof = _q(rel.data), _q(rel.out), rel.run_dir("random"), \
        rel.run_dir("system"), rel.random_oof

    def train(g: str, run: Path, what: str) -> Step:
        flags = train_flags(rel.config(g))
        return Step(f"train-{g}", what, f"gfascreen train --data {d} --out {_q(run)} "
                    f"--no-stack{' ' + flags if flags else ''} --resume", run / "manifest.json",
                    (run / "manifest.json").is_file, lambda: _train(rel, g, bars))

    def logged(name: str, what: str, command: str, output: Path, action) -> Step:
        return Step(name, what, command, output, _logged(rel, name, output), action)

    return [
        train("random", r, "the members, one per random fold"),
        train("system", s, "the same recipe on leave-system-out folds"),
        logged("pack", "pack the members into the model", f"gfascreen pack {_q(r)} --out {o} "
               f"--id {_q(rel.model_id or rel.out.name)}", rel.out / "manifest.json",
               lambda: _pack(rel)),
        logged("random-oof", "the packed members' random-fold out-of-fold predictions",
               rel.command("random-oof"),
               oof / "oof.parquet", lambda: _random_oof(rel)),
        logged("evaluate-random", "random folds: metrics, baselines on identical folds",
               f"gfascreen evaluate {_q(oof)} --data {d} --into {o}", oof / "evaluation.json",
               lambda: _evaluate(rel, oof, spread=False)),
        logged("evaluate-system", "unseen systems: metrics, baselines, calibration measured",
               f"gfascreen evaluate {_q(s)} --data {d} --spread-model {o} --into {o}",
               s / "oof_calibration.parquet", lambda: _evaluate(rel, s, spread=True)),
        logged("calibrate", "attach the leave-system-out predictions, calibrate on them",
               f"gfascreen calibrate {o} --lso {_q(s)}", rel.out / "lso_oof.parquet",
               lambda: _calibrate(rel)),
        logged("stack", "descriptor partner and stack on them, recalibrated",
               f"gfascreen stack {o} --random-oof {_q(oof)}", rel.out / "partner_classes.txt",
               lambda: _stack(rel, progress)),
        logged("bf16-check", "bf16 against fp32, recorded for --precision auto (where this "
               "machine has native bf16)", f"gfascreen bf16-check {o} --write",
               rel.out / "manifest.json", lambda: _bf16_check(rel)),
        logged("card", "the model card", f"gfascreen card {o}", rel.out / "MODEL_CARD.md",
               lambda: _card(rel)),
    ]


def plan(all_steps: list[Step], only: list[str] | None = None) -> list[PlannedStep]:
    """The steps to consider (``only``: a subset, kept in release order) and whether each
    is skipped: its result is on disk and no step before it runs."""
    unknown = sorted(set(only or ()) - {s.name for s in all_steps})
    if unknown:
        raise GfaError(f"--steps: unknown step(s) {', '.join(unknown)}; choose from "
                       f"{', '.join(s.name for s in all_steps)}")
    out, rerun = [], False
    for s in all_steps:
        if only is not None and s.name not in only:
            continue
        done = not rerun and s.finished()
        rerun = rerun or not done
        out.append(PlannedStep(s, done))
    return out


def plan_text(planned: list[PlannedStep]) -> str:
    """The plan as the terminal shows it: each step, skipped or to run, and its command."""
    width = max(len(p.step.name) for p in planned)
    lines = []
    for i, p in enumerate(planned, 1):
        state = "done, skipped" if p.done else "to run"
        lines += [f"{i}. {p.step.name:<{width}}  {state}: {p.step.what}",
                  f"   = {p.step.command}"]
    return "\n".join(lines)


def run_release(rel: Release, planned: list[PlannedStep],
                progress: Callable[[str], None] = print) -> list[str]:
    """Run the steps of ``rel``'s plan that are not done, in order, recording each in its
    log; returns their summaries. Ctrl-C keeps every finished step (and a training run's
    finished epochs): the same command goes on."""
    summaries = []
    for i, p in enumerate(planned, 1):
        if p.done:
            progress(f"[{i}/{len(planned)}] {p.step.name}: done, skipped")
            continue
        progress(f"[{i}/{len(planned)}] {p.step.name}: {p.step.what} ...")
        t0 = time.time()
        try:
            summary = p.step.action()
        except KeyboardInterrupt:
            raise Interrupted(f"\nrelease interrupted in {p.step.name}; finished steps are "
                              "kept: run the same command again to go on") from None
        _record(rel, p.step.name, summary, time.time() - t0)
        progress(f"[{i}/{len(planned)}] {p.step.name}: {summary} ({time.time() - t0:.0f} s)")
        summaries.append(summary)
    return summaries


__all__ = ["PlannedStep", "Release", "Step", "check_run", "plan", "plan_text",
           "read_log", "run_release", "steps", "train_flags"]
