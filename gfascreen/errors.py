"""The one exception type users see: the CLI prints its message on one line."""


class GfaError(Exception):
    """A user-facing error: bad input, missing file, wrong checksum.

    The message must say what is wrong and how to fix it; the CLI prints it as a
    single line without a traceback and exits with status 2.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a long command, carrying the one line the CLI prints: what is kept and
    the exact command that goes on."""
