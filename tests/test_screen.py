import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.screening.run import ScreenConfig, screen


def _cfg(model, out, **kw):
    return ScreenConfig(**{"system": "La-Co-Al", "step": 5, "out": str(out), "model": str(model),
                           "device": "cpu", "chunk_size": 50, "progress": False, **kw})


@pytest.fixture(scope="module")
def reference_run(tiny_ensemble, tmp_path_factory):
    out = tmp_path_factory.mktemp("scr") / "ref"
    screen(_cfg(tiny_ensemble, out))
    return out


def test_screen_writes_parquet_dataset(reference_run):
    df = pd.read_parquet(reference_run)
    assert len(df) == 231
    assert {"La", "Co", "Al", "system", "dmax_mm", "dmax_std", "in_domain",
            "p_bmg"} <= set(df.columns)
    assert np.allclose(df[["La", "Co", "Al"]].sum(1), 100)
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(reference_run / "part-00000.parquet").metadata[
        b"gfascreen"])
    assert meta["grid"]["elements"] == ["La", "Co", "Al"] and meta["model"]["hash"]
    summary = json.loads((reference_run / "_summary.json").read_text())
    assert len(summary["top10"]) == 10


def test_existing_run_needs_resume(reference_run, tiny_ensemble):
    with pytest.raises(GfaError, match="--resume"):
        screen(_cfg(tiny_ensemble, reference_run))
    with pytest.raises(GfaError, match="different grid"):
        screen(_cfg(tiny_ensemble, reference_run, step=10, resume=True))


def test_guardrails(tiny_ensemble, tmp_path):
    with pytest.raises(GfaError, match="never saw"):
        screen(_cfg(tiny_ensemble, tmp_path / "x", system="Pd-Ni-P"))
    with pytest.raises(GfaError, match="over the limit"):
        screen(_cfg(tiny_ensemble, tmp_path / "y", step=0.5, max_points=1000))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere
            with pytest.raises(GfaError, match="cannot write"):
                screen(_cfg(tiny_ensemble, ro / "out"))
    finally:
        ro.chmod(0o700)


def test_sigkill_then_resume_equals_uninterrupted(reference_run, tiny_ensemble, tmp_path):
    out = tmp_path / "killed"
    args = ["screen", "--system", "La-Co-Al", "--step", "5", "--model", str(tiny_ensemble),
            "--device", "cpu", "--chunk-size", "50", "--out", str(out), "--quiet"]
    # Slow chunks (1 s each) by patching the scorer in the child, so the kill lands mid-run.
    slow = ("import sys, time; from gfascreen.screening import score; f = score.score_chunk; "
            "score.score_chunk = lambda *a, **k: (time.sleep(1.0), f(*a, **k))[1]; "
            "from gfascreen.cli import main; sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", slow, *args]
    p = subprocess.Popen(cmd)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("part-*.parquet")):
        time.sleep(0.1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    parts = list(out.glob("part-*.parquet"))
    assert 1 <= len(parts) < 5, "the run should have been killed part-way"
    r = subprocess.run([sys.executable, "-m", "gfascreen", *args, "--resume"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not list(out.glob(".*.tmp"))


def test_local_cluster_matches_local_run(reference_run, tiny_ensemble, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
        out = tmp_path / "dist"
        screen(_cfg(tiny_ensemble, out, scheduler=cluster.scheduler_address))
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_cli_screen_alias_bad_input_one_line(tiny_ensemble):
    from pathlib import Path

    exe = Path(sys.executable).parent / "screen"
    assert exe.exists(), "the `screen` console script is not installed"
    r = subprocess.run([str(exe), "--system", "La-Co-Al", "--step", "0.3", "--model",
                        str(tiny_ensemble)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "does not divide 100" in r.stderr and "Traceback" not in r.stderr


def test_quaternary_run(tiny_ensemble, tmp_path):
    out = screen(_cfg(tiny_ensemble, tmp_path / "q", system="Zr-Cu-Al-La", step=10,
                      chunk_size=100))
    assert len(pd.read_parquet(out)) == 286


def test_precision_bf16_recorded_and_checked_on_resume(reference_run, tiny_ensemble, tmp_path):
    with pytest.raises(GfaError, match="--precision"):
        screen(_cfg(tiny_ensemble, tmp_path / "bad", precision="fp16"))
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no native bf16")
    out = screen(_cfg(tiny_ensemble, tmp_path / "bf", precision="bf16"))
    a, b = pd.read_parquet(reference_run), pd.read_parquet(out)
    assert len(a) == len(b)
    assert np.abs(a["log_dmax"].to_numpy() - b["log_dmax"].to_numpy()).max() < 0.1
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"gfascreen"])
    assert meta["model"]["precision"] == "bf16"
    with pytest.raises(GfaError, match="different model"):
        screen(_cfg(tiny_ensemble, out, resume=True))  # fp32 on a bf16 run
