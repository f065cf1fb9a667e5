"""The saved model: one directory, one typed manifest, one owner.

A model directory holds

- ``manifest.json``: a :class:`Manifest` (versioned; validated on load);
- ``member_K.safetensors``: one file per fold member (no pickle), stored by the codec
  named in ``Manifest.quant`` (float32, or int8 groups + float16, see :func:`encode_state`);
- ``known_alloys.parquet``: the in-domain training alloys (at.% columns, system, class,
  Dmax, provenance summary): the applicability domain, the known-alloy overlay of reports
  and the reference set of ``validate``, so none of them needs the training table;
- ``calibration.safetensors`` (optional): conformal scores for the Dmax intervals
  (:mod:`gfascreen.model.calibration`);
- ``lso_oof.parquet`` (optional): leave-system-out out-of-fold predictions of the same
  recipe, for ``validate --blind`` and for recomputing the calibration;
- ``MODEL_CARD.md``.

Every file the manifest lists carries a SHA-256 that is checked before the file is read.
Training (:mod:`gfascreen.model.training.train`) writes this directory; inference
(:mod:`gfascreen.model.ensemble`) only reads it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.spec import ImageSpec
from gfascreen.model.backbone import PACK_FLOAT16, TRUNK
from gfascreen.model.network import NetworkSpec
from gfascreen.model.parts import (
    CASTS_KEY,
    PARTNER_KEY,
    STACK_KEY,
    CalibrationEntry,
    CastsEntry,
    DomainPart,
    FileEntry,
    MemberEntry,
    PartnerPart,
)
from gfascreen.model.stack import Stack

FORMAT = "gfascreen-ensemble"
FORMAT_VERSION = 2
#: Weights share one int8 scale per output channel and per group of this many inputs.
GROUP = 128
#: Parameter-name prefixes kept in float16 when packing (the backbone's
#: :data:`~gfascreen.model.backbone.PACK_FLOAT16`).
KEEP_FLOAT16 = tuple(f"{TRUNK}.{layer}." for layer in PACK_FLOAT16)
#: The packed storage, as the manifest and each member's metadata name it.
PACKED = f"int8-group{GROUP}+fp16({','.join(PACK_FLOAT16)})"


def library_versions() -> dict:
    import torchvision

    from gfascreen import __version__

    return {"gfascreen": __version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


# -- the manifest ------------------------------------------------------------------------
def _typed(cls):
    """A reader of one part: its record as is, or read from its JSON (or another record's)."""
    def read(e):
        if e is None or isinstance(e, cls):
            return e
        return cls.from_dict(e.to_dict() if hasattr(e, "to_dict") else e)
    return read


def _members(entries) -> list[MemberEntry]:
    return [_typed(MemberEntry)(e) for e in entries]


#: The manifest's fields that are parts: each held as its typed record
#: (:mod:`gfascreen.model.parts`; a dict given for one is read by its record).
_PART_FIELDS = {"members": _members, "known_alloys": _typed(FileEntry),
                "calibration": _typed(CalibrationEntry), "lso_oof": _typed(FileEntry),
                "domain": _typed(DomainPart)}


class _StoredPart:
    """A part stored among the manifest's other keys (``extra[key]``), read and written
    only through its record: ``None`` when absent; setting it stores the record's JSON in
    place (the key order stays), setting None removes it."""

    def __init__(self, key: str, read):
        self.key, self.read = key, read

    def __get__(self, manifest, owner=None):
        if manifest is None:
            return self
        d = manifest.extra.get(self.key)
        return None if d is None else self.read(d)

    def __set__(self, manifest, part) -> None:
        if part is None:
            manifest.extra.pop(self.key, None)
        else:
            manifest.extra[self.key] = part.to_dict()


@dataclass
class Manifest:
    """What a model directory holds and how to rebuild its networks (``manifest.json``).

    ``members``, ``known_alloys``, ``calibration``, ``lso_oof`` and ``domain`` are typed
    records (:mod:`gfascreen.model.parts`), as are the parts stored among the other keys:
    :attr:`partner`, :attr:`stack` and :attr:`casts`. ``extra`` keeps anything else a tool
    recorded (evaluations, wall times, the packing check), written at the top level of the
    JSON."""

    id: str
    vocabulary: dict
    image: dict
    target: str
    architecture: dict
    members: list[MemberEntry]
    classes: list[str] | None = None
    quant: str = "float32"
    config: dict = field(default_factory=dict)
    folds: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    domain: DomainPart = field(default_factory=DomainPart)
    known_alloys: FileEntry | None = None
    calibration: CalibrationEntry | None = None
    lso_oof: FileEntry | None = None
    extra: dict = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    _REQUIRED = {"id": str, "vocabulary": dict, "image": dict, "target": str,
                 "architecture": dict, "members": list}

    def __setattr__(self, name, value):
        typed = _PART_FIELDS.get(name)
        super().__setattr__(name, value if typed is None else typed(value))

    @classmethod
    def from_dict(cls, d: dict, where: str = "manifest") -> Manifest:
        """Validate and type a manifest dict; one-line :class:`GfaError` when it is off."""
        if not isinstance(d, dict):
            raise GfaError(f"{where} is not a JSON object")
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise GfaError(f"{where}: unsupported model format {d.get('format')!r} version "
                           f"{d.get('format_version')!r}; this gfascreen reads {FORMAT} "
                           f"version {FORMAT_VERSION}")
        for key, typ in cls._REQUIRED.items():
            if not isinstance(d.get(key), typ):
                raise GfaError(f"{where} lacks {key!r} (or it is not a {typ.__name__}); "
                               "the model directory is damaged: re-pack or re-train it")
        if not d["members"]:
            raise GfaError(f"{where} lists no members")
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in d.items() if k in names and k != "extra"}
        for key, reader in _ENTRY_READERS.items():
            if key == "members":
                known[key] = [reader(m, where, "member") for m in d[key]]
            elif d.get(key) is not None:
                known[key] = reader(d[key], where, key)
        extra = {k: v for k, v in d.items() if k not in names}
        m = cls(**known, extra={**d.get("extra", {}), **extra})
        m.network_spec_at(where)  # the specs build, or the manifest is refused here
        return m

    @classmethod
    def from_specs(cls, image: ImageSpec, network: NetworkSpec, **entries) -> Manifest:
        """A manifest whose vocabulary, image, architecture, classes and target come from
        the two specs (``entries``: the other fields)."""
        if image.in_channels != network.in_channels:
            raise GfaError(f"the network reads {network.in_channels} channels, the image "
                           f"has {image.in_channels}")
        vocabulary, image_entry = image.to_manifest()
        return cls(vocabulary=vocabulary, image=image_entry, **network.to_manifest(),
                   **entries)

    @property
    def image_spec(self) -> ImageSpec:
        """What the members' input images are (builds the featurizer)."""
        return ImageSpec.from_manifest(self.vocabulary, self.image)

    @property
    def network_spec(self) -> NetworkSpec:
        """What the members are (builds each member's network)."""
        return self.network_spec_at("manifest")

    def network_spec_at(self, where: str) -> NetworkSpec:
        image = ImageSpec.from_manifest(self.vocabulary, self.image, where)
        return NetworkSpec.from_manifest(self.architecture, self.classes, self.target,
                                         image.in_channels, where)

    #: The descriptor partner's files (None: the members alone).
    partner = _StoredPart(PARTNER_KEY, PartnerPart.from_dict)
    #: The stack that joins the members and the partner into ``dmax_mm`` (None: the
    #: members alone; :mod:`gfascreen.model.stack`).
    stack = _StoredPart(STACK_KEY, Stack.from_dict)
    #: The lab's casts' correction (None: the model has none; :mod:`gfascreen.model.casts`).
    casts = _StoredPart(CASTS_KEY, CastsEntry.from_dict)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _PART_FIELDS:
            v = d[key]
            d[key] = ([e.to_dict() for e in v] if key == "members"
                      else None if v is None else v.to_dict())
        d = {k: copy.deepcopy(v) for k, v in d.items()}
        extra = d.pop("extra")
        return {"format": d.pop("format"), "format_version": d.pop("format_version"),
                **d, **extra}


