"""The inference path's shape: scoring never loads training code, and every way a
composition comes in (a user's formula, a grid chunk, a training batch) meets the same
converter and gives the same tensor."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch


def test_inference_does_not_import_training_code():
    code = ("import sys, gfascreen.model.ensemble, gfascreen.screening.score; "
            "bad = [m for m in sys.modules if m.startswith(('gfascreen.model.training', "
            "'gfascreen.model.evaluation', 'gfascreen.data.build'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_formula_grid_chunk_and_training_batch_give_one_tensor(tiny_ensemble, tiny_table,
                                                               monkeypatch):
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.training.train import FoldTrainer  # noqa: F401 (training batches: from_table)
    from gfascreen.screening import score

    ens = Ensemble.load(tiny_ensemble, device="cpu")
    # 1. A user's formula, through Ensemble.predict.
    seen = []
    real = ens.predict_fractions
    monkeypatch.setattr(ens, "predict_fractions", lambda x, *a, **k: seen.append(x) or real(x))
    ens.predict(["La55Co20Al25"])
    # 2. A grid chunk at 5 at.% (lattice units 11, 4, 5), through score_chunk.
    monkeypatch.setattr(score, "load_cached", lambda *a, **k: ens)
    score.score_chunk(np.array([[11, 4, 5]]), ["La", "Co", "Al"], 5.0,
                      score.ChunkScorer("m", "cpu"))
    # 3. A training batch: the training table's at.% columns, as train_cv reads them.
    row = pd.DataFrame([{"composition": "Al25Co20La55", "La": 55.0, "Co": 20.0, "Al": 25.0,
                         "Zr": 0.0}])
    seen.append(ens.featurizer.from_table(row))
    a, b, c = seen
    assert a.dtype == b.dtype == c.dtype == torch.float32
    assert torch.equal(a, b) and torch.equal(b, c)
    assert abs(float(a.sum()) - 1) < 1e-6 and int((a > 0).sum()) == 3


def test_report_and_validate_offline_without_training_table(tiny_ensemble, tmp_path,
                                                            monkeypatch):
    """Known alloys come from the model: no train.parquet anywhere, no download."""
    from gfascreen.data import sources
    from gfascreen.screening.report import write_report
    from gfascreen.screening.run import ScreenConfig, screen
    from gfascreen.validation import validate

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sources, "fetch", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("tried to download")))
    out = screen(ScreenConfig(system="La-Co-Al", step=10, out=str(tmp_path / "r"),
                              model=str(tiny_ensemble), device="cpu", progress=False))
    html = write_report(out).read_text()
    assert "Known alloys of this system" in html
    text = validate(["La-Co-Al"], step=10, model=str(tiny_ensemble), out=tmp_path / "v",
                    device="cpu")
    assert "| La-Co-Al |" in text and "| La-Co-Al | 0 |" not in text


def test_help_imports_no_heavy_library():
    """`gfascreen --help` and every subcommand's --help answer without torch, dask,
    pymatgen or plotly (they took ~20 s and 0.9 GB when the parser imported torch)."""
    code = (
        "import sys\n"
        "from gfascreen import cli\n"
        "for argv in (['--help'], ['train', '--help'], ['screen', '--help'],\n"
        "             ['predict', '--help'], ['calibrate', '--help'], ['suggest', '--help']):\n"
        "    try:\n"
        "        cli.main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "try:\n"
        "    cli.screen_main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'dask', 'pymatgen', 'plotly', 'sklearn', 'crepes')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stderr, r.stderr


def _module_imports() -> dict[str, set[str]]:
    """Every gfascreen module and the gfascreen modules it imports anywhere in its code
    (top-level or inside a function)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    mods = {}
    for f in (root / "gfascreen").rglob("*.py"):
        name = ".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        mods[name] = deps
    return {m: {d for d in deps if d in mods and d != m} for m, deps in mods.items()}


def test_no_import_cycle_between_modules():
    graph = _module_imports()
    # A package's __init__ re-exporting its modules is not a cycle of the design.
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_training_and_evaluation_import_one_way():
    """Training may use evaluation (metrics, side-by-side tables); evaluation never imports
    training: what both need of a run (its recipe, its table) is gfascreen.model.recipe."""
    graph = _module_imports()
    evaluation = [m for m in graph if m.startswith("gfascreen.model.evaluation")]
    assert evaluation
    bad = {m: sorted(d for d in graph[m] if d.startswith("gfascreen.model.training"))
           for m in evaluation}
    assert not any(bad.values()), {m: d for m, d in bad.items() if d}


