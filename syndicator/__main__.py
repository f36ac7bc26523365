import sys

from syndicator.cli import main

# Guarded: importing this module runs nothing (multiprocessing's spawned workers imported it; the children of
# syndicator.subprocs do not).
if __name__ == "__main__":
    sys.exit(main())
