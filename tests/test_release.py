"""``gfascreen release``: the shipped recipe's one owner, the plan, a whole release of tiny
models on the tiny table, and a resumed release that skips what is on disk."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from gfascreen import cli
from gfascreen.errors import GfaError
from gfascreen.model.recipe import TrainConfig, recorded_recipe
from tests.helpers import one_line_error

#: Tiny members: two folds, one epoch of one batch.
TINY = {"folds": 2, "epochs": 1, "max_steps": 1, "batch_size": 8, "min_count": 1,
        "fds": False}


@pytest.fixture
def tiny_recipe(tmp_path):
    p = tmp_path / "recipe.json"
    p.write_text(json.dumps(TINY))
    return p


def test_the_shipped_recipe_is_the_one_its_manifest_records():
    """The shipped members were trained with 10 epochs (before the 800-step budget); the
    release's default recipe is that record, and the card's command says the same."""
    from gfascreen.model.saved import default_model_dir
    from gfascreen.model.training.release import train_flags

    shipped = recorded_recipe("default")
    assert shipped == TrainConfig(epochs=10)
    assert shipped != TrainConfig()  # today's default budget is 800 steps, not the shipped
    assert train_flags(shipped) == "--epochs 10"
    card = (default_model_dir() / "MODEL_CARD.md").read_text()
    assert "`gfascreen train --epochs 10`" in card


def test_a_recipe_file_with_an_unknown_field_is_refused(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"epochs": 2, "epoch": 3}))
    with pytest.raises(GfaError, match="unknown fields"):
        recorded_recipe(p)
    p.write_text(json.dumps({"epochs": 2}))
    assert recorded_recipe(p) == TrainConfig(epochs=2)


def test_plan_lists_every_step_and_its_command_and_runs_nothing(tiny_table, tiny_recipe,
                                                                 tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "m"
    assert cli.main(["release", "--data", str(tiny_table), "--out", str(out), "--runs",
                     str(runs), "--recipe", str(tiny_recipe), "--plan"]) == 0
    text = capsys.readouterr().out
    names = ["train-random", "train-system", "pack", "random-oof", "evaluate-random",
             "evaluate-system", "calibrate", "stack", "bf16-check", "card"]
    lines = [ln for ln in text.splitlines() if ln[:1].isdigit()]
    assert [ln.split()[1] for ln in lines] == names
    assert all("to run" in ln for ln in lines)
    assert f"gfascreen train --data {tiny_table} --out {runs / 'system2'} --no-stack" in text
    assert "--grouping system" in text and "--max-steps 1" in text and "--folds 2" in text
    assert f"gfascreen stack {out} --random-oof {runs / 'm_random2'}" in text
    assert not runs.exists() and not out.exists()
    code = cli.main(["release", "--out", str(out), "--steps", "pack,bogus", "--plan"])
    one_line_error(code, capsys.readouterr().err, "unknown step(s) bogus")


@pytest.mark.slow
def test_release_builds_a_calibrated_stacked_carded_model_and_resumes(tiny_table,
                                                                       tiny_recipe, tmp_path):
    pytest.importorskip("lightgbm")
    pytest.importorskip("matminer")
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.saved import ModelDir
    from gfascreen.model.training.partner import PartnerConfig
    from gfascreen.model.training.release import (
        Release,
        check_run,
        plan,
        run_release,
        steps,
    )

    rel = Release(tiny_table, tmp_path / "m", recorded_recipe(tiny_recipe), tmp_path / "runs",
                  "tiny-release", str(tiny_recipe), PartnerConfig(n_estimators=5))
    said: list[str] = []
    run_release(rel, plan(steps(rel, said.append, bars=False)), said.append)
    m = ModelDir(rel.out).manifest
    assert m.id == "tiny-release" and m.quant != "float32"
    assert set(m.extra["evaluation"]) == {"random", "system"}
    assert "baselines" in m.extra["evaluation"]["random"]
    assert m.extra["stack_evaluation"]["fitted_on"] == "system"
    assert set(m.extra["stack_evaluation"]) >= {"random", "system"}
    assert len(m.extra["training_wall_s"]) == 2 and m.calibration is not None
    assert "net_pred_log" in ModelDir(rel.out).lso_oof().columns
    assert "tiny-release" in (rel.out / "MODEL_CARD.md").read_text()
    bf16 = json.loads(rel.log.read_text())["steps"]["bf16-check"]["summary"]
    assert ("bf16_check" in m.extra) != bf16.startswith("skipped: "), bf16  # native bf16 only
    pred = Ensemble.load(rel.out, device="cpu").predict(["Al25Co20La55"])
    assert np.isfinite(pred[["dmax_mm", "dmax_lo", "dmax_bmg_mm", "p_glass"]].to_numpy()).all()
    log = json.loads(rel.log.read_text())
    assert list(log["steps"]) == [p.step.name for p in plan(steps(rel))]

    # Resumed: everything on disk is skipped, nothing is rewritten.
    stamp = (rel.out / "manifest.json").stat().st_mtime_ns
    again = plan(steps(rel, bars=False))
    assert all(p.done for p in again)
    said.clear()
    assert run_release(rel, again, said.append) == []
    assert all("done, skipped" in s for s in said)
    assert (rel.out / "manifest.json").stat().st_mtime_ns == stamp

    # A step whose result is gone runs again, and so does every step after it.
    (rel.out / "MODEL_CARD.md").unlink()
    assert [p.step.name for p in plan(steps(rel)) if not p.done] == ["card"]
    del log["steps"]["calibrate"]
    rel.log.write_text(json.dumps(log))
    assert [p.step.name for p in plan(steps(rel)) if not p.done] == ["calibrate", "stack",
                                                                      "bf16-check", "card"]
    # Another recipe in the same runs is refused, not resumed with the saved one.
    other = replace(rel, recipe=replace(rel.recipe, lr=0.01))
    with pytest.raises(GfaError, match="other inputs"):
        plan(steps(other))
    with pytest.raises(GfaError, match="another recipe.*lr: 0.001, wanted 0.01"):
        check_run(rel.run_dir("random"), other.config("random"))


def test_the_command_runs_the_chosen_steps_and_a_rerun_skips_them(tiny_table, tiny_recipe,
                                                                  tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "m"
    args = ["release", "--data", str(tiny_table), "--out", str(out), "--runs", str(runs),
            "--recipe", str(tiny_recipe), "--steps", "train-random", "--quiet"]
    assert cli.main(args) == 0
    assert (runs / "random2" / "manifest.json").is_file() and not out.exists()
    assert not (runs / "system2").exists()  # only the chosen step ran
    assert "train-random: random folds: R²" in capsys.readouterr().err
    assert cli.main(args) == 0
    assert "train-random: done, skipped" in capsys.readouterr().err
    assert cli.main(args[:-3] + ["--plan"]) == 0
    text = capsys.readouterr().out
    assert "1. train-random     done, skipped" in text and "2. train-system     to run" in text