def test_inference_modules_never_import_evaluation_or_training():
    """Nothing under gfascreen.model outside its training and evaluation packages imports
    them, at the top or inside a function: what calibration measures (ECE, Brier,
    coverage) is gfascreen.model.reliability, which evaluation reads too."""
    graph = _module_imports()
    apart = ("gfascreen.model.training", "gfascreen.model.evaluation")
    inference = [m for m in graph if m.startswith("gfascreen.model") and not m.startswith(apart)]
    assert "gfascreen.model.statements" in inference
    bad = {m: sorted(d for d in graph[m] if d.startswith(apart)) for m in inference}
    assert not any(bad.values()), {m: d for m, d in bad.items() if d}


def test_lower_layers_never_import_screening():
    """Nothing under gfascreen.model, gfascreen.featurize or gfascreen.data imports
    gfascreen.screening, at the top or inside a function: screening reads the model (its
    known alloys: gfascreen.model.known), never the other way round."""
    graph = _module_imports()
    lower = ("gfascreen.model", "gfascreen.featurize", "gfascreen.data")
    bad = {m: sorted(d for d in deps if d.startswith("gfascreen.screening"))
           for m, deps in graph.items() if m.startswith(lower)}
    assert not any(bad.values()), {m: d for m, d in bad.items() if d}


#: The manifest keys of the parts stored beside its fields, read only through their
#: typed records (gfascreen.model.parts; Manifest.partner, .stack, .casts).
_PART_ACCESS = r"""(extra\[|extra\.get\(|extra\.pop\(|in [\w.]*extra\b)"""
_PART_KEYS = ("partner", "stack", "casts", "calibration", "known_alloys", "members")


