"""The manifest's parts as typed records: one owner each for its entry's reading,
verification and writing (torchvision's weights records: the record carries its metadata).

- :class:`MemberEntry`: one fold member's file (``members``);
- :class:`FileEntry`: a checksummed file with what its writer recorded (``known_alloys``,
  ``lso_oof``); :class:`CalibrationEntry` (``calibration``, with its partner-only part) and
  :class:`CastsEntry` (``casts``: the lab's casts' correction) add their own readers;
- :class:`DomainPart`: the applicability domain's radius (at.%) and neighbour count;
- :class:`PartnerPart`: the descriptor partner's element table and boosters (``partner``).

The stack (``stack``) is its own record: :class:`gfascreen.model.stack.Stack`
(``from_dict``/``to_dict``). Every record writes back the JSON it was read from, key for
key, so a manifest re-written is byte-identical. Nothing here imports the parts' code until
a part is read (loading a model stays lazy).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from gfascreen.errors import GfaError

#: Keys of the parts a manifest stores beside its own fields (its ``extra``).
PARTNER_KEY, STACK_KEY, CASTS_KEY = "partner", "stack", "casts"
#: The default applicability domain: this many training alloys within the radius.
DOMAIN_MIN_NEIGHBOURS = 2
#: L1 distance between compositions in at.% (sum of |differences|; 20 = 10 at.% moved).
DOMAIN_RADIUS_AT_PCT = 20.0


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """A file of a model directory, its SHA-256 and what its writer recorded (``info``,
    e.g. ``rows``), stored as ``{"file", "sha256", **info}``."""

    file: str
    sha256: str
    info: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d, where: str = "manifest", what: str = "file"):
        """The typed entry; one-line :class:`GfaError` when it names no plain file and
        checksum (every file of a model is verified)."""
        if not isinstance(d, dict) or not d.get("file") or not d.get("sha256"):
            raise GfaError(f"{where}: {what} entry {d!r} needs a file name and its sha256; "
                           "every file of a model is verified")
        if Path(d["file"]).name != d["file"]:
            raise GfaError(f"{where}: {what} file {d['file']!r} must be a plain file name")
        return cls(d["file"], d["sha256"],
                   {k: v for k, v in d.items() if k not in ("file", "sha256")})

    @classmethod
    def of(cls, root: Path, file: str, **info):
        """The entry of a file just written into the directory ``root``."""
        return cls(file, sha256_file(Path(root) / file), info)

    def to_dict(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, **self.info}

    def verified(self, root: Path) -> Path:
        """The file's path in ``root`` after checking that it exists and matches its hash
        (checked once per process for an unchanged file)."""
        f = Path(root) / self.file
        if not f.is_file():
            raise GfaError(f"model file {f} is missing")
        if not _matches(f, self.sha256):
            raise GfaError(f"model file {f} does not match its checksum in the manifest; "
                           "the file is corrupt or was changed")
        return f


#: Files whose checksum matched: (path, size, mtime_ns, sha256).
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _matches(f: Path, sha256: str) -> bool:
    st = f.stat()
    key = (str(f.resolve()), st.st_size, st.st_mtime_ns, sha256)
    if key not in _VERIFIED:
        if sha256_file(f) != sha256:
            return False
        _VERIFIED.add(key)
    return True


@dataclass(frozen=True)
class MemberEntry(FileEntry):
    """One fold member's weights (safetensors), stored ``{"file", "fold", "sha256"}``."""

    fold: int | None = None

    @classmethod
    def from_dict(cls, d, where: str = "manifest", what: str = "member") -> MemberEntry:
        e = FileEntry.from_dict(d, where, what)
        info = {k: v for k, v in e.info.items() if k != "fold"}
        return cls(e.file, e.sha256, info, e.info.get("fold"))

    def to_dict(self) -> dict:
        fold = {} if self.fold is None else {"fold": self.fold}
        return {"file": self.file, **fold, "sha256": self.sha256, **self.info}


