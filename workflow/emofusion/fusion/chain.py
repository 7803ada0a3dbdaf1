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

    ``W_chosen`` ``(1 + m (2K + 1), 3)`` float64 and ``K``: the weights that made ``pred`` (one column
    per target: in-sample the chosen grid points, grouped-cv the refit of the chosen models on all the
    part's training recordings) and the context half-width of the design they multiply, so the chain
    re-applies to new recordings (:func:`emofusion.fusion.apply.apply_chain`). None in chain files
    written before they were kept (such a file still loads; it cannot be re-applied).
    """

    pred: dict[str, np.ndarray]
    oof: dict[str, np.ndarray]
    W: np.ndarray
    m: int
    report: dict = field(default_factory=dict)
    W_chosen: np.ndarray | None = None
    K: int | None = None

    def outputs(self) -> dict[str, np.ndarray]:
        """The previous-stage channel of every recording this part touches."""
        return {**self.oof, **self.pred}

    def save(self, path: str | Path) -> None:
        import io

        arrays = {f"pred/{n}": v for n, v in self.pred.items()}
        arrays.update({f"oof/{n}": v for n, v in self.oof.items()})
        buf = io.BytesIO()
        if self.W_chosen is not None:
            arrays.update(W_chosen=self.W_chosen, K=np.int64(self.K))
        np.savez(buf, W=self.W, m=np.int64(self.m), report=np.array(json.dumps(self.report)), **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> PartState:
        try:
            with np.load(path, allow_pickle=False) as z:
                pred = {k[5:]: z[k] for k in z.files if k.startswith("pred/")}
                oof = {k[4:]: z[k] for k in z.files if k.startswith("oof/")}
                chosen = (z["W_chosen"], int(z["K"])) if "W_chosen" in z.files else (None, None)
                return cls(pred, oof, z["W"], int(z["m"]), json.loads(str(z["report"])), *chosen)
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
