"""The config schema (``workflow/schemas/config.schema.yaml``) and the one check of a block's values
against it, shared by the workflow's config check and every spec (:mod:`emofusion.spec`,
:mod:`emofusion.fusion_spec`). Light to import (the workflow checks its config while it is parsed).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: The JSON schema of config.yaml: the one place each setting's default and type are written.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@functools.cache
def schema_block(block: str) -> dict:
    """One block of the config schema (``train``: its ``weights`` are left to
    :func:`emofusion.spec.resolve_weights`)."""
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())["properties"][block]


def check_block(block: str, v: Mapping[str, Any], where: str) -> None:
    """Check the values ``v`` of config block ``block`` against the schema's rules for them (the
    one check of a setting, shared by the workflow's config check and the specs). Keys ``v`` leaves
    out are not required; a bad value or a non-finite number is one ConfigError naming
    ``<where>.<key>``."""
    import jsonschema

    schema = {k: x for k, x in schema_block(block).items() if k != "required"}
    err = next(iter(sorted(jsonschema.Draft202012Validator(schema).iter_errors(dict(v)),
                           key=lambda e: list(map(str, e.absolute_path)))), None)
    if err is not None:
        key = err.absolute_path[0] if err.absolute_path else f"<{block}>"
        raise ConfigError(f"{where}.{key}: {err.message}")
    for key, x in v.items():
        for y in (x if isinstance(x, (list, tuple)) else [x]):
            if isinstance(y, float) and not math.isfinite(y):
                raise ConfigError(f"{where}.{key}: expected a finite number, got {y!r}")


def check_known(v: Mapping[str, Any], names: Sequence[str], where: str) -> None:
    """Every key of ``v`` is one of ``names`` (a spec's fields), else one ConfigError naming the first
    unknown one as ``<where>.<key>``."""
    unknown = [k for k in v if k not in names]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; expected one of {', '.join(names)}")
