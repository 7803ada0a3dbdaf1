"""The concordance correlation coefficient (CCC), numpy form, and AVEC-style scoring.

CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), population moments (1/N) throughout
(Lin 1989; DESIGN.md section 3). The torch form used as the training loss lives in
:mod:`emofusion.loss` and is tested against this one.

Scoring follows AVEC: per target, on the *concatenation* of all recordings of the scored set,
each prediction cropped to its label length -- never a mean of per-recording CCCs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import TARGETS


def ccc(x, y) -> float:
    """CCC of two 1-d sequences (population moments). NaN when undefined (n = 0, or both
    sequences constant and equal, where the denominator is 0). Raises on NaN/inf input."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"ccc: shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("ccc: input holds NaN or inf")
    mx, my = x.mean(), y.mean()
    vx = np.mean((x - mx) ** 2)
    vy = np.mean((y - my) ** 2)
    cov = np.mean((x - mx) * (y - my))
    den = vx + vy + (mx - my) ** 2
    if den == 0.0:
        return float("nan")
    return float(2.0 * cov / den)


def culture_of(name: str) -> str:
    """`Devel_DE_01` -> `DE`."""
    return name.split("_")[1]


def score_recordings(labels: Mapping[str, np.ndarray], preds: Mapping[str, np.ndarray],
                     groups: bool = True) -> dict:
    """Score predictions against labels, AVEC style.

    ``labels[name]`` and ``preds[name]`` are arrays (frames, 3) in TARGETS order. Predictions
    may be longer than labels (cropped); shorter is an error. Returns
    ``{"DE+HU": {"arousal": .., "valence": .., "liking": .., "mean": ..}, "DE": {..}, "HU": {..}}``
    where the first key joins every culture present (sorted) and one key per culture follows
    when there is more than one culture.
    """
    names = sorted(labels)
    missing = [n for n in names if n not in preds]
    if missing:
        raise ValueError(f"no prediction for recording(s): {', '.join(missing[:5])}")
    cultures = sorted({culture_of(n) for n in names})
    sets = {"+".join(cultures): names}
    if groups and len(cultures) > 1:
        for c in cultures:
            sets[c] = [n for n in names if culture_of(n) == c]
    out = {}
    for key, members in sets.items():
        y = []
        p = []
        for n in members:
            lab = np.asarray(labels[n])
            pr = np.asarray(preds[n])
            if pr.shape[0] < lab.shape[0]:
                raise ValueError(f"prediction for {n} has {pr.shape[0]} frames, labels have {lab.shape[0]}")
            y.append(lab)
            p.append(pr[: lab.shape[0]])
        y = np.concatenate(y)
        p = np.concatenate(p)
        row = {t: ccc(p[:, i], y[:, i]) for i, t in enumerate(TARGETS)}
        row["mean"] = float(np.mean([row[t] for t in TARGETS]))
        out[key] = row
    return out


def format_scores_table(scores: Mapping[str, Mapping[str, float]], title: str | None = None) -> str:
    """A fixed-width table of a ``{set: {target: ccc}}`` block, for terminals and logs."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{'set':<8}" + "".join(f"{t:>9}" for t in (*TARGETS, "mean")))
    for key, row in scores.items():
        lines.append(f"{key:<8}" + "".join(f"{row[t]:>9.3f}" for t in (*TARGETS, "mean")))
    return "\n".join(lines)
