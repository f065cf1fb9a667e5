"""Pairwise element quantities for the OP image's physics channels.

Pixel (i, j) of the OP image is where elements i and j meet; a physics channel puts a
pairwise quantity there: ``x_i x_j f(i, j)``. The matrices are computed here, at training
time, from matminer's and pymatgen's tables, and then travel inside the saved model
(``manifest.image["pairs"]``), so inference needs neither library's data.

Each matrix is divided by its largest absolute value (so every channel lies in [-1, 1]
like the fraction products); the diagonal is 0 for every quantity.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from gfascreen.errors import GfaError

#: ``--pairs`` names, what each is, and where its numbers come from.
QUANTITIES = {
    "hmix": "binary mixing enthalpy ΔH_mix (kJ/mol, Miedema model as tabulated by Takeuchi & "
            "Inoue, Mater. Trans. 46 (2005) 2817; matminer's MixingEnthalpy)",
    "size": "atomic-size mismatch |r_i − r_j| / ((r_i + r_j)/2) (pymatgen's empirical atomic "
            "radius, Slater 1964)",
    "chi": "Pauling electronegativity difference |χ_i − χ_j| (pymatgen)",
}


def parse_pairs(spec: str | Sequence[str] | None) -> list[str]:
    """``"hmix,size"`` (or a list) -> ``["hmix", "size"]``; unknown names raise."""
    if not spec:
        return []
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    bad = [n for n in names if n not in QUANTITIES]
    if bad:
        raise GfaError(f"--pairs {','.join(bad)}: unknown pair quantity; choose from "
                       f"{', '.join(QUANTITIES)} (comma-separated)")
    if len(set(names)) != len(names):
        raise GfaError(f"--pairs {','.join(names)}: a quantity is named twice")
    return names


def raw_pair_matrix(name: str, elements: Sequence[str]) -> np.ndarray:
    from pymatgen.core import Element

    els = [Element(e) for e in elements]
    n = len(els)
    if name == "hmix":
        try:
            from matminer.utils.data import MixingEnthalpy
        except ImportError:
            raise GfaError("the mixing-enthalpy channel needs matminer: "
                           "pip install -e '.[baselines]'") from None

        table = MixingEnthalpy()
        f = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                v = table.get_mixing_enthalpy(els[i], els[j])
                if v is None:
                    raise GfaError(f"no mixing enthalpy for {elements[i]}-{elements[j]}")
                f[i, j] = f[j, i] = float(v)
        return f
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "size":
            r = np.array([float(e.atomic_radius) for e in els])
            return np.abs(r[:, None] - r[None, :]) / ((r[:, None] + r[None, :]) / 2)
        chi = np.array([float(e.X) for e in els])
        return np.abs(chi[:, None] - chi[None, :])


def pair_matrix(name: str, elements: Sequence[str]) -> np.ndarray:
    """``(N, N)`` matrix of quantity ``name`` over ``elements`` (vocabulary order), scaled
    to a largest absolute value of 1, symmetric, zero diagonal."""
    f = raw_pair_matrix(name, elements)
    np.fill_diagonal(f, 0.0)
    scale = np.abs(f).max()
    return f / scale if scale > 0 else f


def pair_matrices(names: Sequence[str], elements: Sequence[str]) -> dict[str, list]:
    """The manifest form: ``{name: nested list}`` rounded to 6 decimals."""
    return {n: np.round(pair_matrix(n, elements), 6).tolist() for n in names}
