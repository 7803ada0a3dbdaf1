"""`python -m emofusion.bench {cache,train,fusion,extract,bootstrap,predict} [options]` -- see each module's docstring."""

from __future__ import annotations

import importlib
import sys

BENCHES = ("cache", "train", "fusion", "extract", "bootstrap", "predict")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHES:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    mod = importlib.import_module(f"emofusion.bench.{argv[0]}")
    return int(mod.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
