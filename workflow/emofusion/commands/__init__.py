"""Subcommands of the `emofusion` CLI (see emofusion.cli)."""