#: How each file entry of the manifest JSON is read (and validated).
_ENTRY_READERS = {"members": MemberEntry.from_dict, "known_alloys": FileEntry.from_dict,
                  "calibration": CalibrationEntry.from_dict, "lso_oof": FileEntry.from_dict}


def model_hash(manifest: Manifest) -> str:
    """One hash for a model's weights: SHA-256 over its members' SHA-256s."""
    h = hashlib.sha256()
    for m in manifest.members:
        h.update(m.sha256.encode())
    return h.hexdigest()


def stack_hash(manifest: Manifest) -> str | None:
    """SHA-256 over what joins the members into a prediction: the descriptor partner's file
    hashes and the stack's numbers (None for a model predicting with its members alone).
    With :func:`model_hash` it identifies the predictions a model makes."""
    partner, stack = manifest.partner, manifest.stack
    if stack is None:
        return None
    h = hashlib.sha256(json.dumps(stack.to_dict(), sort_keys=True).encode())
    if partner:
        for entry in partner.files:
            h.update(entry.sha256.encode())
    return h.hexdigest()


#: Manifest key of the measured bf16-vs-fp32 difference on the model's known alloys
#: (written by ``gfascreen bf16-check MODEL --write``; read by ``--precision auto``).
BF16_CHECK = "bf16_check"


