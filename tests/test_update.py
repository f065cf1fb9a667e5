"""Closing the loop: `train --init MODEL --data few.csv` updates a model on a lab's few
cast alloys: the casts correct the distribution near them, the descriptor partner refitted
and the members fine-tuned when asked (the members always without a calibration), the
rest carried; the result loads and predicts, a second update keeps the first's casts, and
a failed update leaves nothing behind."""

import json

import numpy as np
import pandas as pd
import pytest

from gfascreen import cli
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.saved import ModelDir
from gfascreen.model.targets import to_target
from tests.helpers import error_after_progress

CAST = {"La60Co15Al25": 6.0, "La55Co25Al20": 4.0, "La65Co20Al15": 0.0, "La50Co30Al20": 0.1}


@pytest.mark.slow
def test_a_few_cast_alloys_update_every_member(tiny_ensemble, tmp_path, capsys, monkeypatch):
    import functools

    from gfascreen.model.training import update

    # 2 steps instead of 40: the same code path (learning is tested below).
    monkeypatch.setattr(update, "UpdateConfig", functools.partial(update.UpdateConfig, steps=2))
    csv = tmp_path / "cast.csv"
    csv.write_text("formula,Dmax\n" + "".join(f"{f},{d}\n" for f, d in CAST.items())
                   + "Xx2Al3,1\nLa50Ni10Al40,2\n")
    out = tmp_path / "updated"
    code = cli.main(["train", "--init", str(tiny_ensemble), "--data", str(csv), "--out",
                     str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "fine-tuning 2 members" in err and "left out" in err  # no partner: the members
    assert "Al40La50Ni10 left out: it holds Ni, outside the vocabulary of --init" in err
    base, new = Ensemble.load(tiny_ensemble, device="cpu"), Ensemble.load(out, device="cpu")
    assert len(new.members) == len(base.members)
    # The cast alloys join the known alloys (domain, neighbours, overlay); the rest stay.
    known = ModelDir(out).known_alloys()
    assert set(ModelDir(tiny_ensemble).known_alloys()["composition"]) < set(known["composition"])
    assert "Al25Co15La60" in set(known["composition"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["update"]["alloys"] == 4 and manifest["update"]["members"].startswith(
        "fine-tuned") and manifest["update"]["calibration"].startswith("none")
    assert isinstance(known, pd.DataFrame)


def test_an_update_moves_a_member_towards_the_cast_alloys(tiny_ensemble, tmp_path):
    import torch

    from gfascreen.data.user_table import table_from_csv
    from gfascreen.model.recipe import TrainConfig
    from gfascreen.model.training.train import FoldTrainer, predict_member
    from gfascreen.model.training.update import UpdateConfig, batches, update_member

    md = ModelDir(tiny_ensemble)
    csv = tmp_path / "cast.csv"
    csv.write_text("formula,Dmax\n" + "".join(f"{f},{d}\n" for f, d in CAST.items()))
    table, _ = table_from_csv(csv)
    cfg = TrainConfig.from_dict(md.manifest.config)
    trainer = FoldTrainer(cfg, md.manifest.image_spec.vocabulary, tmp_path, 0,
                          torch.device("cpu"), progress=False)
    model = md.manifest.network_spec.build()
    model.load_state_dict(md.member_state(md.manifest.members[0]))
    new = batches(trainer, table, cfg.target)
    x = new.x
    before, _ = predict_member(model, trainer.feat, x)
    # Rehearsing on the cast alloys themselves: nothing pulls elsewhere (a two-step tiny
    # model predicts nearly one value, so only that value can move, towards their mean).
    update_member(trainer, model, new, new, UpdateConfig(steps=8, replay=4))
    after, _ = predict_member(model, trainer.feat, x)
    y = to_target(table["dmax_mm"].to_numpy(dtype=float), cfg.target)
    assert ((after - y) ** 2).mean() < ((before - y) ** 2).mean()


def _cast_csv(path):
    path.write_text("formula,Dmax\n" + "".join(f"{f},{d}\n" for f, d in CAST.items()))
    return path


def test_an_update_of_a_model_with_a_partner_and_a_stack_loads_and_predicts(
        calibrated_stacked_model, tmp_path, capsys):
    """``--refit-partner`` on a model like the shipped one (members, partner, stack, known
    alloys, calibration): the partner refitted, members and stack carried, the casts'
    correction fitted on the refitted model; the result loads (every checksum) and
    predicts with its stack; the table says what moved."""
    base = calibrated_stacked_model
    out = tmp_path / "mine"
    code = cli.main(["train", "--init", str(base), "--data", str(_cast_csv(tmp_path / "c.csv")),
                     "--out", str(out), "--quiet", "--refit-partner"])
    std = capsys.readouterr()
    assert code == 0, std.err
    assert "| Al25Co15La60 | cast | 6.00 |" in std.out and "reference" in std.out
    assert "refitting the descriptor partner" in std.err
    ens = Ensemble.load(out, device="cpu")
    assert ens.stack is not None and ens.partner is not None
    pred = ens.predict(list(CAST) + ["Cu50Zr50"])
    assert np.isfinite(pred["dmax_mm"]).all() and pred["measured_dmax_mm"].notna().sum() == 4
    old, new = ModelDir(base).manifest, ModelDir(out).manifest
    assert new.extra["stack"] == old.extra["stack"]
    assert new.extra["partner"]["boosters"] != old.extra["partner"]["boosters"]
    assert new.extra["partner"]["config"] == old.extra["partner"]["config"]
    rec = new.extra["update"]
    assert rec["partner"].startswith("refitted") and rec["stack"].startswith("carried")
    assert rec["lso_oof"].startswith("carried") and rec["members"].startswith("carried")
    assert rec["casts"].startswith("4 cast alloys")
    assert "| alloy | role |" in (out / "UPDATE.md").read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_an_update_corrects_the_distribution_near_the_casts_and_nowhere_else(
        calibrated_stacked_model, tmp_path, capsys):
    """The README's update command on a calibrated model with a partner and a stack: the
    casts are stored with the model's readings at them, every other part carried; the
    casts' predictions move towards what was measured, another system's do not move, the
    columns still read as one distribution; a second update keeps the first's casts."""
    from gfascreen.model.casts import CASTS_FILE

    base = calibrated_stacked_model
    out = tmp_path / "mine"
    code = cli.main(["train", "--init", str(base), "--data", str(_cast_csv(tmp_path / "c.csv")),
                     "--out", str(out), "--quiet"])
    std = capsys.readouterr()
    assert code == 0, std.err
    old, new = ModelDir(base).manifest, ModelDir(out).manifest
    for part in ("partner", "stack"):
        assert new.extra[part] == old.extra[part]
    assert new.members == old.members and new.calibration == old.calibration
    rec = new.extra["update"]
    assert rec["casts"].startswith("4 cast alloys") and rec["partner"].startswith("carried")
    assert new.extra["casts"]["alloys"] == 4 and (out / CASTS_FILE).is_file()
    before, after = Ensemble.load(base, device="cpu"), Ensemble.load(out, device="cpu")
    far = ["Cu50Zr50", "Cu46Zr46Al8"]
    p0, p1 = before.predict(list(CAST) + far), after.predict(list(CAST) + far)
    y = to_target(np.array(list(CAST.values())))
    bulk = np.array(list(CAST.values())) >= 1
    n = len(CAST)
    err0 = np.abs(to_target(p0["dmax_bmg_mm"][:n].to_numpy()) - y)[bulk]
    err1 = np.abs(to_target(p1["dmax_bmg_mm"][:n].to_numpy()) - y)[bulk]
    assert err1.mean() < 0.5 * err0.mean()
    np.testing.assert_allclose(p1["dmax_mm"][n:], p0["dmax_mm"][n:], rtol=1e-9)
    assert (p1["p_bmg"] <= p1["p_glass"] + 1e-12).all()
    np.testing.assert_allclose(p1["p_bmg"], p1["p_dmax_ge_1"], atol=1e-12)
    assert (p1["dmax_lo"] <= p1["dmax_hi"]).all()
    # A second casting session: the first's casts stay, a re-cast alloy takes the new value.
    again = tmp_path / "again.csv"
    again.write_text("formula,Dmax\nLa60Co15Al25,2\nLa45Co35Al20,3\n")
    out2 = tmp_path / "mine2"
    assert cli.main(["train", "--init", str(out), "--data", str(again), "--out", str(out2),
                     "--quiet"]) == 0
    casts = pd.read_parquet(out2 / CASTS_FILE).set_index("composition")
    assert len(casts) == 5 and casts.loc["Al25Co15La60", "dmax_mm"] == 2.0
    assert ModelDir(out2).manifest.extra["update"]["previous"]["alloys"] == 4


def test_a_failed_update_leaves_no_folder(calibrated_stacked_model, tmp_path, capsys,
                                          monkeypatch):
    from gfascreen.errors import GfaError
    from gfascreen.model.training import update

    def broken(*a, **k):
        raise GfaError("the partner could not be refitted")

    monkeypatch.setattr(update, "refit_partner", broken)
    out = tmp_path / "mine"
    argv = ["train", "--init", str(calibrated_stacked_model), "--data",
            str(_cast_csv(tmp_path / "c.csv")), "--out", str(out), "--quiet",
            "--refit-partner"]
    error_after_progress(cli.main(argv), capsys.readouterr().err,
                         "the partner could not be refitted")
    assert list(tmp_path.iterdir()) == [tmp_path / "c.csv"]  # no out, no hidden sibling
    monkeypatch.undo()
    out.mkdir()
    (out / "x").write_text("")
    with pytest.raises(GfaError, match="not empty"):
        update.update_model(str(calibrated_stacked_model), pd.DataFrame(), out)
