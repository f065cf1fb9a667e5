"""An atlas's table of systems: ``_systems.parquet`` beside the dataset (its leading
underscore keeps it out of ``pandas.read_parquet(run)``, as ``_SUCCESS``), one row per
system asked for, best first by the declared ranking rule.

A system's rows are the grid points whose elements are a subset of its own (its closed
simplex: the ternary's interior, its binary edges and pure metals). Per system:

- ``rank`` (1 = best), ``system`` (alphabetical, as the dataset's ``system`` column),
  ``elements`` (as asked), ``order``, ``points``;
- ``score``: the ranking rule's statistic over the system's grid in domain (out of domain
  only when no point is in domain), see :class:`RankingRule`;
- ``best_composition`` (at.%): the in-domain point of highest predicted Dmax, the set of
  elements it holds (``best_system``: ``Cu-Zr`` when it lies on a binary edge the system
  shares with others) and that point's statements (the prediction columns of
  :mod:`gfascreen.model.columns`);
- ``share_<column>``: the share of the system's grid where that probability (P(bulk
  glass), each P(Dmax >= T)) is at least 0.5; ``share_in_domain``;
- ``known_alloys``, ``known_bulk_glasses``: the model's known alloys in the system's
  composition space (its elements or fewer), ``best_measured`` and ``best_measured_mm``
  (the largest measured Dmax there), ``novel``: no known bulk glass there.

The table is built from the run's parts one at a time (:func:`face_stats`: counts and the
best row of each set of elements present), so it costs one pass over the dataset and
memory in the number of element sets, not of points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc

SYSTEMS_FILE = "_systems.parquet"
#: A probability counts towards a system's share from this value.
SHARE_AT = 0.5
#: The best point's statements copied into the table, in this order (those the run has).
STATEMENTS = (pc.DMAX_MM, pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_AT_LEAST, pc.DMAX_BMG_MM,
              pc.P_GLASS, pc.P_BMG)


@dataclass(frozen=True)
class RankingRule:
    """How an atlas ranks its systems: by ``statistic`` (a name of
    :data:`gfascreen.model.evaluation.system_ranking.STATISTICS`) of each system's grid in
    domain, highest first; ``why`` says how it was chosen, ``evidence`` the figures."""

    statistic: str
    words: str
    why: str
    evidence: dict | None = None

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "rule": self.text(), "why": self.why,
                "evidence": self.evidence}

    def text(self) -> str:
        return (f"systems ranked by the {self.words} over their grid in domain (out of "
                "domain only for a system with no point in domain, ranked after the rest)")


def ranking_rule(model_dir) -> RankingRule:
    """The rule chosen by the model's own leave-system-out predictions
    (:func:`~gfascreen.model.evaluation.system_ranking.system_evidence`); for a model that
    keeps none, the largest predicted Dmax, and it says so."""
    from gfascreen.model.evaluation.system_ranking import STATISTICS, system_evidence

    try:
        lso = model_dir.lso_oof()
    except GfaError as exc:  # listed but missing or damaged: rank, and say why so
        lso, missing = None, f" ({exc})"
    else:
        missing = ""
    evidence = system_evidence(lso) if lso is not None and len(lso) else None
    if evidence is None or evidence["chosen"] is None:
        return RankingRule("best_dmax", STATISTICS["best_dmax"][1],
                           "the default: the model keeps no leave-system-out predictions "
                           f"to choose by{missing}")
    chosen = evidence["chosen"]
    return RankingRule(chosen, STATISTICS[chosen][1], evidence["why"], evidence)


def _statistic_column(rule: RankingRule) -> str:
    return pc.P_BMG if rule.statistic == "best_p_bmg" else pc.DMAX_MM


def _share_columns(columns) -> list[str]:
    return [c for c in [pc.P_BMG, *pc.threshold_columns(columns)] if c in columns]


def face_stats(parts: Iterable[pd.DataFrame], rule: RankingRule) -> pd.DataFrame:
    """Per set of elements present (the dataset's ``system``): points, in-domain points,
    points at or above :data:`SHARE_AT` per probability, the ranking statistic's maximum
    in domain (``stat_dom``, NaN when none) and over all (``stat_all``), and its best row
    (in domain first, highest Dmax) as the columns of the parts."""
    counts, best = [], []
    stat = _statistic_column(rule)
    for df in parts:
        dom = df[pc.IN_DOMAIN].to_numpy(bool)
        flags = pd.DataFrame({"points": 1, "points_in_domain": dom.astype(int)},
                             index=df.index)
        for c in _share_columns(df.columns):
            flags[f"share_{c}"] = (df[c].to_numpy(float) >= SHARE_AT).astype(int)
        flags["stat_dom"] = df[stat].where(dom)
        flags["stat_all"] = df[stat]
        g = flags.groupby(df["system"].to_numpy())
        counts.append(pd.concat([g[[c for c in flags if not c.startswith("stat")]].sum(),
                                 g[["stat_dom", "stat_all"]].max()], axis=1))
        best.append(_best_rows(df))
    c = pd.concat(counts)
    g = c.groupby(level=0)
    out = pd.concat([g[[k for k in c if not k.startswith("stat")]].sum(),
                     g[["stat_dom", "stat_all"]].max()], axis=1)
    return out.join(_best_rows(pd.concat(best)).set_index("system"))


def _best_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Each ``system``'s best row: in domain first, then the highest predicted Dmax."""
    order = np.lexsort((-df[pc.DMAX_MM].to_numpy(float), ~df[pc.IN_DOMAIN].to_numpy(bool)))
    return df.iloc[order].drop_duplicates("system")


def _known_by_system(known: pd.DataFrame | None) -> pd.DataFrame:
    """The model's known alloys per system: alloys, bulk glasses, the best measured."""
    cols = ["alloys", "bulk_glasses", "best_measured", "best_measured_mm"]
    if known is None or not len(known):
        return pd.DataFrame(columns=cols)
    k = known.assign(bulk=known["gfa_class"].astype(str) == "bmg",
                     mm=pd.to_numeric(known[DMAX_COLUMN], errors="coerce"))
    g = k.groupby("system")
    top = k.dropna(subset=["mm"]).sort_values(["mm", "composition"], ascending=[False, True])
    top = top.drop_duplicates("system").set_index("system")
    out = pd.DataFrame({"alloys": g.size(), "bulk_glasses": g["bulk"].sum()})
    return out.join(top[["composition", "mm"]].rename(
        columns={"composition": "best_measured", "mm": "best_measured_mm"}))


def subsystems(elements: list[str]) -> list[str]:
    """The names (alphabetical) of every non-empty subset of ``elements``."""
    return [alloy_system(list(c)) for k in range(1, len(elements) + 1)
            for c in combinations(elements, k)]


def systems_table(faces: pd.DataFrame, systems: list[list[str]], rule: RankingRule,
                  known: pd.DataFrame | None) -> pd.DataFrame:
    """The table of systems (module docstring) from :func:`face_stats` and the model's
    known alloys, ranked by ``rule``, best first."""
    kn = _known_by_system(known)
    rows = [_system_row(s, faces, kn) for s in systems]
    t = pd.DataFrame(rows)
    order = np.lexsort((t["system"].to_numpy(), -t["score"].fillna(-np.inf).to_numpy(),
                        ~t["_any_dom"].to_numpy(bool)))
    t = t.iloc[order].drop(columns="_any_dom").reset_index(drop=True)
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    return t


def _system_row(elements: list[str], faces: pd.DataFrame, kn: pd.DataFrame) -> dict:
    """One system's row: its faces' counts summed, the best of their best rows."""
    names = subsystems(elements)
    f = faces.loc[[n for n in names if n in faces.index]]
    any_dom = bool(f["points_in_domain"].sum() > 0)
    score = f["stat_dom"].max() if any_dom else f["stat_all"].max()
    best = f.iloc[np.lexsort((-f[pc.DMAX_MM].to_numpy(float),
                              ~f[pc.IN_DOMAIN].to_numpy(bool)))[0]]
    n = int(f["points"].sum())
    row = {"system": alloy_system(elements), "elements": "-".join(elements),
           "order": len(elements), "points": n, "score": float(score),
           "best_composition": "".join(f"{e}{best[e]:g}" for e in elements if best[e] > 0),
           "best_system": str(best.name)}
    row.update({c: best[c] for c in [*STATEMENTS, *pc.threshold_columns(f.columns),
                                     pc.IN_DOMAIN] if c in f.columns})
    row.update({c: float(f[c].sum()) / n for c in f.columns if c.startswith("share_")})
    row["share_in_domain"] = float(f["points_in_domain"].sum()) / n
    row.update(_known_row(names, kn))
    row["_any_dom"] = any_dom
    return row


def _known_row(names: list[str], kn: pd.DataFrame) -> dict:
    """The known alloys of a composition space (its systems' ``names``)."""
    k = kn.loc[[n for n in names if n in kn.index]]
    measured = k.dropna(subset=["best_measured_mm"])
    top = (measured.sort_values(["best_measured_mm", "best_measured"],
                                ascending=[False, True]).iloc[0] if len(measured) else None)
    bulk = int(k["bulk_glasses"].sum()) if len(k) else 0
    return {"known_alloys": int(k["alloys"].sum()) if len(k) else 0,
            "known_bulk_glasses": bulk,
            "best_measured": "" if top is None else str(top["best_measured"]),
            "best_measured_mm": np.nan if top is None else float(top["best_measured_mm"]),
            "novel": bulk == 0}


def read_systems(run_dir: str | Path) -> pd.DataFrame:
    """An atlas's table of systems (best first)."""
    return pd.read_parquet(Path(run_dir) / SYSTEMS_FILE)


__all__ = ["SHARE_AT", "SYSTEMS_FILE", "RankingRule", "face_stats", "ranking_rule",
           "read_systems", "subsystems", "systems_table"]
