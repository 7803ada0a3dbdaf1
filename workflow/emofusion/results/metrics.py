"""The concordance correlation coefficient (CCC), numpy form, and AVEC-style scoring.

CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), population moments (1/N) throughout
(Lin 1989; docs/data.md). The torch form used as the training loss lives in
:mod:`emofusion.training.loss` and is tested against this one.

Scoring follows AVEC: per target, on the *concatenation* of all recordings of the scored set,
each prediction cropped to its label length -- never a mean of per-recording CCCs.

Uncertainty: :func:`bootstrap_ccc` (percentile intervals) and :func:`paired_bootstrap` (differences
between two systems on the same resamples) resample *recordings* (frames within a recording are
not independent), stratified by culture. Both compute each resample's CCC from per-recording sums
(:data:`SUMS`) through :func:`ccc_from_sums`, the same core as :func:`ccc`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import TARGETS

#: The sufficient statistics of a CCC, in this order along the last-but-one axis of a sums array:
#: frame count, sum x, sum y, sum x^2, sum y^2, sum x*y.
SUMS = ("n", "sx", "sy", "sxx", "syy", "sxy")


def ccc_from_sums(sums) -> np.ndarray:
    """CCC from sufficient statistics: ``sums[..., i, :]`` holds ``SUMS[i]`` (any trailing shape,
    e.g. one column per target). The one CCC formula of the package: :func:`ccc` and the bootstrap
    both end here.

    With means mx, my: 2 cov / (var x + var y + (mx - my)^2) = (2 Sxy/n - 2 mx my) / (Sxx/n + Syy/n
    - 2 mx my) (population moments). NaN where undefined (n = 0, or a denominator that vanishes:
    both sequences constant and equal). Callers shift x and y by one common constant near their
    means first (CCC is invariant to that), which keeps the raw sums well conditioned.
    """
    s = np.asarray(sums, dtype=np.float64)
    n, sx, sy, sxx, syy, sxy = (s[..., i, :] if s.ndim >= 2 else s[i] for i in range(len(SUMS)))
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, my = sx / n, sy / n
        num = 2.0 * (sxy / n - mx * my)
        scale = (sxx + syy) / n
        den = scale - 2.0 * mx * my
        out = num / den
    return np.where((n > 0) & (den > 1e-12 * scale), out, np.nan)


def pair_sums(x: np.ndarray, y: np.ndarray, shift=0.0) -> np.ndarray:
    """The :data:`SUMS` of ``x - shift`` and ``y - shift`` along axis 0: shape (6,) + x.shape[1:]."""
    x = np.asarray(x, dtype=np.float64) - shift
    y = np.asarray(y, dtype=np.float64) - shift
    return np.stack([np.full(x.shape[1:], x.shape[0], dtype=np.float64), x.sum(0), y.sum(0),
                     (x * x).sum(0), (y * y).sum(0), (x * y).sum(0)])


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
    shift = 0.5 * (x.mean() + y.mean())
    return float(ccc_from_sums(pair_sums(x, y, shift)))


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


# ---------------------------------------------------------------------------------------------
# recording-level bootstrap: intervals for every CCC, and paired differences


def _groups(names: list[str]) -> dict[str, list[int]]:
    """Score-set key -> indices into the sorted ``names``, as :func:`score_recordings` forms them."""
    cultures = sorted({culture_of(n) for n in names})
    groups = {"+".join(cultures): list(range(len(names)))}
    if len(cultures) > 1:
        for c in cultures:
            groups[c] = [i for i, n in enumerate(names) if culture_of(n) == c]
    return groups


def _recording_sums(labels: Mapping[str, np.ndarray], preds: Mapping[str, np.ndarray],
                    names: list[str], shift: np.ndarray) -> np.ndarray:
    """Per-recording :data:`SUMS` of (prediction, label), per target: shape (recordings, 6, 3).
    Predictions longer than their labels are cropped; a missing or shorter one is a ValueError."""
    missing = [n for n in names if n not in preds]
    if missing:
        raise ValueError(f"no prediction for recording(s): {', '.join(missing[:5])}")
    out = np.empty((len(names), len(SUMS), len(TARGETS)))
    for i, n in enumerate(names):
        lab = np.asarray(labels[n], dtype=np.float64)
        pr = np.asarray(preds[n], dtype=np.float64)
        if pr.shape[0] < lab.shape[0]:
            raise ValueError(f"prediction for {n} has {pr.shape[0]} frames, labels have {lab.shape[0]}")
        pr = pr[: lab.shape[0]]
        if not (np.isfinite(lab).all() and np.isfinite(pr).all()):
            raise ValueError(f"labels or prediction of {n} hold NaN or inf")
        out[i] = pair_sums(pr, lab, shift)
    return out


def resample_counts(names: list[str], n_boot: int, seed: int) -> np.ndarray:
    """How often each recording is drawn in each resample: int array (n_boot, len(names)).
    Recordings are drawn with replacement within their culture (stratified: every resample keeps
    each culture's recording count), from ``numpy.random.default_rng(seed)``."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_boot, len(names)), dtype=np.int64)
    rows = np.arange(n_boot)[:, None]
    for c in sorted({culture_of(n) for n in names}):
        idx = np.array([i for i, n in enumerate(names) if culture_of(n) == c])
        draws = rng.integers(0, idx.size, size=(n_boot, idx.size))
        np.add.at(counts, (rows, idx[draws]), 1)
    return counts


def _boot_cccs(sums: np.ndarray, counts: np.ndarray, members: list[int]) -> np.ndarray:
    """CCC per resample of one score set: (n_boot, 4) = the three targets and their mean."""
    tot = counts[:, members].astype(np.float64) @ sums[members].reshape(len(members), -1)
    c = ccc_from_sums(tot.reshape(-1, len(SUMS), len(TARGETS)))
    return np.concatenate([c, c.mean(axis=1, keepdims=True)], axis=1)


def _point_cccs(sums: np.ndarray, members: list[int]) -> np.ndarray:
    c = ccc_from_sums(sums[members].sum(axis=0))
    return np.append(c, c.mean())


def _prepare(labels: Mapping[str, np.ndarray], n_boot: int, seed: int, level: float):
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    names = sorted(labels)
    if not names:
        raise ValueError("no labelled recordings to bootstrap")
    shift = np.mean(np.concatenate([np.asarray(labels[n], dtype=np.float64) for n in names]), axis=0)
    q = (100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0)
    return names, shift, resample_counts(names, n_boot, seed), q


def _interval(samples: np.ndarray, q: tuple[float, float]) -> tuple[float, float]:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(ok, q)
    return float(lo), float(hi)


def bootstrap_ccc(labels: Mapping[str, np.ndarray], preds: Mapping[str, np.ndarray], *, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> dict:
    """Recording-level bootstrap interval of every CCC that :func:`score_recordings` gives.

    Resamples recordings with replacement, stratified by culture, ``n_boot`` times (seeded); each
    resample's CCC is computed on the concatenation of its recordings from per-recording sums, so
    the point estimate equals :func:`score_recordings` and 1000 resamples cost milliseconds.
    Returns ``{group: {target: {"ccc", "lo", "hi"}}}`` with the groups of :func:`score_recordings`
    (``"DE+HU"``, ``"DE"``, ``"HU"``) and targets arousal, valence, liking, mean; ``lo``/``hi`` are
    the percentile interval at ``level``.
    """
    names, shift, counts, q = _prepare(labels, n_boot, seed, level)
    sums = _recording_sums(labels, preds, names, shift)
    out = {}
    for g, members in _groups(names).items():
        point, boot = _point_cccs(sums, members), _boot_cccs(sums, counts, members)
        out[g] = {}
        for j, t in enumerate((*TARGETS, "mean")):
            lo, hi = _interval(boot[:, j], q)
            out[g][t] = {"ccc": float(point[j]), "lo": lo, "hi": hi}
    return out


def paired_bootstrap(labels: Mapping[str, np.ndarray], preds_a: Mapping[str, np.ndarray],
                     preds_b: Mapping[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Paired bootstrap of CCC(b) - CCC(a): the same resamples of recordings (as in
    :func:`bootstrap_ccc`) score both systems. Returns ``{group: {target: {"a", "b", "diff", "lo",
    "hi", "p_gt0"}}}``: the two point CCCs, ``diff = b - a``, its percentile interval at ``level``
    and ``p_gt0``, the share of resamples in which b beats a (diff > 0)."""
    names, shift, counts, q = _prepare(labels, n_boot, seed, level)
    sa = _recording_sums(labels, preds_a, names, shift)
    sb = _recording_sums(labels, preds_b, names, shift)
    out = {}
    for g, members in _groups(names).items():
        pa, pb = _point_cccs(sa, members), _point_cccs(sb, members)
        d = _boot_cccs(sb, counts, members) - _boot_cccs(sa, counts, members)
        out[g] = {}
        for j, t in enumerate((*TARGETS, "mean")):
            lo, hi = _interval(d[:, j], q)
            ok = d[:, j][np.isfinite(d[:, j])]
            out[g][t] = {"a": float(pa[j]), "b": float(pb[j]), "diff": float(pb[j] - pa[j]), "lo": lo, "hi": hi,
                         "p_gt0": float(np.mean(ok > 0)) if ok.size else float("nan")}
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


def format_paired_table(result: Mapping[str, Mapping[str, Mapping[str, float]]], title: str | None = None,
                        level: float = 0.95) -> str:
    """A fixed-width table of a :func:`paired_bootstrap` result: one line per score set and target."""
    pct = f"{100 * level:g}%"
    lines = [title] if title else []
    lines.append(f"{'set':<7}{'target':<9}{'A':>8}{'B':>8}{'B - A':>9}  {pct + ' interval':<18}{'P(B > A)':>9}")
    for g, block in result.items():
        for t, r in block.items():
            lines.append(f"{g:<7}{t:<9}{r['a']:>8.3f}{r['b']:>8.3f}{r['diff']:>+9.3f}  "
                         f"{'[' + format(r['lo'], '+.3f') + ', ' + format(r['hi'], '+.3f') + ']':<18}"
                         f"{r['p_gt0']:>9.3f}")
    return "\n".join(lines)
