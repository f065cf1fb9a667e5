"""Inputs as people give them (issue 28): a plain list of formulas, a one-line file, a CSV
whose first column is an id, stdin; the input's other columns kept beside the predictions;
outputs on stdout; a resume command that works as printed; the ``_SUCCESS`` marker."""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path

import pandas as pd
import pytest

from gfascreen import cli
from tests.helpers import one_line_error, run_cli


def predict(model, *argv) -> list[str]:
    return ["predict", *argv, "--model", str(model), "--device", "cpu", "--quiet"]


THREE = ["Cu46Zr46Al8", "Al25Co20La55", "Zr55Co29Al16"]


# -- 1. no data row lost; the input's columns kept -----------------------------------------
@pytest.mark.parametrize("suffix", [".txt", ".csv", ""])
def test_plain_list_keeps_its_first_line(suffix, tiny_ensemble, tmp_path, capsys):
    f = tmp_path / f"three{suffix}"
    f.write_text("\n".join(THREE) + "\n")
    out = tmp_path / "p.csv"
    code, _, err = run_cli(predict(tiny_ensemble, "--input", str(f), "--output", str(out)),
                           capsys)
    assert code == 0, err
    assert pd.read_csv(out)["input"].tolist() == THREE


def test_one_line_file_is_one_prediction(tiny_ensemble, tmp_path, capsys):
    f = tmp_path / "one.txt"
    f.write_text("Cu46Zr46Al8\n")
    out = tmp_path / "p.csv"
    code, _, err = run_cli(predict(tiny_ensemble, "--input", str(f), "--output", str(out)),
                           capsys)
    assert code == 0, err
    assert pd.read_csv(out)["input"].tolist() == ["Cu46Zr46Al8"]


@pytest.mark.parametrize("text,expected", [
    ("formula\n" + "\n".join(THREE), THREE),              # a header naming the column
    ("Alloys\n" + "\n".join(THREE), THREE),               # any case
    ("my list\n" + "\n".join(THREE), THREE),              # not a formula, later lines are
    ("xyz\n", ["xyz"]),                                   # one line that is not a formula
    ("Cu46Zr46Al8\nnot a formula\n", ["Cu46Zr46Al8", "not a formula"]),
])
def test_first_line_is_a_header_only_when_it_names_columns(text, expected, tmp_path):
    from gfascreen.data.formula_table import read_formula_input

    f = tmp_path / "in.txt"
    f.write_text(text)
    assert read_formula_input(str(f))[0] == expected


def test_header_only_file_is_refused(tiny_ensemble, tmp_path, capsys):
    f = tmp_path / "in.csv"
    f.write_text("formula\n")
    code, _, err = run_cli(predict(tiny_ensemble, "--input", str(f)), capsys)
    one_line_error(code, err, "no formula below them")


def test_id_column_first_names_the_formula_column(tiny_ensemble, tmp_path, capsys,
                                                  monkeypatch):
    from gfascreen.model.ensemble import Ensemble

    f = tmp_path / "ids.csv"
    f.write_text("id,alloy_name\n1,Cu46Zr46Al8\n2,Al25Co20La55\n")
    with monkeypatch.context() as m:  # refused before any model is read
        m.setattr(Ensemble, "load", lambda *a, **k: pytest.fail("model loaded"))
        code, _, err = run_cli(predict(tiny_ensemble, "--input", str(f)), capsys)
    one_line_error(code, err, "pass --column alloy_name")
    code, out, err = run_cli(predict(tiny_ensemble, "--input", str(f), "--column",
                                     "alloy_name"), capsys)
    assert code == 0, err
    assert "Cu46Zr46Al8" in out
    # Without column names: the hint is the column's number, and the number works.
    g = tmp_path / "bare.csv"
    g.write_text("1,Cu46Zr46Al8\n2,Al25Co20La55\n")
    code, _, err = run_cli(predict(tiny_ensemble, "--input", str(g)), capsys)
    one_line_error(code, err, "pass --column 2")
    out_csv = tmp_path / "p.csv"
    code, _, err = run_cli(predict(tiny_ensemble, "--input", str(g), "--column", "2",
                                   "--output", str(out_csv)), capsys)
    assert code == 0, err
    res = pd.read_csv(out_csv)
    assert res["input"].tolist() == ["Cu46Zr46Al8", "Al25Co20La55"]
    assert res["column1"].tolist() == [1, 2]


