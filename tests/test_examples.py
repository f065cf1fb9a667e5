import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_examples_run(tiny_ensemble, tiny_table, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "screen_system.py"),
                        "--system", "La-Co-Al", "--step", "10", "--model", str(tiny_ensemble),
                        "--out", str(out), "--data", str(tiny_table)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "_report" / "report.html").exists()
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "analyse_parquet.py"), str(out),
                        "--edge", "Co-Al"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Top 10" in r.stdout and "Co-Al edge (11 points)" in r.stdout
