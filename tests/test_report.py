import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
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
    assert "Next experiments" in html and "measured vs predicted" in html
    assert (path.parent / "map.png").stat().st_size > 5000
    assert not (path.parent / "map.svg").exists()  # only when asked
    assert write_report(ternary_run, data=tiny_table, svg=True).with_name(
        "map.svg").stat().st_size > 5000
    # The report sits where pandas does not look, so the dataset still reads back.
    import pandas as pd

    assert len(pd.read_parquet(ternary_run)) == 66


#: Quaternary known alloys for the tiny table: (formula, class, Dmax); numbered by Dmax
#: (1: 4 mm, 2: 2 mm, 3: the ribbon, 4: the crystal, 5: the unmeasured glass).
QUATERNARY_KNOWN = [("Zr50Cu30Al10La10", "bmg", 4.0), ("Zr40Cu35Al15La10", "bmg", 2.0),
                    ("Zr40Cu30Al9La21", "ribbon", 0.1), ("Zr30Cu20Al5La45", "crystal", 0.0),
                    ("Zr45Cu25Al10La20", "bmg", np.nan)]


@pytest.fixture(scope="module")
def quaternary_run(tiny_ensemble, tmp_path_factory):
    """Zr-Cu-Al-La at 10 at.% with the tiny ensemble, and a table of its known alloys."""
    from gfascreen.data.parse import alloy_system, composition_key, normalise, parse_formula
    from gfascreen.tableio import write_parquet_atomic
    from tests.conftest import make_table

    base = tmp_path_factory.mktemp("quat")
    rows = []
    for formula, cls, dmax in QUATERNARY_KNOWN:
        at = normalise(parse_formula(formula))
        rows.append({"composition": composition_key(at), "system": alloy_system(at),
                     "n_elements": 4, "gfa_class": cls, "dmax_mm": dmax,
                     "sources": "synthetic", "n_source_rows": 1, "class_conflict": False,
                     "dmax_conflict": False, "provenance": "[]", **at})
    table = pd.concat([make_table(), pd.DataFrame(rows)], ignore_index=True)
    els = [c for c in ("La", "Co", "Al", "Zr", "Cu") if c in table.columns]
    table[els] = table[els].fillna(0.0)
    write_parquet_atomic(table, base / "known.parquet")
    out = screen(ScreenConfig(system="Zr-Cu-Al-La", step=10, out=str(base / "run"),
                              model=str(tiny_ensemble), device="cpu", progress=False))
    return Path(out), base / "known.parquet"


def _figures(html: str) -> list[tuple[list, dict]]:
    """The (traces, layout) of every plotly figure on a page, from its JSON."""
    import json
    import re

    dec, out = json.JSONDecoder(), []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, end = dec.raw_decode(html, m.end())
        layout, _ = dec.raw_decode(html, end + re.match(r"\s*,\s*", html[end:]).end())
        out.append((data, layout))
    return out


def _slice_ternaries(layout: dict) -> dict[str, dict]:
    return {k: v for k, v in layout.items() if k.startswith("ternary")}


