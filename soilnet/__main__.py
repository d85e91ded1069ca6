"""``python -m soilnet``: see :mod:`soilnet.cli`."""

from soilnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
