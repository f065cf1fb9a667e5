"""What every map of a report shows: the quantities (predicted Dmax in mm, or its
log10 with ``log_color``; P(bulk glass) and P(Dmax >= T mm) for a calibrated model, else
the interval's width or the members' spread in mm), their colour scales, and the hover of
a grid point (its composition in at.%, the values in mm and the probabilities), in
domain and out of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gfascreen.model import columns as pc
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE


def _has_interval(df: pd.DataFrame) -> bool:
    return pc.DMAX_HI in df.columns and bool(np.isfinite(df[pc.DMAX_HI]).all())


def _exceedance_column(df: pd.DataFrame) -> str | None:
    """The P(Dmax >= T) column the map shows: 5 mm when written, else the first one."""
    cols = [c for c in pc.threshold_columns(df.columns) if bool(np.isfinite(df[c]).all())]
    five = pc.threshold_column(5)
    return five if five in cols else (cols[0] if cols else None)


def _panels(df: pd.DataFrame, confidence: float | None, log_color: bool = False
            ) -> list[tuple[pd.Series, str, str, str]]:
    """The maps of a report: (values, title, plotly colour scale, matplotlib colour map).
    Dmax; then P(bulk glass) and P(Dmax >= T) when the run has them (calibrated models),
    else the interval width or, without a calibration, the members' spread."""
    dmax = (np.log10(df[pc.DMAX_MM] + 0.01), "predicted log10 Dmax (mm)") if log_color \
        else (df[pc.DMAX_MM], "predicted Dmax (mm)")
    out = [(dmax[0], dmax[1], "Viridis", "viridis")]
    exc = _exceedance_column(df)
    if exc is not None and pc.P_BMG in df.columns and bool(np.isfinite(df[pc.P_BMG]).all()):
        t = pc.threshold_text(exc)
        return out + [(df[pc.P_BMG], "P(bulk glass)", "Blues", "Blues"),
                      (df[exc], f"P(Dmax ≥ {t} mm)", "Oranges", "Oranges")]
    if _has_interval(df):
        pct = round(100 * (confidence or DEFAULT_CONFIDENCE))
        return out + [(df[pc.DMAX_HI] - df[pc.DMAX_LO], f"{pct} % interval width (mm)", "Magma",
                       "magma")]
    return out + [(df[pc.DMAX_STD], "member spread (mm; no calibrated interval)", "Magma",
                   "magma")]


def f32(values) -> np.ndarray:
    """Plot data as float32 arrays (plotly stores numpy arrays as compact typed arrays)."""
    return np.asarray(values, dtype=np.float32)


OUT_OF_DOMAIN_HOVER = "<br><b>out of domain</b>: no nearby training alloys"


@dataclass(frozen=True, eq=False)
class _Hover:
    """The Dmax map's full hover (:meth:`of`): numbers per grid row and the template."""

    data: np.ndarray
    template: str

    @classmethod
    def of(cls, df: pd.DataFrame, elements: list[str], confidence: float | None) -> _Hover:
        """The hover of every row of ``df`` (composition in at.% of ``elements``): numbers per
        grid point (``customdata``, float32: plotly stores it as a compact typed array) and one
        template: composition, Dmax, its interval and lower bound (mm), spread, calibrated
        probabilities. Text per point would cost ~1 KB each."""
        cols: list[str] = list(elements)
        parts = [" ".join(f"{e} %{{customdata[{k}]:.4g}}" for k, e in enumerate(elements))]

        def field(col: str) -> str:
            cols.append(col)
            return f"%{{customdata[{len(cols) - 1}]:.2f}}"

        parts.append(f"<br>Dmax {field(pc.DMAX_MM)} mm")
        if _has_interval(df):
            pct = round(100 * (confidence or DEFAULT_CONFIDENCE))
            parts.append(f", {pct} % interval {field(pc.DMAX_LO)}-{field(pc.DMAX_HI)} mm")
        if pc.DMAX_AT_LEAST in df.columns and bool(np.isfinite(df[pc.DMAX_AT_LEAST]).all()):
            parts.append(f", at least {field(pc.DMAX_AT_LEAST)} mm")
        parts.append(f"<br>member spread {field(pc.DMAX_STD)} mm")
        probs = [c for c in df.columns if c in (pc.P_GLASS, pc.P_BMG) or pc.is_threshold_column(c)]
        for k, col in enumerate(probs):
            name = (f"P(Dmax ≥ {pc.threshold_text(col)} mm)") if pc.is_threshold_column(col) \
                else f"P({col[2:]})"
            parts.append(("<br>" if k == 0 else ", ") + f"{name} {field(col)}")
        return cls(df[cols].to_numpy(dtype=np.float32), "".join(parts) + "<extra></extra>")

    def at(self, sel: np.ndarray, extra: str) -> dict:
        """The hover of rows ``sel``, ``extra`` (the out-of-domain note) appended."""
        return {"customdata": self.data[sel],
                "hovertemplate": self.template.replace("<extra>", extra + "<extra>")}


def _hover_rows(rows: np.ndarray, dom: np.ndarray) -> Iterator[tuple[np.ndarray, bool, str]]:
    """The hover ``rows`` (indices) in domain, then out of domain, each with whether in
    domain and its hover note; an empty one left out."""
    for inside in (True, False):
        sel = rows[dom[rows] == inside]
        if len(sel):
            yield sel, inside, "" if inside else OUT_OF_DOMAIN_HOVER


def _hover_marker(values: np.ndarray, cscale: str, rng: dict, title: str, showscale: bool,
                  colorbar: dict) -> dict:
    """The markers that carry a map's hover: all but invisible, coloured on the map's
    scale ``rng`` so that their colour bar (``title``, placed by ``colorbar``) is the map's."""
    return {"color": f32(values), "colorscale": cscale, "size": 6, "opacity": 0.01, **rng,
            "showscale": showscale,
            "colorbar": {"title": {"text": title, "side": "right"}, **colorbar}}