def test_quaternary_report_slices_scales_axes_markers(quaternary_run):
    """Issue 28, item 9: one colour scale per quantity across the slices, axes in at.% of
    the alloy, the P(bulk glass) view, numbered known-alloy markers on their slices."""
    run, table = quaternary_run
    path = write_report(run, data=table, slices=[10, 20, 30])
    html = path.read_text()
    assert "plotly.js (cartesian" in html  # no WebGL view: the partial bundle
    figs = _figures(html)
    assert len(figs) == 2
    profile, (data, layout) = figs
    assert any(t.get("name", "").startswith("best predicted Dmax") for t in profile[0])
    assert any(t.get("name", "").startswith("best P(bulk glass")
               for t in profile[0])
    # Slices at La = 10, 20, 30: the three others sum to 100 - La, the axes say at.%.
    terns = _slice_ternaries(layout)
    sums = sorted({t["sum"] for t in terns.values()})
    assert sums == [70, 80, 90]
    for t in terns.values():
        assert t["aaxis"]["title"]["text"] == "Zr (at.%)"
        assert t["baxis"]["title"]["text"] == "Cu (at.%)"
        assert t["caxis"]["title"]["text"] == "Al (at.%)"
        assert max(t["aaxis"]["tickvals"]) < t["sum"]
    titles = [a["text"] for a in layout["annotations"] if "at.%</b>" in a.get("text", "")]
    for lv in (10, 20, 30):
        assert sum(f"La = {lv} at.%" in t for t in titles) == 3  # Dmax, P(bmg), spread
    assert any("P(bulk glass)" in t for t in titles)
    # One colour range per quantity across the slices, one colour bar each.
    maps = [t for t in data if t.get("marker", {}).get("cmin") is not None
            and not t.get("name", "").startswith("known")]
    by_quantity: dict[str, list] = {}
    for t in maps:
        by_quantity.setdefault(t["name"].rsplit(", La ", 1)[0], []).append(t)
    assert len(by_quantity) == 3
    for name, traces in by_quantity.items():
        assert len({(t["marker"]["cmin"], t["marker"]["cmax"]) for t in traces}) == 1, name
        assert len({t["subplot"] for t in traces}) == 3, name  # on every slice
        assert sum(t["marker"].get("showscale", True) for t in traces) == 1, name
    assert by_quantity["P(bulk glass), uncalibrated"][0]["marker"]["cmax"] == 1.0
    assert len(layout["images"]) == 9  # one image per map
    # Known alloys: numbered on the slice within half a step (5 at.%) of their La.
    known = [t for t in data if t.get("name", "").startswith("known:")]
    where = {t["hovertext"][k].split()[0]: t["subplot"] for t in known
             for k in range(len(t["hovertext"]))}
    by_sum = {k: v["sum"] for k, v in terns.items()}
    assert {n: by_sum[s] for n, s in where.items()} == {"#1": 90, "#2": 90, "#3": 80,
                                                         "#5": 80}
    numbers = sorted(a["text"] for a in layout["annotations"] if a["text"].isdigit())
    assert numbers == ["1", "2", "3", "5"]
    assert sum(t.get("showlegend", True) for t in known) == 3  # one entry per kind
    cmp = pd.read_csv(path.parent / "known_alloys.csv").set_index("#")
    assert cmp.loc[4, "slice"] == "-" and cmp.loc[3, "slice"] == "La 20 at.%"
    assert "on the slice its La is within 5 at.%" in html


def test_quaternary_default_slices_go_through_the_best_region():
    """Slices chosen where the glasses are (Ni 10-15 here), not at fixed 5/30/55/80."""
    from itertools import product

    from gfascreen.screening.report import slice_levels

    pts = [(a, b, c, 100 - a - b - c) for a, b, c in product(range(0, 101, 5), repeat=3)
           if a + b + c <= 100]
    df = pd.DataFrame(pts, columns=["Zr", "Cu", "Al", "Ni"], dtype=float)
    ni = df["Ni"].to_numpy()
    df["dmax_mm"] = 8 * np.exp(-((ni - 10) / 4) ** 2) * (1 + df["Zr"] / 100)
    df["p_bmg"] = np.exp(-((ni - 12.5) / 5) ** 2)
    df["in_domain"] = True
    levels, why = slice_levels(df, ["Zr", "Cu", "Al", "Ni"], 5)
    assert levels == [5, 10, 15, 20], levels
    assert "Ni = 10 at.%" in why
    # A wide best region: four slices spread over it, one at the top Dmax.
    df["p_bmg"] = np.exp(-((ni - 30) / 25) ** 2)
    levels, _ = slice_levels(df, ["Zr", "Cu", "Al", "Ni"], 5)
    assert len(levels) == 4 and 10 in levels and max(levels) - min(levels) >= 30
    with pytest.raises(GfaError, match="nearest 10 and 15"):
        slice_levels(df, ["Zr", "Cu", "Al", "Ni"], 5, [12])


def test_cli_report_slices(quaternary_run, ternary_run):
    run, table = quaternary_run

    def report(*args):
        return subprocess.run([sys.executable, "-m", "gfascreen", "report", *map(str, args)],
                              capture_output=True, text=True)

    r = report(run, "--data", table, "--slices", "20,40")
    assert r.returncode == 0, r.stderr
    layout = _figures(Path(r.stdout.split("report: ")[1].strip()).read_text())[1][1]
    assert sorted({t["sum"] for t in _slice_ternaries(layout).values()}) == [60, 80]
    for bad, msg in (("15", "no grid point has La = 15 at.%"), ("ten", "at.% values")):
        r = report(run, "--data", table, "--slices", bad)
        assert r.returncode == 2 and msg in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = report(ternary_run, "--slices", "10")
    assert r.returncode == 2 and "--slices is for a quaternary run" in r.stderr, r.stderr


