"""`emofusion predict --traces DIR`: one figure per predicted recording, arousal, valence and liking
over time (the fused prediction at 0.1 s; the gold labels beside it where the recording has them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import TARGETS


def trace_figure(name: str, pred: np.ndarray, gold: np.ndarray | None, *, stage: int):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(TARGETS), 1, figsize=(9, 1.9 * len(TARGETS)), sharex=True, squeeze=False)
    tt = np.arange(len(pred)) * 0.1
    for j, t in enumerate(TARGETS):
        ax = axes[j, 0]
        if gold is not None:
            ax.plot(np.arange(len(gold)) * 0.1, gold[:, j], color="black", linewidth=1.4, label="gold")
        ax.plot(tt, pred[:, j], color="tab:blue", linewidth=1.1, label=f"predicted (fusion stage {stage})")
        ax.set_ylabel(t)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    return fig


def write_traces(out_dir: str | Path, preds: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                 *, stage: int) -> int:
    """``out_dir/<recording>.png`` for every recording of ``preds`` (the folder written whole, or not
    at all); ``labels``: gold of the recordings that have it. Returns the number of figures."""
    import matplotlib.pyplot as plt

    from .io import atomic_dir

    with atomic_dir(out_dir) as tmp:
        for name in sorted(preds):
            fig = trace_figure(name, np.asarray(preds[name]), labels.get(name), stage=stage)
            try:
                fig.savefig(tmp / f"{name}.png", dpi=110)
            finally:
                plt.close(fig)
    return len(preds)
