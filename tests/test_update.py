"""Closing the loop: `train --init MODEL --data few.csv` updates every member on a lab's
few cast alloys, rehearsing on the model's own training alloys."""

import json

import pandas as pd

from gfascreen import cli
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.saved import ModelDir
from gfascreen.model.targets import to_target

CAST = {"La60Co15Al25": 6.0, "La55Co25Al20": 4.0, "La65Co20Al15": 0.0, "La50Co30Al20": 0.1}


def test_a_few_cast_alloys_update_every_member(tiny_ensemble, tmp_path, capsys, monkeypatch):
    import functools

    from gfascreen.model.training import update

    # 2 steps instead of 40: the same code path (learning is tested below).
    monkeypatch.setattr(update, "UpdateConfig", functools.partial(update.UpdateConfig, steps=2))
    csv = tmp_path / "cast.csv"
    csv.write_text("formula,Dmax\n" + "".join(f"{f},{d}\n" for f, d in CAST.items())
                   + "Xx2Al3,1\n")
    out = tmp_path / "updated"
    code = cli.main(["train", "--init", str(tiny_ensemble), "--data", str(csv), "--out",
                     str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "updating every member" in err and "left out" in err
    base, new = Ensemble.load(tiny_ensemble, device="cpu"), Ensemble.load(out, device="cpu")
    assert len(new.members) == len(base.members)
    # The cast alloys join the known alloys (domain, neighbours, overlay); the rest stay.
    known = ModelDir(out).known_alloys()
    assert set(ModelDir(tiny_ensemble).known_alloys()["composition"]) < set(known["composition"])
    assert "Al25Co15La60" in set(known["composition"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["update"]["alloys"] == 4 and "not re-measured" in \
        manifest["update"]["calibration"]
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
