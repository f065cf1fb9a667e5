"""An atlas: many systems in one run, each composition scored once, a table of systems,
its page, one system's report and suggestions from its rows, and the distributed engine."""

import json
import os
import shlex
import signal
import subprocess
from math import comb

import numpy as np
import pandas as pd
import pytest

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.screening.palette import AtlasGrid, atlas_grid, row_systems
from gfascreen.screening.run import ScreenConfig, screen
from tests.helpers import held_screen, one_line_error, run_cli, wait_for

PALETTE = "La,Co,Al,Zr"  # the tiny model's vocabulary holds these
#: 4 ternary interiors of 36 points, 6 binary interiors of 9, 4 pure metals, at 10 at.%.
POINTS = 4 * 36 + 6 * 9 + 4


def _atlas_cfg(model, out, **kw):
    return ScreenConfig(**{"elements": PALETTE, "order": "3", "step": 10, "out": str(out),
                           "model": str(model), "device": "cpu", "chunk_size": 40,
                           "progress": False, **kw})


@pytest.fixture(scope="module")
def atlas_run(tiny_ensemble, tmp_path_factory):
    return screen(_atlas_cfg(tiny_ensemble, tmp_path_factory.mktemp("atlas") / "run"))


def _sorted(df, cols=("La", "Co", "Al", "Zr")):
    cols = [c for c in cols if c in df.columns]
    return df.sort_values(cols).reset_index(drop=True)


# -- the grid ------------------------------------------------------------------------------
def test_an_atlas_grid_holds_each_composition_once():
    g = atlas_grid("Zr,Cu,Al,Ni,Ti,Co", "3", None, 5)
    assert len(g) == 3711 and len(g.systems) == 20  # the count
    rows = np.concatenate(list(g.units_chunks(512)))
    assert len(rows) == 3711 and (rows.sum(1) == g.units).all()
    assert len(np.unique(rows, axis=0)) == 3711
    assert np.array_equal(rows, np.concatenate(list(g.units_chunks(7))))
    # every composition of every ternary is there: its closed simplex, each point once
    zca = rows[(rows[:, 3:] == 0).all(1)]
    assert len(zca) == comb(22, 2)
    assert atlas_grid("Zr,Cu,Al,Ni,Ti,Co,Fe,La,Mg,Pd", "3", None, 2).__len__() == 143_335


def test_orders_interior_and_own_systems():
    g = atlas_grid("Zr,Cu,Al,Ni", "3,4", None, 10)
    assert len(g.systems) == 5 and g.orders == [3, 4]
    assert len(g) == comb(13, 3)  # a quaternary's closed simplex covers its ternaries
    inner = atlas_grid("Zr,Cu,Al,Ni", "3,4", None, 10, include_edges=False)
    assert len(inner) == 4 * comb(9, 2) + comb(9, 3)
    units = np.array([[5, 5, 0, 0], [10, 0, 0, 0], [2, 3, 5, 0]])
    assert list(row_systems(units, ["Zr", "Cu", "Al", "Ni"])) == ["Cu-Zr", "Zr", "Al-Cu-Zr"]


def test_systems_file(tmp_path):
    f = tmp_path / "systems.txt"
    f.write_text("# mine\nZr-Cu-Al\n\nLa-Co-Al  # and this\n")
    g = atlas_grid(None, None, str(f), 10)
    assert isinstance(g, AtlasGrid) and g.elements == ["Zr", "Cu", "Al", "La", "Co"]
    assert g.describe()["atlas"]["systems"] == ["Zr-Cu-Al", "La-Co-Al"]


def test_the_resume_command_names_the_atlas_as_asked(tmp_path):
    from gfascreen.screening.runs import resume_command

    f = tmp_path / "mine.txt"
    f.write_text("Zr-Cu-Al\n")
    for grid, route in [(atlas_grid("Zr,Cu,Al,Ni", "3,4", None, 2),
                         "--elements Zr,Cu,Al,Ni --order 3,4"),
                        (atlas_grid(None, None, str(f), 2), f"--systems {f}")]:
        run = {"grid": grid.describe(), "chunk_size": 512, "model": {"path": "default"}}
        assert resume_command(run, tmp_path / "o") == (
            f"screen {route} --step 2 --out {tmp_path / 'o'} --resume")


