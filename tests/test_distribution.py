"""One predictive distribution per alloy: every statement read off it agrees with every
other, as properties over random distributions and random compositions (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gfascreen.model import columns as pc
from gfascreen.model.distribution import (
    BULK_MIN_MM,
    RIBBON_MM,
    Predictive,
    ThicknessModel,
)
from gfascreen.model.targets import to_target

THRESHOLDS = (0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Tolerance of a probability read against a quantile.
TOL = 1e-6


def _thickness(seed: int, weight: float = 0.5) -> ThicknessModel:
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.2, 1.5, 300)
    spread = rng.gamma(2.0, 0.05, 300)
    y = np.maximum(mu + rng.standard_t(4, 300) * 0.2, to_target(1.0))
    return ThicknessModel(weight).fit(mu, spread, y)


def _random_distribution(seed: int, n: int = 200) -> Predictive:
    rng = np.random.default_rng(seed)
    masses = rng.dirichlet([0.5, 0.5, 0.5], n)
    # Some rows sit on the edges: one class certain, or none at all.
    masses[: n // 10] = np.eye(3)[rng.integers(0, 3, n // 10)]
    tm = _thickness(seed)
    return Predictive(masses[:, 0], masses[:, 1], masses[:, 2], rng.uniform(-0.2, 2.0, n),
                      tm.scale(rng.gamma(2.0, 0.05, n)), tm)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), confidence=st.sampled_from([0.68, 0.8, 0.9, 0.95]))
def test_the_columns_read_as_one_cdf(seed, confidence):
    """Quantiles, survival, class masses and the mean of one mixture agree: P(Dmax >= T)
    falls with T, equals p_glass below a ribbon and p_bmg up to 1 mm; each bound holds
    exactly the probability its confidence says; the conditional interval lies at or above
    1 mm around its median."""
    d = _random_distribution(seed)
    c = d.columns(confidence, THRESHOLDS)
    sf = np.column_stack([c[pc.threshold_column(t)] for t in THRESHOLDS])
    assert (np.diff(sf, axis=1) <= TOL).all()
    assert np.allclose(c[pc.threshold_column(0.05)], c[pc.P_GLASS])
    assert np.allclose(c[pc.threshold_column(BULK_MIN_MM)], c[pc.P_BMG])
    assert (c[pc.P_BMG] <= c[pc.P_GLASS] + TOL).all()
    assert np.allclose(c[pc.P_CRYSTAL] + c[pc.P_RIBBON] + c[pc.P_BMG], 1.0)
    lo, hi, least = c[pc.DMAX_LO], c[pc.DMAX_HI], c[pc.DMAX_AT_LEAST]
    assert (lo <= least + TOL).all() and (least <= hi + TOL).all()
    for t in THRESHOLDS:
        p = d.sf(t)
        assert (p[least >= t] >= confidence - TOL).all()
        assert (p[least < t] <= confidence + TOL).all()
        assert (p[hi < t] <= (1 - confidence) / 2 + TOL).all()
        assert (p[lo >= t] >= (1 + confidence) / 2 - TOL).all()
    assert ((least > RIBBON_MM) <= (c[pc.P_BMG] >= confidence - TOL)).all()
    assert ((least > 0) <= (c[pc.P_GLASS] >= confidence - TOL)).all()
    bmg_lo, bmg_mid, bmg_hi = c[pc.DMAX_BMG_LO], c[pc.DMAX_BMG_MM], c[pc.DMAX_BMG_HI]
    assert (bmg_lo >= BULK_MIN_MM - TOL).all()
    assert (bmg_lo <= bmg_mid + TOL).all() and (bmg_mid <= bmg_hi + TOL).all()
    mean = c[pc.DMAX_MM]
    assert (mean >= 0).all()
    assert np.allclose(mean, d.p_ribbon * RIBBON_MM + d.p_bmg * d.bmg_mean_mm())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), u=st.floats(0.001, 0.999))
def test_the_quantile_inverts_the_cdf(seed, u):
    """q(u) is the least t with P(Dmax <= t) >= u: the CDF reaches u at q(u) and stays
    below it just before."""
    d = _random_distribution(seed, 50)
    q = d.quantile_mm(u)
    for i, t in enumerate(q):
        one = Predictive(d.p_crystal[i:i + 1], d.p_ribbon[i:i + 1], d.p_bmg[i:i + 1],
                         d.mu[i:i + 1], d.sigma[i:i + 1], d.thickness)
        assert one.cdf(t)[0] >= u - 1e-6
        if t > 0:
            assert one.cdf(t * (1 - 1e-6) - 1e-12)[0] < u + 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_expected_gain_falls_as_the_best_known_rises(seed):
    d = _random_distribution(seed, 100)
    gains = np.stack([d.expected_gain_mm(b) for b in (0.1, 1.0, 3.0, 10.0, 50.0)])
    assert (np.diff(gains, axis=0) <= 1e-9).all() and (gains >= 0).all()
    assert np.allclose(gains[0], d.mean_mm() - RIBBON_MM * (d.p_ribbon + d.p_bmg))


def test_the_thickness_is_smooth_in_its_location():
    """A small move of μ moves every reading a little: no steps of the empirical CDF."""
    tm = _thickness(3)
    mu = np.linspace(0.3, 1.8, 3001)
    d = Predictive(np.zeros_like(mu), np.zeros_like(mu), np.ones_like(mu), mu,
                   tm.scale(np.full_like(mu, 0.05)), tm)
    for t in (2.0, 5.0, 20.0):
        assert np.abs(np.diff(d.sf(t))).max() < 0.01
    assert np.abs(np.diff(to_target(d.quantile_mm(0.95)))).max() < 0.002


def test_the_thickness_stores_and_reads_itself():
    tm = _thickness(5, weight=1.0)
    back = ThicknessModel.from_tensors(tm.tensors(), tm.entry())
    assert back.spread_weight == 1.0
    assert np.array_equal(back.z_, tm.z_) and back.s_ == tm.s_
    assert np.allclose(back.scale([0.0, 0.1]), tm.scale([0.0, 0.1]))


def test_the_thickness_refuses_too_few_bulk_glasses():
    from gfascreen.errors import GfaError

    with pytest.raises(GfaError, match="at least 5 bulk glasses"):
        ThicknessModel().fit(np.ones(4), np.ones(4), np.ones(4))


def _random_compositions(elements: list[str], seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(2, min(6, len(elements)) + 1))
        pick = rng.choice(len(elements), k, replace=False)
        amounts = rng.dirichlet(np.ones(k)) * 100
        out.append({elements[j]: round(float(a), 1) + 0.1
                    for j, a in zip(pick, amounts, strict=True)})
    return out


def _assert_one_story(p, confidence: float = 0.9) -> None:
    """The probe's rules (``shared/checks/statements_probe.py``) over a prediction frame:
    no pair of columns that one distribution could not give together."""
    ts = [1.0, 5.0, 10.0]
    exc = [p[pc.threshold_column(t)].to_numpy() for t in ts]
    for a, b in zip(exc, exc[1:], strict=False):
        assert (b <= a + 1e-9).all()
    pb, pg = p[pc.P_BMG].to_numpy(), p[pc.P_GLASS].to_numpy()
    least, lo, hi = (p[c].to_numpy() for c in (pc.DMAX_AT_LEAST, pc.DMAX_LO, pc.DMAX_HI))
    assert (pb <= pg + 1e-9).all()
    assert np.allclose(exc[0], pb)
    for t, e in zip(ts, exc, strict=True):
        assert (e[least >= t] >= confidence - 1e-6).all()
        assert (e[least < t] <= confidence + 1e-6).all()
        assert (e[hi < t] <= (1 - confidence) / 2 + 1e-6).all()
        assert (e[lo >= t] >= (1 + confidence) / 2 - 1e-6).all()
    assert (pb[least > RIBBON_MM] >= confidence - 1e-6).all()
    assert (pg[least > 0] >= confidence - 1e-6).all()
    assert (p[pc.DMAX_BMG_LO] >= BULK_MIN_MM - 1e-9).all()
    assert (p[pc.DMAX_BMG_LO] <= p[pc.DMAX_BMG_MM] + 1e-9).all()
    assert (p[pc.DMAX_BMG_MM] <= p[pc.DMAX_BMG_HI] + 1e-9).all()


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_predictions_of_random_compositions_tell_one_story(distribution_ensemble, seed):
    """A model with this version's calibration: every row of `predict` over random
    compositions reads as one distribution (and no column is left NaN)."""
    from gfascreen.model.ensemble import Ensemble

    ens = _loaded(distribution_ensemble)
    comps = _random_compositions(list(ens.vocabulary.elements), seed, 40)
    p = ens.predict(comps)
    assert p["in_vocabulary"].all()
    assert not p[[pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_BMG_HI, pc.P_BMG]].isna().any().any()
    _assert_one_story(p)
    assert isinstance(ens, Ensemble)


_ENSEMBLES: dict = {}


def _loaded(path):
    from gfascreen.model.ensemble import Ensemble

    if str(path) not in _ENSEMBLES:
        _ENSEMBLES[str(path)] = Ensemble.load(path, device="cpu")
    return _ENSEMBLES[str(path)]


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_shipped_model_tells_one_story_about_random_alloys(seed):
    """The shipped model over random alloys of its vocabulary (2-6 elements): every row
    reads as one distribution, and no interval ends at a shared cap."""
    ens = _loaded("default")
    comps = _random_compositions(list(ens.vocabulary.elements), seed, 60)
    p = ens.predict(comps)
    _assert_one_story(p)
    hi = p[pc.DMAX_HI].to_numpy()
    assert np.isclose(hi, hi.max(), rtol=1e-9).sum() <= 2 or hi.max() <= RIBBON_MM