def test_a_column_named_formula_is_found_without_column(tmp_path):
    from gfascreen.data.formula_table import read_formula_input

    f = tmp_path / "in.csv"
    f.write_text("id,formula\n7,Cu46Zr46Al8\n")
    formulas, extras, _ = read_formula_input(str(f))
    assert formulas == ["Cu46Zr46Al8"] and extras["id"].tolist() == [7]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_input_columns_are_kept_beside_the_predictions(fmt, tiny_ensemble, tmp_path, capsys):
    src = pd.DataFrame({"id": ["a1", "a2", "a3"], "formula": THREE,
                        "dmax_mm": [3.0, None, 12.0], "notes": ["cast", "", "ribbon"]})
    f = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        src.to_csv(f, index=False)
    elif fmt == "parquet":
        src.to_parquet(f)
    else:
        src.to_json(f, orient="records")
    out = tmp_path / "p.parquet"
    code, _, err = run_cli(predict(tiny_ensemble, "Zr50Cu50", "--input", str(f), "--output",
                                   str(out)), capsys)
    assert code == 0, err
    res = pd.read_parquet(out)
    cols = list(res.columns)
    assert cols[:4] == ["input", "id", "input_dmax_mm", "notes"], cols
    assert res["input"].tolist() == ["Zr50Cu50", *THREE]
    assert res["id"].tolist()[1:] == ["a1", "a2", "a3"] and pd.isna(res["id"][0])
    assert res["input_dmax_mm"].tolist()[1:2] == [3.0] and pd.isna(res["input_dmax_mm"][2])
    assert "dmax_mm" in cols  # the prediction keeps its own name


# -- 5. Unix conventions --------------------------------------------------------------------
def test_input_from_stdin_and_csv_to_stdout(tiny_ensemble, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        ("\n".join(THREE) + "\n").encode())))
    code, out, err = run_cli(predict(tiny_ensemble, "--input", "-", "--output", "-"), capsys)
    assert code == 0, err
    res = pd.read_csv(io.StringIO(out))  # stdout is the table, nothing else
    assert res["input"].tolist() == THREE and "dmax_mm" in res.columns
    assert "confidence" in err and "wrote 3 predictions" in err


def test_stdin_json_list(tiny_ensemble, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'["Cu46Zr46Al8"]')))
    code, out, err = run_cli(predict(tiny_ensemble, "--input", "-", "--output", "-"), capsys)
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["input"].tolist() == ["Cu46Zr46Al8"]


@pytest.mark.parametrize("where", ["/dev/gfascreen_test_issue28.csv", "/dev/stdout",
                                   "/dev/null"])
def test_output_under_dev_is_refused(where, tiny_ensemble, capsys):
    try:
        code, _, err = run_cli(predict(tiny_ensemble, "Cu46Zr46Al8", "--output", where),
                               capsys)
        one_line_error(code, err, "--output -")
        assert not Path("/dev/gfascreen_test_issue28.csv").exists()
    finally:
        Path("/dev/gfascreen_test_issue28.csv").unlink(missing_ok=True)


def test_suggest_csv_to_stdout(finished_run, capsys):
    code, out, err = run_cli(["suggest", str(finished_run), "--n", "2", "--out-of-domain",
                              "--min-distance", "0", "--output", "-"], capsys)
    assert code == 0, err
    assert len(pd.read_csv(io.StringIO(out))) == 2 and "wrote 2 suggestions" in err


def test_screen_version_like_gfascreen_version(capsys):
    from gfascreen import __version__

    code, out, _ = run_cli(["--version"], capsys, main=cli.screen_main)
    assert code == 0 and out.strip() == f"gfascreen {__version__}"
    code, out2, _ = run_cli(["--version"], capsys)
    assert out2 == out