# -- the run -------------------------------------------------------------------------------
def test_an_atlas_is_one_table_of_the_palette(atlas_run, tiny_ensemble):
    df = pd.read_parquet(atlas_run)  # the table of systems and _SUCCESS are skipped
    assert len(df) == POINTS and (atlas_run / "_SUCCESS").is_file()
    assert len(df.drop_duplicates(["La", "Co", "Al", "Zr"])) == POINTS
    at = df[["La", "Co", "Al", "Zr"]].to_numpy()
    own = ["-".join(sorted(e for e, v in zip(["La", "Co", "Al", "Zr"], r, strict=True)
                           if v > 0)) for r in at]
    assert list(df["system"]) == own
    assert (df["system"] == "Al-La").sum() == 9  # a binary edge of two ternaries: once


def test_a_systems_rows_are_the_single_screen_of_it(atlas_run, finished_run):
    """La-Co-Al's rows of the atlas are the one-system screen of La-Co-Al at 10 at.%."""
    from gfascreen.screening.system_rows import load_system_run

    r = load_system_run(atlas_run, "La-Co-Al")
    assert r.request["grid"]["elements"] == ["La", "Co", "Al"]
    one = pd.read_parquet(finished_run)
    pd.testing.assert_frame_equal(_sorted(r.table), _sorted(one), check_exact=False,
                                  rtol=1e-5, atol=1e-6)


def test_the_table_of_systems(atlas_run, tiny_ensemble):
    from gfascreen.model.saved import ModelDir
    from gfascreen.screening.systems import read_systems

    t = read_systems(atlas_run)
    assert list(t["rank"]) == [1, 2, 3, 4] and len(t) == 4
    assert set(t["elements"]) == {"La-Co-Al", "La-Co-Zr", "La-Al-Zr", "Co-Al-Zr"}
    dom = t["share_in_domain"] > 0
    assert (t["score"][dom].diff().dropna() <= 0).all()  # best first
    df = pd.read_parquet(atlas_run)
    for r in t.to_dict("records"):
        own = set(r["elements"].split("-"))
        rows = df[[set(s.split("-")) <= own for s in df["system"]]]
        assert r["points"] == len(rows) == 66
        assert r[f"share_{pc.P_BMG}"] == pytest.approx((rows[pc.P_BMG] >= 0.5).mean())
        assert r["share_in_domain"] == pytest.approx(rows[pc.IN_DOMAIN].mean())
        pool = rows[rows[pc.IN_DOMAIN]] if rows[pc.IN_DOMAIN].any() else rows
        assert r[pc.DMAX_MM] == pytest.approx(pool[pc.DMAX_MM].max())
        best = pool.loc[pool[pc.DMAX_MM].idxmax()]
        assert r["best_system"] == best["system"]  # the elements the best point holds
    known = ModelDir(tiny_ensemble).known_alloys()
    space = known["system"].map(lambda s: set(s.split("-")) <= {"La", "Co", "Al"})
    lca = t.set_index("elements").loc["La-Co-Al"]
    assert lca["known_alloys"] == space.sum() > 0
    assert lca["known_bulk_glasses"] == (known[space]["gfa_class"] == "bmg").sum()
    lcz = t.set_index("elements").loc["La-Co-Zr"]
    assert lcz["known_bulk_glasses"] == 0 and lcz["novel"]
    summary = json.loads((atlas_run / "_summary.json").read_text())
    assert summary["systems"] == 4 and "largest predicted Dmax" in summary["ranking"]["rule"]
    assert "no leave-system-out" in summary["ranking"]["why"]  # the tiny model keeps none


def test_the_shipped_models_evidence_chooses_the_ranking():
    from gfascreen.model.saved import ModelDir
    from gfascreen.screening.systems import ranking_rule

    rule = ranking_rule(ModelDir("default"))
    e = rule.evidence["statistics"]
    assert rule.statistic == "best_dmax" and e["best_dmax"]["auc_holds_bulk_glass"] >= 0.95
    assert e["best_dmax"]["spearman"] >= e["best_p_bmg"]["spearman"]
    assert "Spearman" in rule.why and set(e["best_dmax"]["by_order"]) >= {"2", "3", "4"}


