"""Feature alignment, Train-only normalisation and the binary caches (emofusion.data: feature_sets,
alignment, normalisation, cache, build_cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from emofusion.cli import main
from emofusion.data.alignment import align_to_frames, available_frames, read_aligned
from emofusion.data.build_cache import build_feature_cache, build_label_cache
from emofusion.data.cache import (
    FeatureCache,
    cache_path,
    load_feature_cache,
    load_label_cache,
    save_feature_cache,
)
from emofusion.data.feature_sets import FEATURE_SETS
from emofusion.data.layout import format_avec_csv
from emofusion.data.normalisation import normalise_train_only
from emofusion.errors import ConfigError, DataError

# ---------------------------------------------------------------------------------------------
# helpers: tiny AVEC-format roots written by hand


def feature_text(name: str, times: np.ndarray, X: np.ndarray, sep: str = ";", header: bool = True) -> str:
    lines = [sep.join(["name", "frameTime"] + [f"f{j}" for j in range(X.shape[1])])] if header else []
    for t, row in zip(times, X, strict=True):
        lines.append(sep.join([f"'{name}'", f"{t:.6f}"] + [f"{v:.6f}" for v in row]))
    return "\n".join(lines) + "\n"


def write_features(root: Path, folder: str, name: str, times: np.ndarray, X: np.ndarray, **kw) -> None:
    path = root / folder / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feature_text(name, times, X, **kw))


def write_labels(root: Path, name: str, Y: np.ndarray, folder: str = "labels") -> None:
    path = root / folder / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_avec_csv(name, Y))


LABELLED = {"Train_DE_01": 30, "Train_HU_01": 24, "Devel_DE_01": 20, "Devel_HU_01": 26}


def make_root(root: Path, key: str, step: float, dim: int = 3, test: dict[str, int] | None = None, seed: int = 0,
              extra_native: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Labels for LABELLED and a feature set ``key`` at native ``step``; returns the raw (times, X)."""
    rng = np.random.default_rng(seed)
    raw = {}
    recs = dict(LABELLED)
    for name, n in LABELLED.items():
        write_labels(root, name, rng.uniform(-1, 1, size=(n, 3)))
    recs.update(test or {})
    for name, n in recs.items():
        n_native = int(round(n * 0.1 / step)) + extra_native
        times = np.round(np.arange(n_native) * step, 6)
        X = np.round(rng.normal(loc=3.0, scale=2.0, size=(n_native, dim)), 6)
        write_features(root, FEATURE_SETS[key].folder, name, times, X)
        raw[name] = (times, X)
    return raw


# ---------------------------------------------------------------------------------------------
# registry


def test_registry_matches_design():
    assert list(FEATURE_SETS) == ["egemaps", "egemaps_func", "boaw_egemaps", "mfcc", "mfcc_func", "boaw_mfcc",
                                  "deepspectrum", "fau", "fau_func", "bovw", "resnet", "vgg"]
    dims = {k: fs.dim for k, fs in FEATURE_SETS.items()}
    assert dims == {"egemaps": 23, "egemaps_func": 46, "boaw_egemaps": 100, "mfcc": 39, "mfcc_func": 78,
                    "boaw_mfcc": 100, "deepspectrum": 4096, "fau": 18, "fau_func": 36, "bovw": 100,
                    "resnet": 2048, "vgg": 4096}
    assert {k for k, fs in FEATURE_SETS.items() if fs.rate == "lld"} == {"egemaps", "mfcc"}
    assert {k for k, fs in FEATURE_SETS.items() if fs.rate == "video"} == {"fau", "resnet", "vgg"}
    assert {k for k, fs in FEATURE_SETS.items() if fs.modality == "visual"} == {"fau", "fau_func", "bovw",
                                                                                "resnet", "vgg"}
    assert cache_path("c", "vgg") == Path("c/vgg.npz")


# ---------------------------------------------------------------------------------------------
# alignment against hand-computed averages


