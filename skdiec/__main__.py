"""``python -m skdiec``: the command line (see :mod:`skdiec._cli`)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
