"""The descriptor partner: gradient-boosted trees on element-property descriptors.

Three LightGBM boosters read the descriptors of
:mod:`gfascreen.featurize.descriptors` (computed from the same fraction tensors as the OP
images): a regressor of log10(1 + Dmax/mm) on every alloy with a Dmax, a classifier of
crystal / ribbon / bulk glass on every alloy, and a regressor of log10(1 + Dmax/mm) on
bulk glasses alone (the thickness an alloy would have if it forms a bulk glass). Each
booster is stored in LightGBM's own text format (loading it parses text and executes no
code; no pickle) and, like every model file, checksummed in the manifest. The element
table travels with them (``descriptors.safetensors``).

The trees run where :data:`TORCH_TREES` says: as torch tensors on the model's device
(:mod:`gfascreen.model.trees`, the descriptors never leaving the device; on a CPU LightGBM's
own bits) or through LightGBM's ``Booster.predict`` on the CPU (docs/throughput.md has the
measurements behind the choice).

Pure inference: :mod:`gfascreen.model.training.partner` trains one (``fit_boosters``,
called by ``gfascreen stack``; ``fit_partner``, by ``gfascreen update``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable

#: The boosters, each a text file in the model directory.
BOOSTERS = ("log_dmax", "classes", "log_dmax_bmg")
TABLE_FILE = "descriptors.safetensors"
#: ``trees="auto"``: the device kinds whose partner runs all its trees in torch. On other
#: devices (the CPU) a batch of at most :data:`CPU_TORCH_ROWS` descriptor rows runs in
#: torch and a larger one in LightGBM: on a CPU the two give the same bits
#: (:mod:`gfascreen.model.trees`), so the choice changes only the time: importing and
#: parsing LightGBM costs ~1.4 s once, the torch trees ~1.5 ms a row against its ~0.13 ms
#: (2-core AVX2 EPYC, docs/throughput.md, 2026-12-07): a one-formula ``predict`` never
#: imports LightGBM, a screen's chunks (3,584 rows at 512 ternary points) run in it.
TORCH_TREES = ("cuda",)
CPU_TORCH_ROWS = 256
#: Where the trees may run: ``auto`` (as above), ``torch`` or ``lightgbm``.
TREE_ENGINES = ("auto", "torch", "lightgbm")


@dataclass
class PartnerOutput:
    """Per composition: ``log_dmax`` log10(1 + Dmax/mm), ``proba`` ``(B, 3)`` crystal /
    ribbon / bmg, ``log_dmax_bmg`` log10(1 + Dmax/mm) if a bulk glass."""

    log_dmax: np.ndarray
    proba: np.ndarray
    log_dmax_bmg: np.ndarray


def predict_boosters(boosters: dict, d: np.ndarray) -> PartnerOutput:
    """The boosters' outputs on descriptors ``d`` ``(B, F)``."""
    proba = np.asarray(boosters["classes"].predict(d), dtype=float).reshape(len(d), -1)
    return PartnerOutput(np.asarray(boosters["log_dmax"].predict(d), dtype=float), proba,
                         np.asarray(boosters["log_dmax_bmg"].predict(d), dtype=float))


def _text(booster) -> str:
    """A booster's LightGBM text form (a ``lightgbm.Booster`` or the text itself)."""
    return booster if isinstance(booster, str) else booster.model_to_string()


def _lightgbm_booster(name: str, booster):
    """A ``lightgbm.Booster`` from one (returned as is) or from its text."""
    if not isinstance(booster, str):
        return booster
    try:
        import lightgbm as lgb
    except ImportError:
        raise GfaError("this model's descriptor partner needs LightGBM on this device: "
                       "pip install lightgbm") from None
    try:
        return lgb.Booster(model_str=booster)
    except lgb.basic.LightGBMError as exc:
        raise GfaError(f"partner booster {name} is not a LightGBM text model ({exc})"
                       ) from None


