"""Reports are typed results: each section the shipped model's manifest records reads into
its dataclass and writes back the same JSON."""

import copy
import json
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
    d = {"candidates": {"cps, knn, none, beta 0.01": d["intervals"]}, **d}
    rep = read_calibration(d, "calibration")
    assert isinstance(rep, CalibrationReport) and json.dumps(rep.to_dict()) == json.dumps(d)
    assert rep.without_candidates().to_dict() == manifest["calibration_report"]
    assert rep.candidates["cps, knn, none, beta 0.01"].at("bmg").n == 812


def test_missing_key_is_one_line_naming_it(manifest):
    d = copy.deepcopy(manifest["calibration_report"])
    del d["intervals"]["bmg"]["90"]["coverage"]
    with pytest.raises(GfaError, match=r"^calibration_report\.intervals\.bmg\.90: missing "
                                       r"'coverage'$"):
        CalibrationReport.from_dict(d, "calibration_report")
