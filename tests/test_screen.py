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
from tests.helpers import held_screen, one_line_error, run_cli, wait_for


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


def test_a_screen_that_fails_before_scoring_leaves_nothing_that_blocks_a_retry(
        tiny_ensemble, tmp_path):
    """Issue 36: a model that fails to load (a member file missing) stops the screen; the
    run it had started is gone, so the same command runs once the model is mended."""
    import shutil

    from gfascreen.model.saved import ModelDir

    model = tmp_path / "model"
    shutil.copytree(tiny_ensemble, model)
    member = model / ModelDir(model).manifest.members[0].file
    member.rename(tmp_path / "aside")
    out = tmp_path / "run"
    with pytest.raises(GfaError, match="is missing"):
        screen(_cfg(model, out))
    assert not out.exists()
    empty = tmp_path / "mine"
    empty.mkdir()  # a directory the user made is kept, empty
    with pytest.raises(GfaError, match="is missing"):
        screen(_cfg(model, empty))
    assert empty.is_dir() and not any(empty.iterdir())
    (tmp_path / "aside").rename(member)
    assert len(pd.read_parquet(screen(_cfg(model, out)))) == 231


def _screen_args(model, out):
    return ["screen", "--system", "La-Co-Al", "--step", "5", "--model", str(model),
            "--device", "cpu", "--chunk-size", "50", "--out", str(out), "--quiet"]


#: When the child is killed: (chunks it scores before holding, the moment of the kill).
KILL_POINTS = {
    # before _run.json exists (interpreter still starting)
    "before the run file": (0, lambda out: True),
    # _run.json written, first chunk being scored (and held)
    "mid-chunk": (0, lambda out: (out / "_run.json").exists()),
    # one part written, the next chunk held
    "between chunks": (1, lambda out: bool(list(out.glob("part-*.parquet")))),
}


@pytest.mark.parametrize("when", list(KILL_POINTS))
@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(when, reference_run, tiny_ensemble, tmp_path,
                                                  capsys):
    out = tmp_path / "killed"
    args = _screen_args(tiny_ensemble, out)
    free, ready = KILL_POINTS[when]
    p = held_screen(args, free)  # the child holds after `free` chunks: the kill lands mid-run
    wait_for(lambda: ready(out), p)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert len(list(out.glob("part-*.parquet"))) < 5, "the run should have been killed part-way"
    code, _, err = run_cli([*args, "--resume"], capsys)  # the resume, in-process
    assert code == 0, err
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not list(out.glob(".*.tmp")) and not (out / "_lock").exists()


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_run_and_says_how(reference_run, tiny_ensemble, tmp_path,
                                                   capsys):
    out = tmp_path / "int"
    args = _screen_args(tiny_ensemble, out)
    p = held_screen(args, 1, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: bool(list(out.glob("part-*.parquet"))), p)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert any(ln.startswith("interrupted") for ln in err.splitlines()), err
    assert not (out / "_lock").exists()
    code, _, err = run_cli([*args, "--resume"], capsys)  # the resume, in-process
    assert code == 0, err
    assert len(pd.read_parquet(out)) == len(pd.read_parquet(reference_run))


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
    one_line_error(r.returncode, r.stderr, "does not divide 100")


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
        screen(_cfg(tiny_ensemble, out, precision="fp32", resume=True))  # fp32 on a bf16 run


def test_calibrated_intervals_in_screen_and_predict(calibrated_ensemble, tmp_path):
    from gfascreen.model.ensemble import Ensemble

    out = screen(_cfg(calibrated_ensemble, tmp_path / "cal", confidence=0.9))
    df = pd.read_parquet(out)
    assert df["dmax_lo"].notna().all() and df["dmax_hi"].notna().all()
    assert (df["dmax_lo"] <= df["dmax_mm"] + 1e-9).all()
    assert (df["dmax_hi"] >= df["dmax_mm"] - 1e-9).all() and (df["dmax_lo"] >= 0).all()
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"gfascreen"])
    assert meta["interval"]["confidence"] == 0.9 and meta["interval"]["method"] == "symmetric"
    assert meta["interval"]["thresholds_mm"] == [1.0, 5.0, 10.0]
    with pytest.raises(GfaError, match="different interval"):
        screen(_cfg(calibrated_ensemble, out, confidence=0.5, resume=True))
    ens = Ensemble.load(calibrated_ensemble, device="cpu")
    wide = ens.predict(["Al25Co20La55"], confidence=0.95)
    narrow = ens.predict(["Al25Co20La55"], confidence=0.68)
    assert (wide["dmax_hi"] - wide["dmax_lo"]).iloc[0] > (narrow["dmax_hi"]
                                                         - narrow["dmax_lo"]).iloc[0]


