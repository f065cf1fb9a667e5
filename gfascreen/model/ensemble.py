"""OP image -> Dmax: the ensemble of fold members, its files, and prediction.

An ensemble is a directory with one safetensors file per member (no pickle), a
``manifest.json`` (vocabulary and order, image spec, target transform, folds, metrics,
the training table's hash, library versions, each file's SHA-256) and a ``MODEL_CARD.md``.
Members may be stored as float32, float16 or per-channel int8 (``quant`` in the manifest);
loading verifies every checksum and refuses manifests it does not understand.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from gfascreen import __version__
from gfascreen.data.labels import CLASSES
from gfascreen.errors import GfaError
from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.model.network import OPResNet, resnet50_op
from gfascreen.model.targets import NAME as TARGET_NAME
from gfascreen.model.targets import from_target

FORMAT = "gfascreen-ensemble"
FORMAT_VERSION = 1
#: A composition is in domain when this many training alloys lie within DOMAIN_RADIUS.
DOMAIN_MIN_NEIGHBOURS = 2
#: L1 distance between compositions in at.% (sum of |differences|; 20 = 10 at.% moved).
DOMAIN_RADIUS_AT_PCT = 20.0


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict:
    import torchvision

    return {"gfascreen": __version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def write_manifest(out: Path, config, vocab: Vocabulary, table_path: Path, n_rows: int,
                   metrics: dict, quant: str = "float32", extra: dict | None = None) -> dict:
    """Write ``manifest.json`` for the members found in ``out`` and return it."""
    members = sorted(out.glob("member_*.safetensors"),
                     key=lambda p: int(p.stem.split("_")[1]))
    from gfascreen.model.train import table_hash

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "id": out.resolve().name,
        "vocabulary": vocab.to_dict(),
        "image": {"kind": "outer_product", "channels": 1, "size": len(vocab),
                  "coords": bool(getattr(config, "coords", False))},
        "target": TARGET_NAME,
        "classes": list(CLASSES) if config.class_head else None,
        "architecture": {"name": "resnet50", "class_head": config.class_head,
                         "fds": config.fds},
        "quant": quant,
        "config": asdict(config),
        "folds": {"k": config.folds, "grouping": config.grouping, "seed": config.seed},
        "data": {"table": table_path.name, "sha256": table_hash(table_path), "rows": n_rows},
        "metrics": metrics,
        "versions": _versions(),
        "domain": {"file": "domain.safetensors", "min_neighbours": DOMAIN_MIN_NEIGHBOURS,
                   "radius_at_pct": DOMAIN_RADIUS_AT_PCT},
        "members": [{"file": p.name, "fold": int(p.stem.split("_")[1]),
                     "sha256": sha256_file(p)} for p in members],
    }
    if extra:
        manifest.update(extra)
    domain = out / "domain.safetensors"
    if not domain.exists():
        _write_domain(out, vocab, table_path, config)
    manifest["domain"]["sha256"] = sha256_file(domain)
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, out / "manifest.json")
    return manifest


def _write_domain(out: Path, vocab: Vocabulary, table_path: Path, config) -> None:
    from safetensors.torch import save_file

    from gfascreen.model.train import prepare_table

    t, _ = prepare_table(pd.read_parquet(table_path), config)
    x = OPImageFeaturizer(vocab).fractions(t)
    save_file({"fractions": x.to(torch.float16).contiguous()}, str(out / "domain.safetensors"))


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "default"


def _dequantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if k.endswith((".__scale", ".__group")):
            continue
        scale = state.get(k + ".__scale")
        if scale is not None:
            # int8 weights, one scale per output channel and per group of inputs.
            flat = v.float().reshape(v.shape[0], -1)
            n_in, n_groups = flat.shape[1], scale.shape[1]
            group = int(state[k + ".__group"][0])
            flat = torch.nn.functional.pad(flat, (0, n_groups * group - n_in))
            flat = flat.reshape(v.shape[0], n_groups, group) * scale.float().unsqueeze(2)
            out[k] = flat.reshape(v.shape[0], -1)[:, :n_in].reshape(v.shape)
        elif v.dtype in (torch.float16, torch.bfloat16):
            out[k] = v.float()
        else:
            out[k] = v
    return out


class Ensemble:
    """The fold members of a trained model; ``predict`` gives Dmax in mm with spread."""

    def __init__(self, members: list[OPResNet], vocabulary: Vocabulary, manifest: dict,
                 device: torch.device, domain: torch.Tensor | None = None):
        self.members = members
        self.vocabulary = vocabulary
        self.manifest = manifest
        self.device = device
        self.domain = domain
        image = manifest.get("image", {})
        self.featurizer = OPImageFeaturizer(vocabulary, channels=image.get("channels", 1),
                                            device=device, coords=image.get("coords", False))
        self.classes = manifest.get("classes")
        self.runtime = "float"

    @property
    def id(self) -> str:
        return self.manifest.get("id", "unnamed")

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        for m in self.manifest["members"]:
            h.update(m["sha256"].encode())
        return h.hexdigest()

    @classmethod
    def load(cls, path: str | os.PathLike | None = "default", device: str = "auto",
             runtime: str = "float") -> Ensemble:
        """Load and verify an ensemble directory (``"default"``: the shipped model).

        ``"float"`` keeps float32 (CUDA: bfloat16 autocast); ``"bf16"`` runs the members
        under bfloat16 autocast on a CPU with native bf16 too (measured on the shipped model
        over its 6,874 training compositions: 1.95-2.13x on AVX512-BF16, answers within 0.012 in
        log10(1+Dmax) of float32, mean 0.0017);
        ``runtime="int8"`` quantizes the members for CPU inference (see
        :mod:`gfascreen.model.runtime`; measured, not recommended).
        """
        ens = cls._load(path, device)
        if runtime == "float":
            return ens
        if runtime == "bf16":
            from gfascreen.model.train import cpu_has_bf16

            if ens.device.type == "cpu" and not cpu_has_bf16():
                raise GfaError("--precision bf16 needs a CPU with native bf16 (AVX512-BF16 or "
                               "AMX) or a GPU; use --precision fp32 here")
            ens.runtime = "bf16"
            return ens
        if runtime != "int8":
            raise GfaError(f"--runtime {runtime!r}: choose float, bf16 or int8")
        if ens.device.type != "cpu":
            raise GfaError("--runtime int8 is for CPU inference; use float on a GPU")
        if ens.domain is None:
            raise GfaError("int8 runtime needs the model's domain.safetensors for calibration")
        from gfascreen.model.runtime import quantize_member

        g = torch.Generator().manual_seed(0)
        calib = ens.domain[torch.randperm(len(ens.domain), generator=g)[:1024]]
        ens.members = [quantize_member(m, ens.featurizer, calib) for m in ens.members]
        ens.runtime = "int8"
        return ens

    @classmethod
    def _load(cls, path: str | os.PathLike | None, device: str) -> Ensemble:
        from gfascreen.model.train import resolve_device

        d = default_model_dir() if path in (None, "default") else Path(path)
        mpath = d / "manifest.json"
        if not mpath.is_file():
            if path in (None, "default"):
                raise GfaError("no default model is shipped in this install; train one with "
                               "`gfascreen train` and pass --model DIR")
            raise GfaError(f"--model {d}: no manifest.json there; point --model at an ensemble "
                           "directory written by `gfascreen train`")
        try:
            manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as exc:
            raise GfaError(f"{mpath} is not valid JSON ({exc})") from None
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise GfaError(f"{mpath}: unsupported model format {manifest.get('format')!r} "
                           f"version {manifest.get('format_version')!r}; this gfascreen reads "
                           f"{FORMAT} version {FORMAT_VERSION}")
        if not manifest.get("members"):
            raise GfaError(f"{mpath} lists no members")
        dev = resolve_device(device)
        vocab = Vocabulary.from_dict(manifest["vocabulary"])
        arch = manifest["architecture"]
        members = []
        for m in manifest["members"]:
            f = d / m["file"]
            if not f.is_file():
                raise GfaError(f"model member {f} is missing")
            if sha256_file(f) != m["sha256"]:
                raise GfaError(f"model member {f} does not match its checksum in the manifest; "
                               "the file is corrupt or was changed")
            image = manifest["image"]
            in_ch = image["channels"] + (2 if image.get("coords") else 0)
            net = resnet50_op(in_ch, arch["class_head"], arch["fds"])
            net.load_state_dict(_dequantize(load_file(str(f))))
            net = net.to(dev).eval().to(memory_format=torch.channels_last)
            members.append(net)
        domain = None
        dom = manifest.get("domain", {})
        if dom.get("file") and (d / dom["file"]).is_file():
            if dom.get("sha256") and sha256_file(d / dom["file"]) != dom["sha256"]:
                raise GfaError(f"{d / dom['file']} does not match its checksum")
            domain = load_file(str(d / dom["file"]))["fractions"].float()
        return cls(members, vocab, manifest, dev, domain)

    # -- prediction ---------------------------------------------------------------
    @torch.inference_mode()
    def predict_fractions(self, x: torch.Tensor, batch_size: int = 256) -> pd.DataFrame:
        """Score a ``(B, N)`` fraction tensor (vocabulary order, rows sum to 1)."""
        from gfascreen.model.train import autocast

        regs, probs = [], []
        for m in self.members:
            r, p = [], []
            for i in range(0, len(x), batch_size):
                img = self.featurizer.images(x[i:i + batch_size].to(self.device))
                if self.runtime in ("float", "bf16"):
                    img = img.contiguous(memory_format=torch.channels_last)
                with autocast(self.device, cpu_bf16=self.runtime == "bf16"):
                    out = m(img)
                r.append(out["reg"].float().cpu())
                if "logits" in out:
                    p.append(torch.softmax(out["logits"].float(), 1).cpu())
            regs.append(torch.cat(r))
            if p:
                probs.append(torch.cat(p))
        reg = torch.stack(regs)  # (M, B) in log10(1+Dmax)
        mm = from_target(reg)
        df = pd.DataFrame({
            "dmax_mm": mm.mean(0).numpy(),
            "dmax_std": mm.std(0, unbiased=False).numpy() if len(self.members) > 1
            else np.zeros(len(x)),
            "log_dmax": reg.mean(0).numpy(),
            "log_dmax_std": reg.std(0, unbiased=False).numpy() if len(self.members) > 1
            else np.zeros(len(x)),
        })
        if probs and self.classes:
            pm = torch.stack(probs).mean(0).numpy()
            for i, c in enumerate(self.classes):
                df[f"p_{c}"] = pm[:, i]
        df["in_domain"] = self.in_domain(x)
        return df

    def in_domain(self, x: torch.Tensor) -> np.ndarray:
        """True where at least ``min_neighbours`` training alloys lie within ``radius`` at.%
        (L1). Elements outside the vocabulary never reach here (featurizer refuses them)."""
        if self.domain is None:
            return np.ones(len(x), dtype=bool)
        dom = self.manifest.get("domain", {})
        radius = float(dom.get("radius_at_pct", DOMAIN_RADIUS_AT_PCT)) / 100.0
        k = int(dom.get("min_neighbours", DOMAIN_MIN_NEIGHBOURS))
        out = []
        for i in range(0, len(x), 4096):
            dist = torch.cdist(x[i:i + 4096].float().cpu(), self.domain, p=1)
            out.append(((dist <= radius + 1e-6).sum(1) >= k).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)

    def predict(self, compositions) -> pd.DataFrame:
        """Score formulas, dicts or an at.% table; adds ``composition``."""
        from gfascreen.data.parse import composition_key, normalise, parse_formula

        if isinstance(compositions, str):
            compositions = [compositions]
        rows = []
        for c in compositions:
            rows.append(normalise(parse_formula(c)) if isinstance(c, str)
                        else normalise(dict(c)))
        # The featurizer refuses (and names) elements outside the vocabulary.
        x = self.featurizer.fractions(rows)
        df = self.predict_fractions(x)
        df.insert(0, "composition", [composition_key(a) for a in rows])
        return df
