"""Composition -> element-property descriptors: the descriptor partner's input.

Magpie statistics (Ward et al. 2016; matminer's ``ElementProperty`` "magpie" preset): for
each of 22 element properties, the minimum, maximum, range, composition-weighted mean,
mean absolute deviation and mode (the property of the most abundant element; ties give
the smallest value) — 132 numbers — plus four alloy quantities (:data:`ALLOY_FEATURES`):
the Miedema mixing enthalpy ΔH_mix (kJ/mol, Σ_{i<j} 4 ΔH_ij x_i x_j, Takeuchi & Inoue
2005), the atomic-size mismatch δ = sqrt(Σ x_i (1 − r_i / r̄)²) (a fraction, not %; Yang &
Zhang 2012; pymatgen's empirical radii), the ideal mixing entropy over R,
S_mix/R = −Σ x_i ln x_i (dimensionless), and the number of elements.

They are computed vectorised in torch from the same ``(B, N)`` fraction tensors the OP
images come from, on the tensor's device, from an :class:`ElementTable` that travels
with the model (built once at training time from matminer's and pymatgen's data, so
inference needs neither). ``tests/test_stack.py`` checks the Magpie block against
matminer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfascreen.errors import GfaError

#: matminer's "magpie" preset, in its order (``ElementProperty.from_preset("magpie")``).
MAGPIE_PROPERTIES = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row",
    "CovalentRadius", "Electronegativity", "NsValence", "NpValence", "NdValence",
    "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled",
    "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom", "SpaceGroupNumber")
MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
#: Alloy-level quantities after the Magpie block (chosen on the declared screening fold:
#: docs/research-log.md).
ALLOY_FEATURES = ("hmix_kj_mol", "size_mismatch", "smix_over_r", "n_elements")
#: matminer's tie rule for the mode (``np.isclose`` defaults).
_RTOL, _ATOL = 1e-5, 1e-8


def _described(symbol: str, source) -> bool:
    """Whether matminer tabulates all of an element's Magpie properties (none imputed) and
    pymatgen gives its empirical atomic radius (Å)."""
    import warnings

    from pymatgen.core import Element

    el = Element(symbol)
    values = [source.get_elemental_property(el, p) for p in MAGPIE_PROPERTIES]
    if any(v is None or not np.isfinite(float(v)) for v in values):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return el.atomic_radius is not None


def described_elements() -> list[str]:
    """Every element the descriptor partner can describe, by atomic number (training
    time; needs matminer): all 22 Magpie properties tabulated and an atomic radius (87
    elements with matminer 0.10 and pymatgen 2026: H to Am, without the noble gases, At, Fr
    and Cm). A pair without a Miedema ΔH gets 0 kJ/mol, as in the vocabulary."""
    try:
        from matminer.featurizers.composition import ElementProperty
    except ImportError:
        raise GfaError("building the descriptor table needs matminer: "
                       "pip install -e '.[baselines]'") from None
    from pymatgen.core import Element

    source = ElementProperty.from_preset("magpie", impute_nan=False).data_source
    symbols = [Element.from_Z(z).symbol for z in range(1, 119)]
    return [s for s in symbols if _described(s, source)]


@dataclass
class ElementTable:
    """Element properties the descriptors read: ``properties`` ``(E, 22)`` (matminer's
    Magpie values, NaN imputed by the property mean as matminer does), ``radius`` ``(E,)``
    (Å) and ``hmix`` ``(E, E)`` (kJ/mol, 0 where no Miedema value is tabulated)."""

    elements: list[str]
    properties: np.ndarray
    radius: np.ndarray
    hmix: np.ndarray

    @classmethod
    def for_partner(cls, vocabulary: Sequence[str]) -> ElementTable:
        """The table a partner ships with (training time; needs matminer): the network's
        ``vocabulary`` first, in its order, then every other element the partner can
        describe (:func:`described_elements`, by atomic number), so an alloy with an
        element outside the vocabulary still gets descriptors. A row depends on its
        element alone, so the vocabulary's rows equal ``from_matminer(vocabulary)``'s."""
        extra = [e for e in described_elements() if e not in vocabulary]
        return cls.from_matminer([*vocabulary, *extra])

    def extends(self, other: ElementTable) -> bool:
        """Whether every element of ``other`` is here with exactly ``other``'s values
        (its properties, radius and ΔH with each other), so descriptors over ``other``'s
        elements are the same numbers read from either table."""
        if not set(other.elements) <= set(self.elements):
            return False
        idx = [self.elements.index(e) for e in other.elements]
        return (np.array_equal(self.properties[idx], other.properties)
                and np.array_equal(self.radius[idx], other.radius)
                and np.array_equal(self.hmix[np.ix_(idx, idx)], other.hmix))

    @classmethod
    def from_matminer(cls, elements: Sequence[str]) -> ElementTable:
        """Build the table for ``elements`` (training time; needs matminer)."""
        try:
            from matminer.featurizers.composition import ElementProperty
            from matminer.utils.data import MixingEnthalpy
        except ImportError:
            raise GfaError("building the descriptor table needs matminer: "
                           "pip install -e '.[baselines]'") from None
        import warnings

        from pymatgen.core import Element

        src = ElementProperty.from_preset("magpie", impute_nan=True).data_source
        els = [Element(e) for e in elements]
        props = np.array([[float(src.get_elemental_property(e, p)) for p in MAGPIE_PROPERTIES]
                          for e in els])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            radius = np.array([float(e.atomic_radius) for e in els])
        mix, n = MixingEnthalpy(), len(els)
        hmix = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                v = mix.get_mixing_enthalpy(els[i], els[j])
                hmix[i, j] = hmix[j, i] = float(v) if v is not None else 0.0
        return cls(list(elements), props, radius, hmix)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The safetensors form (float64)."""
        return {"properties": torch.as_tensor(self.properties, dtype=torch.float64),
                "radius": torch.as_tensor(self.radius, dtype=torch.float64),
                "hmix": torch.as_tensor(self.hmix, dtype=torch.float64)}

    @classmethod
    def from_tensors(cls, elements: list[str], t: dict[str, torch.Tensor]) -> ElementTable:
        e = len(elements)
        shapes = {"properties": (e, len(MAGPIE_PROPERTIES)), "radius": (e,), "hmix": (e, e)}
        for k, shape in shapes.items():
            if k not in t or tuple(t[k].shape) != shape:
                raise GfaError(f"element table: {k!r} missing or not of shape {shape}; the "
                               "model's descriptor file is damaged")
        return cls(list(elements), *(t[k].double().numpy() for k in shapes))

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file(self.tensors(), str(path), metadata={"elements": ",".join(self.elements)})

    @classmethod
    def load(cls, path: Path) -> ElementTable:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            elements = f.metadata().get("elements", "").split(",")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        return cls.from_tensors(elements, tensors)