def test_uncalibrated_model_loads_and_says_so(reference_run):
    df = pd.read_parquet(reference_run)
    assert df["dmax_lo"].isna().all() and df["dmax_hi"].isna().all()
    run = json.loads((reference_run / "_run.json").read_text())
    assert run["interval"]["confidence"] is None and "no calibration" in run["interval"]["note"]


def test_resume_heals_damaged_parts_and_stray_tmp(reference_run, tiny_ensemble, tmp_path,
                                                  capsys):
    import shutil

    out = tmp_path / "heal"
    shutil.copytree(reference_run, out)
    (out / "_summary.json").unlink()
    (out / "part-00001.parquet").write_bytes(b"PAR1 torn")
    (out / "part-00003.parquet").unlink()
    (out / "part-00003.parquet.tmp").write_bytes(b"half")
    (out / ".part-00002.parquet.tmp").write_bytes(b"half")
    screen(_cfg(tiny_ensemble, out, resume=True))
    assert "part-00001.parquet is damaged" in capsys.readouterr().err
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_live_lock_refuses_a_second_writer_and_stale_lock_is_taken_over(tiny_ensemble,
                                                                        tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir()
    (out / "_run.json").write_text("{}")  # a run begun by someone else
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "_lock").write_text(json.dumps({"pid": sleeper.pid}))
        from gfascreen.screening.run import RunLock

        with pytest.raises(GfaError, match=f"being written by process {sleeper.pid}"):
            with RunLock(out):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunLock(out):  # the owner is dead now: stale, taken over
        assert json.loads((out / "_lock").read_text())["pid"] == os.getpid()
    assert "stale lock" in capsys.readouterr().err
    assert not (out / "_lock").exists()


@pytest.mark.slow
def test_distributed_worker_dies_mid_run(reference_run, tiny_ensemble, tmp_path):
    """A LocalCluster (worker processes, loopback) whose worker is killed mid-run: the
    scheduler reschedules its tasks on the restarted worker and the table is the same."""
    import threading

    from distributed import Client, LocalCluster

    out = tmp_path / "dist-kill"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster.scheduler_address) as client:
        done = {}
        t = threading.Thread(target=lambda: done.update(out=screen(_cfg(
            tiny_ensemble, out, scheduler=cluster.scheduler_address, chunk_size=10))))
        t.start()
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("part-*.parquet")):
            time.sleep(0.05)
        assert list(out.glob("part-*.parquet")), "no part written"
        pids = client.run(os.getpid)
        assert len(list(out.glob("part-*.parquet"))) < 24, "killed too late to matter"
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)  # the nanny restarts it
        t.join(timeout=240)
        assert not t.is_alive() and "out" in done
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_chunk_size_follows_the_device_and_a_resumed_run(tiny_ensemble, tmp_path):
    """0 = by device (512 on a CPU; the CUDA default is 8192, chosen without a GPU here);
    a resumed run keeps the chunk size it was started with."""
    import torch

    from gfascreen.model.precision import inference_batch_for
    from gfascreen.screening.options import chunk_size_for
    from gfascreen.screening.run import plan_screen

    assert chunk_size_for(torch.device("cpu")) == 512
    assert chunk_size_for(torch.device("cuda")) == 8192
    assert inference_batch_for(torch.device("cuda")) > inference_batch_for(torch.device("cpu"))
    out = tmp_path / "run"
    cfg = _cfg(tiny_ensemble, out, chunk_size=0)
    assert plan_screen(cfg).chunk_size == 512
    screen(_cfg(tiny_ensemble, out, chunk_size=40))
    resumed = plan_screen(_cfg(tiny_ensemble, out, chunk_size=0, resume=True))
    assert resumed.chunk_size == 40