class Partner:
    """Descriptor featurizer + boosters; ``predict(x)`` on a ``(B, N)`` fraction tensor.

    ``boosters``: per name of :data:`BOOSTERS`, a ``lightgbm.Booster`` or its text (the
    stored form). ``trees`` (:data:`TREE_ENGINES`): where they run (``auto``: see
    :data:`TORCH_TREES`; LightGBM wherever a booster uses what
    :class:`~gfascreen.model.trees.Forest` refuses). Each engine reads the boosters the
    first time a batch needs it."""

    def __init__(self, table: ElementTable, vocabulary: list[str], boosters: dict,
                 device: str | torch.device = "cpu", trees: str = "auto"):
        missing = [b for b in BOOSTERS if b not in boosters]
        if missing:
            raise GfaError(f"the partner lacks booster(s) {missing}")
        if trees not in TREE_ENGINES:
            raise GfaError(f"trees={trees!r}: one of {', '.join(TREE_ENGINES)}")
        self.table = table
        self.vocabulary = list(vocabulary)
        self.boosters = boosters
        self.featurizer = DescriptorFeaturizer(table, self.vocabulary, device)
        self.device = self.featurizer.device
        self._engines = {"torch": None, "lightgbm": None}  # read when first needed
        self._policy = trees
        if trees == "torch":
            self._engine("torch", required=True)
        elif trees == "lightgbm":
            self._engine("lightgbm")

    @property
    def trees(self) -> str:
        """Where the trees run: ``torch``, ``lightgbm`` or, on a CPU with ``auto``,
        ``torch up to 256 rows, else lightgbm``."""
        if self._policy != "auto":
            return self._policy
        if self.device.type in TORCH_TREES:
            return "torch"
        return f"torch up to {CPU_TORCH_ROWS} rows, else lightgbm"

    def engine_for(self, rows: int) -> str:
        """The engine a batch of ``rows`` descriptor rows runs in."""
        if self._policy != "auto":
            return self._policy
        if self.device.type in TORCH_TREES or rows <= CPU_TORCH_ROWS:
            return "torch" if self._engine("torch") is not None else "lightgbm"
        return "lightgbm"

    def _engine(self, name: str, required: bool = False) -> dict | None:
        """The boosters as ``name`` evaluates them (None: ``torch`` refuses them)."""
        if self._engines[name] is None:
            if name == "lightgbm":
                self._engines[name] = {n: _lightgbm_booster(n, b)
                                       for n, b in self.boosters.items()}
            else:
                self._engines[name] = self._forests(required) or False
        return self._engines[name] or None

    def _forests(self, required: bool) -> dict | None:
        from gfascreen.model.trees import Forest, ForestUnsupported

        try:
            return {n: Forest(_text(self.boosters[n]), self.device) for n in BOOSTERS}
        except ForestUnsupported:
            if required:
                raise
            return None

    def over(self, elements: list[str]) -> Partner:
        """This partner reading ``(B, len(elements))`` fractions over ``elements`` (any
        elements of its table: e.g. all of them, for alloys outside the network's
        vocabulary); the same boosters, nothing parsed again."""
        other = copy.copy(self)
        other.vocabulary = list(elements)
        other.featurizer = DescriptorFeaturizer(self.table, other.vocabulary, self.device,
                                                self.featurizer.dtype)
        return other

    def descriptors(self, x: torch.Tensor) -> np.ndarray:
        return self.featurizer(x).cpu().numpy()

    def predict(self, x: torch.Tensor, around_at_pct: float = 0.0) -> PartnerOutput:
        """The partner at each composition of ``x`` ``(B, N)`` (fractions), or, with
        ``around_at_pct`` > 0, its mean over the composition and its neighbours that far
        away (:mod:`gfascreen.model.local_average`: no step of a tree at a training
        alloy)."""
        if around_at_pct <= 0:
            return self._at(x)
        from gfascreen.model.local_average import average, neighbours

        xs, owner = neighbours(x, around_at_pct)
        o = self._at(xs)
        return PartnerOutput(*(average(v, owner, len(x))
                               for v in (o.log_dmax, o.proba, o.log_dmax_bmg)))

    def _at(self, x: torch.Tensor) -> PartnerOutput:
        return self.predict_descriptors(self.featurizer(x))

    def predict_descriptors(self, d: np.ndarray | torch.Tensor) -> PartnerOutput:
        """The boosters' outputs on descriptors ``d`` ``(B, F)`` (an array, or a tensor on
        the partner's device), in the engine :meth:`engine_for` names."""
        name = self.engine_for(len(d))
        engine = self._engine(name, required=True)
        if name == "lightgbm":
            d = d.cpu().numpy() if isinstance(d, torch.Tensor) else np.asarray(d)
            return predict_boosters(engine, d)
        return PartnerOutput(*(engine[n].predict(d).cpu().numpy() for n in BOOSTERS))

    # -- storage -------------------------------------------------------------------------
    def save(self, path: Path) -> dict:
        """Write the table and the boosters' text files into ``path``; returns the
        manifest entry (files named, hashes added by the caller's ``ModelDir.entry``; the
        table's ``elements``, what the partner can read)."""
        self.table.save(path / TABLE_FILE)
        files = {}
        for name in BOOSTERS:
            f = f"partner_{name}.txt"
            tmp = path / f".{f}.tmp"
            tmp.write_text(_text(self.boosters[name]))
            tmp.replace(path / f)
            files[name] = f
        return {"table": TABLE_FILE, "boosters": files,
                "features": DescriptorFeaturizer.feature_labels(),
                "elements": list(self.table.elements)}

    @classmethod
    def load(cls, md, device: str | torch.device = "cpu", trees: str = "auto"
             ) -> Partner | None:
        """The partner of a :class:`~gfascreen.model.saved.ModelDir` (None without one);
        every file is verified against its checksum before it is read. On the torch path
        the text is parsed by :mod:`gfascreen.model.trees` alone (LightGBM not needed)."""
        from gfascreen.model.trees import model_features

        part = md.manifest.partner
        if part is None:
            return None
        table = ElementTable.load(part.table.verified(md.path))
        boosters = {}
        for name in BOOSTERS:
            f = part.boosters[name].verified(md.path)
            try:
                boosters[name] = f.read_text()
                features = model_features(boosters[name])
            except (GfaError, UnicodeDecodeError) as exc:
                raise GfaError(f"partner file {f} is not a LightGBM text model ({exc})"
                               ) from None
            if features != len(DescriptorFeaturizer.feature_labels()):
                raise GfaError("the partner's boosters read a different descriptor set than "
                               "this gfascreen computes; retrain the partner")
        return cls(table, md.manifest.vocabulary["elements"], boosters, device, trees)
