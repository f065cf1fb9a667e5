"""The loop, simulated on the leave-system-out folds: does casting k alloys of a system the
model never saw, and updating on them, improve what it says about the rest?

For every system of the model's leave-system-out predictions (``lso_oof.parquet``: each
alloy predicted by members and partner trained without its system) with at least
``min_alloys`` alloys with a measured Dmax, of which ``min_bmg`` bulk glasses, the one
distribution is read out of fold (class maps and thickness fitted on the other folds, as
``gfascreen calibrate`` measures it). Then k alloys are revealed — at random, or in the
order ``gfascreen suggest`` picks (expected gain over the best cast so far, never within
1 at.% of a cast; re-scored after every cast when the update is on) — the update's
correction is applied (:class:`gfascreen.model.casts.CastCorrection`) and the system's
other alloys are scored against no update on the same rest: the mean |error| of log10(1 +
Dmax/mm) of the distribution's mean (``dmax_mm``), the within-system Spearman of the mean,
the 90 % interval's coverage and, in suggest order, how many casts find the system's best
alloy.

The correction's settings are chosen inside each outer fold (nested): among the designs of
:data:`GRID`, on the other folds' systems (random reveals at k = 5), the lowest mean
|error| whose within-system Spearman is not below no update's; the held-out fold's systems
are then simulated with it. The correction the update ships is the same rule on every
fold. Run by ``python scripts/loop_simulation.py``; its table is recorded in the manifest
(``loop_simulation``) and shown in the model card.
"""


from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.featurize import OPImageFeaturizer
from gfascreen.model.casts import CastCorrection
from gfascreen.model.distribution import Predictive, ThicknessModel
from gfascreen.model.evaluation.calibrate import class_masses, lso_frame, read_lso
from gfascreen.model.evaluation.markdown import fmt, table
from gfascreen.model.saved import ModelDir
from gfascreen.model.statements import Batch, Distribution
from gfascreen.model.targets import to_target

#: suggest's default: never within this L1 distance (at.%) of a cast.
AWAY_AT_PCT = 1.0
#: The designs the choice is made among (CastCorrection's fields).
GRID = {"broad_at_pct": [30.0], "broad_sd": [0.2, 0.3], "local_at_pct": [4.0, 8.0],
        "local_sd": [0.2, 0.3, 0.4], "noise_sd": [0.1], "class_sd": [1.0, 2.0, 4.0],
        "class_at_pct": [8.0, 15.0, 30.0]}
#: Reference designs shown beside the chosen one: the system's mean residual (a plain
#: shift) and a local Gaussian process alone (the issue's probe), neither moving classes.
REFERENCES = {
    "shift (system mean)": dict(broad_at_pct=1e4, broad_sd=10.0, local_sd=0.0, noise_sd=0.01,
                                class_sd=0.0),
    "local GP only": dict(broad_at_pct=15.0, broad_sd=0.0, local_at_pct=10.0, local_sd=0.3,
                          noise_sd=0.1, class_sd=0.0),
}
CHOSEN = "update (chosen inside)"


@dataclass
class Held:
    """Every alloy's out-of-fold distribution: the calibration frame, the composition in
    at.% over the vocabulary ``x``, the distribution's parts and each fold's thickness."""

    frame: pd.DataFrame
    x: np.ndarray
    parts: dict[str, np.ndarray]
    thickness: dict[int, ThicknessModel]

    @classmethod
    def of(cls, md: ModelDir, weight: float) -> Held:
        frame = lso_frame(md, read_lso(md))
        class_masses(frame)
        n, folds = len(frame), frame["fold"].to_numpy()
        parts = {k: np.zeros(n) for k in ("pc", "pr", "pb", "mu", "sigma")}
        thick = {}
        for f in np.unique(folds):
            te = folds == f
            dist = Distribution(ThicknessModel(weight)).fit(frame[~te])
            d = dist.distribution(Batch.from_frame(frame[te]))
            thick[int(f)] = dist.thickness
            for key, v in zip(parts, (d.p_crystal, d.p_ribbon, d.p_bmg, d.mu, d.sigma),
                              strict=True):
                parts[key][te] = v
        feat = OPImageFeaturizer(md.manifest.image_spec.vocabulary)
        x = 100.0 * feat.from_amounts(feat.parse(frame["composition"].tolist())[0]).double()
        return cls(frame, x.numpy(), parts, thick)

    def at(self, rows: np.ndarray) -> Predictive:
        """The distributions of ``rows`` (one system: one fold)."""
        p, f = self.parts, int(self.frame["fold"].to_numpy()[rows[0]])
        return Predictive(p["pc"][rows], p["pr"][rows], p["pb"][rows], p["mu"][rows],
                          p["sigma"][rows], self.thickness[f])

    def systems(self, min_alloys: int, min_bmg: int) -> list[np.ndarray]:
        """Row indices of each system with ``min_alloys`` alloys with a measured Dmax, of
        which ``min_bmg`` bulk glasses."""
        ok = self.frame[DMAX_COLUMN].notna().to_numpy()
        bmg = (self.frame["gfa_class"].astype(str) == "bmg").to_numpy()
        groups = [np.flatnonzero(ok)[idx]
                  for idx in self.frame[ok].groupby("system").indices.values()]
        return [g for g in groups if len(g) >= min_alloys and bmg[g].sum() >= min_bmg]


