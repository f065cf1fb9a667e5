"""Typed image and network specs: a saved model is rebuilt from them alone, a manifest whose
specs disagree with its members is refused, and the mixture head reads as it says."""

import json
import shutil

import numpy as np
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize import ImageSpec, Vocabulary
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.network import NetworkSpec
from gfascreen.model.recipe import TrainConfig
from gfascreen.model.saved import ModelDir
from gfascreen.model.targets import to_target
from gfascreen.model.training.train import FoldTrainer, check_init_model, train_cv

ALLOYS = ["Al25Co20La55", "Cu50Zr50"]


def test_featurizer_and_network_built_from_the_specs_alone(tiny_ensemble):
    md = ModelDir(tiny_ensemble)
    feat = md.manifest.image_spec.featurizer()
    net = md.manifest.network_spec.build()
    net.load_state_dict(md.member_state(md.manifest.members[0]))  # strict: every tensor fits
    with torch.inference_mode():
        reg = net.eval()(feat(ALLOYS))["reg"]
    ens = Ensemble.load(tiny_ensemble, device="cpu")
    member_reg, _ = ens.member_outputs(ens.featurizer.fractions(ALLOYS))
    torch.testing.assert_close(reg, member_reg[0])
    assert net.trunk.conv1.in_channels == md.manifest.image_spec.in_channels == \
        feat.out_channels


def _edit_manifest(src, dst, edit) -> None:
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    edit(m)
    (dst / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["image"].update(coords=True), "does not fit"),
    (lambda m: m["architecture"].update(stem="no-maxpool", class_head=False), "does not fit"),
    (lambda m: m["architecture"].update(head="attention"), "head 'attention'"),
    (lambda m: m["image"].update(size=7), "image size 7"),
    (lambda m: m.update(target="sqrt(dmax)"), "unknown target"),
])
def test_a_manifest_whose_specs_disagree_is_refused(tiny_ensemble, tmp_path, edit, match):
    bad = tmp_path / "bad"
    _edit_manifest(tiny_ensemble, bad, edit)
    with pytest.raises(GfaError, match=match):
        Ensemble.load(bad, device="cpu")


def test_image_spec_round_trips_through_the_manifest():
    vocab = Vocabulary.from_elements(["Zr", "Cu", "Al"])
    spec = ImageSpec(vocab, coords=True, pairs={"hmix": np.eye(3).tolist()})
    assert ImageSpec.from_manifest(*spec.to_manifest()) == spec
    assert spec.in_channels == 4 == spec.featurizer().out_channels
    with pytest.raises(GfaError, match="not 3x3"):
        ImageSpec(vocab, pairs={"hmix": [[0.0]]})


def test_mixture_head_is_the_class_weighted_dmax():
    spec = NetworkSpec(1, head="mixture")
    net = spec.build().eval()
    with torch.inference_mode():
        out = net(torch.rand(4, 1, 9, 9))
    p = torch.softmax(out["logits"], 1)
    mean_mm = p[:, 2] * 10.0 ** out["bmg_log"] + p[:, 1] * 0.1
    torch.testing.assert_close(out["reg"], to_target(mean_mm, "floor"))
    with pytest.raises(GfaError, match="mixture head needs the class head"):
        NetworkSpec(1, class_head=False, classes=None, head="mixture")


def test_mixture_model_trains_saves_and_guards_its_fine_tunes(tiny_table, tmp_path):
    cfg = TrainConfig(folds=2, epochs=1, max_steps=1, batch_size=16, min_count=1,
                      head="mixture")
    train_cv(tiny_table, tmp_path / "mix", cfg, progress=False)
    ens = Ensemble.load(tmp_path / "mix", device="cpu")
    assert ens.manifest.network_spec.head == "mixture"
    res = ens.predict(ALLOYS)
    assert np.isfinite(res["dmax_mm"]).all() and (res["dmax_mm"] >= 0).all()
    with pytest.raises(GfaError, match="--head"):
        check_init_model(TrainConfig(init=str(tmp_path / "mix")), ModelDir(tmp_path / "mix"))


def test_bulk_glasses_weighted_up_in_the_loss(tmp_path):
    vocab = Vocabulary.from_elements(["Zr", "Cu", "Al"])
    trainer = FoldTrainer(TrainConfig(bmg_weight=4.0), vocab, tmp_path, 0,
                          torch.device("cpu"), progress=False)
    b = trainer.batches(torch.rand(3, 3), np.array([-2.0, -1.0, 0.5]), np.array([0, 1, 2]))
    assert b.w.tolist() == [1.0, 1.0, 4.0]


@pytest.mark.parametrize("name, width", [("resnet18", 512), ("resnet34", 512),
                                         ("resnet50", 2048)])
def test_backbone_builder_names_width_and_layer_groups(name, width):
    from gfascreen.model.backbone import LAYER_GROUPS, build_trunk

    trunk = build_trunk(name, in_channels=2)
    assert trunk.width == width and list(trunk.groups) == list(LAYER_GROUPS)
    params = [n for n, _ in trunk.module.named_parameters()]
    for prefixes in trunk.groups.values():  # every group names real parameters
        assert any(n.startswith(prefixes) for n in params)
    with torch.inference_mode():
        assert trunk.module.eval()(torch.rand(1, 2, 20, 20)).shape == (1, width)
    with pytest.raises(GfaError, match="resnet18, resnet34, resnet50"):
        NetworkSpec(1, name="vgg16")


def test_a_resnet18_model_trains_saves_loads_and_predicts(tiny_table, tmp_path):
    """``train --backbone resnet18``: two steps, saved, loaded from its manifest alone."""
    from gfascreen import cli

    out = tmp_path / "r18"
    cli.main(["train", "--data", str(tiny_table), "--out", str(out), "--backbone", "resnet18",
              "--folds", "2", "--steps", "2", "--batch-size", "16", "--min-count", "1",
              "--quiet"])
    md = ModelDir(out)
    assert md.manifest.architecture["name"] == "resnet18"
    assert md.manifest.config["backbone"] == "resnet18"
    ens = Ensemble.load(out, device="cpu")
    assert ens.manifest.network_spec.name == "resnet18"
    assert ens.members[0].reg.in_features == 512
    res = ens.predict(ALLOYS)
    assert np.isfinite(res["dmax_mm"]).all() and (res["dmax_mm"] >= 0).all()
    with pytest.raises(GfaError, match="--backbone"):
        check_init_model(TrainConfig(init=str(out)), md)
