import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.network import NetworkSpec, build_network
from gfascreen.model.saved import PACKED
from gfascreen.model.smoothing import FDS, TargetBins, lds_weights
from gfascreen.model.targets import from_target, to_target
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.train import TrainConfig, train_cv
from tests.conftest import make_table
from tests.helpers import one_line_error


def test_target_roundtrip():
    d = np.array([0, 0.1, 1, 10, 72.0])
    np.testing.assert_allclose(from_target(to_target(d)), d, atol=1e-9)
    assert to_target(np.array([0.0]))[0] == 0
    for f in (to_target, from_target):  # an unknown kind is an error, not the floor target
        with pytest.raises(ValueError, match="unknown target kind 'sqrt'"):
            f(d, "sqrt")


def test_network_shapes():
    m = build_network(NetworkSpec(3, fds=True)).eval()
    out = m(torch.rand(2, 3, 20, 20))
    assert out["reg"].shape == (2,) and out["logits"].shape == (2, 3)
    assert out["features"].shape == (2, 2048)


def test_imagenet_init_without_weights_is_clear(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*a, **k):
        raise OSError("offline")

    import torchvision

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(GfaError, match="ImageNet weights"):
        build_network(NetworkSpec(1), init="imagenet")


def test_lds_weights_upweight_rare_targets():
    y = np.r_[np.zeros(200), np.full(5, 1.5)]
    w = lds_weights(y, TargetBins())
    assert w[-1] > w[0] and w.mean() == pytest.approx(1.0)


def test_fds_calibrates_only_in_training_and_known_labels():
    fds = FDS(4, TargetBins(n_bins=4), kernel_size=3)
    f = torch.randn(64, 4) * 3 + 1
    y = torch.rand(64) * 2
    fds.accumulate(f, y)
    fds.update()
    fds.update()
    fds.train()
    y2 = y.clone()
    y2[0] = float("nan")
    out = fds(f, y2)
    assert torch.equal(out[0], f[0])
    fds.eval()
    assert torch.equal(fds(f, y), f)


def test_folds_random_and_system():
    t = make_table(80)
    r = assign_folds(t, 4, "random")
    assert set(r) == {0, 1, 2, 3}
    s = assign_folds(t, 3, "system")
    for _, g in pd.DataFrame({"sys": t["system"], "f": s}).groupby("sys"):
        assert g["f"].nunique() == 1
    with pytest.raises(GfaError):
        assign_folds(pd.concat([t, t.head(1)]), 3)


def test_tiny_training_end_to_end(tiny_ensemble, tiny_table):
    run = tiny_ensemble
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["members"]) == 2
    oof = pd.read_parquet(run / "oof.parquet")
    assert oof["composition"].is_unique
    assert set(oof["fold"]) == {0, 1}
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"r2_mm", "r2_log", "mae_mm", "spearman"} <= set(metrics["all"])
    assert "class" in metrics
    ens = Ensemble.load(run, device="cpu")
    pred = ens.predict(["Al25Co20La55", "Zr55Co29Al16"])
    assert list(pred["composition"]) == ["Al25Co20La55", "Al16Co29Zr55"]
    assert (pred["dmax_mm"] >= 0).all() and (pred["dmax_std"] >= 0).all()
    assert {"p_crystal", "p_ribbon", "p_bmg", "in_domain"} <= set(pred.columns)
    np.testing.assert_allclose(pred[["p_crystal", "p_ribbon", "p_bmg"]].sum(1), 1, rtol=1e-5)


