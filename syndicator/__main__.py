import sys

from syndicator.cli import main

# Guarded: refresh's parsing pool spawns worker processes, which import the main module again.
if __name__ == "__main__":
    sys.exit(main())
