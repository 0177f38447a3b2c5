"""The frozen bundle's entry point: the same `hearth` command line (no arguments: the window)."""

import sys

from desktop_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
