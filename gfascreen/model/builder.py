"""A saved model directory's parts, chosen at build time: what
:meth:`Ensemble.load <gfascreen.model.ensemble.Ensemble.load>` builds its predictor from.

:func:`build` verifies and reads each part through its owner: the members
(:class:`~gfascreen.model.members.Members`), the descriptor partner and the stack that
makes ``dmax_mm`` (:class:`~gfascreen.model.stack_reading.StackReading`), the
applicability domain (:class:`~gfascreen.model.domain.Domain`), the calibration and the
casts' correction (:class:`~gfascreen.model.calibrated.CalibratedColumns`), into one
:class:`Parts` record that is never changed afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model.calibrated import CalibratedColumns
from gfascreen.model.domain import Domain
from gfascreen.model.members import Members
from gfascreen.model.saved import ModelDir
from gfascreen.model.stack_reading import StackReading

#: What ``parts=`` predicts with: ``"stack"``, the stack over the members and the
#: descriptor partner (where the model has them); ``"network"``, the members alone.
PARTS = ("stack", "network")


@dataclass(frozen=True)
class Parts:
    """A predictor's parts: the model directory, the fold members' forward pass, the
    partner and stack that make ``dmax_mm`` (None: the members' mean makes it), the
    applicability domain, the calibrated columns and the known alloys (None: none)."""

    model_dir: ModelDir
    members: Members
    stacked: StackReading | None
    domain: Domain
    calibrated: CalibratedColumns
    known_alloys: pd.DataFrame | None


def build(path: str | os.PathLike | None = "default", device: str = "auto",
          precision: str = "fp32", parts: str = "stack") -> Parts:
    """The parts of the model directory ``path``
    (``"default"``: the shipped model) on ``device`` in ``precision`` (see
    :meth:`Ensemble.load <gfascreen.model.ensemble.Ensemble.load>`), predicting with
    ``parts`` (:data:`PARTS`). With ``parts="network"`` a model with a stack drops its
    calibration: it was fitted on the stack's outputs, not the members'."""
    from gfascreen.featurize import OPImageFeaturizer
    from gfascreen.model.calibration import load_model_calibration
    from gfascreen.model.precision import check_precision, resolve_device, resolve_precision
    from gfascreen.model.saved import bf16_record

    if parts not in PARTS:
        raise GfaError(f"parts={parts!r}: choose {' or '.join(map(repr, PARTS))}")
    dev = resolve_device(device)
    check_precision(precision, dev)
    md = ModelDir(path)
    precision = resolve_precision(precision, dev, bf16_record(md.manifest))
    members = Members.load(md, dev, precision)
    calibration = load_model_calibration(md)
    known = md.known_alloys()
    reader = OPImageFeaturizer(md.manifest.image_spec.vocabulary)
    domain = Domain.of(known, reader, md.manifest, dev)
    casts = None if md.manifest.casts is None else md.manifest.casts.read(md.path, reader)
    stacked = StackReading.load(md, dev) if parts == "stack" else None
    if parts == "network" and md.manifest.stack is not None:
        calibration = None
    return Parts(md, members, stacked, domain, CalibratedColumns(calibration, casts), known)
