"""Specs: a validated configuration section as one frozen object, with every default in one place.

:class:`TrainSpec` is the ``train`` section: the hyper-parameters of one training run. Its field
defaults are the paper's values and the only defaults there are (the loss, the LightningModule and
the CLI take theirs from here; ``config.yaml`` and ``workflow/configs/paper.yaml`` state values,
and leave the loss weights null: :data:`MODE_DEFAULTS`, here only). :meth:`TrainSpec.from_dict`
is the one check of a ``train`` section: the ``train`` block of
``workflow/schemas/config.schema.yaml`` for every key but the weights, and
:func:`resolve_weights` (each loss mode's rule) for the weights. The workflow's config check,
the training job and the CLI all go through it, so they accept the same values.

The ``fusion`` section's spec is :class:`emofusion.fusion_spec.FusionSpec`; both check their values
with the config schema's rules (:func:`emofusion.schema.check_block`), so editing one spec re-runs
only the rules of its block.

Light to import (no torch: the workflow checks its config with it while it is parsed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ConfigError
from .schema import check_block, check_known

#: Loss modes (paper section 3.2, Table 2). Values: fixed weights, or None when taken from config.
LOSS_MODES: dict[str, tuple[float, float, float] | None] = {
    "stl_arousal": (1.0, 0.0, 0.0),
    "stl_valence": (0.0, 1.0, 0.0),
    "stl_liking": (0.0, 0.0, 1.0),
    "mtl_equal": (1.0, 1.0, 1.0),
    "mtl1": None,  # alpha, beta, 1 - alpha - beta (Parthasarathy & Busso)
    "mtl2": None,  # free alpha, beta, gamma (the paper's)
}

#: Default weights of the loss modes whose weights are configurable (their papers' best values):
#: mtl1 takes (alpha, beta) and sets gamma = 1 - alpha - beta; mtl2 takes all three.
MODE_DEFAULTS: dict[str, tuple[float, ...]] = {"mtl1": (0.7, 0.3), "mtl2": (0.7, 0.2, 1.0)}

WEIGHT_KEYS = ("alpha", "beta", "gamma")


def resolve_weights(mode: str, weights: Mapping[str, float | None] | None = None) -> tuple[float, float, float]:
    """``(alpha, beta, gamma)`` of a loss mode, and THE check of the weights.

    ``stl_*`` and ``mtl_equal`` have fixed weights (``weights`` is ignored). ``mtl1`` takes alpha and
    beta from ``weights`` and sets gamma = 1 - alpha - beta; a gamma given beside them must equal
    that. ``mtl2`` takes all three. A weight left out or null takes the mode's default
    (:data:`MODE_DEFAULTS`). Weights must be finite and >= 0; a bad one is a ConfigError naming
    ``weights.<key>``.
    """
    if mode not in LOSS_MODES:
        raise ConfigError(f"loss_mode: unknown mode {mode!r}; expected one of {', '.join(LOSS_MODES)}")
    if weights is not None and not isinstance(weights, Mapping):
        raise ConfigError(f"weights: expected a mapping of alpha, beta, gamma (or null), got {weights!r}")
    fixed = LOSS_MODES[mode]
    if fixed is not None:
        return fixed
    w = dict(weights or {})
    unknown = sorted(set(w) - set(WEIGHT_KEYS))
    if unknown:
        raise ConfigError(f"weights.{unknown[0]}: unknown key; expected alpha, beta, gamma")
    defaults = MODE_DEFAULTS[mode]
    vals = {}
    for i, key in enumerate(WEIGHT_KEYS[: len(defaults)]):
        v = w.get(key)
        v = defaults[i] if v is None else v
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"weights.{key}: expected a finite number >= 0, got {v!r}")
        vals[key] = float(v)
    if mode == "mtl1":
        gamma = 1.0 - vals["alpha"] - vals["beta"]
        if gamma < -1e-9:
            raise ConfigError(f"weights: mtl1 needs alpha + beta <= 1, got {vals['alpha']} + {vals['beta']}")
        gamma = max(gamma, 0.0)
        g = w.get("gamma")
        if g is not None and abs(float(g) - gamma) > 1e-9:
            raise ConfigError(f"weights.gamma: mtl1 sets gamma = 1 - alpha - beta = {gamma:g}, got {g!r} "
                              f"(leave it null, or use loss_mode mtl2 for a free gamma)")
        return vals["alpha"], vals["beta"], gamma
    return vals["alpha"], vals["beta"], vals["gamma"]


def default_weights(loss_mode: str) -> dict[str, float | None]:
    """``{"alpha", "beta", "gamma"}`` of a mode's defaults (None where the mode sets the value)."""
    d = MODE_DEFAULTS.get(loss_mode, ())
    return {k: (float(d[i]) if i < len(d) else None) for i, k in enumerate(WEIGHT_KEYS)}


@dataclass(frozen=True)
class TrainSpec:
    """Hyper-parameters of one training run; the defaults are the paper's (section 4.1)."""

    hidden: tuple[int, ...] = (256, 128, 64)  # LSTM sizes, one nn.LSTM per entry
    dropout: float = 0.4  # after each LSTM layer
    loss_mode: str = "mtl2"  # stl_arousal|stl_valence|stl_liking|mtl_equal|mtl1|mtl2 (emofusion.training.loss)
    weights: dict = field(default_factory=lambda: default_weights("mtl2"))  # used by mtl1/mtl2
    loss_pooling: str = "batch"  # CCC moments over the batch's valid frames, or per "sequence"
    lr: float = 5e-4  # RMSprop
    rho: float = 0.9  # RMSprop decay (torch `alpha`), Keras default
    eps: float = 1e-7  # RMSprop epsilon, Keras default
    batch_size: int = 34
    epochs: int = 50
    label_shift: int = 1  # annotation delay in frames (emofusion.training.dataset)
    predict_with: str = "last"  # or "best_dev" (optimistic: dev also scores)
    max_train_frames: int | None = None  # crop Train recordings to their first N frames (speed); None: all
    accelerator: str = "auto"  # Lightning accelerator: auto picks a GPU where there is one

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, base: TrainSpec | None = None, *,
                  where: str = "params") -> TrainSpec:
        """Check ``d`` and build the spec; keys it does not give come from ``base`` (default: the
        paper's), except that a ``loss_mode`` given without ``weights``, and ``weights`` null, take
        the loss mode's default weights. An unknown key or a bad value is one ConfigError naming
        ``<where>.<key>``."""
        d = dict(d or {})
        v = {**(base or cls()).to_dict(), **d}
        if "loss_mode" in d and "weights" not in d:
            v["weights"] = default_weights(d["loss_mode"])
        _check(v, where)
        try:
            resolve_weights(v["loss_mode"], v["weights"])
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from None
        if v["weights"] is None:
            v["weights"] = default_weights(v["loss_mode"])
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
        """``(alpha, beta, gamma)`` of the loss (:func:`resolve_weights`)."""
        return resolve_weights(self.loss_mode, self.weights)


#: The paper's configuration.
PAPER_SPEC = TrainSpec()

#: The keys of a ``train`` section (the spec's fields): the train rule passes each as its own param.
TRAIN_KEYS: tuple[str, ...] = tuple(f.name for f in fields(TrainSpec))


def _check(v: Mapping[str, Any], where: str) -> None:
    check_known(v, [f.name for f in fields(TrainSpec)], where)
    check_block("train", v, where)
