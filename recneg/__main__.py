"""``python -m recneg``: the same command line as ``recneg``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
