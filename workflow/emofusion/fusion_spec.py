"""The ``fusion`` section's spec: :class:`FusionSpec`, every fusion setting (the k and C grid, the
solver's gap, the grouped CV folds and seed, the method) with its one default, checked by the config
schema's rules (:func:`emofusion.schema.check_block`). The fusion jobs, ``emofusion fuse`` and the
tests build it. A module of its own, so that editing it re-runs the fusion rules only, not training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .schema import check_block


@dataclass(frozen=True)
class FusionSpec:
    """Every fusion setting, with its one default. The workflow, the CLI and the tests build it."""

    ks: tuple[int, ...] = (11, 13, 15, 17, 19)
    Cs: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    tol: float = 1e-3
    outer_folds: int = 4
    inner_folds: int = 3
    seed: int = 0
    method: str = "emofusion"

    def __post_init__(self):
        object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
        object.__setattr__(self, "Cs", tuple(float(c) for c in self.Cs))
        # the config schema's rules for these keys (the one check; the workflow's config check uses them too)
        check_block("fusion", {"ks": list(self.ks), "Cs": list(self.Cs), "tol": self.tol, "method": self.method,
                               "outer_folds": self.outer_folds, "inner_folds": self.inner_folds, "seed": self.seed},
                    "fusion")
        if self.method == "avec2019" and min(self.ks) < 1:  # across two keys: not in the schema
            raise ConfigError("fusion.ks: the avec2019 window needs k >= 1")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FusionSpec:
        """The spec from a fusion rule's params (None: a setting this protocol does not use; its default)."""
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items() if v is not None})

    @property
    def K(self) -> int:
        return max(self.ks)

    def configs(self) -> list[tuple[int, float]]:
        """Grid points (k, C), k-major; a grid column is ``config index * len(TARGETS) + target``
        (:func:`emofusion.fusion.design.grid_columns`)."""
        return [(k, C) for k in self.ks for C in self.Cs]
