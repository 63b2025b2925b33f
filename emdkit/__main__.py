"""``python -m emdkit``: the same as the ``emdkit`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
