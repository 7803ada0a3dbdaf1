"""Workflow configuration checks: the JSON schema (strict at every level) plus the rules a schema
cannot say (pairs need known sets, top-k no larger than the runs available). One clear error
naming the key, before any job starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def machine_mem_mb(fraction: float = 0.85) -> int | None:
    """``fraction`` of this machine's physical memory in MB (None where the OS does not say)."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return int(total * fraction / 1e6) if total > 0 else None


def _key_path(err) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def check_config(config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH) -> None:
    """Raise ConfigError (naming the key) if ``config`` is not a valid emofusion configuration."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            where = _key_path(err)
            key = f"{where}.{extra[0]}" if where != "<top level>" else extra[0]
            raise ConfigError(f"config key {key!r} is not known (allowed here: {', '.join(allowed)})")
        if "propertyNames" in err.schema_path:
            raise ConfigError(f"config key {_key_path(err)}.{err.instance}: {err.instance!r} is not a known "
                              f"feature set (known: {', '.join(err.schema['enum'])})")
        raise ConfigError(f"config key {_key_path(err)}: {err.message}")

    from .audio import check_audio_config

    check_audio_config(config)
    sets = list(config["feature_sets"])
    sel = config["selection"]
    pair_sets = sel["pair_sets"]
    if pair_sets is not None:
        unknown = [s for s in pair_sets if s not in sets]
        if unknown:
            raise ConfigError(f"config key selection.pair_sets: {unknown[0]!r} is not one of feature_sets "
                              f"({', '.join(sets)})")
        n_pair_sets = len(pair_sets)
    else:
        if sel["top_unimodal"] > len(sets):
            raise ConfigError(f"config key selection.top_unimodal: {sel['top_unimodal']} is larger than the "
                              f"{len(sets)} feature sets configured")
        n_pair_sets = sel["top_unimodal"]
    n_runs = len(sets) + n_pair_sets * (n_pair_sets - 1) // 2
    if sel["top_fusion"] > n_runs:
        raise ConfigError(f"config key selection.top_fusion: {sel['top_fusion']} is larger than the {n_runs} "
                          f"runs available ({len(sets)} unimodal + {n_pair_sets * (n_pair_sets - 1) // 2} bimodal)")