@pytest.mark.slow
def test_training_is_reproducible_and_resumes(tiny_table, tmp_path):
    cfg = TrainConfig(folds=2, epochs=2, max_steps=1, batch_size=16, min_count=1,
                      only_folds=[0], mixup=0.2)
    train_cv(tiny_table, tmp_path / "a", cfg, progress=False)
    # An interrupted run: one epoch done (checkpoint), then resumed to the full budget.
    short = TrainConfig(**{**cfg.__dict__, "epochs": 2})
    (tmp_path / "b").mkdir()
    from gfascreen.model.training import train as T

    calls = {"n": 0}
    orig = T.FoldTrainer._epoch

    def crash_after_one(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return orig(self, *a, **k)

    T.FoldTrainer._epoch = crash_after_one
    try:
        with pytest.raises(KeyboardInterrupt):
            train_cv(tiny_table, tmp_path / "b", short, progress=False)
    finally:
        T.FoldTrainer._epoch = orig
    assert (tmp_path / "b" / "ckpt_0.ckpt").exists()
    train_cv(tiny_table, tmp_path / "b", short, resume=True, progress=False)
    a = pd.read_parquet(tmp_path / "a" / "oof_0.parquet")
    b = pd.read_parquet(tmp_path / "b" / "oof_0.parquet")
    np.testing.assert_allclose(a["pred_log"], b["pred_log"], rtol=1e-4, atol=1e-5)


def test_rerun_without_resume_refuses(tiny_ensemble, tiny_table):
    with pytest.raises(GfaError, match="--resume"):
        train_cv(tiny_table, tiny_ensemble, TrainConfig(folds=2), progress=False)


@pytest.mark.slow
def test_evaluate_with_baselines(tiny_ensemble, tiny_table):
    from gfascreen.model.evaluation.evaluate import evaluate_run

    rep = evaluate_run(tiny_ensemble, baselines=True, data=tiny_table)
    assert "random_forest+fractions" in rep["baselines"]
    assert "r2_mm" in rep["baselines"]["gradient_boosting+fractions"]["all"]
    for r in [rep["model"], *rep["baselines"].values()]:
        assert "auc_glass_vs_crystal" in r["screening"]
        assert 0 <= r["screening"]["auc_glass_vs_crystal"] <= 1
    assert (tiny_ensemble / "parity.png").stat().st_size > 1000
    assert (tiny_ensemble / "parity.html").exists()


def test_corrupt_member_refused(tiny_ensemble, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_ensemble, bad)
    with open(bad / "member_0.safetensors", "r+b") as f:
        f.seek(-10, 2)
        f.write(b"0123456789")
    with pytest.raises(GfaError, match="checksum"):
        Ensemble.load(bad, device="cpu")
    m = json.loads((bad / "manifest.json").read_text())
    m["format_version"] = 99
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(GfaError, match="unsupported model format"):
        Ensemble.load(bad, device="cpu")


def test_cli_predict(tiny_ensemble, capsys):
    from gfascreen import cli

    assert cli.main(["predict", "Al25Co20La55", "--model", str(tiny_ensemble), "--device",
                     "cpu"]) == 0
    out = capsys.readouterr().out
    assert "dmax_mm" in out and "in_domain" in out
    code = cli.main(["predict", "Pd40Ni40P20", "--model", str(tiny_ensemble)])
    one_line_error(code, capsys.readouterr().err, "Pd")
    code = cli.main(["predict", "Al40Cu60T", "--model", str(tiny_ensemble)])
    one_line_error(code, capsys.readouterr().err, "'T'")


def test_cli_help_for_every_subcommand():
    for cmd in ["data", "train", "evaluate", "predict", "screen", "report", "validate"]:
        r = subprocess.run([sys.executable, "-m", "gfascreen", cmd, "--help"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout


@pytest.mark.slow
def test_cli_train_and_evaluate(tiny_table, tmp_path, capsys):
    from gfascreen import cli

    out = tmp_path / "cli"
    assert cli.main(["train", "--data", str(tiny_table), "--out", str(out), "--folds", "2",
                     "--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--min-count",
                     "1", "--no-fds", "--grouping", "system", "--quiet"]) == 0
    assert "r2_mm" in capsys.readouterr().out
    assert cli.main(["evaluate", str(out), "--no-baselines", "--spread-model", str(out),
                     "--into", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "within-system Spearman" in stdout and "90 % coverage" in stdout
    assert "Chosen by the declared rule" in stdout and "P(Dmax >= 5 mm)" in stdout
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["model"]["all"]["n"] > 0 and "within_system" in ev["model"]["screening"]
    # folds grouped by system: how well it ranks whole systems it never saw
    assert "Ranking systems never seen" in stdout and "An atlas ranks systems by" in stdout
    assert ev["model"]["screening"]["systems"]["systems"] > 0
    from gfascreen.model.evaluation.calibrate import weight_key

    cand = ev["calibration"]["candidates"][weight_key(0.5)]
    assert 0 <= cand["all"]["90"]["coverage"] <= 1
    assert 0 <= cand["bmg"]["90"]["bmg_coverage"] <= 1
    # The product path: calibrate the run's model from its own out-of-fold predictions,
    # then predict with it.
    assert cli.main(["calibrate", str(out), "--lso", str(out)]) == 0
    assert "chosen:" in capsys.readouterr().out and (out / "CALIBRATION.md").is_file()
    # The model documents itself from its template: recipe, the recorded leave-system-out
    # evaluation, the attached calibration; no script needed.
    card = (out / "MODEL_CARD.md").read_text()
    assert "--grouping system" in card and "Bulk glasses only: R²" in card
    assert "Chosen by the declared rule" in card and "$" not in card
    pred = Ensemble.load(out, device="cpu").predict(["Al25Co20La55"])
    for col in ("dmax_lo", "dmax_at_least", "p_glass", "p_dmax_ge_5"):
        assert np.isfinite(pred[col]).all(), col
    assert cli.main(["train", "--data", str(tmp_path / "missing.parquet"), "--out",
                     str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


@pytest.mark.slow
def test_pack_records_recomputed_quantization_error(tiny_ensemble, tmp_path):
    from gfascreen.model.training.pack import pack_ensemble, prediction_difference

    q = pack_ensemble(tiny_ensemble, tmp_path / "packed", model_id="tiny")
    from gfascreen import cli

    assert cli.main(["pack", str(tiny_ensemble), "--out", str(tmp_path / "cli"),
                     "--id", "tiny"]) == 0  # `gfascreen pack`, a step of `gfascreen release`
    assert Ensemble.load(tmp_path / "cli", device="cpu").manifest.quant == PACKED
    ens = Ensemble.load(tmp_path / "packed", device="cpu")
    assert ens.id == "tiny" and ens.manifest.quant.startswith("int8-group")
    assert ens.manifest.extra["training_wall_s"] == [  # the run's time per member, carried
        json.loads((tiny_ensemble / f"member_{k}.json").read_text())["wall_s"] for k in (0, 1)]
    full = (tiny_ensemble / "member_0.safetensors").stat().st_size
    assert (tmp_path / "packed" / "member_0.safetensors").stat().st_size < 0.3 * full
    # The recorded difference is recomputed here, not read back.
    again = prediction_difference(Ensemble.load(tiny_ensemble, device="cpu"), ens)
    assert q["compositions"] == again["compositions"] == len(ens.known_alloys)
    assert again["max_abs_diff_log10_1p_dmax"] == pytest.approx(
        q["max_abs_diff_log10_1p_dmax"], abs=1e-6)
    assert ens.manifest.extra["quantization_check"]["max_abs_diff_log10_1p_dmax"] == \
        q["max_abs_diff_log10_1p_dmax"]


def test_codec_roundtrip_error_bound():
    from gfascreen.model.saved import GROUP, decode_state, encode_state

    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 300, generator=g)
    state = {"trunk.layer3.0.conv1.weight": w, "trunk.conv1.weight": w.clone(),
             "bn.num_batches_tracked": torch.tensor(3)}
    back = decode_state(encode_state(state))
    # int8 with one absmax scale per (row, group of 128): error <= scale / 2 per entry.
    q = back["trunk.layer3.0.conv1.weight"]
    for j in range(0, 300, GROUP):
        blk = w[:, j:j + GROUP]
        bound = blk.abs().amax(1, keepdim=True) / 127 / 2 * 1.01 + 1e-3 * blk.abs().amax()
        assert ((q[:, j:j + GROUP] - blk).abs() <= bound).all()
    assert not torch.equal(q, w)  # it really was quantized
    # Kept layers are float16: relative error ~ 2^-11.
    assert torch.allclose(back["trunk.conv1.weight"], w, rtol=1e-3, atol=1e-3)
    assert back["bn.num_batches_tracked"].item() == 3


def test_cpu_bf16_only_where_it_is_sound():
    from gfascreen.model.training.train import MIN_SIDE_CPU_BF16, _train_autocast

    cpu = torch.device("cpu")
    assert not isinstance(_train_autocast(cpu, False, 43), torch.autocast)
    small = _train_autocast(cpu, True, MIN_SIDE_CPU_BF16 - 1)
    assert not isinstance(small, torch.autocast)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert isinstance(_train_autocast(cpu, True, 43), torch.autocast)


def test_non_finite_gradients_skip_the_step_then_stop(tiny_table, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda params, max_norm: torch.tensor(float("nan")))
    cfg = TrainConfig(folds=2, epochs=1, max_steps=2, batch_size=16, min_count=1,
                      only_folds=[0], class_head=False)
    train_cv(tiny_table, tmp_path / "a", cfg, progress=False)
    info = json.loads((tmp_path / "a" / "member_0.json").read_text())
    assert info["history"][-1]["skipped_steps"] == 2
    cfg = TrainConfig(folds=2, epochs=1, max_steps=6, batch_size=8, min_count=1,
                      only_folds=[0], class_head=False)
    with pytest.raises(GfaError, match="non-finite"):
        train_cv(tiny_table, tmp_path / "b", cfg, progress=False)


@pytest.mark.slow
def test_floor_target_and_stem_options_round_trip(tiny_table, tmp_path):
    from gfascreen.model.targets import from_target, to_target

    assert from_target(to_target(np.array([0.0, 0.1, 5.0]), "floor"), "floor") == \
        pytest.approx([0.0, 0.1, 5.0])
    assert to_target(np.array([0.0]), "floor")[0] == pytest.approx(-2.0)
    cfg = TrainConfig(folds=2, epochs=1, max_steps=1, batch_size=16, min_count=1,
                      target="floor", stem="no-maxpool")
    train_cv(tiny_table, tmp_path / "f", cfg, progress=False)
    ens = Ensemble.load(tmp_path / "f", device="cpu")
    assert ens.manifest.target == "log10(dmax_mm+0.01)"
    assert ens.manifest.architecture["stem"] == "no-maxpool"
    assert isinstance(ens.members[0].trunk.maxpool, torch.nn.Identity)
    res = ens.predict(["Al25Co20La55", "Cu50Zr50"])
    # The log columns are log10(1 + Dmax/mm) whatever the training target.
    reg, _ = ens.member_outputs(ens.featurizer.fractions(["Al25Co20La55", "Cu50Zr50"]))
    mm = from_target(reg, "floor")
    assert res["log_dmax"].to_numpy() == pytest.approx(to_target(mm).mean(0).numpy(), abs=1e-5)
    assert (res["dmax_mm"] >= 0).all()
    # Out-of-fold predictions (packing check, release's random-oof) are log10(1+Dmax) too.
    from gfascreen.model.evaluation.evaluate import member_oof

    oof, _ = member_oof(ens, ens.featurizer.fractions(["Al25Co20La55", "Cu50Zr50"]),
                        np.array([0, 1]))
    assert oof == pytest.approx([to_target(mm)[0, 0].item(), to_target(mm)[1, 1].item()],
                                abs=1e-5)
    with pytest.raises(GfaError, match="--target"):
        train_cv(tiny_table, tmp_path / "g", TrainConfig(target="cube"), progress=False)


def test_physics_channels_travel_with_the_model(tiny_table, tmp_path):
    cfg = TrainConfig(folds=2, epochs=1, max_steps=1, batch_size=16, min_count=1,
                      pairs="hmix,chi")
    train_cv(tiny_table, tmp_path / "p", cfg, progress=False)
    ens = Ensemble.load(tmp_path / "p", device="cpu")
    assert list(ens.manifest.image["pairs"]) == ["hmix", "chi"]
    assert ens.manifest.image_spec.in_channels == 3 == ens.members[0].trunk.conv1.in_channels
    x = ens.featurizer.fractions(["Al25Co20La55"])
    img = ens.featurizer.images(x)
    assert img.shape[1] == 3 and img[0, 1].abs().sum() > 0
    assert ens.predict(["Al25Co20La55"])["dmax_mm"].notna().all()
    with pytest.raises(GfaError, match="unknown pair quantity"):
        train_cv(tiny_table, tmp_path / "q", TrainConfig(pairs="vec"), progress=False)


def test_pretrain_descriptors_and_trunk_reused_by_init(tmp_path):
    from safetensors.torch import load_file

    from gfascreen.featurize import Vocabulary
    from gfascreen.model.network import NetworkSpec, build_network
    from gfascreen.model.training.pretrain import PretrainConfig, descriptors, pretrain

    vocab = Vocabulary.from_elements(["Zr", "Al", "Co", "La", "Cu"])
    x = np.zeros((1, 5))
    x[0, vocab.elements.index("Cu")] = x[0, vocab.elements.index("Zr")] = 0.5
    d = descriptors(x, vocab.elements)[0]
    assert d[-2] == pytest.approx(-23.0)  # ΔH_mix of Cu50Zr50: 4 x 0.25 x (-23 kJ/mol)
    assert d[-1] == pytest.approx(100 * np.sqrt(0.5 * (1 - 1.35 / 1.45) ** 2
                                                 + 0.5 * (1 - 1.55 / 1.45) ** 2))
    out = tmp_path / "pre.safetensors"
    info = pretrain(vocab, out, PretrainConfig(n_compositions=64, epochs=1, batch_size=32),
                    progress=False)
    assert info["history"][0]["loss"] > 0 and np.isfinite(info["history"][0]["val_r2_mean"])
    model = build_network(NetworkSpec(1), init=str(out))
    saved = load_file(str(out))
    torch.testing.assert_close(model.trunk.conv1.weight, saved["trunk.conv1.weight"])


def test_init_from_a_saved_model_fine_tunes_its_members(tiny_table, tiny_ensemble, tmp_path):
    from safetensors.torch import load_file

    from gfascreen.model.saved import ModelDir

    base = ModelDir(tiny_ensemble)
    cfg = TrainConfig(folds=2, epochs=1, max_steps=1, batch_size=16, min_count=50,
                      lds=True, fds=True, lr=1e-12, init=str(tiny_ensemble), only_folds=[0])
    train_cv(tiny_table, tmp_path / "ft", cfg, progress=False)
    # The base model's vocabulary, not one rebuilt from the table (min_count=50 would drop
    # every element of the tiny table), and member 0 starts from the base's member 0.
    assert json.loads((tmp_path / "ft" / "vocabulary.json").read_text()) == \
        base.manifest.vocabulary
    tuned = load_file(str(tmp_path / "ft" / "member_0.safetensors"))
    start = base.member_state(base.manifest.members[0])
    torch.testing.assert_close(tuned["trunk.conv1.weight"], start["trunk.conv1.weight"])
    with pytest.raises(GfaError, match="--fds"):
        train_cv(tiny_table, tmp_path / "bad", TrainConfig(init=str(tiny_ensemble), lds=True),
                 progress=False)
    with pytest.raises(GfaError, match="--target"):
        train_cv(tiny_table, tmp_path / "bad2", TrainConfig(init="default", target="log1p"),
                 progress=False)


@pytest.mark.slow
def test_train_reads_a_csv_of_formulas_and_dmax(tmp_path, capsys):
    """A lab's own alloys as `formula,Dmax` (mm): classes from the Dmax (0 crystal, <= 0.1
    ribbon, more bulk glass), duplicates merged, unreadable rows kept aside with the reason,
    and the run trains on the converted table with a note that it is small."""
    from gfascreen import cli
    from gfascreen.data.user_table import table_from_csv

    csv = tmp_path / "mine.csv"
    rows = ["Formula,Dmax"]
    rng = np.random.default_rng(0)
    for i in range(40):
        la, co = rng.integers(40, 70), rng.integers(5, 30)
        rows.append(f"La{la}Co{co}Al{100 - la - co},{[0, 0.1, 2.5, 5][i % 4]}")
    rows += ["La57.5Co20Al22.5,5", "La57.5Co20Al22.5,7", "Xx3Al2,1", "La50Al50,abc"]
    csv.write_text("\n".join(rows) + "\n")
    table, rejects = table_from_csv(csv)
    merged = table.set_index("composition").loc["Al22.5Co20La57.5"]
    assert merged["gfa_class"] == "bmg" and merged["dmax_mm"] == 6.0
    assert set(table["gfa_class"].astype(str)) == {"crystal", "ribbon", "bmg"}
    assert len(rejects) == 2 and rejects["reason"].str.len().gt(0).all()
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(csv), "--out", str(out), "--folds", "2",
                     "--epochs", "1", "--max-steps", "1", "--batch-size", "8",
                     "--min-count", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "small table" in err and "left out" in err
    assert (out / "table.parquet").is_file() and (out / "manifest.json").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("Formula,Colour\nLa55Co20Al25,red\n")
    assert cli.main(["train", "--data", str(bad), "--out", str(tmp_path / "b")]) == 2
    assert "no Dmax column" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_one_trainer_steps_schedules_skips_and_stops():
    """The one optimiser loop's parts (training, update and pre-training all use them)."""
    from gfascreen.model.training.trainer import Batches, EarlyStopping, Optimiser

    w = torch.nn.Parameter(torch.ones(2))
    tr = Optimiser([w], lr=0.1, weight_decay=0.0, total_steps=4, what="fold 7")
    lrs = []
    for _ in range(6):  # past the schedule's end: held at its last value, no error
        assert tr.step((w ** 2).sum())
        lrs.append(tr.opt.param_groups[0]["lr"])
    assert lrs[-1] == lrs[-2] < max(lrs) <= 0.1  # one cycle: up, down, then held
    assert not tr.step((w * float("nan")).sum()) and tr.skipped == 1
    with pytest.raises(GfaError, match="fold 7: 2 training steps had non-finite"):
        tr.step((w * float("nan")).sum(), max_skipped=1)
    stop = EarlyStopping(patience=2, min_epochs=2)
    assert stop.record(0.5, 1) and not stop.record(0.4, 2) and stop.bad == 0  # too early
    assert not stop.record(0.4, 3) and not stop.done(3)
    assert not stop.record(0.3, 4) and stop.done(4) and stop.best == 0.5
    b = Batches.make(TrainConfig(bmg_weight=3.0), torch.rand(2, 3), np.array([0.1, np.nan]),
                     np.array([2, 0]))
    both = b.cat(b)
    assert len(both) == 4 and both.w.tolist() == [3.0, 1.0, 3.0, 1.0]
    assert both.has_y.tolist() == [True, False, True, False]


def test_folded_inference_member_is_the_trained_function(tiny_ensemble):
    """Batch norms folded into the convolutions (and a bf16 trunk where the CPU has it)
    give the network that was trained: float32 to rounding, bf16 within its precision."""
    import copy

    from gfascreen.model.network import for_inference
    from gfascreen.model.saved import ModelDir

    md = ModelDir(tiny_ensemble)
    net = md.manifest.network_spec.build()
    net.load_state_dict(md.member_state(md.manifest.members[0]))
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)  # statistics far from the identity
        bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    img = torch.rand(6, 1, 43, 43)
    with torch.inference_mode():
        want = net(img)
        fast = for_inference(copy.deepcopy(net))
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
        got = fast(img)
    assert torch.allclose(got["reg"], want["reg"], atol=1e-4)
    assert torch.allclose(got["logits"], want["logits"], atol=1e-4)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        half = for_inference(copy.deepcopy(net), bf16=True)
        assert next(half.trunk.parameters()).dtype == torch.bfloat16
        assert half.reg.weight.dtype == torch.float32
        with torch.inference_mode():
            out = half(img)
        assert out["reg"].dtype == torch.float32
        assert torch.allclose(out["reg"], want["reg"], atol=0.1, rtol=0.05)


def test_members_share_each_batch_of_images(tiny_ensemble, monkeypatch):
    """The OP images of a batch are made once for every member, not once per member."""
    ens = Ensemble.load(tiny_ensemble, device="cpu", precision="fp32")
    calls = []
    real = ens.featurizer.images
    monkeypatch.setattr(ens.featurizer, "images", lambda x: calls.append(len(x)) or real(x))
    x = ens.featurizer.fractions(["Al25Co20La55", "Cu50Zr50", "La60Al40"] * 5)
    reg, prob = ens.member_outputs(x, batch_size=4)
    assert calls == [4, 4, 4, 3]
    assert reg.shape == (len(ens.members), 15) and reg.device.type == "cpu"
    assert prob.shape == (15, len(ens.classes))
    one, _ = ens.member_outputs(x, batch_size=4, members=[1])
    assert torch.equal(one[0], reg[1])


def test_an_empty_batch_gives_an_empty_table_with_every_column(tiny_ensemble):
    from gfascreen.model.columns import prediction_columns

    ens = Ensemble.load(tiny_ensemble, device="cpu")
    df = ens.predict_fractions(torch.zeros(0, len(ens.vocabulary.elements)))
    assert len(df) == 0 and list(df.columns) == prediction_columns()
    shipped = Ensemble.load("default", device="cpu")  # the stack's partner too
    assert len(shipped.predict_fractions(torch.zeros(0, len(shipped.vocabulary.elements)))) == 0
