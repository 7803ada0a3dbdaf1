"""Workflow configuration checks: the JSON schema (strict at every level) plus the rules a schema
cannot say (pairs need known sets, top-k no larger than the runs available). One clear error
naming the key, before any job starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .schema import SCHEMA_PATH


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
        if err.validator == "required":
            missing = sorted(set(err.validator_value) - set(err.instance))
            where = _key_path(err)
            key = f"{where}.{missing[0]}" if where != "<top level>" else missing[0]
            raise ConfigError(f"config key {key}: missing (a config file is complete: one given with --configfile "
                              "replaces config.yaml, it is not merged with it; start from a copy of config.yaml)")
        raise ConfigError(f"config key {_key_path(err)}: {err.message}")

    if config["data_root"] is None:
        if config["corpus"]["size"] == "full" and not config["corpus"]["generate_full"]:
            raise ConfigError("config key data_root: not set (give --config data_root=/path/to/AVEC2019_CES); without "
                              "it a corpus is generated, and corpus.size full writes tens of GB: set "
                              "corpus.generate_full: true if that is what you want")
    elif not Path(config["data_root"]).is_dir():
        raise ConfigError(f"config key data_root: folder {config['data_root']} not found")
    from .spec import TrainSpec

    TrainSpec.from_dict(config["train"], where="config key train")  # the loss weights' one check
    from .data_spec import DataSpec

    DataSpec.from_settings(config["data"], where="config key data")  # the label range's order

    from .data.audio import check_audio_config

    check_audio_config(config)
    from .data.video_config import check_video_config

    check_video_config(config)
    from .data.openface import check_format

    for key, entry in config["feature_sets"].items():
        fmt = entry.get("format", "avec")
        where = f"config key feature_sets.{key}.format"
        check_format(key, fmt, where)
        if fmt != "avec" and config["data_root"] is None:
            raise ConfigError(f"{where}: {fmt!r} reads your own files under a data_root; the generated corpus "
                              "(data_root null) writes the AVEC layout (drop the key, or set data_root)")
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
    if config["system"]["stage"] > config["fusion"]["stages"]:
        raise ConfigError(f"config key system.stage: {config['system']['stage']} is larger than fusion.stages "
                          f"({config['fusion']['stages']}): the system bundle holds stages 1..fusion.stages")


def extra_run_set(config: Mapping[str, Any], section: str) -> str:
    """The feature set of the extra runs of ``section`` (``ablation`` or ``search``): config key
    ``<section>.feature_set``, which must be one of ``feature_sets``. Checked only where those runs
    are asked for, so a default run on fewer sets does not trip on it."""
    sets = list(config["feature_sets"])
    fs = config[section]["feature_set"]
    if fs not in sets:
        raise ConfigError(f"config key {section}.feature_set: {fs!r} is not one of feature_sets ({', '.join(sets)})")
    return fs


def ablation_train_config(train: Mapping[str, Any], loss_mode: str) -> dict[str, Any]:
    """``train`` with the loss mode of one ablation run: only MTL2 takes the configured weights
    (MTL1 uses its own defaults, alpha + beta + gamma = 1; STL and equal weights are fixed)."""
    weights = train["weights"] if loss_mode == "mtl2" else {}
    return {**train, "loss_mode": loss_mode, "weights": weights}


def search_train_config(train: Mapping[str, Any], weights: Mapping[str, float]) -> dict[str, Any]:
    """``train`` as MTL2 with one sampled (alpha, beta, gamma) of the weight search."""
    return {**train, "loss_mode": "mtl2", "weights": dict(weights)}