@pytest.mark.slow
def test_gpu_shaped_batches_give_todays_answers(calibrated_ensemble, tmp_path, monkeypatch):
    """The CUDA shape (8,192-point chunks, 4,096-image forward passes) run on this CPU gives
    the CPU shape's table (512-point chunks, 128-image passes) to float32 noise: every
    column, calibrated intervals and probabilities included."""
    from gfascreen.model import precision
    from gfascreen.screening import options, score

    def run(name):
        score.forget()  # reload: the batch is read at load
        out = tmp_path / name
        try:
            screen(_cfg(calibrated_ensemble, out, step=2, chunk_size=0))
        finally:
            score.forget()  # no later test scores with this shape's ensemble
        parts = sorted(out.glob("part-*.parquet"))
        return pd.read_parquet(out).sort_values(["La", "Co", "Al"]).reset_index(drop=True), parts

    cpu, cpu_parts = run("cpu")
    monkeypatch.setitem(options.CHUNK_SIZE, "cpu", options.CHUNK_SIZE["cuda"])
    monkeypatch.setitem(precision.INFERENCE_BATCH, "cpu", precision.INFERENCE_BATCH["cuda"])
    gpu, gpu_parts = run("gpu")
    assert len(cpu) == len(gpu) == 1326 and len(cpu_parts) == 3 and len(gpu_parts) == 1
    num = [c for c in cpu.columns if pd.api.types.is_float_dtype(cpu[c])]
    assert {"dmax_lo", "p_bmg", "p_dmax_ge_5"} <= set(num)
    np.testing.assert_allclose(gpu[num].to_numpy(), cpu[num].to_numpy(), rtol=1e-5, atol=1e-6)
    assert (gpu["in_domain"] == cpu["in_domain"]).all()


