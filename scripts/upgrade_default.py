"""Upgrade the shipped model directory from manifest format 1 to 2 (no retraining).

Format 2 carries the training alloys (``known_alloys.parquet``, which also defines the
applicability domain) instead of ``domain.safetensors``. The alloys are rebuilt from the
training table with the model's own vocabulary and checked against the old domain file
(same compositions, same order) before it is removed.

Usage: python scripts/upgrade_default.py [--data train.parquet] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file

from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.model.saved import (
    FORMAT_VERSION,
    Manifest,
    default_model_dir,
    sha256_file,
    write_known_alloys,
    write_manifest,
)
from gfascreen.model.train import TrainConfig, prepare_table


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--model", default=str(default_model_dir()))
    a = p.parse_args()
    d = Path(a.model)
    raw = json.loads((d / "manifest.json").read_text())
    if raw["format_version"] == FORMAT_VERSION:
        print(f"{d} is already format {FORMAT_VERSION}")
        return
    cfg = TrainConfig(**{**raw["config"], "max_rows": None})
    t, vocab = prepare_table(pd.read_parquet(a.data), cfg)
    assert vocab == Vocabulary.from_dict(raw["vocabulary"]), "not the model's training table"
    dom = d / raw["domain"]["file"]
    assert sha256_file(dom) == raw["domain"]["sha256"]
    old = load_file(str(dom))["fractions"].float()
    new = OPImageFeaturizer(vocab).from_table(t).half().float()
    assert old.shape == new.shape and torch.allclose(old, new, atol=1e-3), "alloys differ"
    raw["known_alloys"] = write_known_alloys(d, t, list(vocab.elements))
    raw["domain"] = {k: raw["domain"][k] for k in ("min_neighbours", "radius_at_pct")}
    raw["format_version"] = FORMAT_VERSION
    raw["data"]["rebuilt_sha256"] = sha256_file(a.data)
    write_manifest(d, Manifest.from_dict(raw))
    dom.unlink()
    print(f"{d}: format {FORMAT_VERSION}, {len(t)} known alloys; {dom.name} removed")


if __name__ == "__main__":
    main()
