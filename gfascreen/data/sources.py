"""Registry of the raw public data sets and where to find them.

Files are looked up, in order, in ``data_dir`` (``--data-dir``), in
``$GFASCREEN_DATA_DIR``, in the user cache (``platformdirs.user_cache_dir("gfascreen")``),
and finally downloaded into that cache with pooch, which verifies the SHA-256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pooch

from gfascreen.errors import GfaError

ENV_VAR = "GFASCREEN_DATA_DIR"


@dataclass(frozen=True)
class Source:
    """One raw data file: where it comes from, its checksum, and how to cite it."""

    key: str
    filename: str
    url: str
    sha256: str
    citation: str
    doi: str
    licence: str


SOURCES: dict[str, Source] = {
    s.key: s
    for s in [
        Source(
            key="xiong2020_dmax",
            filename="xiong2020_dmax.csv",
            url="https://raw.githubusercontent.com/George-JieXIONG/Materials-Dataset/"
            "9bb0c22b9b567ab167435f71e7145c359b366c1f/Chapter5/Dmax%20Dataset.csv",
            sha256="e6122ee4d13b25eac7aa03b568edeb8e74cf26cd20e14dba4bdcc7814577131d",
            citation="J. Xiong, S.-Q. Shi, T.-Y. Zhang, Materials & Design 187 (2020) 108378",
            doi="10.1016/j.matdes.2019.108378",
            licence="GPL-3.0 (repository)",
        ),
        Source(
            key="xiong2020_gfa",
            filename="xiong2020_gfa.csv",
            url="https://raw.githubusercontent.com/George-JieXIONG/Materials-Dataset/"
            "9bb0c22b9b567ab167435f71e7145c359b366c1f/Chapter5/GFA.csv",
            sha256="716a79985f341106e23e80a3fc9d14bdaf623432502210ecdb147075f5d11f30",
            citation="J. Xiong, S.-Q. Shi, T.-Y. Zhang, Materials & Design 187 (2020) 108378",
            doi="10.1016/j.matdes.2019.108378",
            licence="GPL-3.0 (repository)",
        ),
        Source(
            key="forrest2022",
            filename="forrest2022_gfa.csv",
            url="https://raw.githubusercontent.com/Robert-Forrest/GFA/"
            "7fdda84cb3ba748ec24fc3069d7745d51c3c8409/data/data.csv",
            sha256="c9d360a710c8069245e2e412a233f3fdc07a11c782949182c030e1ca1d9fc634",
            citation="R. M. Forrest, A. L. Greer, Digital Discovery 1 (2022) 476",
            doi="10.1039/D2DD00026A",
            licence="none stated",
        ),
        Source(
            key="ward2018",
            filename="ward2018_metallic_glasses.csv.xz",
            url="https://raw.githubusercontent.com/janosh/pymatviz/"
            "76489d7c3becc2686387c5647fa08994ffe42ebe/examples/ward_metallic_glasses/"
            "ward-metallic-glasses.csv.xz",
            sha256="6c965340ac2e6e9f236a0cfe6b6e227925b311217e7b586b7c234734655cb09c",
            citation="L. Ward et al., Acta Materialia 159 (2018) 102",
            doi="10.1016/j.actamat.2018.08.002",
            licence="MIT (repository)",
        ),
    ]
}


def cache_dir() -> Path:
    """The user cache directory where downloaded raw files are kept."""
    return Path(platformdirs.user_cache_dir("gfascreen")) / "datasets"


def _search_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(cache_dir())
    return dirs


def fetch(key: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return a local, checksum-verified path to the raw file of source ``key``.

    Raises :class:`GfaError` for an unknown key, a checksum mismatch, or a file that is
    neither present locally nor downloadable.
    """
    if key not in SOURCES:
        raise GfaError(f"unknown data source {key!r}; known: {', '.join(SOURCES)}")
    src = SOURCES[key]
    if data_dir is not None and not Path(data_dir).is_dir():
        raise GfaError(f"--data-dir {data_dir} is not a directory")
    for d in _search_dirs(data_dir):
        path = d / src.filename
        if path.is_file():
            digest = pooch.file_hash(str(path), alg="sha256")
            if digest != src.sha256:
                raise GfaError(
                    f"checksum mismatch for {path}: expected sha256 {src.sha256[:12]}..., "
                    f"got {digest[:12]}...; replace the file with the original from {src.url}"
                )
            return path
    if download:
        try:
            return Path(
                pooch.retrieve(
                    src.url,
                    known_hash=f"sha256:{src.sha256}",
                    fname=src.filename,
                    path=cache_dir(),
                    progressbar=False,
                )
            )
        except ValueError as exc:  # pooch's checksum failure
            raise GfaError(f"downloaded {src.filename} has the wrong checksum: {exc}") from None
        except Exception as exc:  # network failures come in many types
            reason = type(exc).__name__
            where = ", ".join(str(d) for d in _search_dirs(data_dir))
            raise GfaError(
                f"data file {src.filename} not found (looked in: {where}) and download failed "
                f"({reason}); put the file in one of those directories or pass --data-dir"
            ) from None
    where = ", ".join(str(d) for d in _search_dirs(data_dir))
    raise GfaError(f"data file {src.filename} not found (looked in: {where})")
