"""Shared fixtures: a tiny training table built from a few formulas, and a tiny ensemble
trained for two steps on it (the suite never trains for real)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gfascreen.data.build import element_columns
from gfascreen.data.parse import alloy_system, composition_key, normalise, parse_formula
from gfascreen.tableio import write_parquet_atomic

torch.set_num_threads(1)

DATA_FILES = ["xiong2020_dmax.csv", "xiong2020_gfa.csv", "forrest2022_gfa.csv",
              "ward2018_metallic_glasses.csv.xz"]


def data_dir() -> Path | None:
    """Where the raw data lives for data tests ($GFASCREEN_DATA_DIR, ../shared/datasets,
    or the user cache), else None."""
    from gfascreen.data.sources import cache_dir

    here = Path(__file__).resolve().parents[1]
    for d in [os.environ.get("GFASCREEN_DATA_DIR"), here.parent / "shared" / "datasets",
              cache_dir()]:
        if d and all((Path(d) / f).is_file() for f in DATA_FILES):
            return Path(d)
    return None


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    d = data_dir()
    if d is None:
        pytest.skip("raw data sets not found: set GFASCREEN_DATA_DIR to a directory holding "
                    "them (CI uses ../shared/datasets)")
    return d


def make_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A synthetic training table in the format of `gfascreen data build`, over La-Co-Al,
    Al-Co-Zr and Cu-Zr-Al, with a smooth made-up Dmax."""
    rng = np.random.default_rng(seed)
    systems = [("La", "Co", "Al"), ("Al", "Co", "Zr"), ("Cu", "Zr", "Al"), ("Cu", "Zr")]
    recs = []
    seen = set()
    while len(recs) < n:
        els = systems[rng.integers(len(systems))]
        amt = rng.dirichlet(np.ones(len(els))) * 100
        at = normalise(parse_formula("".join(f"{e}{a:.1f}" for e, a in zip(els, amt,
                                                                             strict=True))))
        key = composition_key(at)
        if key in seen:
            continue
        seen.add(key)
        score = at.get("Zr", 0) * at.get("Cu", 0) / 400 + at.get("La", 0) * at.get("Al", 0) / 500
        cls = "bmg" if score > 3 else ("ribbon" if score > 1 else "crystal")
        dmax = {"crystal": 0.0, "ribbon": 0.1}.get(cls, float(score))
        recs.append({"composition": key, "system": alloy_system(at), "n_elements": len(at),
                     "gfa_class": cls, "dmax_mm": dmax, "sources": "synthetic",
                     "n_source_rows": 1, "class_conflict": False, "dmax_conflict": False,
                     "provenance": "[]", **at})
    t = pd.DataFrame(recs)
    els = element_columns([c for c in t.columns if c in ("La", "Co", "Al", "Zr", "Cu")])
    t[els] = t[els].fillna(0.0)
    return t[[c for c in t.columns if c not in els] + els].sort_values("composition"
                                                                       ).reset_index(drop=True)


