"""The CCC in torch (the training loss) and the weighted multitask CCC loss.

CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), population moments (1/N) -- the same
definition as the numpy metric :func:`emofusion.results.metrics.ccc`, against which this form is tested.
Padded frames never enter the statistics: every function takes a boolean ``mask`` of valid frames.

Pooling (docs/data.md):

- ``"batch"`` (default): moments over all valid frames of the batch, as if the batch's recordings
  were concatenated -- the same statistic the AVEC scoring computes over a whole partition;
- ``"sequence"``: one CCC per sequence over its valid frames, then the mean over sequences (what
  the Keras loss of the paper does per sample, minus its padded frames).

Loss modes resolve to weights ``(alpha, beta, gamma)`` for (arousal, valence, liking) in ONE place,
:func:`emofusion.spec.resolve_weights` (which also holds their defaults and their check); the total loss is ``alpha*(1-CCC_a) + beta*(1-CCC_v) + gamma*(1-CCC_l)``.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

POOLINGS = ("batch", "sequence")
_TINY = 1e-12


def ccc_masked(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               pooling: str = "batch") -> torch.Tensor:
    """CCC per output channel over the valid frames.

    ``pred`` and ``target`` are ``(B, T, K)`` (or ``(B, T)``, or ``(N,)`` for one flat sequence);
    ``mask`` is ``(B, T)`` bool (True = valid frame), None = all valid. Returns ``(K,)`` (or a
    scalar for 1-d/2-d input). Values at masked frames are never read into the moments, even if
    they are NaN.
    """
    if pooling not in POOLINGS:
        raise ConfigError(f"loss_pooling: unknown pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
    squeeze = pred.dim() < 3
    if pred.dim() == 1:
        pred, target = pred[None, :], target[None, :]
        mask = None if mask is None else mask[None, :]
    if squeeze:
        pred, target = pred[..., None], target[..., None]
    if pred.shape != target.shape:
        raise ValueError(f"ccc_masked: shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if mask is None:
        mask = torch.ones(pred.shape[:2], dtype=torch.bool, device=pred.device)
    m = mask[..., None]
    zero = pred.new_zeros(())
    x = torch.where(m, pred, zero)
    y = torch.where(m, target, zero)
    mf = m.to(pred.dtype)
    dims = (0, 1) if pooling == "batch" else (1,)
    n = mf.sum(dims)  # batch: (1,) ; sequence: (B, 1)
    n_safe = n.clamp_min(1.0)
    mx = x.sum(dims) / n_safe
    my = y.sum(dims) / n_safe
    if pooling == "batch":
        dx, dy = (x - mx) * mf, (y - my) * mf
    else:
        dx, dy = (x - mx[:, None, :]) * mf, (y - my[:, None, :]) * mf
    vx = (dx * dx).sum(dims) / n_safe
    vy = (dy * dy).sum(dims) / n_safe
    cov = (dx * dy).sum(dims) / n_safe
    den = vx + vy + (mx - my) ** 2
    c = 2.0 * cov / den.clamp_min(_TINY)
    if pooling == "sequence":
        has = (n[:, 0] > 0).to(c.dtype)  # sequences without any valid frame do not count
        c = (c * has[:, None]).sum(0) / has.sum().clamp_min(1.0)
    return c[0] if squeeze else c


def weighted_ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                      weights: tuple[float, float, float], pooling: str = "batch"
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(total, ccc)``: total = sum_k w_k (1 - CCC_k), ccc = the (3,) per-target CCCs (arousal,
    valence, liking) of ``pred``/``target`` ``(B, T, 3)`` over the valid frames of ``mask``."""
    c = ccc_masked(pred, target, mask, pooling)
    w = torch.as_tensor(weights, dtype=c.dtype, device=c.device)
    return (w * (1.0 - c)).sum(), c
