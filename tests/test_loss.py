"""The torch CCC (loss) against the numpy CCC (metric), the official AVEC figures, loss modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from emofusion.data.layout import read_label_dir, read_prediction_dir
from emofusion.errors import ConfigError
from emofusion.results.metrics import ccc, score_recordings
from emofusion.spec import resolve_weights
from emofusion.training.loss import ccc_masked, weighted_ccc_loss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def padded(seqs: list[np.ndarray], extra: int = 0, fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (T_i, K) arrays at the end to (B, max T + extra, K) with ``fill``; return (tensor, mask)."""
    tmax = max(len(s) for s in seqs) + extra
    k = seqs[0].shape[1]
    x = np.full((len(seqs), tmax, k), fill, dtype=np.float64)
    m = np.zeros((len(seqs), tmax), dtype=bool)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        m[i, : len(s)] = True
    return torch.from_numpy(x), torch.from_numpy(m)


def random_batch(seed: int, lengths=(30, 17, 44, 5)):
    rng = np.random.default_rng(seed)
    ys = [rng.normal(size=(n, 3)) for n in lengths]
    ps = [0.6 * y + rng.normal(scale=0.8, size=y.shape) + 0.2 for y in ys]
    return ps, ys


def test_batch_pooling_equals_numpy_ccc_of_the_concatenation():
    ps, ys = random_batch(0)
    p, m = padded(ps)
    y, _ = padded(ys)
    got = ccc_masked(p, y, m).numpy()
    pc, yc = np.concatenate(ps), np.concatenate(ys)
    want = [ccc(pc[:, k], yc[:, k]) for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_sequence_pooling_is_the_mean_of_per_sequence_cccs():
    ps, ys = random_batch(1)
    p, m = padded(ps)
    y, _ = padded(ys)
    got = ccc_masked(p, y, m, pooling="sequence").numpy()
    want = [np.mean([ccc(a[:, k], b[:, k]) for a, b in zip(ps, ys, strict=True)]) for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pooling", ["batch", "sequence"])
def test_padding_never_enters_the_statistics(pooling):
    ps, ys = random_batch(2)
    p, m = padded(ps)
    y, _ = padded(ys)
    base = ccc_masked(p, y, m, pooling)
    # more padding, with garbage (even NaN) in the padded frames: the same value
    p2, m2 = padded(ps, extra=25, fill=np.nan)
    y2, _ = padded(ys, extra=25, fill=7.0)
    more = ccc_masked(p2, y2, m2, pooling)
    torch.testing.assert_close(more, base, rtol=0, atol=1e-12)
    # and no gradient flows into padded frames
    p2 = p2.nan_to_num(3.0).requires_grad_(True)
    loss, _ = weighted_ccc_loss(p2, y2, m2, (0.7, 0.2, 1.0), pooling)
    loss.backward()
    assert torch.isfinite(p2.grad).all()
    assert (p2.grad[~m2] == 0).all()
    assert (p2.grad[m2].abs().sum() > 0)


def test_loss_is_one_minus_metric_weighted():
    ps, ys = random_batch(3)
    p, m = padded(ps)
    y, _ = padded(ys)
    pc, yc = np.concatenate(ps), np.concatenate(ys)
    metric = np.array([ccc(pc[:, k], yc[:, k]) for k in range(3)])
    for w in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0.7, 0.3, 0.0), (0.7, 0.2, 1.0)]:
        loss, c = weighted_ccc_loss(p, y, m, w)
        assert float(loss) == pytest.approx(float(np.dot(w, 1 - metric)), abs=1e-12)
        np.testing.assert_allclose(c.numpy(), metric, atol=1e-12)


def test_float32_agrees_with_float64_metric():
    ps, ys = random_batch(4, lengths=(1768, 1500, 900))
    p, m = padded(ps)
    y, _ = padded(ys)
    c32 = ccc_masked(p.float(), y.float(), m).double().numpy()
    pc, yc = np.concatenate(ps), np.concatenate(ys)
    np.testing.assert_allclose(c32, [ccc(pc[:, k], yc[:, k]) for k in range(3)], atol=1e-5)


