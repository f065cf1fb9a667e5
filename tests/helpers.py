"""What the CLI tests share: running ``gfascreen`` in-process and the one rule for a
refusal (``one_line_error``)."""

from __future__ import annotations

import subprocess
import sys
import time

from gfascreen import cli

#: How the CLI starts a refusal of its own (``gfascreen.cli._run``).
ERROR_PREFIX = "gfascreen: error: "


def run_cli(argv: list[str], capsys, main=cli.main) -> tuple[int, str, str]:
    """``main(argv)`` in-process: its exit status (argparse's own exits included), stdout
    and stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exits
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _refusal(code: int, err: str, line: str, well_formed: bool, match: str | None) -> str:
    """What every refusal shares: exit status 2, no traceback, its error ``line`` well
    formed and holding ``match``."""
    assert code == 2, err
    assert "Traceback" not in err, err
    assert well_formed, err
    assert match is None or match in line, err
    return line


def one_line_error(code: int, err: str, match: str | None = None, notes: int = 0) -> str:
    """A refusal: exit status 2, no traceback, and on stderr exactly one error line
    starting ``gfascreen: error:`` (holding ``match``), after exactly ``notes`` lines of
    ``note: ...`` where the command says one before failing. Returns the error line."""
    lines = err.splitlines() or [""]
    assert len(lines) == notes + 1, err
    assert all(ln.startswith("note: ") for ln in lines[:notes]), err
    return _refusal(code, err, lines[-1], lines[-1].startswith(ERROR_PREFIX), match)


def error_after_progress(code: int, err: str, match: str | None = None) -> str:
    """A failure once work has begun: exit status 2, no traceback, the progress said so
    far, then exactly one error line, the last, starting ``gfascreen: error:`` (holding
    ``match``). Returns the error line."""
    lines = err.splitlines() or [""]
    errors = [ln for ln in lines if ln.startswith(ERROR_PREFIX)]
    return _refusal(code, err, lines[-1], errors == [lines[-1]], match)


def usage_error(code: int, err: str, match: str | None = None) -> str:
    """argparse's refusal of an option: exit status 2, no traceback, its usage and one
    line ``gfascreen ...: error: ...`` (holding ``match``) last. Returns the error line."""
    lines = err.splitlines() or [""]
    usage = lines[0].startswith("usage: gfascreen") and all(
        ln.startswith(" ") for ln in lines[1:-1])  # the usage's own lines
    line = lines[-1]
    return _refusal(code, err, line, usage and line.startswith("gfascreen")
                    and ": error: " in line, match)


#: A ``gfascreen`` child whose scoring stops for good after FREE chunks: each later chunk
#: waits on a gate that never opens, until the process is killed or interrupted.
_HELD = """import sys, time
from gfascreen.screening import score
real, calls = score.score_chunk, [0]
def held(*a, **k):
    calls[0] += 1
    while calls[0] > FREE:
        time.sleep(0.05)
    return real(*a, **k)
score.score_chunk = held
from gfascreen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def held_screen(argv: list[str], free: int, **popen) -> subprocess.Popen:
    """``gfascreen ARGV`` in a child process that scores ``free`` chunks and then holds
    (never finishes by itself): a kill or Ctrl-C lands part-way for certain, whatever the
    machine's load, with no timing to tune."""
    code = _HELD.replace("FREE", str(int(free)))
    return subprocess.Popen([sys.executable, "-c", code, *argv], **popen)


def wait_for(cond, p: subprocess.Popen, limit: float = 120.0) -> None:
    """Poll ``cond`` until it holds, the child ``p`` exits, or ``limit`` seconds pass (a
    bound against hanging, not a measurement)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not cond() and p.poll() is None:
        time.sleep(0.05)
