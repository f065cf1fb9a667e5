"""The prediction columns: the one module that names them (``tests/test_layout.py``).

Every column that ``screen`` and ``predict`` write from a model's predictions is a
:class:`Column` here, with its unit and meaning. Code elsewhere imports this module as
``from gfascreen.model import columns as pc`` and reads ``frame[pc.DMAX_MM]`` (a Column is the
``str`` of its name), never the string. :data:`ORDER` is the order they are written in (one
``p_dmax_ge_T`` column per threshold T in mm, :func:`threshold_column`). "Calibrated" means
fitted on leave-system-out predictions (:mod:`gfascreen.model.evaluation.calibrate`).

The same names are used, with the same meaning, in the out-of-fold frames of training and
calibration (``p_bmg`` there is the raw class score, before calibration). The rows'
bookkeeping (``input``, ``composition``, ``in_vocabulary``, ``reason``, ``note``; ``route``,
:data:`ROUTE`, is named here for its values) and the
known alloys' ``measured_*`` columns (:mod:`gfascreen.screening.known`) are not predictions
and are not named here; the alloy table's measured ``dmax_mm`` is
:data:`gfascreen.data.labels.DMAX_COLUMN`.

Two names keep two meanings, by decision (issue 38): renaming an output column would break
users' tables, and renaming the stored frames' columns would change the shipped model's
``lso_oof.parquet``. ``dmax_mm`` is measured in the alloy table and in out-of-fold frames
(:data:`~gfascreen.data.labels.DMAX_COLUMN`, predictions there are ``pred_mm``) and predicted
in outputs (:data:`DMAX_MM`); where both meet in an output, the measured value is
``measured_dmax_mm``. ``p_bmg`` is the raw class score in out-of-fold and calibration frames,
whose calibrated value is ``p_bmg_cal`` (:data:`gfascreen.model.statements.P_BMG_CAL`), and
calibrated in outputs (:data:`P_BMG`).

Imports nothing of gfascreen: every layer may read it.
"""

from __future__ import annotations


class Column(str):
    """One prediction column: a ``str`` equal to its name in the tables (so
    ``frame[pc.DMAX_MM]`` reads it and ``str(pc.DMAX_MM)`` is the plain name), with its
    ``unit`` ("" for a dimensionless share or flag) and ``description`` (what it means).
    Immutable, like the string it is."""

    unit: str
    description: str

    def __new__(cls, name: str, unit: str, description: str) -> Column:
        self = super().__new__(cls, name)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "description", description)
        return self

    def __setattr__(self, key, value):
        raise AttributeError(f"a Column is immutable (tried to set {key!r})")

    def __getnewargs__(self):
        return str(self), self.unit, self.description

    def __repr__(self) -> str:
        # As its name: messages that show a list of columns (or a KeyError) read as before.
        return repr(str(self))

    @property
    def name(self) -> str:
        """The column's name in the tables (a plain ``str``)."""
        return str(self)


DMAX_MM = Column(
    "dmax_mm", "mm",
    "predicted Dmax, the critical casting diameter (mm): the mean of the alloy's predictive "
    "distribution (crystal 0 mm, ribbon 0.1 mm, bulk glass its thickness), the column that "
    "ranks; without a calibration the stack's P(bmg)-weighted reading or the members' mean")
DMAX_STD = Column("dmax_std", "mm",
                  "standard deviation of Dmax across members (mm): the raw spread")
DMAX_LO = Column("dmax_lo", "mm",
                 "lower end of the interval (mm): the distribution's (1 - c)/2 quantile at "
                 "confidence c (NaN without a calibration)")
DMAX_HI = Column("dmax_hi", "mm",
                 "upper end of the interval (mm): the distribution's (1 + c)/2 quantile, "
                 "never capped (NaN without a calibration)")
DMAX_AT_LEAST = Column(
    "dmax_at_least", "mm",
    "one-sided lower bound (mm): the distribution's 1 - c quantile, Dmax is at least this "
    "with confidence c (NaN without a calibration)")
DMAX_BMG_MM = Column(
    "dmax_bmg_mm", "mm",
    "the Dmax (mm) the alloy would have if it forms a bulk glass: the median of its "
    "thickness given a bulk glass (the stack's bulk-glass thickness without a calibration; "
    "the members' mean without a stack)")
DMAX_BMG_LO = Column("dmax_bmg_lo", "mm",
                     "lower end of the interval of the thickness given a bulk glass (mm; "
                     "at least 1 mm; NaN without a calibration)")
DMAX_BMG_HI = Column("dmax_bmg_hi", "mm",
                     "upper end of the interval of the thickness given a bulk glass (mm; "
                     "NaN without a calibration)")
BEYOND_RECORD = Column(
    "beyond_record", "",
    "an interval's upper end (dmax_hi or dmax_bmg_hi) lies beyond the thickest glass ever "
    "measured (72 mm): that end is an extrapolation")
LOG_DMAX = Column("log_dmax", "log10(1 + Dmax/mm)", "log10(1 + dmax_mm/mm)")
LOG_DMAX_STD = Column("log_dmax_std", "log10(1 + Dmax/mm)",
                      "spread of log10(1 + Dmax/mm) across members")
