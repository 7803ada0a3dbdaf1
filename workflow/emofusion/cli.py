"""`emofusion` command line: one subcommand per module under :mod:`emofusion.commands`.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and imports its heavy dependencies (torch, sklearn, mlflow) inside ``run`` only, so that
``emofusion --help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ConfigError, DataError, os_error

#: subcommand -> module under emofusion.commands
COMMANDS = {
    "synth": "synth",
    "validate": "validate",
    "cache": "cache",
    "train": "train",
    "score": "score",
    "compare": "compare",
    "results-block": "results_block",
    "fuse": "fuse",
    "init-tracking": "init_tracking",
    "predict": "predict",
}


#: the parser's description: the docstring's first line without reST markup (no Sphinx role in --help)
DESCRIPTION = "emofusion command line: one subcommand per step (see `emofusion COMMAND --help`)."


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="emofusion", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"emofusion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in COMMANDS.items():
        try:
            m = importlib.import_module(f"emofusion.commands.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"emofusion.commands.{mod}":
                raise
            continue
        p = sub.add_parser(name, help=m.HELP, description=m.HELP)
        m.add_arguments(p)
        p.set_defaults(_run=m.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `emofusion`: the help, not an error
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (DataError, ConfigError) as exc:
        print(f"emofusion {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file-system condition no reader named (permission, full disk ...): one line too
        err = os_error(exc)
        if err is None:
            raise
        print(f"emofusion {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