# -- 6. the resume command printed on Ctrl-C works as printed --------------------------------
def _interrupt_after_first_part(monkeypatch):
    from gfascreen.screening import run

    real, calls = run.write_part, {"n": 0}

    def write_then_interrupt(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(run, "write_part", write_then_interrupt)
    return real


def test_ctrl_c_prints_one_line_with_a_command_that_resumes(calibrated_ensemble, tmp_path,
                                                           capsys, monkeypatch):
    model = tmp_path / "my models"  # a path a shell must quote
    model.symlink_to(calibrated_ensemble)
    out = tmp_path / "my run"
    argv = ["--system", "La-Co-Al", "--step", "10", "--out", str(out), "--model", str(model),
            "--device", "cpu", "--chunk-size", "20", "--quiet", "--confidence", "0.8",
            "--thresholds", "2,7.5", "--bounds", "La:10-90"]
    real = _interrupt_after_first_part(monkeypatch)
    code, _, err = run_cli(argv, capsys, main=cli.screen_main)
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err
    printed = lines[0].split("`")[1]
    from gfascreen.screening import run

    monkeypatch.setattr(run, "write_part", real)
    words = shlex.split(printed)
    assert words[0] == "screen" and "--resume" in words
    for opt in ("--confidence", "--thresholds", "--bounds", "--model", "--chunk-size"):
        assert opt in words, printed
    code, _, err = run_cli([*words[1:], "--device", "cpu", "--quiet"], capsys,
                           main=cli.screen_main)
    assert code == 0, err
    from gfascreen.screening.grid import CompositionGrid
    from gfascreen.screening.runs import load_run

    done = load_run(out)
    assert done.complete and len(done.table) == len(CompositionGrid("La-Co-Al", 10, "La:10-90"))


def test_resume_command_keeps_every_compared_option():
    """What the resume compares (grid, chunk size, model and precision, confidence,
    thresholds) comes back from the printed command as the same options."""
    from gfascreen.cli import screen as screen_args
    from gfascreen.screening.runs import resume_command

    run = {"grid": {"elements": ["Zr", "Cu", "Al"], "step_at_pct": 0.5,
                    "bounds": {"Zr": [40, 70]}, "include_edges": False},
           "chunk_size": 8192, "model": {"path": "/models/a b", "precision": "bf16"},
           "interval": {"confidence": 0.68, "thresholds_mm": [0.5, 2.0, 72.0]}}
    words = shlex.split(resume_command(run, Path("/runs/x y")))
    p = __import__("argparse").ArgumentParser()
    screen_args.add_screen_args(p)
    a = p.parse_args(words[1:])
    assert (a.system, a.step, a.out, a.bounds, a.interior, a.chunk_size) == (
        "Zr-Cu-Al", 0.5, "/runs/x y", "Zr:40-70", True, 8192)
    assert (a.model, a.precision, a.confidence, a.resume) == ("/models/a b", "bf16", 0.68, True)
    from gfascreen.model.statement_options import parse_thresholds

    assert parse_thresholds(a.thresholds) == (0.5, 2.0, 72.0)


# -- 7. an unfinished run is never read as if whole: the _SUCCESS marker --------------------
def test_finished_run_is_marked_last_and_read_parquet_skips_the_marker(finished_run):
    import pyarrow.dataset as ds

    from gfascreen.screening.runs import load_run

    marker = finished_run / "_SUCCESS"
    assert marker.is_file() and marker.stat().st_size == 0
    others = [p for p in finished_run.iterdir() if p.name != "_SUCCESS"]
    assert all(marker.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in others)
    assert not list(finished_run.glob("*.tmp")) and not list(finished_run.glob(".*.tmp"))
    assert len(pd.read_parquet(finished_run)) == len(load_run(finished_run).table) == 66
    assert all(Path(f).name.startswith("part-")
               for f in ds.dataset(finished_run, format="parquet").files)


@pytest.mark.parametrize("argv", [["report"], ["suggest"]])
def test_run_without_marker_is_incomplete_for_every_reader(argv, finished_run, tmp_path,
                                                          capsys):
    import shutil

    from gfascreen.errors import GfaError
    from gfascreen.screening.runs import load_run

    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    (d / "_SUCCESS").unlink()  # every part and the summary there: still not finished
    with pytest.raises(GfaError, match="no _SUCCESS marker"):
        load_run(d)
    code, _, err = run_cli([argv[0], str(d)], capsys)
    one_line_error(code, err, "is incomplete (4 of 4 parts, no _SUCCESS marker")
    code, _, err = run_cli([argv[0], str(d), "--partial"], capsys)
    assert code == 0, err
    # The command the refusal prints finishes the run: the marker, no part rescored.
    before = {p.name: p.stat().st_mtime_ns for p in d.glob("part-*.parquet")}
    words = shlex.split(load_run(d, partial=True).note.split("`")[1])
    code, out, err = run_cli([*words, "--device", "cpu", "--quiet"], capsys)
    assert code == 0 and "already complete" in out, err
    assert (d / "_SUCCESS").is_file() and load_run(d).complete
    assert {p.name: p.stat().st_mtime_ns for p in d.glob("part-*.parquet")} == before


def test_resume_removes_the_marker_while_parts_change(finished_run, tiny_ensemble, tmp_path,
                                                      capsys, monkeypatch):
    import shutil

    from gfascreen.screening import run
    from gfascreen.screening.runs import load_run

    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    (d / "part-00001.parquet").write_bytes(b"PAR1 torn")  # damaged under the marker
    cmd = ["screen", "--system", "La-Co-Al", "--step", "10", "--out", str(d), "--model",
           str(tiny_ensemble), "--chunk-size", "20", "--device", "cpu", "--quiet", "--resume"]
    real = run.write_part

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "write_part", interrupted)
    code, _, err = run_cli(cmd, capsys)
    assert code == 130, err
    assert not (d / "_SUCCESS").exists()  # the part being redone is not there yet
    monkeypatch.setattr(run, "write_part", real)
    code, _, err = run_cli(cmd, capsys)
    assert code == 0, err
    assert (d / "_SUCCESS").is_file() and load_run(d).complete


