"""What the commands share: progress on stderr, options made from the config dataclasses,
and the output tables of ``predict`` and ``suggest`` (.csv, .parquet, .json, or CSV on
standard output)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from gfascreen.errors import GfaError


def to_stderr(message: str) -> None:
    """Progress and notes go to stderr, results to stdout."""
    print(message, file=sys.stderr)


def config_from_args(cls, a: argparse.Namespace, **override):
    """A config dataclass from the parsed options of the same names."""
    names = {f.name for f in fields(cls)}
    return cls(**{**{k: v for k, v in vars(a).items() if k in names}, **override})


def add_config_args(p: argparse.ArgumentParser, cls, helps: dict[str, str],
                     skip: tuple[str, ...] = ()) -> None:
    """One option per field of ``cls``, its default taken from the dataclass (so defaults
    live in one place); booleans become --flag / --no-flag."""
    defaults = cls(**{f.name: None for f in fields(cls)
                      if f.default is MISSING and f.default_factory is MISSING})
    for f in fields(cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        h = helps.get(f.name, "")
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=default, help=h)
        elif default is None:
            p.add_argument(flag, dest=f.name, default=None, help=h)
        else:
            p.add_argument(flag, dest=f.name, type=type(default), default=default,
                           help=f"{h} (default {default})"
                           if h and "(default" not in h and default != "" else h)


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model`` and ``--device``, as every command that loads a model spells them."""
    p.add_argument("--model", default="default",
                   help="model directory (default: default, the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default auto)")


def add_run_args(p: argparse.ArgumentParser, partial: str, system: str) -> None:
    """A command that reads a finished screen: the run directory, ``--partial`` (read an
    incomplete run's parts) and ``--system`` (one system of an atlas run); ``partial`` and
    ``system`` are the command's own help of the two."""
    p.add_argument("run_dir")
    p.add_argument("--partial", action="store_true", help=partial)
    p.add_argument("--system", default=None, help=system)


def add_known_data_arg(p: argparse.ArgumentParser, what: str = "training table") -> None:
    """``--data``: the training table of the known alloys, by default the model's own."""
    p.add_argument("--data", default=None,
                   help=f"{what} (default: the alloys the model carries)")


def check_output(path: str) -> None:
    """An output table's format (by extension) and directory, checked before any work;
    ``-`` is standard output (CSV)."""
    import os

    from gfascreen.tableio import check_parent_exists

    if path == "-":
        return
    for p in {Path(os.path.abspath(path)), Path(path).resolve()}:
        if p == Path("/dev") or Path("/dev") in p.parents:
            raise GfaError(f"--output {path}: not a file under /dev; give --output - to "
                           "write CSV to standard output")
    if Path(path).suffix not in (".csv", ".parquet", ".json"):
        raise GfaError(f"--output {path}: name a .csv, .parquet or .json file, or - for "
                       "CSV on standard output")
    check_parent_exists(path, "--output")


def write_table(res, out: Path | str) -> None:
    """Write predictions in the format the extension names (.csv, .parquet, .json), or as
    CSV on standard output for ``-``."""
    from gfascreen.tableio import write_parquet_atomic

    if str(out) == "-":
        res.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return
    out = Path(out)
    if out.suffix == ".parquet":
        write_parquet_atomic(res, out)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".json":
        res.to_json(tmp, orient="records", indent=1)
    else:
        res.to_csv(tmp, index=False)
    tmp.replace(out)
