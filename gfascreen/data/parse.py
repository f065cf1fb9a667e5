"""Formula parsing and normalisation to at.% (pymatgen does the parsing)."""

from __future__ import annotations

import re
import warnings

from pymatgen.core import Composition, Element

from gfascreen.errors import GfaError

# Characters a composition formula may contain.
_ALLOWED = re.compile(r"^[A-Za-z0-9.()\[\]{} ]+$")
_SYMBOL = re.compile(r"[A-Z][a-z]?")
# Real, stable-enough elements: H (1) .. Pu (94); D and T (isotopes) are not elements here.
_MAX_Z = 94
#: Decimal places of at.% kept in the normalised composition key (0.01 at.%).
KEY_DECIMALS = 2


_GROUP = re.compile(r"\(([^()]*)\)\s*(\d+(?:\.\d+)?|\.\d+)?")


def _composition(text: str) -> Composition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Composition(text)


def _flatten_groups(text: str) -> str:
    """Expand ``(A a B b)x`` into plain amounts, innermost group first.

    Metallurgical convention: a group's contents give proportions, normalised to sum to 1,
    and the multiplier after the group is the group's share; so ``(Ce10La90)68Al32`` is
    Ce 6.8, La 61.2, Al 32, just as ``(Ce0.1La0.9)68Al32`` is.
    """
    while "(" in text:
        def expand(m: re.Match) -> str:
            inner = _composition(m.group(1))
            total = sum(inner.values())
            mult = float(m.group(2)) if m.group(2) else 1.0
            return "".join(f"{el}{amt / total * mult:.10g}" for el, amt in inner.items()
                           if amt > 0)

        new = _GROUP.sub(expand, text)
        if new == text:
            raise ValueError("unbalanced or empty parentheses")
        text = new
    return text


def parse_formula(formula: str) -> dict[str, float]:
    """Parse an alloy formula into at.% (summing to 100), elements sorted by symbol.

    Accepts any element order, amounts that do not sum to 100, nested parentheses that
    mix fractions and percentages (``(Zr0.62Cu0.23Fe0.05Al0.10)93Ag7``), and elements
    listed at zero (dropped). Raises :class:`GfaError` with the reason otherwise.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise GfaError(f"empty formula {formula!r}")
    text = formula.strip()
    if not _ALLOWED.match(text):
        raise GfaError(f"formula {formula!r} contains characters other than symbols and numbers")
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        raise GfaError(f"formula {formula!r} has unbalanced brackets")
    for sym in _SYMBOL.findall(text):
        if sym in ("D", "T") or not Element.is_valid_symbol(sym) or Element(sym).Z > _MAX_Z:
            raise GfaError(f"formula {formula!r}: {sym!r} is not a supported chemical element")
    try:
        comp = _composition(_flatten_groups(text.replace("[", "(").replace("]", ")")))
    except Exception as exc:  # pymatgen raises ValueError/KeyError/... on bad formulas
        raise GfaError(f"formula {formula!r} could not be parsed ({exc})") from None
    amounts: dict[str, float] = {}
    for el, amt in comp.items():
        sym = str(getattr(el, "symbol", el))
        try:
            z = Element(sym).Z
        except Exception:
            raise GfaError(f"formula {formula!r}: {sym!r} is not a chemical element") from None
        if sym in ("D", "T") or not 1 <= z <= _MAX_Z:
            raise GfaError(f"formula {formula!r}: {sym!r} is not a supported element")
        if amt < 0:
            raise GfaError(f"formula {formula!r}: negative amount for {sym}")
        if amt > 0:
            amounts[sym] = amounts.get(sym, 0.0) + float(amt)
    total = sum(amounts.values())
    if total <= 0:
        raise GfaError(f"formula {formula!r} has no element with a positive amount")
    return {el: 100.0 * amounts[el] / total for el in sorted(amounts)}


def normalise(at_pct: dict[str, float]) -> dict[str, float]:
    """Round at.% to the key precision (0.01 at.%) and renormalise to sum to 100."""
    rounded = {el: round(v, KEY_DECIMALS) for el, v in at_pct.items()}
    rounded = {el: v for el, v in rounded.items() if v > 0}
    total = sum(rounded.values())
    return {el: 100.0 * v / total for el, v in sorted(rounded.items())}


def _fmt(v: float) -> str:
    s = f"{v:.{KEY_DECIMALS}f}".rstrip("0").rstrip(".")
    return s or "0"


def composition_key(at_pct: dict[str, float]) -> str:
    """Normalised formula used to merge sources, e.g. ``Al25Co20La55``.

    Elements in alphabetical order, at.% rounded to 0.01; an element that rounds to zero
    is left out (``Zr55Cu45Hf0.0001`` -> ``Cu45Zr55``).
    """
    return "".join(f"{el}{_fmt(v)}" for el, v in sorted(at_pct.items()) if _fmt(v) != "0")


def alloy_system(at_pct: dict[str, float]) -> str:
    """The alloy system, elements in alphabetical order joined by dashes (``Al-Co-La``)."""
    return "-".join(sorted(at_pct))
