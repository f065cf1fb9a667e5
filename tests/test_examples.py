"""The scripts in ``examples/`` run as a user runs them (``python examples/X.py ...``),
here as ``__main__`` in-process (runpy), their output read back."""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_example(name: str, args: list[str], monkeypatch, capsys) -> str:
    """``python examples/NAME ARGS`` as ``__main__`` in this process; its stdout. A
    ``SystemExit`` other than 0 fails the test."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / "examples" / name), *args])
    try:
        runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
    return capsys.readouterr().out


def test_examples_run(tiny_ensemble, tiny_table, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _run_example("screen_system.py", ["--system", "La-Co-Al", "--step", "10", "--model",
                                      str(tiny_ensemble), "--out", str(out), "--data",
                                      str(tiny_table)], monkeypatch, capsys)
    assert (out / "_report" / "report.html").exists()
    text = _run_example("analyse_parquet.py", [str(out), "--edge", "Co-Al"], monkeypatch,
                        capsys)
    assert "Top 10" in text and "Co-Al edge (11 points)" in text