@dataclass
class System:
    """One held-out system's alloys with a measured Dmax, as the simulation reads them."""

    name: str
    fold: int
    before: Predictive
    x: np.ndarray
    cls: np.ndarray
    y_mm: np.ndarray

    @classmethod
    def of(cls, held: Held, rows: np.ndarray) -> System:
        f = held.frame
        return cls(str(f["system"].to_numpy()[rows[0]]), int(f["fold"].to_numpy()[rows[0]]),
                   held.at(rows), held.x[rows], f["gfa_class"].astype(str).to_numpy()[rows],
                   f[DMAX_COLUMN].to_numpy(float)[rows])

    @property
    def y_log(self) -> np.ndarray:
        """log10(1 + Dmax/mm) of the bulk glasses (NaN for the others)."""
        return np.where(self.cls == "bmg", to_target(self.y_mm), np.nan)

    def after(self, cfg: dict | None, cast: np.ndarray) -> Predictive:
        """The system's distributions after the casts ``cast`` (indices), or as they were."""
        if cfg is None or not len(cast):
            return self.before
        c = CastCorrection(**cfg).fit(self.x[cast], self.cls[cast], self.y_log[cast],
                                      self.before.take(cast))
        return c.correct(self.x, self.before)

    def scores(self, cfg: dict | None, cast: np.ndarray) -> dict:
        """What the rest (not cast) reads after the casts: mean |error| of log10(1 +
        Dmax/mm) of the mean, Spearman of the mean, coverage of the 90 % interval."""
        rest = np.setdiff1d(np.arange(len(self.y_mm)), cast)
        d, y = self.after(cfg, cast).take(rest), self.y_mm[rest]
        mean, lo, hi = d.mean_mm(), d.quantile_mm(0.05), d.quantile_mm(0.95)
        rho = spearmanr(mean, y).statistic if np.ptp(y) > 0 else np.nan
        return {"mae": float(np.abs(to_target(mean) - to_target(y)).mean()),
                "spearman": float(rho),
                "coverage": float(((y >= lo - 1e-9) & (y <= hi + 1e-9)).mean())}

    def suggest_order(self, cfg: dict | None) -> list[int]:
        """Every alloy in the order suggest picks: the largest expected gain over the best
        cast so far (0.1 mm before any), never within 1 at.% (L1) of a cast; with ``cfg``
        the distributions are corrected after every cast."""
        cast: list[int] = []
        for _ in range(len(self.y_mm)):
            score = self.after(cfg, np.array(cast, int)).expected_gain_mm(
                max([0.1, *self.y_mm[cast]]))
            if cast:
                near = np.abs(self.x[:, None, :] - self.x[None, cast, :]).sum(2).min(1)
                score = np.where(near < AWAY_AT_PCT, -np.inf, score)
            if not np.isfinite(score).any():
                break
            cast.append(int(np.argmax(score)))
        return cast


def casts_to_best(order: list[int], y_mm: np.ndarray) -> float:
    """How many casts in ``order`` until the system's thickest alloy is cast."""
    hits = [i for i, j in enumerate(order) if y_mm[j] >= y_mm.max()]
    return float(hits[0] + 1) if hits else np.nan


