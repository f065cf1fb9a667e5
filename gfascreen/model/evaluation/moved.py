"""What an update moved: predictions before and after, side by side.

Three kinds of rows (``role``): the cast alloys (measured, before, after: the error in
log10(1 + Dmax/mm) should fall), the other known alloys of their systems (the system's
best among them), and famous bulk glasses of other systems (:data:`REFERENCE_ALLOYS`: an
update on one system's casts should leave them where they were).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.model.targets import to_target

#: Famous bulk glasses of five systems, read before and after every update.
REFERENCE_ALLOYS = ("Zr41.2Ti13.8Cu12.5Ni10Be22.5", "Pd40Cu30Ni10P20", "Cu46Zr46Al8",
                    "Mg65Cu25Y10", "La55Al25Ni20")
ROLES = ("cast", "known", "reference")


def _rows(before, cast: pd.DataFrame) -> pd.DataFrame:
    """The alloys to compare: ``role``, ``alloy`` (formula), ``system``, ``measured_mm``."""
    from gfascreen.data.parse import alloy_system, normalise, parse_formula

    systems = set(cast["system"])
    known = before.known_alloys
    known = (known[known["system"].isin(systems) & ~known["composition"].isin(cast["composition"])]
             if known is not None else pd.DataFrame(columns=["composition", "system", DMAX_COLUMN]))
    refs = [(f, alloy_system(normalise(parse_formula(f)))) for f in REFERENCE_ALLOYS]
    refs = [(f, s) for f, s in refs if s not in systems]
    return pd.DataFrame({
        "role": ["cast"] * len(cast) + ["known"] * len(known) + ["reference"] * len(refs),
        "alloy": [*cast["composition"], *known["composition"], *(f for f, _ in refs)],
        "system": [*cast["system"], *known["system"], *(s for _, s in refs)],
        "measured_mm": [*cast[DMAX_COLUMN].astype(float), *known[DMAX_COLUMN].astype(float),
                        *[np.nan] * len(refs)]})


def moved_table(before, after, cast: pd.DataFrame) -> pd.DataFrame:
    """Predicted Dmax (mm) of ``before`` and ``after`` (two :class:`Ensemble` s) on the
    cast alloys ``cast`` (a training table), the other known alloys of their systems and the
    reference alloys of other systems; ``moved_log`` = after - before and ``err_*_log``
    = |predicted - measured|, in log10(1 + Dmax/mm)."""
    rows = _rows(before, cast)
    a = before.predict(list(rows["alloy"]))
    b = after.predict(list(rows["alloy"]))
    rows["measured_mm"] = rows["measured_mm"].fillna(a["measured_dmax_mm"])
    rows["before_mm"], rows["after_mm"] = a[pc.DMAX_MM].to_numpy(), b[pc.DMAX_MM].to_numpy()
    rows["moved_log"] = to_target(rows["after_mm"]) - to_target(rows["before_mm"])
    for when in ("before", "after"):
        rows[f"err_{when}_log"] = np.abs(to_target(rows[f"{when}_mm"])
                                         - to_target(rows["measured_mm"]))
    return rows


def moved_summary(moved: pd.DataFrame) -> dict:
    """Mean |error| on the cast alloys before and after (log10(1 + Dmax/mm)) and its
    relative change; the largest move of a reference alloy and of any alloy not cast."""
    cast, rest = moved[moved["role"] == "cast"], moved[moved["role"] != "cast"]
    ref = moved[moved["role"] == "reference"]
    b, a = float(cast["err_before_log"].mean()), float(cast["err_after_log"].mean())
    top = rest.loc[rest["moved_log"].abs().idxmax()] if len(rest) else None
    return {"cast_mean_abs_error_before": b, "cast_mean_abs_error_after": a,
            "cast_error_change": (a - b) / b if b > 0 else float("nan"),
            "reference_max_abs_move": float(ref["moved_log"].abs().max()) if len(ref) else 0.0,
            "most_moved": None if top is None else
            {"alloy": top["alloy"], "role": top["role"], "moved_log": float(top["moved_log"])}}


def _cells(r) -> list[str]:
    mm = "" if not np.isfinite(r["measured_mm"]) else f"{r['measured_mm']:.2f}"
    return [str(r["alloy"]), str(r["role"]), mm, f"{r['before_mm']:.2f}",
            f"{r['after_mm']:.2f}", f"{r['moved_log']:+.3f}"]


def moved_text(moved: pd.DataFrame) -> str:
    """A Markdown table: the cast alloys, the best known alloy of their systems and the
    reference alloys (measured, before, after in mm; moved in log10(1 + Dmax/mm)), and the
    summary lines."""
    known = moved[(moved["role"] == "known") & moved["measured_mm"].notna()]
    best = known.sort_values("measured_mm", ascending=False).groupby("system").head(1)
    shown = pd.concat([moved[moved["role"] == "cast"], best,
                       moved[moved["role"] == "reference"]])
    s = moved_summary(moved)
    from gfascreen.model.evaluation.markdown import table

    lines = [table(["alloy", "role", "measured mm", "before mm", "after mm",
                    "moved log10(1+D)"], [_cells(r) for _, r in shown.iterrows()]), "",
             f"cast alloys: mean |error| in log10(1+Dmax) {s['cast_mean_abs_error_before']:.3f}"
             f" before, {s['cast_mean_abs_error_after']:.3f} after "
             f"({100 * s['cast_error_change']:+.0f} %)",
             f"reference alloys of other systems moved at most "
             f"{s['reference_max_abs_move']:.3f} in log10(1+Dmax)"]
    if s["most_moved"]:
        top = s["most_moved"]
        lines.append(f"moved most of the alloys not cast: {top['alloy']} ({top['role']}, "
                     f"{top['moved_log']:+.3f})")
    return "\n".join(lines)


__all__ = ["REFERENCE_ALLOYS", "moved_summary", "moved_table", "moved_text"]
