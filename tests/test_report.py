import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gfascreen.errors import GfaError
from gfascreen.screening.report import write_report
from gfascreen.screening.run import ScreenConfig, screen


@pytest.fixture(scope="module")
def ternary_run(tiny_ensemble, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "run"
    screen(ScreenConfig(system="La-Co-Al", step=10, out=str(out), model=str(tiny_ensemble),
                        device="cpu", progress=False))
    return out


def test_ternary_report_is_self_contained(ternary_run, tiny_table):
    path = write_report(ternary_run, data=tiny_table)
    html = path.read_text()
    assert "plotly" in html and "<script src=\"http" not in html
    assert "Top candidates" in html and "measured vs predicted" in html
    for ext in ("png", "svg"):
        assert (path.parent / f"map.{ext}").stat().st_size > 5000
    # The report sits where pandas does not look, so the dataset still reads back.
    import pandas as pd

    assert len(pd.read_parquet(ternary_run)) == 66


def test_quaternary_report(tiny_ensemble, tiny_table, tmp_path):
    out = screen(ScreenConfig(system="Zr-Cu-Al-La", step=10, out=str(tmp_path / "q"),
                              model=str(tiny_ensemble), device="cpu", progress=False))
    html = write_report(out, data=tiny_table).read_text()
    assert "tetrahedron" in html and "Slice at La" in html


def test_report_on_unfinished_run(tmp_path):
    with pytest.raises(GfaError, match="not a screening run"):
        write_report(tmp_path)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (.ci/run installs "
                    "Debian's chromium so CI runs this)")
def test_report_renders_offline_in_headless_chromium(ternary_run, tiny_table, tmp_path):
    path = write_report(ternary_run, data=tiny_table)
    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
         "--window-size=1300,900", f"--screenshot={shot}", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    # Chromium logs every console message (log, warn, error, uncaught exceptions) as a
    # CONSOLE line; a clean report logs none.
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    from PIL import Image

    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100, "screenshot is blank"
    assert len(set(img.resize((64, 64)).tobytes())) > 20


def test_cli_report(ternary_run, tiny_table):
    r = subprocess.run([sys.executable, "-m", "gfascreen", "report", str(ternary_run),
                        "--data", str(tiny_table), "--log-color"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.split("report: ")[1].strip()).exists()


def test_validate_summary(tiny_ensemble, tiny_table, tmp_path):
    import json

    from gfascreen.validation import validate

    text = validate(["La-Co-Al", "Al-Co-Zr"], step=10, model=str(tiny_ensemble),
                    data=tiny_table, out=tmp_path / "val", device="cpu")
    assert "| La-Co-Al |" in text and "| Al-Co-Zr |" in text
    res = json.loads((tmp_path / "val" / "summary.json").read_text())
    assert res[0]["n_known"] > 0 and "spearman" in res[0]
    assert "l1_distance_pred_max_to_best_known_at_pct" in res[0]
    assert (tmp_path / "val" / "screen_La-Co-Al_step10" / "_report" / "report.html").exists()
