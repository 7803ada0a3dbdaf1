"""Specs: a validated configuration section as one frozen object, with every default in one place.

:class:`TrainSpec` is the ``train`` section: the hyper-parameters of one training run. Its field
defaults are the paper's values and the only defaults there are (the loss, the LightningModule and
the CLI take theirs from here; ``config.yaml`` and ``workflow/configs/paper.yaml`` state values).
It is checked against the ``train`` block of ``workflow/schemas/config.schema.yaml``, the same
check the workflow's config gets, so the CLI, the workflow and the tests accept the same values;
the loss weights are checked by :func:`emofusion.loss.resolve_weights`, which holds each loss
mode's rule. Light to import (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ConfigError

#: Default weights of the loss modes whose weights are configurable (their papers' best values):
#: mtl1 takes (alpha, beta) and sets gamma = 1 - alpha - beta; mtl2 takes all three.
MODE_DEFAULTS: dict[str, tuple[float, ...]] = {"mtl1": (0.7, 0.3), "mtl2": (0.7, 0.2, 1.0)}

WEIGHT_KEYS = ("alpha", "beta", "gamma")


def default_weights(loss_mode: str) -> dict[str, float | None]:
    """``{"alpha", "beta", "gamma"}`` of a mode's defaults (None where the mode sets the value)."""
    d = MODE_DEFAULTS.get(loss_mode, ())
    return {k: (float(d[i]) if i < len(d) else None) for i, k in enumerate(WEIGHT_KEYS)}


@dataclass(frozen=True)
class TrainSpec:
    """Hyper-parameters of one training run; the defaults are the paper's (section 4.1)."""

    hidden: tuple[int, ...] = (256, 128, 64)  # LSTM sizes, one nn.LSTM per entry
    dropout: float = 0.4  # after each LSTM layer
    loss_mode: str = "mtl2"  # stl_arousal|stl_valence|stl_liking|mtl_equal|mtl1|mtl2 (emofusion.loss)
    weights: dict = field(default_factory=lambda: default_weights("mtl2"))  # used by mtl1/mtl2
    loss_pooling: str = "batch"  # CCC moments over the batch's valid frames, or per "sequence"
    lr: float = 5e-4  # RMSprop
    rho: float = 0.9  # RMSprop decay (torch `alpha`), Keras default
    eps: float = 1e-7  # RMSprop epsilon, Keras default
    batch_size: int = 34
    epochs: int = 50
    label_shift: int = 1  # annotation delay in frames (emofusion.data)
    predict_with: str = "last"  # or "best_dev" (optimistic: dev also scores)
    max_train_frames: int | None = None  # crop Train recordings to their first N frames (speed); None: all
    accelerator: str = "auto"  # Lightning accelerator: auto picks a GPU where there is one

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, base: TrainSpec | None = None) -> TrainSpec:
        """Check ``d`` and build the spec; keys it does not give come from ``base`` (default: the
        paper's), except that a ``loss_mode`` given without ``weights`` takes that mode's default
        weights. An unknown key or a bad value is one ConfigError naming ``params.<key>``."""
        d = dict(d or {})
        v = {**(base or cls()).to_dict(), **d}
        if "loss_mode" in d and "weights" not in d:
            v["weights"] = default_weights(d["loss_mode"])
        _check(v)
        from .loss import resolve_weights

        try:
            resolve_weights(v["loss_mode"], v["weights"])
        except ConfigError as exc:
            raise ConfigError(f"params.{exc}") from None
        w = v["weights"]
        v["weights"] = {k: (None if w.get(k) is None else float(w[k])) for k in WEIGHT_KEYS}
        v["hidden"] = tuple(int(h) for h in v["hidden"])
        for key in ("dropout", "lr", "rho", "eps"):
            v[key] = float(v[key])
        for key in ("batch_size", "epochs", "label_shift"):
            v[key] = int(v[key])
        if v["max_train_frames"] is not None:
            v["max_train_frames"] = int(v["max_train_frames"])
        return cls(**v)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    def resolved_weights(self) -> tuple[float, float, float]:
        """``(alpha, beta, gamma)`` of the loss (:func:`emofusion.loss.resolve_weights`)."""
        from .loss import resolve_weights

        return resolve_weights(self.loss_mode, self.weights)


#: The paper's configuration.
PAPER_SPEC = TrainSpec()


def _train_schema() -> dict:
    """The ``train`` block of the config schema; its ``weights`` are left to resolve_weights,
    which allows what a mode does not use to be null or absent (mtl1's gamma, STL's weights)."""
    import yaml

    from .config import SCHEMA_PATH

    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["train"]
    schema["properties"]["weights"] = {"type": "object"}
    return schema


def _check(v: Mapping[str, Any]) -> None:
    import jsonschema

    names = [f.name for f in fields(TrainSpec)]
    unknown = [k for k in v if k not in names]
    if unknown:
        raise ConfigError(f"params.{unknown[0]}: unknown key; expected one of {', '.join(names)}")
    err = next(iter(sorted(jsonschema.Draft202012Validator(_train_schema()).iter_errors(dict(v)),
                           key=lambda e: list(map(str, e.absolute_path)))), None)
    if err is not None:
        key = err.absolute_path[0] if err.absolute_path else "<train>"
        raise ConfigError(f"params.{key}: {err.message}")
    for key, x in v.items():
        if isinstance(x, float) and not math.isfinite(x):
            raise ConfigError(f"params.{key}: expected a finite number, got {x!r}")
