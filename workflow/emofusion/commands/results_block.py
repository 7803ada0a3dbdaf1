"""`emofusion results-block`: the README's results block, from a finished run's files."""

from __future__ import annotations

import argparse

HELP = ("print (or write into README.md) the results block of a finished run: planted-truth agreement, "
        "Table 3 with intervals, paired comparisons")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="the run's results folder (default results)")
    p.add_argument("--readme", metavar="FILE",
                   help="replace the block between the results-block markers in FILE instead of printing it")


def run(args: argparse.Namespace) -> int:
    from ..results.readme_block import results_block, update_readme

    block = results_block(args.results)
    if args.readme:
        update_readme(args.readme, block)
        print(f"wrote the results block of {args.results} into {args.readme}")
    else:
        print(block, end="")
    return 0
