"""Re-apply a fitted fusion chain (stages 1..N of one part) to the base predictions of any recordings.

The arithmetic of :func:`emofusion.fusion.fit.fit_part` for the recordings it predicts: stage n's
input is the base channels (the runs' predictions, ``(frames, 3 R)`` float32 in run-name order) with
stage n - 1's output appended as float32 (:func:`~emofusion.fusion.chain.with_prev`), its design the
lag-major +-K context of it (:func:`~emofusion.fusion.design.context_design`), its output that design
times the kept weights (``PartState.W_chosen``) per recording, with one BLAS thread, stored as
float32. Applied to the recordings a stage predicted when it was fitted, it gives the same bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from .chain import PartState


def check_chain(states: Sequence[PartState], n_base: int, paths: Sequence[str | Path] | None = None) -> None:
    """A DataError naming the chain file when ``states`` cannot be applied in order to ``n_base`` base
    channels: weights not kept (an older chain file), or a layout that does not follow from the stage before."""
    from .design import n_columns

    m = n_base
    for i, st in enumerate(states):
        where = None if paths is None else paths[i]
        if st.W_chosen is None or st.K is None:
            raise DataError(where, f"stage {i + 1}'s chain file keeps no chosen weights (written by an older "
                                   "emofusion): re-run the fusion to re-apply it")
        if st.m != m or st.W_chosen.shape != (n_columns(m, st.K), 3):
            raise DataError(where, f"stage {i + 1}'s weights {st.W_chosen.shape} do not fit {m} input channels "
                                   f"with context +-{st.K} (expected ({n_columns(m, st.K)}, 3))")
        m = n_base + 3  # a later stage reads the base and the stage before it


def apply_chain(base: Mapping[str, np.ndarray], states: Sequence[PartState]) -> list[dict[str, np.ndarray]]:
    """Each stage's output ``{name: (frames, 3) float32}`` for every recording of ``base``, stages in order."""
    from threadpoolctl import threadpool_limits

    from .design import context_design

    names = sorted(base)
    if not names:
        return [{} for _ in states]
    check_chain(states, base[names[0]].shape[1])
    out: list[dict[str, np.ndarray]] = []
    prev: dict[str, np.ndarray] | None = None
    with threadpool_limits(1):  # as fit_part: the products' last bits depend on the thread count
        for st in states:
            chans = {n: base[n] if prev is None else np.concatenate([base[n], prev[n].astype(np.float32)], axis=1)
                     for n in names}
            prev = {n: np.asarray(context_design(chans[n], st.K) @ st.W_chosen, dtype=np.float32) for n in names}
            out.append(prev)
    return out
