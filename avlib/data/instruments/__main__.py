"""``python -m avlib.data.instruments --scale smoke --root data``: generate the benchmark."""
import sys

from .generate import main

if __name__ == "__main__":
    sys.exit(main())
