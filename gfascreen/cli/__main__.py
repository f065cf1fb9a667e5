"""``python -m gfascreen.cli``: the same as ``gfascreen``."""

import sys

from gfascreen.cli import main

sys.exit(main())
