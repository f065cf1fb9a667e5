"""Incomplete runs are a state, not a crash: every reader of a run (report, suggest, the
examples) says in one line what the run is and how to finish it, or, with --partial, works
on the parts there and says so."""

from __future__ import annotations

import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from gfascreen.errors import GfaError
from gfascreen.screening.runs import load_run
from tests.helpers import one_line_error, run_cli


@pytest.fixture
def missing_part(finished_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    (d / "part-00001.parquet").unlink()
    return d


@pytest.mark.parametrize("argv", [["report"], ["suggest", "--n", "100000"],
                                  ["suggest", "--ucb", "0.9"]])
def test_incomplete_run_is_one_line_with_the_resume_command(missing_part, argv, capsys):
    code, _, err = run_cli([argv[0], str(missing_part), *argv[1:]], capsys)
    one_line_error(code, err, "is incomplete (3 of 4 parts; resume with `screen --system "
                         "La-Co-Al --step 10")
    assert "--resume" in err and "--chunk-size 20" in err
    assert not (missing_part / "_report").exists()


def test_partial_report_and_suggest_say_so(missing_part, capsys):
    code, out, err = run_cli(["report", str(missing_part), "--partial"], capsys)
    assert code == 0, err
    page = (missing_part / "_report" / "report.html").read_text()
    assert "Partial run" in page and "3 of 4 parts" in page
    code, out, err = run_cli(["suggest", str(missing_part), "--partial", "--n", "2",
                           "--out-of-domain", "--min-distance", "0"], capsys)
    assert code == 0, err
    assert "PARTIAL" in err


def test_live_writer_is_reported_as_such(finished_run, tmp_path, capsys):
    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    (d / "_summary.json").unlink()
    (d / "_lock").write_text(f'{{"pid": {os.getpid()}}}')
    code, _, err = run_cli(["report", str(d)], capsys)
    one_line_error(code, err, f"being written by a live `screen` (process {os.getpid()}")
    # A dead owner's lock is no longer "live": the run is just incomplete.
    (d / "_lock").write_text('{"pid": 999999999}')
    code, _, err = run_cli(["suggest", str(d)], capsys)
    one_line_error(code, err, "is incomplete (4 of 4 parts")


def test_example_reads_through_the_run_reader(missing_part, capsys):
    path = Path(__file__).resolve().parents[1] / "examples" / "analyse_parquet.py"
    old = sys.argv
    sys.argv = [str(path), str(missing_part)]
    try:
        with pytest.raises(SystemExit) as exc:
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old
    assert "is incomplete" in str(exc.value.code)


def test_reader_refuses_a_run_with_no_part(finished_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    for p in d.glob("part-*.parquet"):
        p.unlink()
    with pytest.raises(GfaError, match="no part is written yet"):
        load_run(d, partial=True)
    assert load_run(finished_run).complete


# -- faults during a screen -----------------------------------------------------------------
def _table(run: Path):
    import pandas as pd

    return pd.read_parquet(run).sort_values(["La", "Co"]).reset_index(drop=True)


def test_full_disk_stops_with_one_line_and_resumes_to_the_same_table(
        tiny_ensemble, finished_run, tmp_path, capsys, monkeypatch):
    """ENOSPC injected at the third part's write: one line saying the disk is full and the
    resume command, no partial or temporary part left, the resumed table equals an
    uninterrupted run's."""
    import errno

    import pyarrow.parquet as pq

    real = pq.write_table
    calls = {"n": 0}

    def full_disk(table, where, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            Path(where).write_bytes(b"PAR1 half")  # what a full disk leaves behind
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *a, **kw)

    monkeypatch.setattr(pq, "write_table", full_disk)
    out = tmp_path / "run"
    argv = ["screen", "--system", "La-Co-Al", "--step", "10", "--out", str(out), "--model",
            str(tiny_ensemble), "--device", "cpu", "--chunk-size", "20", "--quiet"]
    code, _, err = run_cli(argv, capsys)
    one_line_error(code, err, "the disk holding")
    assert "No space left on device" in err and "--resume" in err
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    parts = [out / n for n in names if n.startswith("part-")]
    assert len(parts) == 2  # the two written before the disk filled, whole
    for part in parts:  # whole: 66 points in parts of 20, the last one of 6
        i = int(part.stem.split("-")[1])
        assert pq.ParquetFile(part).metadata.num_rows == min(20, 66 - 20 * i)
    monkeypatch.setattr(pq, "write_table", real)
    code, _, err = run_cli(argv + ["--resume"], capsys)
    assert code == 0, err
    import pandas as pd

    pd.testing.assert_frame_equal(_table(out), _table(finished_run))


@pytest.mark.slow
def test_killed_scheduler_stops_with_one_line_and_resumes(tiny_ensemble, finished_run, tmp_path,
                                                          capsys):
    """A Dask scheduler process on 127.0.0.1, killed while the screen runs: one line naming
    the lost scheduler and the resume command; the local resume equals an uninterrupted run."""
    import signal
    import socket
    import subprocess
    import threading
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    sched = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1",
                              "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(bindir / "dask"), "worker", addr, "--nthreads", "1",
                               "--nworkers", "1", "--no-dashboard", "--no-nanny"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "run"
    try:
        deadline = time.monotonic() + 120  # the scheduler listening: a bound, not a timing
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        def kill_when_started():
            deadline = time.time() + 120
            while time.time() < deadline and not list(out.glob("part-*.parquet")):
                time.sleep(0.02)
            sched.send_signal(signal.SIGKILL)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        argv = ["screen", "--system", "La-Co-Al", "--step", "10", "--out", str(out),
                "--model", str(tiny_ensemble), "--device", "cpu", "--chunk-size", "1",
                "--quiet", "--scheduler", addr]
        code, _, err = run_cli(argv, capsys)
        killer.join()
    finally:
        sched.kill()
        worker.kill()
        sched.wait()
        worker.wait()
    if code == 0:
        pytest.skip("the run finished before the scheduler was killed")
    one_line_error(code, err, f"lost the Dask scheduler or its workers at {addr}")
    assert "--resume" in err
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    code, _, err = run_cli(argv[:-2] + ["--chunk-size", "1", "--resume"][2:], capsys)
    assert code == 0, err
    import pandas as pd

    pd.testing.assert_frame_equal(_table(out), _table(finished_run))