def test_the_atlas_page_and_one_systems_report_and_suggestions(atlas_run, capsys):
    from gfascreen.cli import main
    from gfascreen.screening.systems import read_systems

    best = read_systems(atlas_run)["elements"].iloc[0]
    assert main(["report", str(atlas_run), "--top", "1"]) == 0
    page = (atlas_run / "_report" / "report.html").read_text()
    assert page.count("<tr>") == 5 and "sortBy" in page and page.count("data:image/png") == 4
    name = "-".join(sorted(best.split("-")))
    assert f"href='systems/{name}/report.html'" in page
    assert (atlas_run / "_report" / "systems" / name / "report.html").is_file()
    assert main(["report", str(atlas_run), "--system", "Co-La-Zr"]) == 0
    own = (atlas_run / "_report" / "systems" / "Co-La-Zr" / "report.html").read_text()
    assert "Co-La-Zr: predicted glass-forming ability" in own and "--system Co-La-Zr" in own
    capsys.readouterr()
    assert main(["suggest", str(atlas_run), "--system", "La-Co-Al", "-n", "2",
                 "--out-of-domain"]) == 0
    assert "\n1. " in capsys.readouterr().out
    assert main(["suggest", str(atlas_run)]) == 2
    assert "is an atlas of 4 systems; pass --system" in capsys.readouterr().err
    assert main(["report", str(atlas_run), "--system", "La-Cu"]) == 2
    assert "is not in the atlas" in capsys.readouterr().err


def test_a_partial_atlas_page_ranks_the_systems_written_so_far(atlas_run, tmp_path, capsys):
    import shutil

    from gfascreen.cli import main

    run = tmp_path / "part"
    shutil.copytree(atlas_run, run)
    for p in [run / "_SUCCESS", *sorted(run.glob("part-*.parquet"))[1:]]:
        p.unlink()  # one part of six left: the pure metals and a few binary points
    assert main(["report", str(run)]) == 2
    assert "incomplete (1 of 6 parts" in capsys.readouterr().err
    assert main(["report", str(run), "--partial", "--top", "0"]) == 0
    page = (run / "_report" / "report.html").read_text()
    assert "Partial run:" in page and "<tbody><tr>" in page


def test_binaries_and_a_quaternary_on_one_page(tiny_ensemble, tmp_path):
    """Orders 2 and 4: each binary's map a strip, the quaternary's its slice through its
    best point; the quaternary's own report from the atlas's rows."""
    from gfascreen.screening.report import report_run
    from gfascreen.screening.systems import read_systems

    out = screen(_atlas_cfg(tiny_ensemble, tmp_path / "q", order="2,4", step=20))
    assert len(pd.read_parquet(out)) == comb(8, 3)  # the quaternary's closed simplex
    t = read_systems(out)
    assert sorted(t["order"]) == [2] * 6 + [4] and t["points"].max() == comb(8, 3)
    page = report_run(out, top=0).read_text()
    assert page.count("data:image/png") == 7
    own = report_run(out, "La-Co-Al-Zr", slices=[20]).read_text()
    assert "Zr 20 at.%" in own


# -- checks before any work ----------------------------------------------------------------
@pytest.mark.parametrize("args, msg", [
    (["--system", "La-Co-Al", "--elements", "La,Co,Al"], "give one of them"),
    (["--system", "La-Co-Al", "--order", "3"], "--order goes with --elements"),
    (["--elements", "La,Co,Al", "--order", "5"], "from 2 to 4"),
    (["--elements", "La,Co", "--order", "3"], "needs at least 3 elements"),
    (["--elements", "La,Xx,Al"], "'Xx' is not a chemical element"),
    (["--elements", "La,Co,La"], "listed twice"),
    (["--elements", "La,Co,Al", "--bounds", "La:0-10"], "--bounds is for one --system"),
    (["--elements", "La,Co,Al,Zr", "--step", "1", "--max-points", "1000"],
     "the atlas has 20,002 compositions (4 systems), over the limit of 1,000"),
    (["--elements", "La,Co,Pd"], "never saw Pd"),
    (["--systems", "nofile.txt"], "no such file"),
    ([], "give --system"),
])
def test_bad_atlas_options_one_line_before_any_work(args, msg, tiny_ensemble, tmp_path,
                                                     capsys):
    from gfascreen.cli import main

    out = tmp_path / "out"
    code = main(["screen", "--step", "10", "--model", str(tiny_ensemble), "--out", str(out),
                 "--quiet", *args])  # a later --step wins
    one_line_error(code, capsys.readouterr().err, msg)
    assert not out.exists()