def test_align_100hz_lld_against_known_averages():
    rng = np.random.default_rng(1)
    n_native, n_frames = 200, 20
    times = np.arange(n_native) / 100.0
    X = rng.normal(size=(n_native, 4))
    got = align_to_frames(times, X, n_frames, rate="lld")
    # frame i covers [0.1 i - 0.05, 0.1 i + 0.05): native rows 10 i - 5 .. 10 i + 4 (0..4 for i = 0)
    want = np.stack([X[max(10 * i - 5, 0):10 * i + 5].mean(0) for i in range(n_frames)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # rate detected from the time column gives the same
    np.testing.assert_allclose(align_to_frames(times, X, n_frames), want, rtol=1e-12, atol=1e-12)
    # every native frame used exactly once when window = hop (sum of counts x means = total)
    counts = np.array([min(10 * i + 5, n_native) - max(10 * i - 5, 0) for i in range(n_frames)])
    np.testing.assert_allclose((got * counts[:, None]).sum(0), X[:195].sum(0), rtol=1e-10)


@pytest.mark.parametrize("window_s, half", [(0.1, 1), (0.2, 3)])
def test_align_30fps_video_against_known_averages(window_s, half):
    rng = np.random.default_rng(2)
    n_native, n_frames = 90, 30  # 3 s of video at 30 fps
    times = np.arange(n_native) / 30.0
    X = rng.normal(size=(n_native, 3))
    got = align_to_frames(times, X, n_frames, window_s=window_s, rate="video")
    # frame i centred at 0.1 i = (3 i)/30 s: window 0.1 -> native 3i-1, 3i, 3i+1;
    # window 0.2 -> [3i - 3, 3i + 3) -> 3i-3 .. 3i+2 (clipped at 0 and at the end)
    if window_s == 0.1:
        want = np.stack([X[max(3 * i - 1, 0):3 * i + 2].mean(0) for i in range(n_frames)])
    else:
        want = np.stack([X[max(3 * i - half, 0):min(3 * i + half, n_native)].mean(0) for i in range(n_frames)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_align_empty_window_takes_nearest_native_frame():
    times = 0.2 * np.arange(10) + 0.03  # 5 fps: every other 0.1 s window is empty
    X = np.arange(10, dtype=float)[:, None] * np.array([[1.0, -1.0]])
    got = align_to_frames(times, X, 20, rate="video")
    # frame 2k holds native k; frame 2k+1 (centre 0.2k+0.1) is empty: nearest is k (0.07 s away)
    np.testing.assert_array_equal(got[0::2, 0], np.arange(10))
    np.testing.assert_array_equal(got[1::2, 0], np.arange(10))
    np.testing.assert_array_equal(got[:, 1], -got[:, 0])


def test_align_rowwise_crops_and_pads():
    times = np.arange(8) * 0.1
    X = np.arange(16, dtype=float).reshape(8, 2)
    np.testing.assert_array_equal(align_to_frames(times, X, 5), X[:5])
    got = align_to_frames(times, X, 11, rate="frame")
    np.testing.assert_array_equal(got[:8], X)
    np.testing.assert_array_equal(got[8:], np.repeat(X[-1:], 3, axis=0))
    assert available_frames(times, rowwise=True) == 8
    # a 100 Hz file covering 0.00 .. 0.79 s covers label frames 0..8 (frame 8's window starts at 0.75 s)
    assert available_frames(np.arange(80) / 100, rowwise=False) == 8 + 1


def test_align_with_label_start_offset():
    times = np.arange(100) / 100.0 + 1.0
    X = np.arange(100, dtype=float)[:, None]
    got = align_to_frames(times, X, 5, start=1.0, rate="lld")
    np.testing.assert_allclose(got[:, 0], [2.0, 9.5, 19.5, 29.5, 39.5])


@pytest.mark.parametrize("key, step", [("egemaps_func", 0.1), ("egemaps", 0.01), ("fau", 1 / 20)])
def test_pad_tolerance(tmp_path, key, step):
    fs = FEATURE_SETS[key]
    n_labels = 30
    # a 0.1 s file of n rows covers n frames; an averaged file lasting n * 0.1 s also reaches into
    # frame n (its window starts 0.05 s before the frame centre), so it covers n + 1
    extra = 0 if fs.rate == "frame" else 1
    for short, ok in [(3 + extra, True), (4 + extra, False)]:
        n_native = int(round((n_labels - short) * 0.1 / step))
        times = np.round(np.arange(n_native) * step, 6)
        X = np.arange(n_native, dtype=float)[:, None] * np.ones((1, 2))
        path = tmp_path / f"{key}{short}" / "Train_DE_01.csv"
        path.parent.mkdir()
        path.write_text(feature_text("Train_DE_01", times, X))
        if ok:
            A, got_step, rows = read_aligned(path, fs, n_labels, pad_tolerance=3)
            assert A.shape == (n_labels, 2) and A.dtype == np.float32 and rows == n_native
            assert got_step == pytest.approx(step, rel=1e-4)
            if key == "egemaps_func":  # padded by repeating the last row
                np.testing.assert_array_equal(A[-4:, 0], [n_native - 1] * 4)
        else:
            with pytest.raises(DataError, match=r"far shorter than its labels: it covers 26 label frames, "
                                                 r"the labels have 30 \(pad tolerance 3"):
                read_aligned(path, fs, n_labels, pad_tolerance=3)


# ---------------------------------------------------------------------------------------------
# normalisation


def test_normalise_train_only_matches_numpy_and_ignores_other_partitions():
    rng = np.random.default_rng(3)
    per = {"Train_DE_01": rng.normal(2, 3, (40, 3)), "Train_HU_02": rng.normal(-1, 1, (15, 3)),
           "Devel_DE_01": rng.normal(50, 9, (30, 3)), "Test_HU_01": rng.normal(-50, 9, (30, 3))}
    per["Train_DE_01"][:, 2] = 7.0
    per["Train_HU_02"][:, 2] = 7.0  # constant on Train
    mean, std = normalise_train_only(per)
    train = np.concatenate([per["Train_DE_01"], per["Train_HU_02"]])
    np.testing.assert_allclose(mean, train.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std[:2], train.std(0)[:2], rtol=1e-12)
    assert std[2] == 1.0  # floored: the constant column maps to 0
    per2 = dict(per, Devel_DE_01=per["Devel_DE_01"] * 100, Test_HU_01=per["Test_HU_01"] + 1e3)
    mean2, std2 = normalise_train_only(per2)
    np.testing.assert_array_equal(mean2, mean)
    np.testing.assert_array_equal(std2, std)
    with pytest.raises(DataError, match="no Train frames"):
        normalise_train_only({"Devel_DE_01": per["Devel_DE_01"]})


def test_devel_test_change_does_not_move_cache_stats(tmp_path):
    raw = make_root(tmp_path, "egemaps_func", 0.1, test={"Test_DE_01": 17})
    c1 = build_feature_cache(tmp_path, "egemaps_func", None)
    assert c1.names == sorted([*LABELLED, "Test_DE_01"])
    train = np.concatenate([raw[n][1][:LABELLED[n]] for n in ("Train_DE_01", "Train_HU_01")])
    # statistics are taken over the aligned float32 frames: equal to float64 numpy within float32 rounding
    np.testing.assert_allclose(c1.mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(c1.std, train.std(0), rtol=1e-6)
    # change only Devel and Test features: statistics and Train frames must not move
    folder = FEATURE_SETS["egemaps_func"].folder
    for name in ("Devel_DE_01", "Test_DE_01"):
        times, X = raw[name]
        write_features(tmp_path, folder, name, times, X * 10 + 5)
    c2 = build_feature_cache(tmp_path, "egemaps_func", None)
    np.testing.assert_array_equal(c2.mean, c1.mean)
    np.testing.assert_array_equal(c2.std, c1.std)
    np.testing.assert_array_equal(c2.get("Train_HU_01"), c1.get("Train_HU_01"))
    assert not np.allclose(c2.get("Devel_DE_01"), c1.get("Devel_DE_01"))
    # ... while a Train change does move them
    times, X = raw["Train_DE_01"]
    write_features(tmp_path, folder, "Train_DE_01", times, X * 2)
    c3 = build_feature_cache(tmp_path, "egemaps_func", None)
    assert not np.allclose(c3.mean, c1.mean)


# ---------------------------------------------------------------------------------------------
# the caches


@pytest.mark.parametrize("key, step", [("egemaps_func", 0.1), ("mfcc", 0.01), ("resnet", 1 / 30)])
def test_feature_cache_round_trip_equals_aligned_arrays(tmp_path, key, step):
    raw = make_root(tmp_path / "root", key, step, dim=5, test={"Test_HU_01": 12}, extra_native=2)
    out = tmp_path / "cache" / f"{key}.npz"
    built = build_feature_cache(tmp_path / "root", key, out)
    c = load_feature_cache(out)
    assert isinstance(c, FeatureCache)
    assert (c.key, c.source) == (key, FEATURE_SETS[key].folder)
    assert c.names == sorted(raw)
    assert c.X.dtype == np.float32 and c.dim == 5
    assert c.lengths.dtype == np.int64 and c.offsets.dtype == np.int64
    np.testing.assert_array_equal(c.offsets, np.concatenate([[0], np.cumsum(c.lengths)]))
    assert c.rate_hz == pytest.approx(1 / step, rel=1e-4)
    for f in ("X", "mean", "std", "lengths", "offsets"):
        np.testing.assert_array_equal(getattr(c, f), getattr(built, f))
    train = []
    for name, (times, X) in raw.items():
        n = LABELLED.get(name)
        if n is None:  # unlabelled Test: every covered frame
            n = available_frames(times, rowwise=FEATURE_SETS[key].rate == "frame")
        aligned = align_to_frames(times, X, n, rate=FEATURE_SETS[key].rate)
        assert c.lengths[c.index(name)] == n
        want = ((aligned - c.mean) / c.std).astype(np.float32)
        np.testing.assert_allclose(c.get(name), want, rtol=1e-6, atol=1e-6)
        if name.startswith("Train"):
            train.append(aligned)
    train = np.concatenate(train)
    np.testing.assert_allclose(c.mean, train.mean(0), rtol=1e-6)
    # Train frames are z-normalised
    tr = np.concatenate([c.get(n) for n in c.names if n.startswith("Train")])
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(tr.std(0), 1, atol=1e-5)
    # stored without pickle
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"key", "source", "names", "lengths", "offsets", "X", "mean", "std", "rate_hz"}
    with pytest.raises(KeyError, match="Devel_DE_09"):
        c.get("Devel_DE_09")


def test_test_recordings_without_labels_capped_at_max_frames(tmp_path):
    make_root(tmp_path, "egemaps_func", 0.1, test={"Test_DE_01": 40})
    c = build_feature_cache(tmp_path, "egemaps_func", None, max_frames=35)
    assert c.lengths[c.index("Test_DE_01")] == 35
    assert c.lengths[c.index("Devel_HU_01")] == LABELLED["Devel_HU_01"]
    c2 = build_feature_cache(tmp_path, "egemaps_func", None, partitions=("Train", "Devel"))
    assert "Test_DE_01" not in c2.names


def test_build_errors(tmp_path):
    make_root(tmp_path, "egemaps_func", 0.1)
    with pytest.raises(ConfigError, match="unknown feature set 'nope'"):
        build_feature_cache(tmp_path, "nope", None)
    with pytest.raises(DataError, match="feature folder not found"):
        build_feature_cache(tmp_path, "fau_func", None)
    assert build_feature_cache(tmp_path, "fau_func", None,
                               folder=FEATURE_SETS["egemaps_func"].folder).source == FEATURE_SETS["egemaps_func"].folder
    (tmp_path / FEATURE_SETS["egemaps_func"].folder / "Train_HU_01.csv").unlink()
    with pytest.raises(DataError, match="Train_HU_01.csv: missing recording"):
        build_feature_cache(tmp_path, "egemaps_func", None)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz: not a readable feature cache"):
        load_feature_cache(bad)
    np.savez(tmp_path / "partial.npz", X=np.zeros((2, 2)))
    with pytest.raises(DataError, match="missing key, source, names"):
        load_feature_cache(tmp_path / "partial.npz")


def test_save_is_atomic_and_overwrites(tmp_path):
    make_root(tmp_path / "r", "egemaps_func", 0.1)
    c = build_feature_cache(tmp_path / "r", "egemaps_func", None)
    out = tmp_path / "c" / "x.npz"
    save_feature_cache(out, c)
    save_feature_cache(out, c)
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.npz"]


def test_label_cache_round_trip_with_test_labels_apart(tmp_path):
    make_root(tmp_path, "egemaps_func", 0.1)
    rng = np.random.default_rng(5)
    test_y = rng.uniform(-1, 1, (17, 3))
    write_labels(tmp_path, "Test_DE_01", test_y, folder="test_labels")
    out = tmp_path / "cache" / "labels.npz"
    built = build_label_cache(tmp_path, out)
    lc = load_label_cache(out)
    assert lc.names == sorted(LABELLED) and "Test_DE_01" not in lc.names
    np.testing.assert_array_equal(lc.lengths, [LABELLED[n] for n in lc.names])
    assert lc.Y.dtype == np.float32 and lc.Y.shape == (sum(LABELLED.values()), 3)
    np.testing.assert_array_equal(lc.Y, built.Y)
    assert lc.test is not None and lc.test.names == ["Test_DE_01"]
    np.testing.assert_allclose(lc.test.get("Test_DE_01"), test_y, atol=1e-6)
    assert set(lc.to_dict("Devel")) == {"Devel_DE_01", "Devel_HU_01"}
    # label frames and feature frames agree for every labelled recording
    fc = build_feature_cache(tmp_path, "egemaps_func", None)
    for n in lc.names:
        assert lc.get(n).shape[0] == fc.get(n).shape[0]
    only_de = build_label_cache(tmp_path, None, partitions=("Devel",), cultures=("DE",))
    assert only_de.names == ["Devel_DE_01"]


def test_cache_cli(tmp_path, capsys):
    make_root(tmp_path / "root", "egemaps", 0.01)
    out = tmp_path / "cache" / "egemaps.npz"
    lab = tmp_path / "cache" / "labels.npz"
    rc = main(["cache", "--data-root", str(tmp_path / "root"), "--set", "egemaps", "--out", str(out),
               "--labels-out", str(lab), "--pad-tolerance", "2"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "4 recordings, 100 frames, dim 3, native rate 100 Hz" in printed
    assert load_feature_cache(out).names == load_label_cache(lab).names
    assert main(["cache", "--data-root", str(tmp_path / "root"), "--set", "fau", "--out", str(out)]) == 2
    assert "visual_features: feature folder not found" in capsys.readouterr().err
    assert main(["cache", "--data-root", str(tmp_path / "root")]) == 2
    assert "nothing to do" in capsys.readouterr().err