def test_known_values_and_flat_input():
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert float(ccc_masked(x, x)) == pytest.approx(1.0)
    assert float(ccc_masked(x, x.flip(0))) == pytest.approx(-1.0)
    assert float(ccc_masked(x, x + 1)) == pytest.approx(4 / 7)  # population moments
    assert float(ccc_masked(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]))) == pytest.approx(2 * 0.5 / 1.5)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 60), elements=st.floats(-5, 5)),
       arrays(np.float64, 60, elements=st.floats(-5, 5)))
def test_property_matches_metric(x, y_full):
    y = y_full[: len(x)]
    want = ccc(x, y)
    got = float(ccc_masked(torch.from_numpy(x), torch.from_numpy(y)))
    den = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    if den < 1e-10:  # both (near-)constant and equal: CCC ill-defined; the loss form stays finite
        assert np.isfinite(got) and abs(got) <= 1 + 1e-6
    else:
        assert got == pytest.approx(want, abs=1e-9)
        assert -1 - 1e-9 <= got <= 1 + 1e-9


def test_official_avec_figures_through_the_torch_form(avec_devel):
    """Padded batch of the 28 dev recordings: the torch CCC gives the official DE+HU figures."""
    labels = read_label_dir(avec_devel / "labels_devel")
    lengths = {n: len(v) for n, v in labels.items()}
    names = sorted(labels)
    for folder, official in [("predictions_visual-func", (0.531, 0.565, 0.083)),
                             ("predictions_svr", (0.614, 0.615, 0.222))]:
        preds = read_prediction_dir(avec_devel / "baseline_predictions" / folder, lengths)
        p, m = padded([preds[n] for n in names])
        y, _ = padded([labels[n] for n in names])
        got = ccc_masked(p, y, m).numpy()
        np.testing.assert_allclose(np.round(got, 3), official, atol=1e-9)
        ref = score_recordings(labels, preds)["DE+HU"]
        np.testing.assert_allclose(got, [ref["arousal"], ref["valence"], ref["liking"]], atol=1e-12)
        loss, _ = weighted_ccc_loss(p, y, m, (0.7, 0.2, 1.0))
        assert float(loss) == pytest.approx(0.7 * (1 - got[0]) + 0.2 * (1 - got[1]) + (1 - got[2]), abs=1e-12)


def test_resolve_weights_modes():
    assert resolve_weights("stl_arousal") == (1.0, 0.0, 0.0)
    assert resolve_weights("stl_valence", {"alpha": 9}) == (0.0, 1.0, 0.0)  # fixed modes ignore weights
    assert resolve_weights("stl_liking") == (0.0, 0.0, 1.0)
    assert resolve_weights("mtl_equal") == (1.0, 1.0, 1.0)
    assert resolve_weights("mtl1") == pytest.approx((0.7, 0.3, 0.0))
    assert resolve_weights("mtl1", {"alpha": 0.5, "beta": 0.2, "gamma": None}) == pytest.approx((0.5, 0.2, 0.3))
    assert resolve_weights("mtl2") == (0.7, 0.2, 1.0)
    assert resolve_weights("mtl2", {"alpha": 0.1, "beta": 0.5, "gamma": 2}) == (0.1, 0.5, 2.0)


@pytest.mark.parametrize("mode, weights, key", [
    ("mtl3", None, "loss_mode"),
    ("mtl1", {"alpha": 0.8, "beta": 0.5}, "weights"),
    ("mtl1", {"alpha": 0.7, "beta": 0.2, "gamma": 1.0}, "weights.gamma"),
    ("mtl2", {"alpha": -1}, "weights.alpha"),
    ("mtl2", {"alpha": float("nan")}, "weights.alpha"),
    ("mtl2", {"delta": 1}, "weights.delta"),
])
def test_resolve_weights_errors_name_the_key(mode, weights, key):
    with pytest.raises(ConfigError, match=rf"^{key}\b"):
        resolve_weights(mode, weights)


def test_unknown_pooling():
    x = torch.zeros(2, 3, 3)
    with pytest.raises(ConfigError, match="loss_pooling"):
        ccc_masked(x, x, pooling="frame")