# -- 11. smaller ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["missing.csv", "missing.parquet"])
def test_train_missing_data_is_the_only_line(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--data", name, "--out", "run"], capsys)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not found" in lines[0] and name in lines[0], err
    assert not any(tmp_path.iterdir())


def test_train_help_explains_every_option(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for flag in ("--weight-decay", "--class-weight", "--val-fraction", "--seed"):
        text = flat.split(f"{flag} {flag[2:].upper().replace('-', '_')} ", 1)[1]
        assert not text.startswith("--") and "(default" in text.split(" --", 1)[0], flag
    init = flat.split("--init INIT ", 1)[1].split(" --", 1)[0]
    assert "(default scratch)" in init, init


def test_validate_says_where_it_writes(tiny_ensemble, tiny_table, tmp_path, capsys,
                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["validate", "--systems", "La-Co-Al", "--step", "10", "--model",
                            str(tiny_ensemble), "--data", str(tiny_table), "--device", "cpu"],
                           capsys)
    assert code == 0, err
    assert "validation/" in err and (tmp_path / "validation" / "summary.md").is_file()


@pytest.mark.slow
def test_validate_cannot_be_misread(calibrated_ensemble, tmp_path, capsys, monkeypatch):
    """Issue 36, item 4: training alloys marked as seen, the files named are the files
    written (--blind too), one model load for all systems, defaults in --help."""
    import shutil

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.saved import ModelDir

    monkeypatch.chdir(tmp_path)
    loads = []
    real = Ensemble.load.__func__
    monkeypatch.setattr(Ensemble, "load", classmethod(
        lambda cls, *a, **k: loads.append(a) or real(cls, *a, **k)))
    code, out, err = run_cli(["validate", "--systems", "La-Co-Al", "Al-Co-Zr", "--step", "25",
                              "--model", str(calibrated_ensemble), "--device", "cpu"], capsys)
    assert code == 0, err
    assert len(loads) == 1 and err.count("loading model") == 1, err
    assert "| seen in training |" in out and "Seen in training: known alloys" in out
    la = next(line for line in out.splitlines() if line.startswith("| La-Co-Al |"))
    n_known, n_seen = la.split("|")[2:4]
    assert int(n_seen) == int(n_known) > 0  # every known alloy is a training alloy
    written = err.strip().splitlines()[-1]
    for f in ("summary.md", "summary.json"):
        assert f"validation/{f}" in written and (tmp_path / "validation" / f).is_file()
    # --blind: the files it names are the ones it writes.
    d = tmp_path / "m"
    shutil.copytree(calibrated_ensemble, d)
    md = ModelDir(d)
    oof = pd.concat([pd.read_parquet(p) for p in sorted(d.glob("oof_*.parquet"))])
    oof.assign(sigma_log=0.05, in_domain=True).to_parquet(d / "lso_oof.parquet")
    md.manifest.lso_oof = md.entry("lso_oof.parquet", rows=len(oof))
    md.write_manifest()
    code, _, err = run_cli(["validate", "--blind", "--model", str(d), "--out", "b"], capsys)
    assert code == 0, err
    written = err.strip().splitlines()[-1]
    assert "b/blind.md" in written and "b/blind.csv" in written and "summary" not in written
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["blind.csv", "blind.md"]
    code, help_text, _ = run_cli(["validate", "--help"], capsys)
    flat = " ".join(help_text.split())
    for flag, default in (("--step", "(default 1)"), ("--out", "(default validation)"),
                          ("--device", "(default auto)"), ("--model", "(default: default")):
        assert default in flat.split(f"{flag} {flag[2:].upper()} ", 1)[1].split(" --", 1)[0], flag


@pytest.mark.parametrize("out", ["", "  "])
def test_screen_empty_out_is_refused(out, tiny_ensemble, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for main, head in [(cli.main, ["screen"]), (cli.screen_main, [])]:
        code, _, err = run_cli([*head, "--system", "La-Co-Al", "--step", "10", "--model",
                                str(tiny_ensemble), "--device", "cpu", "--out", out], capsys,
                               main=main)
        one_line_error(code, err, "--out is empty")
    assert not any(tmp_path.iterdir())


# -- 4. parse notes and case suggestions ----------------------------------------------------
@pytest.mark.parametrize("text", ["cu46zr46al8", "CU46ZR46AL8"])
def test_one_case_formula_suggests_the_capitals(text):
    from gfascreen.data.parse import parse_formula
    from gfascreen.errors import GfaError

    with pytest.raises(GfaError, match=r"did you mean Cu46Zr46Al8\?"):
        parse_formula(text)


def test_mixed_case_or_unreadable_gets_no_suggestion():
    from gfascreen.data.parse import case_suggestion

    assert case_suggestion("Cu46zr46Al8") is None  # mixed case: a typo, not the case
    assert case_suggestion("xyz") is None and case_suggestion("formula") is None
    assert case_suggestion("Cu46Zr46Al8") is None


def test_amounts_off_100_are_scored_with_a_note(tiny_ensemble, tmp_path, capsys):
    out = tmp_path / "p.csv"
    inputs = ["Zr 60 Cu 20", "Zr50Cu50 Al8", "Cu46Zr46Al8", "Cu0.46Zr0.46Al0.08",
              "cu46zr46al8"]
    code, _, err = run_cli(predict(tiny_ensemble, *inputs, "--output", str(out)), capsys)
    assert code == 0, err
    res = pd.read_csv(out, keep_default_na=False)
    assert res["in_vocabulary"].tolist() == [True, True, True, True, False]
    assert res["note"].tolist()[:4] == ["amounts summed to 80, normalised to 100 at.%",
                                        "amounts summed to 108, normalised to 100 at.%", "", ""]
    assert res["composition"][0] == "Cu25Zr75"
    assert "did you mean Cu46Zr46Al8?" in res["reason"][4]
    assert "amounts of 2 of 5 inputs" in err


# -- 3. the Python route: pymatgen Composition; one form of a system's name -----------------
def test_pymatgen_compositions_are_scored_and_kept_as_written(tiny_ensemble):
    from pymatgen.core import Composition

    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(str(tiny_ensemble), device="cpu")
    res = ens.predict([Composition("Cu46Zr46Al8"), Composition("Cu0.46Zr0.46Al0.08"),
                       "Cu46Zr46Al8", {"Cu": 46, "Zr": 46, "Al": 8}])
    assert res["reason"].tolist() == [""] * 4, res["reason"].tolist()
    assert res["in_vocabulary"].all()
    assert res["input"].tolist() == ["Cu46Zr46Al8", "Cu0.46Zr0.46Al0.08", "Cu46Zr46Al8",
                                     "Cu46Zr46Al8"]
    assert res["composition"].nunique() == 1
    assert res["dmax_mm"].nunique() == 1
    one = ens.predict(Composition("Cu46Zr46Al8"))  # one Composition, not iterated
    assert len(one) == 1 and one["reason"].iloc[0] == ""


def test_system_names_have_one_form(tiny_ensemble, tmp_path):
    from gfascreen.data.parse import alloy_system, parse_formula
    from gfascreen.screening.known import system_alloys
    from gfascreen.screening.run import ScreenConfig, screen

    out = screen(ScreenConfig(system="Zr-Cu-Al", step=25, out=str(tmp_path / "r"),
                              model=str(tiny_ensemble), device="cpu", progress=False))
    df = pd.read_parquet(out)
    assert set(df["system"]) == {alloy_system(parse_formula("Zr40Cu50Al10"))} == {"Al-Cu-Zr"}
    assert list(df.columns[:3]) == ["Zr", "Cu", "Al"]  # the axes keep the order given
    known, _ = system_alloys(str(tiny_ensemble), ["Zr", "Cu", "Al"])
    assert len(known) and set(known["system"]) == {"Al-Cu-Zr"}


def test_count_and_output_options_are_named_as_elsewhere():
    """suggest takes -n/--count (--n kept); data build's file is --output (--out kept)."""
    from gfascreen.cli import build_parser

    p = build_parser()
    for flag in ("-n", "--count", "--n"):
        assert p.parse_args(["suggest", "run", flag, "3"]).n == 3
    for flag in ("--output", "--out"):
        assert p.parse_args(["data", "build", flag, "t.parquet"]).out == "t.parquet"