def simulate_system(s: System, designs: dict, ks, draws: int, rng,
                    orders: bool = True) -> list[dict]:
    """Rows of the simulation for one system: random reveals (``draws`` per k) and, with
    ``orders``, the suggest order, for every design (None: no update)."""
    rows, n = [], len(s.y_mm)
    base = {"system": s.name, "fold": s.fold, "n": n}
    ks = [k for k in ks if k < n - 2]
    for k, draw in itertools.product(ks, range(draws)):
        cast = rng.choice(n, k, replace=False)
        rows += [{**base, "k": k, "order": "random", "draw": draw, "design": name,
                  **s.scores(cfg, cast)} for name, cfg in designs.items()]
    for name, cfg in designs.items() if orders else ():
        order = s.suggest_order(cfg)
        found = casts_to_best(order, s.y_mm)
        rows += [{**base, "k": k, "order": "suggest", "draw": 0, "design": name,
                  "casts_to_best": found, "best_found_by_k": float(found <= k),
                  **s.scores(cfg, np.array(order[:k]))} for k in ks]
    return rows


def run(systems: list[System], designs: dict, ks, draws: int, seed: int = 0,
        orders: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame([r for s in systems
                         for r in simulate_system(s, designs, ks, draws, rng, orders)])


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per design, order and k: means over systems (each system's draws averaged first)."""
    per = df.groupby(["design", "order", "k", "system"]).mean(numeric_only=True)
    return per.groupby(["design", "order", "k"]).mean(numeric_only=True)[
        [c for c in ("mae", "spearman", "coverage", "casts_to_best", "best_found_by_k")
         if c in per.columns]]


def choose_by(t: pd.DataFrame) -> dict:
    """The declared rule, on a summary of random reveals at k = 5: the lowest mean |error|
    among the designs whose within-system Spearman is not below no update's."""
    t = t.reset_index()
    base = t[t["design"] == "none"].iloc[0]
    ok = t[(t["design"] != "none") & (t["spearman"] >= base["spearman"])]
    return json.loads(ok.sort_values("mae").iloc[0]["design"])


def grid_runs(systems: list[System], draws: int, k: int = 5) -> pd.DataFrame:
    """Random reveals at ``k`` for every design of :data:`GRID` (and no update)."""
    cands = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
    designs = {"none": None, **{json.dumps(c): c for c in cands}}
    return run(systems, designs, [k], draws, seed=1, orders=False)


@dataclass
class LoopResult:
    """The simulation: its rows, the design chosen inside each outer fold and on all."""

    rows: pd.DataFrame
    grid: pd.DataFrame
    chosen: dict[int, dict]
    chosen_all: dict
    n_systems: int


def simulate(md: ModelDir, ks=(3, 5, 10), draws: int = 20, min_alloys: int = 12,
             min_bmg: int = 1, weight: float = 0.5) -> LoopResult:
    """The nested simulation (module docstring) on the model's leave-system-out rows."""
    held = Held.of(md, weight)
    systems = [System.of(held, g) for g in held.systems(min_alloys, min_bmg)]
    grid = grid_runs(systems, max(draws // 2, 1))
    rows, chosen = [], {}
    for f in sorted({s.fold for s in systems}):
        chosen[f] = choose_by(summary(grid[grid["fold"] != f]))
        designs = {"none": None, CHOSEN: chosen[f], **REFERENCES}
        rows.append(run([s for s in systems if s.fold == f], designs, ks, draws, seed=2 + f))
    return LoopResult(pd.concat(rows, ignore_index=True), grid, chosen,
                      choose_by(summary(grid)), len(systems))


def record(res: LoopResult, command: str) -> dict:
    """The manifest's ``loop_simulation`` record: the summary rows and the choices."""
    t = summary(res.rows).reset_index()
    return {"command": command, "systems": res.n_systems,
            "chosen_per_fold": {str(k): v for k, v in res.chosen.items()},
            "chosen": res.chosen_all,
            "rows": json.loads(t.to_json(orient="records", double_precision=4))}


def loop_text(rec: dict | None) -> str:
    """The model card's section: the simulation's table (random and suggest order)."""
    if not rec:
        return "Not simulated for this model (`python scripts/loop_simulation.py --record`)."
    rows = [[r["design"], r["order"], str(r["k"]), fmt(r["mae"]), fmt(r["spearman"]),
             fmt(r["coverage"]), fmt(r.get("casts_to_best"), ".1f"),
             fmt(r.get("best_found_by_k"), ".2f")] for r in rec["rows"]]
    return (f"{rec['systems']} held-out systems (leave-system-out folds; `{rec['command']}`); "
            "k alloys of each revealed, the rest scored (mean |error| of log10(1 + Dmax/mm) "
            "of `dmax_mm`, within-system Spearman, 90 % interval coverage; in suggest order "
            "also the casts until the system's best is cast, and the share found by k). "
            "The update's design chosen inside each outer fold (nested).\n\n"
            + table(["design", "order", "k", "mean abs error", "Spearman", "coverage",
                     "casts to best", "best found by k"], rows))
