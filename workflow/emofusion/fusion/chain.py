"""The chain file: what one part of one fusion stage hands the same part of the next stage."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write_bytes


@dataclass
class PartState:
    """One part of one stage: what the next stage's same part needs, and what the stage reports.

    ``pred``: this part's predictions (in-sample: dev and test; ``fold<i>``: fold i; ``all`` under
    grouped-cv: test). ``oof``: out-of-fold predictions on the part's training recordings (the next
    stage's input there; empty in-sample). ``W``: the grid's weights (warm start of the next stage).
    ``report``: selection and solver figures (JSON).
    """

    pred: dict[str, np.ndarray]
    oof: dict[str, np.ndarray]
    W: np.ndarray
    m: int
    report: dict = field(default_factory=dict)

    def outputs(self) -> dict[str, np.ndarray]:
        """The previous-stage channel of every recording this part touches."""
        return {**self.oof, **self.pred}

    def save(self, path: str | Path) -> None:
        import io

        arrays = {f"pred/{n}": v for n, v in self.pred.items()}
        arrays.update({f"oof/{n}": v for n, v in self.oof.items()})
        buf = io.BytesIO()
        np.savez(buf, W=self.W, m=np.int64(self.m), report=np.array(json.dumps(self.report)), **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> PartState:
        try:
            with np.load(path, allow_pickle=False) as z:
                pred = {k[5:]: z[k] for k in z.files if k.startswith("pred/")}
                oof = {k[4:]: z[k] for k in z.files if k.startswith("oof/")}
                return cls(pred, oof, z["W"], int(z["m"]), json.loads(str(z["report"])))
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(path, f"not a fusion chain file ({exc})") from None


def with_prev(base: Mapping[str, np.ndarray], prev: PartState | None, names: Sequence[str]) -> dict:
    if prev is None:
        return {n: base[n] for n in names}
    out = prev.outputs()
    missing = [n for n in names if n not in out]
    if missing:
        raise DataError(None, f"the previous stage's chain file lacks recording {missing[0]} "
                              "(made with other inputs: re-run the chain)")
    return {n: np.concatenate([base[n], out[n].astype(np.float32)], axis=1) for n in names}