def test_gpu_check_script_runs_on_cpu(tiny_ensemble, tmp_path):
    """scripts/gpu_check.py, the command for a CUDA machine, rehearsed here: the network
    alone and two screens, each screen's points/s beside the network's, written as JSON."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu.json"
    r = mod.main(["--model", str(tiny_ensemble), "--systems", "La-Co-Al:10", "Cu-Zr:5",
                  "--compositions", "64", "--atlas", "La,Co,Al,Cu:3:20", "--json", str(out)])
    assert json.loads(out.read_text()) == r
    assert r["network_alone"]["device"] == "cpu" and r["network_alone"]["points_per_s"] > 0
    assert [(s["system"], s["points"]) for s in r["screens"]] == [("La-Co-Al", 66),
                                                                  ("Cu-Zr", 21)]
    assert all(s["share_of_network_alone"] > 0 for s in r["screens"])
    # An atlas too: the 4 ternaries of 4 elements at 20 at.%, each composition once.
    assert r["atlases"][0]["points"] == 4 + 6 * 4 + 4 * 6 and r["atlases"][0]["wall_s"] > 0


def test_one_screen_loads_and_verifies_the_model_once(tiny_ensemble, tmp_path, monkeypatch):
    """With ``--device auto`` (the default) one screen loads the ensemble once, verifies
    each member file once, and parses its thresholds once: the plan is resolved once and
    every chunk is scored with the model it holds."""
    from gfascreen.model import saved, statement_options
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.screening import score

    score.forget()  # a fresh process: nothing held
    loads, verified, parsed = [], [], []
    real_load = Ensemble.load.__func__
    monkeypatch.setattr(Ensemble, "load", classmethod(
        lambda cls, *a, **k: loads.append(k.get("device")) or real_load(cls, *a, **k)))
    real_state = saved.ModelDir.member_state
    monkeypatch.setattr(saved.ModelDir, "member_state",
                        lambda self, e: verified.append(e.file) or real_state(self, e))
    real_parse = statement_options.parse_thresholds
    monkeypatch.setattr(statement_options, "parse_thresholds",
                        lambda t: parsed.append(t) or real_parse(t))
    out = screen(_cfg(tiny_ensemble, tmp_path / "once", device="auto", thresholds="1,5"))
    assert len(list(out.glob("part-*.parquet"))) == 5
    members = saved.ModelDir(tiny_ensemble).manifest.members
    assert len(loads) == 1, loads
    assert sorted(verified) == sorted(m.file for m in members)
    assert parsed == ["1,5"]
    assert {"p_dmax_ge_1", "p_dmax_ge_5"} <= set(pd.read_parquet(out).columns)


def _with_bf16_record(model, where, diff, same_weights=True):
    """A copy of ``model`` whose manifest records a bf16 check of ``diff`` (measured on
    its own weights, or on others')."""
    import shutil

    from gfascreen.model.saved import BF16_CHECK, ModelDir, model_hash

    shutil.copytree(model, where)
    md = ModelDir(where)
    md.manifest.extra[BF16_CHECK] = {
        "max_abs_diff_log10_1p_dmax": diff,
        "model_hash": model_hash(md.manifest) if same_weights else "0" * 64}
    md.write_manifest()
    return where


def test_auto_precision_is_bf16_only_where_native_and_recorded(tiny_ensemble, tmp_path,
                                                               monkeypatch):
    """``--precision auto`` (the default) is bf16 only on hardware with native bf16 (a CPU
    with AVX512-BF16/AMX, monkeypatched here; a GPU) and for a model that records a bf16
    check within 0.02 of fp32 on its own weights; fp32 otherwise, and fp32 is fp32 on
    every device."""
    import contextlib

    from gfascreen.model import precision
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.precision import autocast, resolve_precision
    from gfascreen.screening.run import plan_screen

    assert ScreenConfig("La-Co-Al").precision == "auto"
    recorded = _with_bf16_record(tiny_ensemble, tmp_path / "ok", 0.012)
    loose = _with_bf16_record(tiny_ensemble, tmp_path / "loose", 0.05)
    stale = _with_bf16_record(tiny_ensemble, tmp_path / "stale", 0.012, same_weights=False)

    def auto(model, native):
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda: native)
        return plan_screen(_cfg(model, tmp_path / "out")).precision

    assert auto(recorded, True) == "bf16"
    assert auto(recorded, False) == "fp32"
    assert auto(tiny_ensemble, True) == "fp32"  # nothing recorded
    assert auto(loose, True) == "fp32"
    assert auto(stale, True) == "fp32"  # measured on other weights
    assert not (tmp_path / "out").exists()  # planning writes nothing
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(GfaError, match="native bf16"):
        plan_screen(_cfg(recorded, tmp_path / "out", precision="bf16"))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert plan_screen(_cfg(recorded, tmp_path / "out", precision="fp32")).precision == "fp32"
    assert Ensemble.load(recorded, device="cpu", precision="auto").precision == "bf16"
    assert Ensemble.load(tiny_ensemble, device="cpu", precision="auto").precision == "fp32"
    cuda = torch.device("cuda")  # the rule on a GPU (none needed to ask it)
    assert resolve_precision("auto", cuda, 0.012) == "bf16"
    assert resolve_precision("auto", cuda, None) == "fp32"
    assert resolve_precision("fp32", cuda, 0.012) == "fp32"
    assert isinstance(autocast(cuda, bf16=False), contextlib.nullcontext)
    assert isinstance(autocast(torch.device("cpu"), bf16=True), torch.autocast)