def test_manifest_parts_are_read_through_their_records():
    """No ``extra["partner"]``, ``extra.get("stack")``, ``"casts" in m.extra`` … outside
    the records' modules: each part of a manifest has one reader."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    owners = {root / "gfascreen/model/parts.py", root / "gfascreen/model/saved.py"}
    key = "[\"'](" + "|".join(_PART_KEYS) + ")[\"']"
    pattern = re.compile(rf"({key}\s*{_PART_ACCESS}|{_PART_ACCESS}\s*{key})")
    hits = [f"{f.relative_to(root)}:{n}: {line.strip()}"
            for d in ("gfascreen", "scripts") for f in sorted((root / d).rglob("*.py"))
            if f not in owners
            for n, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


#: Modules that may spell a prediction column's name, and why.
_NAMES_COLUMNS = {
    # The registry itself.
    "gfascreen/model/columns.py": None,
    # The alloy table's measured Dmax column (the data layer, below the registry, names it;
    # it shares the prediction's name so a known alloy's row and its prediction line up).
    "gfascreen/data/labels.py": {"dmax_mm"},
    # The descriptor partner's boosters are named for what they predict; the names are
    # keys of its saved model files, not columns of a table.
    "gfascreen/model/partner.py": {"log_dmax"},
    "gfascreen/model/training/partner.py": {"log_dmax"},
}


def _column_literals(path, names: set[str], prefix: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant in ``path`` that is a prediction column's
    name or starts with the exceedance columns' prefix (f-string parts included), and of
    every column written as a keyword of ``DataFrame.assign``."""
    import ast

    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and (node.value in names or node.value.startswith(prefix)):
            hits.append((node.lineno, node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "assign":
            hits += [(node.lineno, k.arg) for k in node.keywords if k.arg in names]
    return sorted(hits)


def test_one_module_names_the_prediction_columns():
    """A prediction column's name is spelled in gfascreen/model/columns.py alone; every
    other module reads ``pc.DMAX_MM`` (a Column is the str of its name),
    :func:`threshold_column` and the like."""
    from pathlib import Path

    from gfascreen.model.columns import ORDER, P_DMAX_GE, THRESHOLD_PREFIX

    root = Path(__file__).resolve().parent.parent
    names = {c.name for c in ORDER if c is not P_DMAX_GE}
    assert "dmax_at_least" in names and "dmax_bmg_hi" in names and len(names) == 18
    found = {}
    for f in sorted((root / "gfascreen").rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        allowed = _NAMES_COLUMNS.get(rel, set())
        if allowed is None:
            continue
        hits = [(line, s) for line, s in _column_literals(f, names, THRESHOLD_PREFIX)
                if s not in allowed]
        if hits:
            found[rel] = hits
    assert not found, found


def test_the_column_scan_finds_a_literal(tmp_path):
    """The scan above can fail: a literal column name, a prefix in an f-string."""
    f = tmp_path / "m.py"
    f.write_text('x = df["dmax_at_least"]\ny = f"p_dmax_ge_{t:g}"\n"""A dmax_mm docstring."""\n'
                 'z = df.assign(dmax_mm=1, dmax=2)\n')
    assert _column_literals(f, {"dmax_at_least", "dmax_mm"}, "p_dmax_ge_") == [
        (1, "dmax_at_least"), (2, "p_dmax_ge_"), (4, "dmax_mm")]


def test_a_column_is_the_string_of_its_name(tmp_path):
    """``frame[pc.DMAX_MM]`` works because a Column is a ``str``: equal and hashing as its
    name, a plain ``str`` through ``str()``, the name in a Parquet file, immutable, its unit
    kept through pickling (dask moves frames between processes)."""
    import pickle

    from gfascreen.model import columns as pc

    assert pc.DMAX_MM == "dmax_mm" and hash(pc.DMAX_MM) == hash("dmax_mm")
    assert type(str(pc.DMAX_MM)) is str and pc.DMAX_MM.name == "dmax_mm"
    assert f"lack {sorted([pc.P_BMG, pc.DMAX_MM])}" == "lack ['dmax_mm', 'p_bmg']"  # messages
    assert pc.DMAX_MM.unit == "mm" and pc.P_BMG.unit == ""
    frame = pd.DataFrame({pc.DMAX_MM: [1.5, 2.0]})
    assert frame["dmax_mm"].tolist() == [1.5, 2.0]
    frame.to_parquet(tmp_path / "t.parquet")
    assert pd.read_parquet(tmp_path / "t.parquet").columns.tolist() == ["dmax_mm"]
    back = pickle.loads(pickle.dumps(pc.DMAX_MM))
    assert back == pc.DMAX_MM and back.unit == "mm" and back.description == pc.DMAX_MM.description
    with pytest.raises(AttributeError):
        pc.DMAX_MM.unit = "cm"


#: The one module that reads a table of formulas from a user's file (predict --input,
#: train --data) ...
_FORMULA_READER = "gfascreen/data/formula_table.py"
#: ... and the modules that read other tables, each an artefact gfascreen wrote or fetched.
_READS_ARTEFACTS = {
    "gfascreen/data/build.py": "the data sets it downloads (data build)",
    "gfascreen/model/saved.py": "a model directory's known alloys",
    "gfascreen/model/casts.py": "a model's cast alloys",
    "gfascreen/model/training/update.py": "a model's known alloys",
    "gfascreen/model/training/train.py": "a training run's out-of-fold predictions",
    "gfascreen/model/training/attach_stack.py": "training runs' out-of-fold predictions",
    "gfascreen/model/training/random_oof.py": "the data build's training table",
    "gfascreen/model/evaluation/calibrate.py": "a model's leave-system-out predictions",
    "gfascreen/model/evaluation/evaluate.py": "a training run and its table",
    "gfascreen/model/evaluation/baselines.py": "its own cache",
    "gfascreen/screening/runs.py": "a screening run",
    "gfascreen/screening/run.py": "a screening run's chunks",
    "gfascreen/screening/systems.py": "a screening run's systems file",
    "gfascreen/screening/known.py": "the data build's training table",
    "gfascreen/validation.py": "the data build's training table",
    "gfascreen/cli/model.py": "a Parquet file's row count",
}
_TABLE_READ = r"\b(read_csv|read_parquet|read_json|read_excel|read_table|ParquetFile|csv\.reader)\("


def test_one_module_reads_formula_tables():
    """Reading a user's table of formulas (format, delimiter, header rule, one-line errors)
    is gfascreen/data/formula_table.py's alone: every other table read in gfascreen is of
    an artefact listed above with what it is."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(_TABLE_READ)
    hits = [f"{f.relative_to(root)}:{n}: {line.strip()}"
            for f in sorted((root / "gfascreen").rglob("*.py"))
            if f.relative_to(root).as_posix() not in (_FORMULA_READER, *_READS_ARTEFACTS)
            for n, line in enumerate(f.read_text().splitlines(), 1)
            if pattern.search(line) and not line.lstrip().startswith(("#", "``"))]
    assert not hits, hits
    assert pattern.search((root / _FORMULA_READER).read_text())
    # Both commands read through it: predict's formulas, train's Dmax table.
    graph = _module_imports()
    assert "gfascreen.data.formula_table" in graph["gfascreen.cli.predict"]
    assert "gfascreen.data.formula_table" in graph["gfascreen.data.user_table"]
