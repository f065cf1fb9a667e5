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

    Accepts any element order, amounts that do not sum to 100 (:func:`amount_note` says
    so), nested parentheses that mix fractions and percentages
    (``(Zr0.62Cu0.23Fe0.05Al0.10)93Ag7``), and elements listed at zero (dropped). Raises
    :class:`GfaError` with the reason otherwise; a formula written in one case
    (``cu46zr46al8``, ``CU46ZR46AL8``) is refused with the formula it most likely means.
    """
    try:
        return _parse_formula(formula)
    except GfaError as exc:
        hint = case_suggestion(formula)
        if hint is None:
            raise
        raise GfaError(f"{exc}; element symbols need their capitals: did you mean "
                       f"{hint}?") from None


def _valid_symbol(sym: str) -> bool:
    return (sym not in ("D", "T") and Element.is_valid_symbol(sym)
            and Element(sym).Z <= _MAX_Z)


def _symbols(run: str) -> list[str] | None:
    """A run of letters in one case as the fewest element symbols (``cuzr`` -> Cu, Zr),
    or None when it cannot be read as symbols."""
    run = run.lower()
    best: list[list[str] | None] = [[]] + [None] * len(run)
    for i in range(1, len(run) + 1):
        for n in (2, 1):
            prev = best[i - n] if i - n >= 0 else None
            sym = run[i - n:i].capitalize()
            if prev is not None and len(sym) == n and _valid_symbol(sym) and (
                    best[i] is None or len(prev) + 1 < len(best[i])):
                best[i] = [*prev, sym]
    return best[-1]


def case_suggestion(formula) -> str | None:
    """For a formula whose letters are all lower case or all upper case, the same formula
    with element symbols capitalised when that reads as a formula (else None)."""
    if not isinstance(formula, str):
        return None
    letters = re.sub(r"[^A-Za-z]", "", formula)
    if not letters or not (letters.islower() or letters.isupper()):
        return None
    out, pos = [], 0
    for m in re.finditer(r"[A-Za-z]+", formula):
        syms = _symbols(m.group())
        if syms is None:
            return None
        out += [formula[pos:m.start()], "".join(syms)]
        pos = m.end()
    hint = "".join(out) + formula[pos:]
    if hint == formula:
        return None
    try:
        _parse_formula(hint)
    except GfaError:
        return None
    return hint


#: How far from 100 (or, for fractions, from 1) a total may be and still count as that:
#: rounding the amounts to 0.1 at.% leaves up to a few tenths.
_TOTAL_TOLERANCE = 0.5


def amount_total(formula: str) -> float:
    """The sum of a formula's amounts as written (groups count as their multiplier)."""
    text = formula.strip().replace("[", "(").replace("]", ")")
    return float(sum(_composition(_flatten_groups(text)).values()))


def amount_note(formula) -> str:
    """A note for a formula (one that parses) whose amounts sum neither to 100 nor, as
    fractions, to 1, e.g. ``amounts summed to 80, normalised to 100 at.%``; empty
    otherwise, also for what is not a formula (its reason says why)."""
    if not isinstance(formula, str):
        return ""
    try:
        total = amount_total(formula)
    except Exception:  # not a formula: the row's reason says so
        return ""
    if abs(total - 100) <= _TOTAL_TOLERANCE or abs(total - 1) <= _TOTAL_TOLERANCE / 100:
        return ""
    return f"amounts summed to {total:.4g}, normalised to 100 at.%"


def _parse_formula(formula: str) -> dict[str, float]:
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
