"""The bad-input corpus: every case gets exit status 2 (or 0 where the batch goes on),
one error line without a traceback, and leaves no partial output behind.

Cases run in-process through the CLI's ``main`` (fast); each names what it breaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import one_line_error, run_cli, usage_error


@pytest.fixture
def model_copy(tiny_ensemble, tmp_path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(tiny_ensemble, d)
    return d


def _screen(model, out, *extra):
    return ["screen", "--system", "La-Co-Al", "--step", "10", "--model", str(model),
            "--device", "cpu", "--out", str(out), "--quiet", *extra]


# -- screen: grid and options (no model needed) -------------------------------------------
SCREEN_CASES = [
    (["--system", "La-Co-Xx"], "not a chemical element"),
    (["--system", "La-La-Al"], "listed twice"),
    (["--system", "La--Al"], "separated by dashes"),
    (["--system", "La"], "need 2 to 6"),
    (["--step", "0.3"], "does not divide 100"),
    (["--step", "0"], "between 0 and 50"),
    (["--step", "75"], "between 0 and 50"),
    (["--bounds", "La:40-70,La:0-10"], "bounded twice"),
    (["--bounds", "La:70-40"], "0 <= low <= high"),
    (["--bounds", "Zr:0-10"], "not in the system"),
    (["--bounds", "La40-70"], "write e.g."),
    (["--bounds", "La:0-10,Co:0-10,Al:0-10"], "leave no composition"),
    (["--chunk-size", "-1"], "--chunk-size"),
    (["--max-points", "10"], "over the limit"),
    (["--confidence", "1.5"], "--confidence"),
    (["--confidence", "0"], "--confidence"),
]
#: Refused by argparse itself: its usage, then one error line.
SCREEN_USAGE_CASES = [
    (["--precision", "fp16"], "invalid choice"),
    (["--step", "abc"], "invalid float"),
]


def _screen_with(model, out, extra: list[str]) -> list[str]:
    argv = _screen(model, out)
    for i in range(0, len(extra), 2):  # later options override the defaults above
        argv += extra[i:i + 2]
    return argv


@pytest.mark.parametrize("extra,match", SCREEN_CASES, ids=[" ".join(c[0]) for c in SCREEN_CASES])
def test_screen_bad_options(extra, match, tiny_ensemble, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(_screen_with(tiny_ensemble, out, extra), capsys)
    one_line_error(code, err, match)
    assert not out.exists()


@pytest.mark.parametrize("extra,match", SCREEN_USAGE_CASES,
                         ids=[" ".join(c[0]) for c in SCREEN_USAGE_CASES])
def test_screen_options_argparse_refuses(extra, match, tiny_ensemble, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(_screen_with(tiny_ensemble, out, extra), capsys)
    usage_error(code, err, match)
    assert not out.exists()


def test_screen_out_not_creatable(tiny_ensemble, capsys):
    code, _, err = run_cli(_screen(tiny_ensemble, "/proc/gfa_out"), capsys)
    one_line_error(code, err, "cannot")


def test_screen_out_is_a_file(tiny_ensemble, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run_cli(_screen(tiny_ensemble, f), capsys)
    one_line_error(code, err, "not a writable directory")


def test_screen_out_holds_unrelated_files(tiny_ensemble, tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("my notes")
    code, _, err = run_cli(_screen(tiny_ensemble, d), capsys)
    one_line_error(code, err, "holds other files")
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    code, _, err = run_cli(["report", str(d)], capsys)
    one_line_error(code, err, "not a screening run")


def test_screen_bf16_refused_before_model_load(tiny_ensemble, tmp_path, capsys, monkeypatch):
    from gfascreen.model import precision, saved

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(saved.ModelDir, "member_state",
                        lambda *a: pytest.fail("model loaded before the refusal"))
    code, _, err = run_cli(_screen(tiny_ensemble, tmp_path / "o", "--precision", "bf16"), capsys)
    one_line_error(code, err, "native bf16")
    assert not (tmp_path / "o").exists()


def test_rerun_without_resume_refused_before_model_load(finished_run, tiny_ensemble, capsys,
                                                        monkeypatch):
    from gfascreen.model import saved

    monkeypatch.setattr(saved.ModelDir, "member_state",
                        lambda *a: pytest.fail("model loaded before the refusal"))
    code, _, err = run_cli(_screen(tiny_ensemble, finished_run), capsys)
    one_line_error(code, err, "--resume")
    for extra, what in [(["--step", "5"], "grid"), (["--chunk-size", "7"], "chunk_size")]:
        argv = _screen(tiny_ensemble, finished_run, "--resume", "--chunk-size", "20")
        i = argv.index(extra[0]) if extra[0] in argv else None
        if i is not None:
            argv[i + 1] = extra[1]
        else:
            argv += extra
        code, _, err = run_cli(argv, capsys)
        one_line_error(code, err, f"different {what}")


def test_resume_on_finished_run_changes_nothing(finished_run, tiny_ensemble, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()}
    code, out, err = run_cli(_screen(tiny_ensemble, finished_run, "--chunk-size", "20",
                                     "--resume"), capsys)
    assert code == 0, err
    assert "already complete" in out
    assert {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()} == before


# -- model directories ----------------------------------------------------------------------
def _edit_manifest(d: Path, fn) -> None:
    m = json.loads((d / "manifest.json").read_text())
    fn(m)
    (d / "manifest.json").write_text(json.dumps(m))


def _del(key):
    return lambda m: m.pop(key)


MODEL_CASES = {
    "no manifest": (lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{oops"), "not valid JSON"),
    "manifest not an object": (lambda d: (d / "manifest.json").write_text("[1]"),
                               "not a JSON object"),
    "no architecture": (lambda d: _edit_manifest(d, _del("architecture")), "'architecture'"),
    "no members": (lambda d: _edit_manifest(d, lambda m: m.update(members=[])), "no members"),
    "future format": (lambda d: _edit_manifest(d, lambda m: m.update(format_version=99)),
                      "unsupported model format"),
    "member without sha256": (lambda d: _edit_manifest(
        d, lambda m: m["members"][0].pop("sha256")), "needs a file name and its sha256"),
    "known alloys without sha256": (lambda d: _edit_manifest(
        d, lambda m: m["known_alloys"].pop("sha256")), "needs a file name and its sha256"),
    "member path outside": (lambda d: _edit_manifest(
        d, lambda m: m["members"][0].update(file="../x.safetensors")), "plain file name"),
    "member missing": (lambda d: (d / "member_0.safetensors").unlink(), "is missing"),
    "member altered": (lambda d: (d / "member_1.safetensors").open("ab").write(b"x"),
                       "does not match its checksum"),
    "known alloys truncated": (lambda d: (d / "known_alloys.parquet").write_bytes(
        (d / "known_alloys.parquet").read_bytes()[:100]), "does not match its checksum"),
}


def _rehash(d: Path, name: str) -> None:
    from gfascreen.model.parts import sha256_file

    def fix(m):
        for e in [*m["members"], m["known_alloys"]]:
            if e["file"] == name:
                e["sha256"] = sha256_file(d / name)
    _edit_manifest(d, fix)


def _not_safetensors_but_hash_matches(d: Path) -> None:
    (d / "member_0.safetensors").write_bytes(b"not a safetensors file at all")
    _rehash(d, "member_0.safetensors")


def _parquet_damaged_but_hash_matches(d: Path) -> None:
    (d / "known_alloys.parquet").write_bytes(b"PAR1 broken")
    _rehash(d, "known_alloys.parquet")


MODEL_CASES["member not safetensors, hash matches"] = (_not_safetensors_but_hash_matches,
                                                       "not a readable safetensors")
MODEL_CASES["known alloys damaged, hash matches"] = (_parquet_damaged_but_hash_matches,
                                                     "not readable Parquet")


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_damaged_model_refused(case, model_copy, tmp_path, capsys):
    damage, match = MODEL_CASES[case]
    damage(model_copy)
    code, _, err = run_cli(["predict", "Al25Co20La55", "--model", str(model_copy),
                            "--device", "cpu"], capsys)
    one_line_error(code, err, match)
    out = tmp_path / "scr"
    code, _, err = run_cli(_screen(model_copy, out), capsys)
    one_line_error(code, err, match)
    assert not out.exists() or not list(out.glob("part-*"))


def test_model_dir_does_not_exist(tmp_path, capsys):
    code, _, err = run_cli(["predict", "Al25Co20La55", "--model", str(tmp_path / "nope")],
                           capsys)
    one_line_error(code, err, "no manifest.json")


# -- predict --------------------------------------------------------------------------------
def test_predict_mixed_batch_one_row_per_input(tiny_ensemble, tmp_path, capsys):
    f = tmp_path / "alloys.csv"
    f.write_text("formula\nAl25Co20La55\nPd40Ni40P20\nnot a formula\n\nZr55Co29Al16\n12\n"
                 "Al1e400Co1\n")
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", "--input", str(f), "--model", str(tiny_ensemble),
                            "--device", "cpu", "--output", str(out)], capsys)
    assert code == 0, err
    res = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert res["input"].astype(str).tolist()[:3] == ["Al25Co20La55", "Pd40Ni40P20",
                                                     "not a formula"]
    assert len(res) == 7
    assert res["in_vocabulary"].tolist() == [True, False, False, False, True, False, False]
    assert res.loc[~res["in_vocabulary"], "dmax_mm"].isna().all()
    assert res.loc[res["in_vocabulary"], "dmax_mm"].notna().all()
    assert "'Pd'" in res["reason"][1] and "Al1e400Co1" in res["reason"][6]
    assert "5 of 7 inputs could not be scored" in err and "Traceback" not in err


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"formula\n\xff\xfeAl\xe9\n", "not UTF-8"),
])
def test_predict_unreadable_input(content, match, tiny_ensemble, tmp_path, capsys):
    f = tmp_path / "in.csv"
    f.write_bytes(content)
    code, _, err = run_cli(["predict", "--input", str(f), "--model", str(tiny_ensemble)], capsys)
    one_line_error(code, err, match)


@pytest.mark.parametrize("argv,match", [
    (["predict", "Al25Co20La55", "--output", "nodir/p.csv"], "does not exist"),
    (["predict", "Al25Co20La55", "--output", "p.txt"], "name a .csv"),
    (["predict"], "give formulas"),
    (["predict", "Pd40Ni40P20"], "no input could be scored"),
    (["predict", "Al25Co20La55", "--confidence", "2"], "--confidence"),
    (["predict", "--input", "missing.csv"], "cannot read --input"),
    (["predict", "--input", "alloys.csv", "--column", "nope"], "no column"),
    (["predict", "Al25Co20La55", "Xx5", "--strict"], "'Xx'"),
])
def test_predict_bad_arguments(argv, match, tiny_ensemble, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("alloys.csv").write_text("formula\nAl25Co20La55\n")
    code, _, err = run_cli([*argv, "--model", str(tiny_ensemble), "--device", "cpu"], capsys)
    one_line_error(code, err, match)
    assert not Path("p.txt").exists()


def test_ensemble_predict_keeps_order_for_numbers(tiny_ensemble):
    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(tiny_ensemble, device="cpu")
    res = ens.predict(["Al25Co20La55", 3.0, {"Zr": 55, "Co": 29, "Al": 16}, {"Zr": -1}])
    assert res["in_vocabulary"].tolist() == [True, False, True, False]
    assert "float" in res["reason"][1]
    assert "negative" in res["reason"][3]


# -- report, data build, evaluate, validate, examples ---------------------------------------
def test_report_on_unfinished_or_damaged_run(finished_run, tmp_path, capsys):
    d = tmp_path / "copy"
    shutil.copytree(finished_run, d)
    (d / "_summary.json").unlink()
    code, _, err = run_cli(["report", str(d)], capsys)
    one_line_error(code, err, "incomplete")
    shutil.copy2(finished_run / "_summary.json", d / "_summary.json")
    (d / "part-00001.parquet").write_bytes(b"garbage")
    code, _, err = run_cli(["report", str(d)], capsys)
    one_line_error(code, err, "--resume")


@pytest.mark.parametrize("argv,match", [
    (["data", "build", "--out", "sub/dir/t.parquet"], "does not exist"),
    (["data", "build", "--data-dir", "nowhere"], "is not a directory"),
    (["data", "build", "--sources", "nosuch"], "unknown data source"),
    (["train", "--data", "missing.parquet", "--out", "x"], "not found"),
    (["evaluate", "norun"], "no out-of-fold predictions"),
])
def test_other_commands(argv, match, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(argv, capsys)
    one_line_error(code, err, match)
    assert not any(tmp_path.iterdir())


def test_validate_blind_without_kept_predictions(tiny_ensemble, capsys):
    code, _, err = run_cli(["validate", "--blind", "--model", str(tiny_ensemble)], capsys)
    one_line_error(code, err, "keeps no leave-system-out predictions")


def test_example_edge_not_in_run(finished_run):
    import runpy
    import sys

    path = Path(__file__).resolve().parents[1] / "examples" / "analyse_parquet.py"
    old = sys.argv
    sys.argv = [str(path), str(finished_run), "--edge", "Co-Zr"]
    try:
        with pytest.raises(SystemExit, match="name two elements"):
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old