def test_report_on_unfinished_run(tmp_path):
    with pytest.raises(GfaError, match="not a screening run"):
        write_report(tmp_path)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _render(path: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", *flags,
         path.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def shipped_reports(tmp_path_factory):
    """The README's two systems, screened with the shipped model at 5 at.%."""
    from gfascreen.model.saved import default_model_dir

    if not (default_model_dir() / "manifest.json").exists():
        pytest.skip("no shipped model")
    base = tmp_path_factory.mktemp("shipped")
    paths = {}
    for system in ("La-Co-Al", "Al-Co-Zr"):
        out = screen(ScreenConfig(system=system, step=5, out=str(base / system), device="cpu",
                                  progress=False))
        paths[system] = write_report(out)
    return paths


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (.ci/run installs "
                    "Debian's chromium so CI runs this)")
@pytest.mark.parametrize("system", ["La-Co-Al", "Al-Co-Zr"])
def test_report_renders_in_headless_chromium(system, shipped_reports, tmp_path):
    """Rendered (scripts run), the page shows the domain shading, distinct known-alloy
    markers and the suggestion table, and logs no console message."""
    path = shipped_reports[system]
    r = _render(path, tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    assert "class=\"main-svg\"" in dom  # plotly drew the figure
    assert "out of domain (pale)" in dom  # legend entry of the shaded region
    for name in ("known: bulk glass, measured Dmax", "measured Dmax (mm)", "P(bulk glass)",
                 "P(Dmax ≥ 5 mm)"):
        assert name in dom, name
    assert "Next experiments: 5 compositions to cast" in dom
    shot = tmp_path / "shot.png"
    _render(path, tmp_path, "--window-size=1300,900", f"--screenshot={shot}")
    from PIL import Image

    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100, "screenshot is blank"
    assert len(set(img.resize((64, 64)).tobytes())) > 20


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (.ci/run installs "
                    "Debian's chromium so CI runs this)")
def test_quaternary_report_renders_in_headless_chromium(quaternary_run, tmp_path):
    """Rendered, the quaternary report (issue 28, item 9) draws one colour bar per quantity
    for all its slices, at.% axis titles on every slice, numbered known-alloy markers on
    their slices, and logs no console message."""
    import re

    run, table = quaternary_run
    path = write_report(run, data=table, slices=[10, 20, 30])
    r = _render(path, tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    assert dom.count("class=\"main-svg\"") >= 2  # the profile and the slices
    bars = re.findall(r'class="hycb[0-9a-f]+title"[^>]*data-unformatted="([^"]*)"', dom)
    assert sorted(bars) == sorted(["predicted Dmax (mm)", "P(bulk glass), uncalibrated",
                                   "member spread (mm; no calibrated interval)",
                                   "measured Dmax (mm)"]), bars
    for el in ("Zr", "Cu", "Al"):  # 3 slices x 3 maps
        assert dom.count(f'data-unformatted="{el} (at.%)"') == 9, el
    titles = re.findall(r'class="annotation-text"[^>]*data-unformatted="([^"]*)"', dom)
    for lv in (10, 20, 30):
        assert sum(f"La = {lv} at.%" in t for t in titles) == 3, lv
    assert sorted(t for t in titles if t.isdigit()) == ["1", "2", "3", "5"]
    for name in ("known: bulk glass, measured Dmax (2 on the slices)",
                 "known: ribbon-only glass (1 on the slices)", "out of domain (pale)"):
        assert name in dom, name
    shot = tmp_path / "shot.png"
    _render(path, tmp_path, "--window-size=1300,2400", f"--screenshot={shot}")
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.getextrema()[1] - img.getextrema()[0] > 100, "screenshot is blank"
    assert len(set(img.resize((64, 64)).tobytes())) > 20


def test_suggest_spacing_domain_and_determinism(shipped_reports, tiny_ensemble, tmp_path):
    from gfascreen.screening.suggest import suggest_run

    run = shipped_reports["La-Co-Al"].parent.parent
    picks, why = suggest_run(run, n=5, min_distance=5)
    again, _ = suggest_run(run, n=5, min_distance=5)
    pd.testing.assert_frame_equal(picks, again)
    assert len(picks) == 5 and picks["in_domain"].all()
    comp = picks[["La", "Co", "Al"]].to_numpy()
    for i in range(len(comp)):
        for j in range(i):
            assert np.abs(comp[i] - comp[j]).sum() / 2 >= 5 - 1e-9
    # Default ranking: the expected gain over the best measured alloy of the system, never
    # within 1 at.% (L1) of a measured one.
    assert "expected gain" in why and "Al25Co20La55 (5 mm)" in why
    assert picks["score"].is_monotonic_decreasing and (picks["score"] >= 0).all()
    assert picks["reason"].str.contains("expected gain over the best measured alloy").all()
    assert (picks["nearest_known_l1_at_pct"] >= 1 - 1e-9).all()
    assert picks["reason"].str.contains("rank").all()
    ucb, _ = suggest_run(run, n=5, min_distance=5, ucb=0.68)
    assert ucb["reason"].str.contains("the 0.68 quantile of Dmax").all()
    assert ucb["score"].is_monotonic_decreasing and (ucb["score"] < 100).all()  # no cap
    target, why_t = suggest_run(run, n=3, min_distance=5, target_mm=5)
    assert "--target-mm 5" in why_t and target["score"].between(0, 1).all()
    anywhere, _ = suggest_run(run, n=5, min_distance=0, out_of_domain=True)
    assert anywhere["score"].iloc[0] >= picks["score"].iloc[0]
    # A quaternary run, through the CLI, to a file a lab can open.
    q = screen(ScreenConfig(system="Zr-Cu-Al-La", step=10, out=str(tmp_path / "q"),
                            model=str(tiny_ensemble), device="cpu", progress=False))
    r = subprocess.run([sys.executable, "-m", "gfascreen", "suggest", str(q), "--n", "3",
                        "--output", str(tmp_path / "picks.csv"), "--out-of-domain"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    qp = pd.read_csv(tmp_path / "picks.csv")
    assert len(qp) == 3 and {"Zr", "Cu", "Al", "La", "reason"} <= set(qp.columns)


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


def test_report_weight_partial_bundle_image_maps_and_hover(tiny_ensemble, tmp_path,
                                                           monkeypatch):
    """A fine ternary report stays light (issue 28, item 10): plotly.js's cartesian partial
    bundle, the maps as images, the hover on a thinned grid with the composition on every
    map; the PNG numbers the known alloys."""
    import matplotlib.axes

    out = screen(ScreenConfig(system="La-Co-Al", step=1, out=str(tmp_path / "r"),
                              model=str(tiny_ensemble), device="cpu", progress=False))
    labels = []
    real = matplotlib.axes.Axes.annotate

    def annotate(self, text, *a, **kw):
        labels.append(text)
        return real(self, text, *a, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "annotate", annotate)
    path = write_report(out)
    html = path.read_text()
    assert len(html.encode()) < 2_000_000, len(html.encode())
    assert "plotly.js (cartesian" in html
    assert html.count("data:image\\u002fpng;base64,") == 2  # one image per map
    # Hover: the maps beside the Dmax map show the composition with their own value.
    assert "La %{a} Co %{b} Al %{c}\\u003cbr\\u003emember spread" in html
    known = pd.read_csv(path.parent / "known_alloys.csv")
    assert len(known) and sorted(labels) == sorted(str(v) for v in known["#"])


def test_number_labels_do_not_overlap():
    from gfascreen.screening.report.overlay import _place_labels

    rng = np.random.default_rng(0)
    pts = np.vstack([rng.normal(100, 6, (12, 2)), rng.uniform(0, 400, (20, 2))])
    offs = _place_labels(pts, size_px=14)
    lab = pts + offs
    for i in range(len(lab)):
        for j in range(i):
            assert abs(lab[i, 0] - lab[j, 0]) >= 14 or abs(lab[i, 1] - lab[j, 1]) >= 14 * 0.8


def test_triangle_box_fits_the_domain():
    from gfascreen.screening.report.subplot import _triangle_box

    x0, y0, x1, y1 = _triangle_box((0, 0.5), (0, 1), 1000, 500, {"l": 0, "r": 0, "t": 0,
                                                                   "b": 0})
    # 500 px tall domain, 500 px wide: the triangle is width-bound, centred.
    assert (x1 - x0) * 1000 == pytest.approx(500)
    assert (y1 - y0) * 500 == pytest.approx(500 * np.sqrt(3) / 2)
    assert (x0 + x1) / 2 == pytest.approx(0.25) and (y0 + y1) / 2 == pytest.approx(0.5)

