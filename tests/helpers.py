"""What the CLI tests share: running ``gfascreen`` in-process and the one rule for a
refusal (``one_line_error``)."""

from __future__ import annotations

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


def one_line_error(code: int, err: str, match: str | None = None, notes: int = 0) -> str:
    """A refusal: exit status 2, no traceback, and on stderr exactly one error line
    starting ``gfascreen: error:`` (holding ``match``), after exactly ``notes`` lines of
    ``note: ...`` where the command says one before failing. Returns the error line."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == notes + 1, err
    assert all(ln.startswith("note: ") for ln in lines[:notes]), err
    line = lines[-1]
    assert line.startswith(ERROR_PREFIX), err
    if match is not None:
        assert match in line, err
    return line


def error_after_progress(code: int, err: str, match: str | None = None) -> str:
    """A failure once work has begun: exit status 2, no traceback, the progress said so
    far, then exactly one error line, the last, starting ``gfascreen: error:`` (holding
    ``match``). Returns the error line."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert [ln.startswith(ERROR_PREFIX) for ln in lines].count(True) == 1, err
    line = lines[-1]
    assert line.startswith(ERROR_PREFIX), err
    if match is not None:
        assert match in line, err
    return line


def usage_error(code: int, err: str, match: str | None = None) -> str:
    """argparse's refusal of an option: exit status 2, no traceback, its usage and one
    line ``gfascreen ...: error: ...`` (holding ``match``) last. Returns the error line."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert lines[0].startswith("usage: gfascreen"), err
    assert all(ln.startswith(" ") for ln in lines[1:-1]), err  # the usage's own lines
    line = lines[-1]
    assert line.startswith("gfascreen") and ": error: " in line, err
    if match is not None:
        assert match in line, err
    return line