def bf16_record(manifest: Manifest) -> float | None:
    """The largest bf16-vs-fp32 difference in log10(1 + Dmax/mm) measured over this
    model's known alloys (``bf16_check`` in the manifest), or None when none is recorded,
    it is unreadable, or it was measured on other weights (its ``model_hash`` differs)."""
    rec = manifest.extra.get(BF16_CHECK)
    if not isinstance(rec, dict) or rec.get("model_hash") != model_hash(manifest):
        return None
    try:
        value = float(rec["max_abs_diff_log10_1p_dmax"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


# -- the packing codec, both directions --------------------------------------------------
def encode_state(state: dict[str, torch.Tensor], group: int = GROUP,
                 keep: tuple[str, ...] = KEEP_FLOAT16) -> dict[str, torch.Tensor]:
    """Pack a float state dict: int8 weights with a float16 scale per (output channel,
    group of ``group`` inputs); layers named in ``keep`` and all other floats float16."""
    out = {}
    for k, v in state.items():
        if (v.is_floating_point() and v.ndim >= 2 and v.shape[0] > 1 and v.numel() > 256
                and not k.startswith(keep)):
            flat = v.float().reshape(v.shape[0], -1)
            n_in = flat.shape[1]
            pad = (-n_in) % group
            g = torch.nn.functional.pad(flat, (0, pad)).reshape(v.shape[0], -1, group)
            scale = (g.abs().amax(2, keepdim=True).clamp_min(1e-12) / 127.0).half()
            q = torch.round(g / scale.float()).clamp(-127, 127).to(torch.int8)
            out[k] = q.reshape(v.shape[0], -1)[:, :n_in].reshape(v.shape).contiguous()
            out[k + ".__scale"] = scale.squeeze(2).contiguous()
            out[k + ".__group"] = torch.tensor([group], dtype=torch.int32)
        elif v.is_floating_point():
            out[k] = v.to(torch.float16).contiguous()
        else:
            out[k] = v.contiguous()
    return out


def decode_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`encode_state` (and the identity on float32 states)."""
    out = {}
    for k, v in state.items():
        if k.endswith((".__scale", ".__group")):
            continue
        scale = state.get(k + ".__scale")
        if scale is not None:
            flat = v.float().reshape(v.shape[0], -1)
            n_in, n_groups = flat.shape[1], scale.shape[1]
            group = int(state[k + ".__group"][0])
            if n_groups * group != n_in:  # the last group padded with zeros
                flat = torch.nn.functional.pad(flat, (0, n_groups * group - n_in))
            flat = flat.reshape(v.shape[0], n_groups, group) * scale.float().unsqueeze(2)
            out[k] = flat.reshape(v.shape[0], -1)[:, :n_in].reshape(v.shape)
        elif v.dtype in (torch.float16, torch.bfloat16):
            out[k] = v.float()
        else:
            out[k] = v
    return out


# -- the directory -----------------------------------------------------------------------
def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "default"


class ModelDir:
    """A model directory on disk: its manifest, and each of its files read only after its
    checksum matched. Reading never builds a network (see :class:`Ensemble` for that)."""

    def __init__(self, path: str | os.PathLike | None = "default"):
        self.is_default = path in (None, "default")
        self.path = default_model_dir() if self.is_default else Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            if self.is_default:
                raise GfaError("no default model is shipped in this install; train one with "
                               "`gfascreen train` and pass --model DIR")
            raise GfaError(f"--model {self.path}: no manifest.json there; point --model at a "
                           "model directory written by `gfascreen train`")
        try:
            raw = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GfaError(f"{mpath} is not valid JSON ({exc})") from None
        self.manifest = Manifest.from_dict(raw, str(mpath))

    def verified(self, entry: FileEntry) -> Path:
        """The path of a listed file, after checking that it exists and matches its hash
        (:meth:`FileEntry.verified <gfascreen.model.parts.FileEntry.verified>`)."""
        return entry.verified(self.path)

    def member_state(self, entry: MemberEntry) -> dict[str, torch.Tensor]:
        """One member's float32 state dict (decoded from its storage)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        f = self.verified(entry)
        try:
            return decode_state(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise GfaError(f"model member {f} is not a readable safetensors file ({exc})"
                           ) from None

    def known_alloys(self) -> pd.DataFrame | None:
        """The training alloys the model carries (None for a model without them)."""
        return self._parquet(self.manifest.known_alloys)

    def lso_oof(self) -> pd.DataFrame | None:
        """Kept leave-system-out out-of-fold predictions (None when not shipped)."""
        return self._parquet(self.manifest.lso_oof)

    def _parquet(self, entry: FileEntry | None) -> pd.DataFrame | None:
        if entry is None:
            return None
        f = self.verified(entry)
        try:
            return pd.read_parquet(f)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise GfaError(f"model file {f} is not readable Parquet ({exc})") from None

    def write_manifest(self, manifest: Manifest | None = None) -> None:
        """Write (atomically) ``manifest`` or the current one."""
        if manifest is not None:
            self.manifest = manifest
        write_manifest(self.path, self.manifest)

    def entry(self, file: str, **info) -> FileEntry:
        """A manifest entry for a file of this directory, with its checksum."""
        return FileEntry.of(self.path, file, **info)


def write_manifest(path: Path, manifest: Manifest) -> None:
    tmp = path / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2))
    os.replace(tmp, path / "manifest.json")