@pytest.mark.slow
def test_precision_used_is_recorded_and_a_resumed_run_keeps_its_own(tiny_ensemble, tmp_path,
                                                                    monkeypatch):
    import pyarrow.parquet as pq

    from gfascreen.model import precision

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    model = _with_bf16_record(tiny_ensemble, tmp_path / "m", 0.012)

    def recorded(out):
        meta = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"gfascreen"])
        run = json.loads((out / "_run.json").read_text())
        summary = json.loads((out / "_summary.json").read_text())
        return meta["model"]["precision"], run["model"]["precision"], summary["precision"]

    bf = screen(_cfg(model, tmp_path / "bf"))
    fp = screen(_cfg(tiny_ensemble, tmp_path / "fp"))
    assert recorded(bf) == ("bf16",) * 3 and recorded(fp) == ("fp32",) * 3
    whole = pd.read_parquet(bf)
    # A resumed bf16 run is finished in bf16 under auto, refused where bf16 cannot run.
    (bf / "part-00002.parquet").unlink()
    (bf / "_summary.json").unlink()
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(GfaError, match="scored in bf16"):
        screen(_cfg(model, bf, resume=True))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    with pytest.raises(GfaError, match="different model"):
        screen(_cfg(model, bf, precision="fp32", resume=True))
    screen(_cfg(model, bf, resume=True))
    pd.testing.assert_frame_equal(pd.read_parquet(bf), whole)
    # A run from before the precision was recorded was fp32: auto finishes it in fp32.
    run = json.loads((fp / "_run.json").read_text())
    del run["model"]["precision"]
    (fp / "_run.json").write_text(json.dumps(run))
    (fp / "part-00001.parquet").unlink()
    (fp / "_summary.json").unlink()
    screen(_cfg(tiny_ensemble, fp, resume=True))
    meta = json.loads(pq.read_schema(fp / "part-00001.parquet").metadata[b"gfascreen"])
    assert meta["model"]["precision"] == "fp32"
    assert json.loads((fp / "_summary.json").read_text())["precision"] == "fp32"


@pytest.mark.slow
def test_bf16_check_records_what_auto_reads(tiny_ensemble, tmp_path, capsys, monkeypatch):
    """``gfascreen bf16-check MODEL --write`` measures bf16 against fp32 on the model's known
    alloys and records it in the manifest; --precision auto then picks bf16 for that model
    on a CPU with native bf16 (this CPU said to have it: emulated, the same arithmetic)."""
    import shutil

    from gfascreen import cli
    from gfascreen.model import precision
    from gfascreen.model.saved import BF16_CHECK, ModelDir, bf16_record, model_hash
    from gfascreen.screening.run import plan_screen

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    model = tmp_path / "m"
    shutil.copytree(tiny_ensemble, model)
    assert plan_screen(_cfg(model, tmp_path / "a")).precision == "fp32"
    assert cli.main(["bf16-check", str(model), "--device", "cpu"]) == 0  # measures only
    assert "compositions x 2 members" in capsys.readouterr().out
    assert BF16_CHECK not in ModelDir(model).manifest.extra
    assert cli.main(["bf16-check", str(model), "--device", "cpu", "--write"]) == 0
    md = ModelDir(model)
    rec = md.manifest.extra[BF16_CHECK]
    assert rec["model_hash"] == model_hash(md.manifest) and rec["device"] == "cpu"
    assert rec["compositions"] == len(md.known_alloys()) and rec["members"] == 2
    assert bf16_record(md.manifest) == rec["max_abs_diff_log10_1p_dmax"]
    assert "recorded as bf16_check" in capsys.readouterr().out
    expected = "bf16" if rec["max_abs_diff_log10_1p_dmax"] <= 0.02 else "fp32"
    assert plan_screen(_cfg(model, tmp_path / "b")).precision == expected


def test_bf16_check_refused_and_skipped_in_a_release_without_native_bf16(
        tiny_ensemble, tmp_path, capsys, monkeypatch):
    """Without native bf16 the command refuses in one line and the release's step is
    skipped with a note naming the command; the model is left as it was."""
    import shutil

    from gfascreen import cli
    from gfascreen.model import precision
    from gfascreen.model.training.bf16_check import release_step

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    model = tmp_path / "m"
    shutil.copytree(tiny_ensemble, model)
    before = (model / "manifest.json").read_bytes()
    code = cli.main(["bf16-check", str(model), "--device", "cpu", "--write"])
    one_line_error(code, capsys.readouterr().err, "computes no bf16 natively")
    if not torch.cuda.is_available():
        note = release_step(str(model))
        assert note.startswith("skipped: ") and f"gfascreen bf16-check {model} --write" in note
    assert (model / "manifest.json").read_bytes() == before