class DescriptorFeaturizer:
    """``(B, N)`` fractions over ``vocabulary`` -> ``(B, 136)`` descriptors on the same
    device (float64 by default: equal to matminer to 1e-6; float32 for speed)."""

    citations = (
        "L. Ward, A. Agrawal, A. Choudhary, C. Wolverton, A general-purpose machine learning "
        "framework for predicting properties of inorganic materials, npj Comput. Mater. 2 "
        "(2016) 16028 (the Magpie statistics; matminer's ElementProperty).",
        "A. Takeuchi, A. Inoue, Mater. Trans. 46 (2005) 2817 (Miedema ΔH_mix table).",
        "Y. Zhang et al., Adv. Eng. Mater. 10 (2008) 534 (atomic-size mismatch δ).",
    )

    def __init__(self, table: ElementTable, vocabulary: Sequence[str],
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64):
        missing = [e for e in vocabulary if e not in table.elements]
        if missing:
            raise GfaError(f"the descriptor table lacks {', '.join(missing)}; rebuild the "
                           "model's partner with a table covering its vocabulary")
        idx = [table.elements.index(e) for e in vocabulary]
        self.device, self.dtype = torch.device(device), dtype
        as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=self.device)  # noqa: E731
        self._props = as_t(table.properties[idx])                  # (N, P)
        self._radius = as_t(table.radius[idx])                     # (N,)
        self._hmix = as_t(table.hmix[np.ix_(idx, idx)])            # (N, N)

    @staticmethod
    def feature_labels() -> list[str]:
        """matminer's labels for the Magpie block, then :data:`ALLOY_FEATURES`."""
        return ([f"MagpieData {s} {p}" for p in MAGPIE_PROPERTIES for s in MAGPIE_STATS]
                + list(ALLOY_FEATURES))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, self.dtype)
        x = x / x.sum(1, keepdim=True)
        # An alloy has a few elements: work on its K largest fractions only (K = the
        # batch's most elements), not on the whole vocabulary.
        k = max(1, int((x > 0).sum(1).max()))
        w, idx = x.topk(k, dim=1)                                   # (B, K), descending
        v = self._props[idx]                                        # (B, K, P)
        present = (w > 0).unsqueeze(2)
        inf = torch.tensor(float("inf"), dtype=self.dtype, device=self.device)
        lo = torch.where(present, v, inf).amin(1)
        hi = torch.where(present, v, -inf).amax(1)
        mean = torch.einsum("bk,bkp->bp", w, v)
        dev = torch.einsum("bk,bkp->bp", w, (v - mean.unsqueeze(1)).abs())
        top = w[:, :1]
        tied = ((w - top).abs() <= _ATOL + _RTOL * top).unsqueeze(2) & present
        mode = torch.where(tied, v, inf).amin(1)
        magpie = torch.stack([lo, hi, hi - lo, mean, dev, mode], 2)  # (B, P, 6)
        h = self._hmix[idx.unsqueeze(2), idx.unsqueeze(1)]          # (B, K, K)
        hmix = 2.0 * torch.einsum("bi,bij,bj->b", w, h, w)          # 4 Σ_{i<j}
        r = self._radius[idx]
        rbar = (w * r).sum(1, keepdim=True)
        delta = torch.sqrt((w * (1 - r / rbar) ** 2).sum(1))
        smix = -(w * torch.log(torch.where(w > 0, w, torch.ones_like(w)))).sum(1)
        n_el = (w > 0).sum(1).to(self.dtype)
        return torch.cat([magpie.flatten(1), torch.stack([hmix, delta, smix, n_el], 1)], 1)