@dataclass(frozen=True)
class CalibrationEntry(FileEntry):
    """The calibration's file (``calibration.safetensors``) and settings; its
    ``partner_only`` settings (the partner-only route's own calibration) ride along."""

    @classmethod
    def from_dict(cls, d, where: str = "manifest", what: str = "calibration"):
        e = FileEntry.from_dict(d, where, what)
        return cls(e.file, e.sha256, e.info)

    @property
    def partner_only(self) -> dict | None:
        """The partner-only calibration's settings (None: the model has none)."""
        from gfascreen.model.calibration import PARTNER_ONLY

        return self.info.get(PARTNER_ONLY)

    def read(self, root: Path):
        """The :class:`~gfascreen.model.calibration.Calibration` (verified first)."""
        from gfascreen.model.calibration import Calibration

        return Calibration.load(self.verified(root), self.to_dict())


@dataclass(frozen=True)
class CastsEntry(FileEntry):
    """The lab's casts (``casts.parquet``): ``alloys`` and the correction's ``settings``
    (:mod:`gfascreen.model.casts`)."""

    @classmethod
    def from_dict(cls, d, where: str = "manifest", what: str = CASTS_KEY):
        e = FileEntry.from_dict(d, where, what)
        return cls(e.file, e.sha256, e.info)

    @classmethod
    def write(cls, correction, out: Path) -> CastsEntry:
        """Write a fitted :class:`~gfascreen.model.casts.CastCorrection` into the model
        folder ``out``; its entry."""
        from gfascreen.model.casts import CASTS_FILE

        alloys = correction.write_table(Path(out) / CASTS_FILE)
        return cls.of(out, CASTS_FILE, alloys=alloys, settings=correction.settings())

    def read(self, root: Path, featurizer):
        """The fitted :class:`~gfascreen.model.casts.CastCorrection`; ``featurizer`` reads
        the casts' compositions (the model's vocabulary)."""
        from gfascreen.model.casts import CastCorrection

        return CastCorrection.from_file(self.verified(root), self.info["settings"],
                                        featurizer)


@dataclass(frozen=True)
class DomainPart:
    """In domain: at least ``min_neighbours`` known alloys within ``radius_at_pct`` (L1
    distance in at.%). Values kept as written (the JSON's ints stay ints)."""

    min_neighbours: int = DOMAIN_MIN_NEIGHBOURS
    radius_at_pct: float = DOMAIN_RADIUS_AT_PCT

    @classmethod
    def from_dict(cls, d: dict) -> DomainPart:
        return cls(d["min_neighbours"], d["radius_at_pct"])

    def to_dict(self) -> dict:
        return {"min_neighbours": self.min_neighbours, "radius_at_pct": self.radius_at_pct}


@dataclass(frozen=True)
class PartnerPart:
    """The descriptor partner's files: its element ``table`` and ``boosters`` (by name),
    and what else was recorded (``info``, in its written order: features, config,
    citations, elements)."""

    table: FileEntry
    boosters: dict[str, FileEntry]
    info: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, where: str = "manifest") -> PartnerPart:
        if not isinstance(d, dict) or not isinstance(d.get("boosters"), dict):
            raise GfaError(f"{where}: the partner entry is damaged; re-stack the model")
        return cls(FileEntry.from_dict(d.get("table"), where, "partner table"),
                   {k: FileEntry.from_dict(v, where, f"partner {k}")
                    for k, v in d["boosters"].items()},
                   {k: v for k, v in d.items() if k not in ("table", "boosters")})

    def to_dict(self) -> dict:
        return {"table": self.table.to_dict(),
                "boosters": {k: e.to_dict() for k, e in self.boosters.items()}, **self.info}

    @property
    def elements(self) -> list[str] | None:
        """The elements the partner's table can read (None: a manifest from before they
        were recorded)."""
        return self.info.get("elements")

    @property
    def features(self) -> list[str]:
        """The descriptors' labels the boosters read."""
        return self.info.get("features", [])

    @property
    def files(self) -> list[FileEntry]:
        """The table and the boosters' files."""
        return [self.table, *self.boosters.values()]

    @property
    def config(self) -> dict:
        """The partner's training settings (``PartnerConfig``)."""
        return self.info.get("config", {})

    def with_files(self, root: Path, table: str, boosters: dict[str, str], **info
                   ) -> PartnerPart:
        """This part naming the files just written into ``root`` (checksums taken), with
        ``info`` replacing what it recorded under those keys."""
        return PartnerPart(FileEntry.of(root, table),
                           {k: FileEntry.of(root, f) for k, f in boosters.items()},
                           {**self.info, **info})