@pytest.fixture(scope="session")
def tiny_table(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("data") / "train.parquet"
    write_parquet_atomic(make_table(), p)
    return p


@pytest.fixture(scope="session")
def tiny_ensemble(tiny_table, tmp_path_factory) -> Path:
    from gfascreen.model.training.train import TrainConfig, train_cv

    out = tmp_path_factory.mktemp("ens") / "run"
    cfg = TrainConfig(folds=2, epochs=1, max_steps=2, batch_size=16, min_count=1,
                      lds=True, fds=True)
    train_cv(tiny_table, out, cfg, progress=False)
    return out


@pytest.fixture(scope="session")
def calibrated_ensemble(tiny_ensemble, tmp_path_factory) -> Path:
    """The tiny ensemble with a calibration attached (scores from synthetic residuals)."""
    import shutil

    from gfascreen.model.calibration import Calibration

    d = tmp_path_factory.mktemp("cal") / "model"
    shutil.copytree(tiny_ensemble, d)
    rng = np.random.default_rng(0)
    cal = Calibration(info_={"method": "test", "calibrated_on": "synthetic"}).fit(
        0.1 * rng.standard_normal(500), np.full(500, 0.05))
    return _attach_calibration(d, cal)


def _attach_calibration(d: Path, cal) -> Path:
    """Store ``cal`` in the model directory ``d`` and name it in its manifest."""
    from gfascreen.model.calibration import CALIBRATION_FILE
    from gfascreen.model.saved import ModelDir

    entry = cal.save(d / CALIBRATION_FILE)
    md = ModelDir(d)
    md.manifest.calibration = md.entry(CALIBRATION_FILE, **{k: v for k, v in entry.items()
                                                            if k != "file"})
    md.write_manifest()
    return d


@pytest.fixture(scope="module")
def finished_run(tiny_ensemble, tmp_path_factory):
    """A finished La-Co-Al run at 10 at.% with the tiny ensemble, in parts of 20 points."""
    from gfascreen.screening.run import ScreenConfig, screen

    out = tmp_path_factory.mktemp("run") / "run"
    screen(ScreenConfig(system="La-Co-Al", step=10, out=str(out), model=str(tiny_ensemble),
                        device="cpu", chunk_size=20, progress=False))
    return out


@pytest.fixture(scope="session")
def distribution_ensemble(tiny_ensemble, tmp_path_factory) -> Path:
    """The tiny ensemble with this version's calibration: probability maps and the
    thickness given a bulk glass, fitted on synthetic leave-system-out predictions."""
    import shutil

    d = tmp_path_factory.mktemp("dist") / "model"
    shutil.copytree(tiny_ensemble, d)
    return _attach_calibration(d, synthetic_distribution())


def synthetic_distribution(seed: int = 1):
    """This version's calibration (probability maps, thickness given a bulk glass) fitted
    on synthetic leave-system-out predictions."""
    from gfascreen.model.calibration import Calibration
    from gfascreen.model.distribution import ThicknessModel
    from gfascreen.model.probabilities import ProbabilityCalibration

    rng = np.random.default_rng(seed)
    n = 600
    cls = rng.choice(["crystal", "ribbon", "bmg"], n)
    p_bmg = np.clip(0.6 * (cls == "bmg") + rng.uniform(0, 0.4, n), 0.01, 0.99)
    p_crystal = np.clip((1 - p_bmg) * np.where(cls == "crystal", 0.8, 0.2), 0.0, 1.0)
    probs = ProbabilityCalibration().fit(p_crystal, p_bmg, cls)
    mu = rng.uniform(0.3, 1.2, n)
    thick = ThicknessModel(0.5).fit(mu, rng.gamma(2.0, 0.02, n),
                                    mu + 0.2 * rng.standard_normal(n))
    return Calibration(info_={"calibrated_on": "synthetic"}, probabilities_=probs,
                       thickness=thick)


@pytest.fixture(scope="session")
def stacked_model(tiny_ensemble, tmp_path_factory):
    """The tiny ensemble with out-of-fold predictions, a tiny partner and a stack."""
    import shutil

    from gfascreen.model.saved import ModelDir
    from gfascreen.model.training.attach_stack import stack_model
    from gfascreen.model.training.partner import PartnerConfig

    pytest.importorskip("lightgbm")
    pytest.importorskip("matminer")
    d = tmp_path_factory.mktemp("stack") / "model"
    shutil.copytree(tiny_ensemble, d)
    md = ModelDir(d)
    known = md.known_alloys()
    oof = pd.concat([pd.read_parquet(p) for p in sorted(d.glob("oof_*.parquet"))])
    oof = oof.set_index("composition").loc[known["composition"]].reset_index()
    oof["sigma_log"], oof["in_domain"] = 0.05, True
    write_parquet_atomic(oof, d / "lso_oof.parquet")
    md.manifest.lso_oof = md.entry("lso_oof.parquet", rows=len(oof))
    md.write_manifest()
    rep = stack_model(d, config=PartnerConfig(n_estimators=5), recalibrate=False,
                      progress=lambda m: None)
    return d, rep


@pytest.fixture(scope="session")
def calibrated_stacked_model(stacked_model, tmp_path_factory) -> Path:
    """The stacked model with this version's calibration (synthetic): a model like the
    shipped one, small."""
    import shutil

    d = tmp_path_factory.mktemp("calstack") / "model"
    shutil.copytree(stacked_model[0], d)
    return _attach_calibration(d, synthetic_distribution())