@pytest.mark.parametrize("text, msg", [("Zr-Cu-Al\nAl-Cu-Zr\n", "line 2: Al-Cu-Zr is the "
                                        "system of line 1"),
                                       ("Zr-Cu-Al-Ni-Co\n", "line 1: Zr-Cu-Al-Ni-Co has 5"),
                                       ("Zr-Qq\n", "line 1: --system 'Zr-Qq'"),
                                       ("# nothing\n", "lists no system")])
def test_bad_systems_files(text, msg, tmp_path):
    f = tmp_path / "s.txt"
    f.write_text(text)
    with pytest.raises(GfaError, match=msg):
        atlas_grid(None, None, str(f), 10)


# -- kill, Ctrl-C, resume ------------------------------------------------------------------
@pytest.mark.slow
def test_ctrl_c_then_the_printed_command_finishes_the_atlas(atlas_run, tiny_ensemble,
                                                            tmp_path, capsys):
    out = tmp_path / "int"
    args = ["screen", "--elements", PALETTE, "--order", "3", "--step", "10", "--model",
            str(tiny_ensemble), "--device", "cpu", "--chunk-size", "40", "--out", str(out),
            "--quiet"]
    p = held_screen(args, 1, stderr=subprocess.PIPE, text=True)  # holds after one chunk
    wait_for(lambda: bool(list(out.glob("part-*.parquet"))), p)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130 and "Traceback" not in err, err
    assert len(list(out.glob("part-*.parquet"))) < 5, "interrupted too late to matter"
    command = err.split("`")[1]
    assert command.startswith(f"screen --elements {PALETTE} --order 3 --step 10 --out ")
    # the printed command, as typed (`screen` is `gfascreen screen`)
    code, _, err = run_cli([*shlex.split(command), "--quiet"], capsys)  # in-process
    assert code == 0, err
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(atlas_run)),
                                  _sorted(pd.read_parquet(out)))
    assert (out / "_systems.parquet").is_file() and (out / "_SUCCESS").is_file()


# -- the distributed engine ----------------------------------------------------------------
@pytest.mark.slow
def test_two_worker_processes_give_the_same_rows_and_load_the_model_once_each(
        atlas_run, tiny_ensemble, tmp_path):
    """A LocalCluster of 2 worker processes: the same rows as one process, each worker's
    model loaded once for all its chunks; then one worker killed mid-run: its chunks
    are run again and the rows are still the same."""
    import threading
    import time

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster.scheduler_address) as client:
        out = screen(_atlas_cfg(tiny_ensemble, tmp_path / "dist", chunk_size=10,
                                scheduler=cluster.scheduler_address))
        loads = client.run(lambda: __import__("gfascreen.screening.score",
                                              fromlist=["_CACHE"])._CACHE.__len__())
        assert sorted(loads.values()) == [1, 1], loads  # 21 chunks, 2 loads
        pd.testing.assert_frame_equal(_sorted(pd.read_parquet(atlas_run)),
                                      _sorted(pd.read_parquet(out)))
        killed = tmp_path / "killed"
        done = {}
        t = threading.Thread(target=lambda: done.update(out=screen(_atlas_cfg(
            tiny_ensemble, killed, chunk_size=10, scheduler=cluster.scheduler_address))))
        t.start()
        deadline = time.time() + 120
        while time.time() < deadline and not list(killed.glob("part-*.parquet")):
            time.sleep(0.02)
        pid = next(iter(client.run(os.getpid).values()))
        assert len(list(killed.glob("part-*.parquet"))) < 21, "killed too late to matter"
        os.kill(pid, signal.SIGKILL)
        t.join(timeout=240)
        assert not t.is_alive() and "out" in done
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(atlas_run)),
                                  _sorted(pd.read_parquet(killed)))


@pytest.mark.skipif(__import__("shutil").which("chromium") is None,
                    reason="no chromium installed (.ci/run installs Debian's chromium)")
def test_the_atlas_page_fits_1400_px(atlas_run, tmp_path):
    """Issue 36, item 5: read at 1,400 px, the atlas's table of systems with its small
    maps fits the page (its headings wrap)."""
    from gfascreen.screening.report import report_run
    from tests.rendered import measure

    page = measure(report_run(atlas_run, top=0), tmp_path)
    assert len(page.tables) == 1 and not page.too_wide(), page.too_wide()
    assert page.scroll <= page.width
