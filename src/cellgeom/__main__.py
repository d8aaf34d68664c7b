"""``python -m cellgeom``: the command-line tool (same as the ``cellgeom`` command)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