def test_parts_are_written_while_the_next_chunk_is_scored(reference_run, tiny_ensemble,
                                                          tmp_path, monkeypatch):
    """One writer thread: chunk N's part is written while chunk N+1 is scored (each write
    here waits until the next chunk's scoring has begun: a writer that did not overlap
    would wait in vain), in order, atomically, and the table is the uninterrupted one."""
    import threading

    from gfascreen.screening import run, score

    events, overlapped = [], []
    begun = [threading.Event() for _ in range(5)]  # chunk i's scoring has begun
    real_score, real_write = score.score_chunk, run.write_part

    def scored(*a, **k):
        i = sum(e == "score" for e, _, _ in events)
        events.append(("score", i, threading.current_thread().name))
        begun[i].set()
        return real_score(*a, **k)

    def write_once_next_is_scored(df, path, meta):
        i = sum(e == "written" for e, _, _ in events)
        if i + 1 < len(begun):  # no waiting in vain twice: 60 s only while all overlapped
            overlapped.append(begun[i + 1].wait(timeout=60 if all(overlapped) else 0))
        r = real_write(df, path, meta)
        events.append(("written", i, threading.current_thread().name))
        return r

    monkeypatch.setattr(score, "score_chunk", scored)
    monkeypatch.setattr(run, "write_part", write_once_next_is_scored)
    out = screen(_cfg(tiny_ensemble, tmp_path / "overlap"))
    assert [i for e, i, _ in events if e == "score"] == list(range(5))
    assert [i for e, i, _ in events if e == "written"] == list(range(5))
    assert overlapped == [True] * 4, events  # part N written while N+1 was being scored
    assert {n for e, _, n in events if e == "written"} == {"gfascreen-part-writer"}
    assert {n for e, _, n in events if e == "score"} == {threading.main_thread().name}
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_a_scoring_error_still_writes_the_parts_already_scored(tiny_ensemble, tmp_path,
                                                               monkeypatch):
    """A chunk that fails to score stops the screen in one line; the parts scored before
    it are written whole (the writer drains its queue), none after it."""
    from gfascreen.screening import score

    real = score.score_chunk
    calls = []

    def third_fails(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise GfaError("a scoring fault")
        return real(*a, **k)

    monkeypatch.setattr(score, "score_chunk", third_fails)
    out = tmp_path / "fault"
    with pytest.raises(GfaError, match="a scoring fault.*resume with"):
        screen(_cfg(tiny_ensemble, out))
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.parquet",
                                                          "part-00001.parquet"]
    assert not list(out.glob(".*.tmp")) and not (out / "_lock").exists()


def test_predict_takes_precision_auto_by_default(tiny_ensemble, tmp_path, monkeypatch, capsys):
    from gfascreen import cli
    from gfascreen.model import precision
    from gfascreen.model.ensemble import Ensemble

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    recorded = _with_bf16_record(tiny_ensemble, tmp_path / "m", 0.012)
    used = []
    real_load = Ensemble.load.__func__

    def load(cls, *a, **k):
        ens = real_load(cls, *a, **k)
        used.append(ens.precision)
        return ens

    monkeypatch.setattr(Ensemble, "load", classmethod(load))
    argv = ["predict", "Al25Co20La55", "--device", "cpu", "--quiet"]
    assert cli.main([*argv, "--model", str(recorded)]) == 0
    assert cli.main([*argv, "--model", str(recorded), "--precision", "fp32"]) == 0
    assert cli.main([*argv, "--model", str(tiny_ensemble)]) == 0
    assert used == ["bf16", "fp32", "fp32"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main([*argv, "--model", str(recorded), "--precision", "fp16"])
    assert "invalid choice" in capsys.readouterr().err


def test_a_local_screen_scores_with_its_plans_predictor(tiny_ensemble, reference_run, tmp_path,
                                                       monkeypatch):
    """The chunks of a screen in this process are scored by the predictor its plan loaded
    (``ScreenPlan.ensemble``), not looked up again in the process's cache."""
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.screening import run, score

    ens = Ensemble.load(tiny_ensemble, device="cpu")
    monkeypatch.setattr(run, "load_model", lambda plan: plan.with_ensemble(ens))
    monkeypatch.setattr(score, "load_cached", lambda *a, **k: pytest.fail("cache asked"))
    out = screen(_cfg(tiny_ensemble, tmp_path / "own"))
    a = pd.read_parquet(reference_run).sort_values(["La", "Co"]).reset_index(drop=True)
    b = pd.read_parquet(out).sort_values(["La", "Co"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
