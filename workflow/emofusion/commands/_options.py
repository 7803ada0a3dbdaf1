"""Option helpers shared by several subcommands (no heavy imports)."""

from __future__ import annotations

import argparse

#: the AVEC partitions, spelled as in the file names
PARTITIONS: tuple[str, ...] = ("Train", "Devel", "Test")


def partition(value: str) -> str:
    """argparse type: a partition name in any case (``test``, ``DEVEL``) -> its AVEC spelling."""
    for p in PARTITIONS:
        if value.strip().lower() == p.lower():
            return p
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(PARTITIONS)} (any case), got {value!r}")
