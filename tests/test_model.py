"""The network, padding, the label shift and early-fusion alignment of caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from emofusion.data.cache import FeatureCache, LabelCache, save_feature_cache, save_label_cache
from emofusion.errors import DataError
from emofusion.training.dataset import (
    SequenceDataset,
    build_training_data,
    collate,
    load_training_data,
    shift_targets,
    unshift_predictions,
)
from emofusion.training.model import EmotionLSTM

torch.set_num_threads(1)


def _offsets(lengths):
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def feature_cache(key, names, lengths, dim, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    X = rng.normal(size=(int(lengths.sum()), dim)).astype(np.float32)
    return FeatureCache(key, key, list(names), lengths, _offsets(lengths), X, np.zeros(dim), np.ones(dim), 10.0)


def label_cache(names, lengths, seed=1):
    lengths = np.asarray(lengths, dtype=np.int64)
    Y = np.random.default_rng(seed).uniform(-1, 1, size=(int(lengths.sum()), 3)).astype(np.float32)
    return LabelCache(list(names), lengths, _offsets(lengths), Y)


NAMES = ["Devel_DE_01", "Devel_HU_01", "Test_DE_01", "Train_DE_01", "Train_HU_01"]
LENGTHS = [12, 9, 7, 15, 11]
LABELLED = [(n, n_) for n, n_ in zip(NAMES, LENGTHS, strict=True) if not n.startswith("Test")]


def test_output_shape_and_defaults():
    m = EmotionLSTM(10)
    assert [lstm.hidden_size for lstm in m.lstms] == [256, 128, 64]
    assert m.dropout.p == 0.4
    assert m.heads.out_features == 3
    y = m(torch.zeros(2, 5, 10), torch.tensor([5, 3]))
    assert y.shape == (2, 5, 3)
    m2 = EmotionLSTM(4, hidden=[8], dropout=0.0)
    assert len(m2.lstms) == 1 and m2(torch.zeros(1, 3, 4)).shape == (1, 3, 3)


def test_keras_initialisation():
    m = EmotionLSTM(6, hidden=[8, 4])
    for lstm in m.lstms:
        h = lstm.hidden_size
        np.testing.assert_array_equal(lstm.bias_ih_l0[h:2 * h].detach().numpy(), 1.0)
        assert float(lstm.bias_ih_l0[:h].detach().abs().sum() + lstm.bias_hh_l0.detach().abs().sum()) == 0.0
        w = lstm.weight_hh_l0.detach().t()  # Keras's (h, 4h) recurrent kernel: orthogonal rows
        torch.testing.assert_close(w @ w.t(), torch.eye(h), atol=1e-5, rtol=0)


def test_bad_model_config():
    with pytest.raises(ValueError, match="hidden"):
        EmotionLSTM(4, hidden=[])
    with pytest.raises(ValueError, match="dropout"):
        EmotionLSTM(4, dropout=1.0)


@pytest.mark.parametrize("pack", [True, False])
def test_padding_changes_nothing(pack):
    torch.manual_seed(0)
    m = EmotionLSTM(5, hidden=[16, 8], pack=pack).eval()
    lengths = torch.tensor([9, 4, 7])
    x = torch.randn(3, 9, 5)
    for i, n in enumerate(lengths):
        x[i, n:] = 0
    with torch.no_grad():
        base = m(x, lengths)
        x_more = torch.cat([x, torch.full((3, 20, 5), 3.0)], dim=1)  # more (even non-zero) padding
        more = m(x_more, lengths)
        alone = [m(x[i:i + 1, :n], lengths[i:i + 1]) for i, n in enumerate(lengths)]
    for i, n in enumerate(lengths):
        torch.testing.assert_close(more[i, :n], base[i, :n], atol=1e-6, rtol=0)
        torch.testing.assert_close(alone[i][0], base[i, :n], atol=1e-6, rtol=0)


def test_packed_and_masked_forward_agree():
    torch.manual_seed(1)
    a = EmotionLSTM(5, hidden=[16, 8], pack=True).eval()
    b = EmotionLSTM(5, hidden=[16, 8], pack=False).eval()
    b.load_state_dict(a.state_dict())
    lengths = torch.tensor([6, 11, 2])
    x = torch.randn(3, 11, 5)
    with torch.no_grad():
        ya, yb = a(x, lengths), b(x, lengths)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(ya[i, :n], yb[i, :n], atol=1e-6, rtol=0)


@pytest.mark.parametrize("shift", [0, 1, 3])
def test_label_shift_round_trip(shift):
    y = np.arange(20, dtype=np.float32).reshape(10, 2)
    ys, valid = shift_targets(y, shift)
    assert valid.sum() == 10 - shift and not valid[10 - shift:].any()
    np.testing.assert_array_equal(ys[valid], y[shift:])  # frame t's target is label t + shift
    # a model that predicts its training targets perfectly gives back the labels after the shift back
    back = unshift_predictions(ys, shift)
    assert back.shape == y.shape
    np.testing.assert_array_equal(back[shift:], y[shift:])
    np.testing.assert_array_equal(back[:shift], np.repeat(ys[:1], shift, axis=0))


def test_shift_longer_than_sequence():
    ys, valid = shift_targets(np.ones((2, 3), np.float32), 5)
    assert not valid.any() and (ys == 0).all()


def test_early_fusion_concatenates_by_recording():
    a = feature_cache("fau_func", NAMES, LENGTHS, 3, seed=0)
    b = feature_cache("boaw_egemaps", NAMES, LENGTHS, 2, seed=1)
    labels = label_cache([n for n, _ in LABELLED], [n_ for _, n_ in LABELLED])
    c = build_training_data([a, b], labels)
    assert c.dim == 5 and c.keys == ["fau_func", "boaw_egemaps"]
    for n in NAMES:
        np.testing.assert_array_equal(c.features(n), np.concatenate([a.get(n), b.get(n)], axis=1))
    assert c.partition("Train") == ["Train_DE_01", "Train_HU_01"]
    assert c.targets("Test_DE_01") is None
    np.testing.assert_array_equal(c.targets("Devel_HU_01"), labels.get("Devel_HU_01"))


def test_early_fusion_misalignment_is_a_clear_error(tmp_path):
    labels = label_cache([n for n, _ in LABELLED], [n_ for _, n_ in LABELLED])
    a = feature_cache("fau_func", NAMES, LENGTHS, 3)
    longer = feature_cache("bovw", NAMES, [*LENGTHS[:-1], LENGTHS[-1] + 1], 2)
    fewer = feature_cache("bovw", NAMES[:-1], LENGTHS[:-1], 2)
    paths = [tmp_path / "fau_func.npz", tmp_path / "bovw.npz"]
    with pytest.raises(DataError, match=r"bovw\.npz: recording Train_HU_01 has 12 frames here but 11"):
        build_training_data([a, longer], labels, paths)
    with pytest.raises(DataError, match=r"recordings differ .*Train_HU_01"):
        build_training_data([a, fewer], labels, paths)
    short_labels = label_cache([n for n, _ in LABELLED], [n_ - 1 for _, n_ in LABELLED])
    with pytest.raises(DataError, match=r"fau_func\.npz: recording Devel_DE_01 has 12 feature frames but 11"):
        build_training_data([a], short_labels, paths[:1], tmp_path / "labels.npz")
    missing = label_cache([n for n, _ in LABELLED][:-1], [n_ for _, n_ in LABELLED][:-1])
    with pytest.raises(DataError, match=r"labels\.npz: no labels for recording Train_HU_01"):
        build_training_data([a], missing, paths[:1], tmp_path / "labels.npz")


def test_early_fusion_crops_unlabelled_test_recordings_to_shortest_cache():
    """Without labels a Test file has one row per feature frame, which differs between sets by a
    frame or two: early fusion keeps the frames every set covers (labelled ones must match)."""
    labels = label_cache([n for n, _ in LABELLED], [n_ for _, n_ in LABELLED])
    i = NAMES.index("Test_DE_01")
    a = feature_cache("fau_func", NAMES, LENGTHS, 3, seed=0)
    b = feature_cache("bovw", NAMES, [x + 2 if j == i else x for j, x in enumerate(LENGTHS)], 2, seed=1)
    c = build_training_data([b, a], labels)
    assert c.length("Test_DE_01") == LENGTHS[i]
    np.testing.assert_array_equal(c.features("Test_DE_01"),
                                  np.concatenate([b.get("Test_DE_01")[: LENGTHS[i]], a.get("Test_DE_01")], axis=1))


def test_load_corpus_from_npz_files(tmp_path: Path):
    save_feature_cache(tmp_path / "fau_func.npz", feature_cache("fau_func", NAMES, LENGTHS, 3))
    save_label_cache(tmp_path / "labels.npz", label_cache([n for n, _ in LABELLED], [n_ for _, n_ in LABELLED]))
    c = load_training_data([tmp_path / "fau_func.npz"], tmp_path / "labels.npz")
    assert c.names == NAMES and c.length("Train_DE_01") == 15


def test_dataset_and_collate_mask_padding_and_shift():
    a = feature_cache("fau_func", NAMES, LENGTHS, 3)
    c = build_training_data([a], label_cache([n for n, _ in LABELLED], [n_ for _, n_ in LABELLED]))
    ds = SequenceDataset(c, ["Train_DE_01", "Train_HU_01", "Test_DE_01"], shift=1)
    b = collate([ds[i] for i in range(3)])
    assert b["x"].shape == (3, 15, 3) and b["lengths"].tolist() == [15, 11, 7]
    assert b["mask"].sum(1).tolist() == [14, 10, 0]  # shift masks the last frame; Test has no target
    np.testing.assert_array_equal(b["y"][1, :10].numpy(), c.targets("Train_HU_01")[1:])
    cropped = SequenceDataset(c, ["Train_DE_01"], shift=1, max_frames=5)[0]
    assert cropped["x"].shape == (5, 3) and cropped["valid"].all()
