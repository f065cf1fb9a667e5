"""Reports are typed results: each section the shipped model's manifest records reads into
its dataclass and writes back the same JSON, the card and CALIBRATION.md are rendered from
them alone, and a malformed section is a one-line error naming it. The screening report's page:
``test_report_page.py``."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from gfascreen.errors import GfaError
from gfascreen.model.evaluation.calibration_report import (
    CalibrationReport,
    CandidateReports,
    read_calibration,
)
from gfascreen.model.evaluation.evaluation_report import Evaluation
from gfascreen.model.evaluation.recorded import QuantizationCheck, Recorded
from gfascreen.model.evaluation.stack_report import StackEvaluation

DEFAULT = Path(__file__).resolve().parent.parent / "gfascreen" / "models" / "default"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DEFAULT / "manifest.json").read_text())


@pytest.mark.parametrize("key, kind", [("calibration_report", CalibrationReport),
                                       ("stack_evaluation", StackEvaluation),
                                       ("quantization_check", QuantizationCheck)])
def test_sections_round_trip_to_the_same_json(manifest, key, kind):
    d = manifest[key]
    assert json.dumps(kind.from_dict(d, key).to_dict()) == json.dumps(d)


def test_evaluations_round_trip(manifest):
    for grouping, d in manifest["evaluation"].items():
        ev = Evaluation.from_dict(d, grouping)
        # Same keys, values and order, except an older calibration's per-confidence keys.
        assert json.dumps(ev.to_dict(), sort_keys=True) == json.dumps(d, sort_keys=True)
        if grouping == "random":
            assert json.dumps(ev.to_dict()) == json.dumps(d)
    system = Evaluation.from_dict(manifest["evaluation"]["system"])
    assert isinstance(system.calibration, CandidateReports)  # recorded by an older version
    assert system.measured_calibration is None and system.run == "runs/floor/system5"
    rec = Recorded.from_extra(manifest)
    assert set(rec.to_extra()) == {"evaluation", "stack_evaluation", "calibration_report",
                                   "quantization_check"}
    assert all(rec.to_extra()[k] == manifest[k] for k in rec.to_extra())


def test_full_measurement_round_trips_with_its_candidates(manifest):
    """An evaluation's calibration keeps every candidate (the manifest's does not)."""
    d = copy.deepcopy(manifest["calibration_report"])
    key = "one distribution, thickness scale 1 + 0.5 x members' spread / median"
    d = {"candidates": {key: d["intervals"]}, **d}
    rep = read_calibration(d, "calibration")
    assert isinstance(rep, CalibrationReport) and json.dumps(rep.to_dict()) == json.dumps(d)
    assert rep.without_candidates().to_dict() == manifest["calibration_report"]
    assert rep.candidates[key].at("bmg").n == 760


def test_missing_key_is_one_line_naming_it(manifest):
    d = copy.deepcopy(manifest["calibration_report"])
    del d["intervals"]["bmg"]["90"]["coverage"]
    with pytest.raises(GfaError, match=r"^calibration_report\.intervals\.bmg\.90: missing "
                                       r"'coverage'$"):
        CalibrationReport.from_dict(d, "calibration_report")


def test_shipped_card_and_calibration_page_render_identically(manifest):
    from gfascreen.model.evaluation.card import model_card
    from gfascreen.model.evaluation.markdown import calibration_page

    assert model_card("default") == (DEFAULT / "MODEL_CARD.md").read_text(encoding="utf-8")
    page = calibration_page(CalibrationReport.from_dict(manifest["calibration_report"]),
                            manifest["id"])
    assert page == (DEFAULT / "CALIBRATION.md").read_text(encoding="utf-8")


def _copy(tmp_path: Path, edit) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy2(DEFAULT / "known_alloys.parquet", d)
    m = json.loads((DEFAULT / "manifest.json").read_text())
    edit(m)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_card_reads_the_measurement_from_the_manifest_not_the_page(tmp_path):
    """No CALIBRATION.md beside it: the card's tables still come from the manifest, and a
    changed figure there changes them."""
    from gfascreen.model.evaluation.card import model_card

    def edit(m):
        m["calibration_report"]["intervals"]["bmg"]["90"]["coverage"] = 0.5

    card = model_card(_copy(tmp_path, edit))
    assert "| bmg | 90 % | 760 | 0.500 | 10.88 |" in card
    assert "### Intervals and lower bounds" in card and "## Intervals" not in card.replace(
        "### Intervals", "")


@pytest.mark.parametrize("edit, named", [
    (lambda m: m["calibration_report"]["intervals"]["bmg"]["90"].pop("coverage"),
     "calibration_report.intervals.bmg.90: missing 'coverage'"),
    (lambda m: m["calibration_report"].pop("chosen"), "calibration_report: missing 'chosen'"),
    (lambda m: m["calibration_report"].update(probability_binning="domain2"),
     "calibration_report.probabilities: no 'domain2'"),
    (lambda m: m["stack_evaluation"]["system"]["parts"]["stack"].update(r2_mm="high"),
     "stack_evaluation.system.parts.stack.r2_mm: expected a number, got str"),
    (lambda m: m["evaluation"]["random"]["model"].pop("all"),
     "evaluation.random.model: missing 'all'"),
    (lambda m: m["evaluation"]["random"]["model"]["bmg"].update(r2_cm=1.0),
     "evaluation.random.model.bmg: unexpected 'r2_cm'"),
    (lambda m: m["quantization_check"].update(member_mb=24.66),
     "quantization_check.member_mb: expected a list, got float"),
    (lambda m: m.update(calibration_report=[]),
     "calibration_report: expected a mapping, got list"),
])
def test_malformed_section_is_one_line_naming_it(tmp_path, edit, named):
    from gfascreen.model.evaluation.card import model_card

    with pytest.raises(GfaError) as exc:
        model_card(_copy(tmp_path, edit))
    msg = str(exc.value)
    assert named in msg and "\n" not in msg, msg


def test_cli_card_reports_a_malformed_section_without_a_traceback(tmp_path, capsys):
    from gfascreen import cli

    d = _copy(tmp_path, lambda m: m["stack_evaluation"]["random"].pop("parts"))
    assert cli.main(["card", str(d)]) == 2
    err = capsys.readouterr().err
    assert "stack_evaluation.random: missing 'parts'" in err and "Traceback" not in err
    assert not (d / "MODEL_CARD.md").exists()


def test_one_module_renders_the_reports():
    """Every table of the model's reports is drawn by model/evaluation/markdown.py; the
    card reads no rendered page back."""
    root = Path(__file__).resolve().parent.parent / "gfascreen" / "model"
    drawing = sorted(str(f.relative_to(root)) for f in root.rglob("*.py")
                     if "---|" in f.read_text(encoding="utf-8"))
    assert drawing == ["evaluation/markdown.py"]
    card = (root / "evaluation" / "card.py").read_text(encoding="utf-8")
    assert '"CALIBRATION.md"' not in card and "CALIBRATION_PAGE" not in card


def test_evaluate_statements_checks_a_model(calibrated_stacked_model, tmp_path, capsys):
    """``gfascreen evaluate MODEL --statements SYSTEM:STEP``: the checks no fold measures
    (plateaus over the system's grid, pure metals, thick bulk glasses, the famous ones),
    printed and written as JSON; a bad grid, or a run's option beside it, is one line."""
    import torch

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.evaluation.moved import REFERENCE_ALLOYS
    from gfascreen.model.evaluation.statement_checks import largest_shares
    from tests.helpers import one_line_error, run_cli

    out = tmp_path / "checks.json"
    code, text, err = run_cli(["evaluate", str(calibrated_stacked_model), "--statements",
                               "La-Co-Al:10", "--json", str(out)], capsys)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res["system"] == "La-Co-Al" and res["points"] == 66
    assert 1 / 66 <= res["p_glass_largest_share"] <= 1
    assert 0 <= res["pure_max_p_glass"] <= 1 and res["pure_worst"]
    assert [r["formula"] for r in res["references"]] == list(REFERENCE_ALLOYS)
    assert "66 grid points" in text and "pure metals" in text
    # The share counts rows holding one value: ten copies of one alloy among twenty rows
    # hold at least half (a random row may share their value), twenty copies all of it.
    ens = Ensemble.load(calibrated_stacked_model, device="cpu")
    rand = torch.randn(11, len(ens.vocabulary.elements),
                       generator=torch.Generator().manual_seed(0))
    x = torch.softmax(rand, 1)
    assert largest_shares(ens, torch.cat([x[:1].repeat(10, 1), x[1:]]))[0] >= 0.5
    assert largest_shares(ens, x[:1].repeat(20, 1)) == (1.0, 1.0)
    for extra, msg in ((["--statements", "La-Co-Al:ten"], "give a system and a step"),
                       (["--statements", "La-Co-Xx:10"], "Xx"),
                       (["--statements", "La-Co-Al:10", "--into", "m"], "--into: for "),
                       (["--json", str(out)], "--json writes the --statements checks")):
        code, _, err = run_cli(["evaluate", str(calibrated_stacked_model), *extra], capsys)
        one_line_error(code, err, msg)
