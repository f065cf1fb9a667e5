import sys

from gfascreen.cli import main

sys.exit(main())