DIFFICULTY_LOG = Column(
    "difficulty_log", "log10(1 + Dmax/mm)",
    "σ, the scale (a standard deviation) of the thickness given a bulk glass: the least "
    "where the members agree, more where they spread (the members' spread without a "
    "calibration)")
BMG_LOC_LOG = Column(
    "bmg_loc_log", "log10(1 + Dmax/mm)",
    "μ, the location of the thickness given a bulk glass: log10(1 + Dmax/mm) = μ + σ z "
    "(z: the model's conformal residuals), what is below 1 mm put at 1 mm")
P_GLASS = Column("p_glass", "",
                 "calibrated probability of a glass, ribbon or bulk (the class head's "
                 "1 - P(crystal) without a calibration)")
P_BMG = Column("p_bmg", "",
               "calibrated probability of a bulk metallic glass: castable at 1 mm or thicker "
               "(equal to p_dmax_ge_1)")
P_CRYSTAL = Column("p_crystal", "", "1 - p_glass")
P_RIBBON = Column("p_ribbon", "", "p_glass - p_bmg: a glass only as a melt-spun ribbon")
#: Thresholds (mm) of the exceedance columns ``p_dmax_ge_T`` by default.
DEFAULT_THRESHOLDS_MM = (1.0, 5.0, 10.0)
#: The prefix of the exceedance columns; the threshold follows in mm (:func:`threshold_column`).
THRESHOLD_PREFIX = "p_dmax_ge_"
P_DMAX_GE = Column(THRESHOLD_PREFIX + "T", "",
                   "calibrated probability that Dmax >= T mm (NaN without a calibration)")
IN_DOMAIN = Column(
    "in_domain", "",
    "at least the model's minimum number of training alloys within its radius (at.%, L1) "
    "of the composition; the rule is in the model's manifest")

#: Which parts predicted a row (``predict``'s tables, beside ``in_vocabulary``; not a
#: prediction column of a screen, whose grid lies in the network's vocabulary).
ROUTE = Column(
    "route", "",
    "which parts of the model predicted the row: 'network+partner' (the members and the "
    "descriptor partner, joined by the stack), 'network' (a model without a partner) or "
    "'partner only' (an element outside the network's vocabulary: the descriptor partner "
    "alone, read through its own calibrated distribution, never in domain); '' where "
    "nothing could be scored")
#: The values of :data:`ROUTE`.
ROUTE_STACK, ROUTE_NETWORK, ROUTE_PARTNER_ONLY = "network+partner", "network", "partner only"

#: Every prediction column in the order the tables hold them (``P_DMAX_GE`` stands for one
#: column per threshold).
ORDER: tuple[Column, ...] = (DMAX_MM, DMAX_STD, DMAX_LO, DMAX_HI, DMAX_AT_LEAST, DMAX_BMG_MM,
                             DMAX_BMG_LO, DMAX_BMG_HI, LOG_DMAX, LOG_DMAX_STD, BMG_LOC_LOG,
                             DIFFICULTY_LOG, P_GLASS, P_BMG, P_CRYSTAL, P_RIBBON, P_DMAX_GE,
                             BEYOND_RECORD, IN_DOMAIN)
#: The class probabilities (coherent: crystal + ribbon + bmg = 1).
PROBABILITIES: tuple[Column, ...] = (P_GLASS, P_BMG, P_CRYSTAL, P_RIBBON)
#: The class probabilities a class head or stack gives, by class name (``manifest.classes``).
CLASS_PROBABILITY = {"crystal": P_CRYSTAL, "ribbon": P_RIBBON, "bmg": P_BMG}
#: Name -> description, :data:`ORDER`'s order (what the README and ``--help`` document).
COLUMNS: dict[str, str] = {c.name: c.description for c in ORDER}


def threshold_column(t_mm: float) -> str:
    """Column name of P(Dmax >= t_mm): ``p_dmax_ge_5`` for 5 mm, ``p_dmax_ge_2.5``."""
    return f"{THRESHOLD_PREFIX}{t_mm:g}"


def is_threshold_column(name: str) -> bool:
    """Whether ``name`` is an exceedance column ``p_dmax_ge_T``."""
    return str(name).startswith(THRESHOLD_PREFIX)


def threshold_text(name: str) -> str:
    """The threshold of an exceedance column as written in its name (``"5"``, ``"2.5"``; mm)."""
    return str(name)[len(THRESHOLD_PREFIX):]


def threshold_columns(columns) -> list[str]:
    """The exceedance columns among ``columns`` (a frame's columns), in their order."""
    return [c for c in columns if is_threshold_column(c)]


def prediction_columns(thresholds_mm=DEFAULT_THRESHOLDS_MM) -> list[str]:
    """The prediction columns in :data:`ORDER` for these thresholds (mm)."""
    out = []
    for c in ORDER:
        out += [threshold_column(t) for t in thresholds_mm] if c is P_DMAX_GE else [c.name]
    return out
