"""The generated corpus: AVEC layout and formats, determinism, planted truth, learnability, cache-only."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from emofusion import TARGETS
from emofusion.cli import main as cli_main
from emofusion.data.alignment import align_to_frames
from emofusion.data.build_cache import build_feature_cache, build_label_cache
from emofusion.data.cache import load_feature_cache, load_label_cache
from emofusion.data.feature_sets import FEATURE_SETS
from emofusion.data.layout import read_feature_file, read_label_dir, read_label_file
from emofusion.data.synth import format_feature_csv, generate_corpus
from emofusion.data.synth_arrays import synthesize
from emofusion.data.synth_generator import CorpusGenerator
from emofusion.data.synth_planted import ANNOTATION_DELAY, BOW_SETS, INFORMATIVENESS, SIZES, set_specs
from emofusion.results.metrics import ccc


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    assert cli_main(["synth", "--out", str(out), "--size", "tiny", "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_arrays():
    return synthesize(seed=3, size="tiny")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -------------------------------------------------------------------------------------------- layout


def test_layout_counts_and_test_labels_apart(tiny):
    spec = SIZES["tiny"]
    expected = {f.folder for f in FEATURE_SETS.values()} | {"labels", "test_labels", "truth.json"}
    assert {p.name for p in tiny.iterdir()} == expected
    labels = sorted(p.stem for p in (tiny / "labels").iterdir())
    tests = sorted(p.stem for p in (tiny / "test_labels").iterdir())
    assert not any(n.startswith("Test_") for n in labels)
    assert all(n.startswith("Test_") for n in tests)
    for part, cultures in spec.counts.items():
        for cult, n in cultures.items():
            names = tests if part == "Test" else labels
            assert sorted(x for x in names if x.startswith(f"{part}_{cult}_")) == \
                [f"{part}_{cult}_{i:02d}" for i in range(1, n + 1)]
    every = sorted(labels + tests)
    for fs in FEATURE_SETS.values():
        assert sorted(p.stem for p in (tiny / fs.folder).glob("*.csv")) == every, fs.key


def test_label_files_byte_format(tiny):
    text = (tiny / "labels" / "Devel_HU_02.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "name;timestamp;arousal;valence;liking"
    row = re.compile(r"^'Devel_HU_02';\d+\.\d{6};-?\d\.\d{6};-?\d\.\d{6};-?\d\.\d{6}$")
    assert all(row.match(ln) for ln in lines[1:])
    assert lines[1].split(";")[1] == "0.000000" and lines[2].split(";")[1] == "0.100000"
    assert text.endswith("\n") and "-0.000000" not in text


def test_feature_files_headers_separators_rates(tiny):
    truth = json.loads((tiny / "truth.json").read_text())
    specs = set_specs("tiny")
    for key, s in specs.items():
        path = tiny / s.folder / "Train_HU_01.csv"
        first, second = path.read_text().splitlines()[:2]
        if key in BOW_SETS:
            assert first.startswith("'Train_HU_01',0.000000,") and ";" not in first
            assert all(re.fullmatch(r"\d+", c) for c in first.split(",")[2:]), key
            assert len(first.split(",")) == s.dim + 2
        else:
            assert first.split(";")[:2] == ["name", "frameTime"] and "," not in first
            assert len(first.split(";")) == s.dim + 2 and len(set(first.split(";"))) == s.dim + 2
            assert re.fullmatch(r"'Train_HU_01';0\.000000(;-?\d+\.\d{6})+", second), key
        times, X = read_feature_file(path)
        assert X.shape[1] == s.dim
        step = {"frame": 0.1, "lld": 0.01, "video": 0.04}[FEATURE_SETS[key].rate]
        np.testing.assert_allclose(np.diff(times), step, atol=1e-9)
        n_labels = truth["lengths"]["Train_HU_01"]
        covered = times[-1] + step  # seconds of features
        assert covered >= n_labels * 0.1 - 1e-9, key  # never shorter than the labels
        assert covered <= (n_labels + 4) * 0.1 + 1e-9, key  # a few frames longer at most
        if key in BOW_SETS:
            assert (X >= 0).all() and np.array_equal(X, np.round(X)) and (X == 0).mean() > 0.2
    assert {s.dim for k, s in specs.items() if k in ("deepspectrum", "resnet", "vgg")} == {32}


def test_full_size_uses_real_counts_and_dims():
    gen = CorpusGenerator(0, "full")
    names = gen.recordings()
    assert len(names) == 34 + 34 + 14 + 14 + 16 + 18
    assert max(gen.length(n) for n in names) == 1768 and min(gen.length(n) for n in names) >= 900
    assert {k: s.dim for k, s in gen.sets.items()} == {k: f.dim for k, f in FEATURE_SETS.items()}


# --------------------------------------------------------------------------------- round trip, bytes


def test_round_trip_readers_give_back_planted_arrays(tiny, tiny_arrays):
    labels = read_label_dir(tiny / "labels")
    labels.update(read_label_dir(tiny / "test_labels"))
    assert sorted(labels) == sorted(tiny_arrays.labels)
    for name, y in tiny_arrays.labels.items():
        np.testing.assert_array_equal(labels[name], y)
        assert np.abs(y).max() <= 1.0
    for key, per in tiny_arrays.features.items():
        folder = tiny / FEATURE_SETS[key].folder
        for name, (times, X) in per.items():
            t2, X2 = read_feature_file(folder / f"{name}.csv")
            np.testing.assert_array_equal(t2, times)
            np.testing.assert_array_equal(X2, X)


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny):
    a = _digest(tiny)
    generate_corpus(tmp_path / "again", seed=3, size="tiny")
    assert _digest(tmp_path / "again") == a
    generate_corpus(tmp_path / "other", seed=4, size="tiny")
    b = _digest(tmp_path / "other")
    assert b.keys() == a.keys()
    assert all(b[k] != a[k] for k in a if k.endswith(".csv"))


def test_subset_of_sets_leaves_their_bytes_unchanged(tmp_path, tiny):
    generate_corpus(tmp_path / "sub", seed=3, size="tiny", feature_sets=["vgg", "boaw_mfcc"])
    sub = _digest(tmp_path / "sub")
    full = _digest(tiny)
    assert {k.split("/")[0] for k in sub} == {"labels", "test_labels", "truth.json",
                                               FEATURE_SETS["vgg"].folder, FEATURE_SETS["boaw_mfcc"].folder}
    assert all(full[k] == v for k, v in sub.items() if k != "truth.json")


def test_vectorised_formatter_equals_percent_formatting():
    rng = np.random.default_rng(0)
    specs = set_specs("tiny")
    for key in ("egemaps", "boaw_egemaps"):
        s = specs[key]
        if key in BOW_SETS:
            X = rng.poisson(2.0, (50, s.dim)).astype(float)
        else:
            X = np.round(rng.normal(0, 1, (50, s.dim)) * rng.choice([1e-7, 1e-3, 1, 50, 999], s.dim), 6) + 0.0
        for big in (False, True):  # values >= 1000 take the slow path
            if big:
                X[3, 3] = 1234.5
            times = np.round(np.arange(50) * 0.01, 6) + 0.0
            val = "%d" if key in BOW_SETS else "%.6f"
            row = f"'Devel_DE_07'{s.sep}%.6f" + (s.sep + val) * s.dim + "\n"
            head = "" if s.header is None else s.sep.join(["name", "frameTime", *s.header]) + "\n"
            want = head + "".join(row % tuple(r) for r in np.column_stack([times, X]).tolist())
            assert format_feature_csv(s, "Devel_DE_07", times, X) == want


# ------------------------------------------------------------------------------------------- truth


def test_truth_json_shape_and_planted_design(tiny):
    truth = json.loads((tiny / "truth.json").read_text())
    assert truth["seed"] == 3 and truth["size"] == "tiny" and truth["complementarity"] == 0.5
    info = truth["informativeness"]
    assert list(info) == list(FEATURE_SETS)
    for key, v in info.items():
        assert list(v) == list(TARGETS) and all(0.0 <= x < 1.0 for x in v.values()), key
    means = sorted(np.mean(list(v.values())) for v in info.values())
    assert min(np.diff(means)) >= 0.02  # ranking by mean informativeness is unambiguous
    # neighbouring sets' mean CCC ceilings are >= 0.05 apart (twice the LSTM's seed-to-seed sd, in
    # synth_planted), and they order the sets as the mean rho (what the planted check scores against) does
    ceiling = {k: np.mean([2 * r**2 / (1 + r**2) for r in v.values()]) for k, v in info.items()}
    by_rho = sorted(info, key=lambda k: np.mean(list(info[k].values())))
    assert by_rho == sorted(info, key=ceiling.get)
    assert min(np.diff([ceiling[k] for k in by_rho])) >= 0.05
    assert truth["noise_sets"] == ["mfcc"] and not any(info["mfcc"].values())
    for key, v in info.items():
        if key in truth["noise_sets"]:
            continue
        assert v["liking"] < min(v["arousal"], v["valence"]), key
        stronger = "valence" if FEATURE_SETS[key].modality == "visual" else "arousal"
        weaker = "arousal" if stronger == "valence" else "valence"
        assert v[stronger] > v[weaker], key
    assert truth["annotation_delay"] == {"frames": 1, "seconds": 0.1}
    assert truth["counts"] == SIZES["tiny"].counts
    for name, n in truth["lengths"].items():
        folder = "test_labels" if name.startswith("Test_") else "labels"
        assert read_label_file(tiny / folder / f"{name}.csv")[1].shape == (n, 3)
    assert set(truth["label_model"]["culture_offsets_label_units"]) == {"DE", "HU"}


def test_latent_correlations_match_planted_informativeness():
    # latents only (no features): cheap even at full size, where 130 recordings pin the correlations down
    gen = CorpusGenerator(1, "full", 0.5)
    names = gen.recordings()
    Z = np.concatenate([gen.target_latent(n) for n in names])
    for key in ("egemaps_func", "fau_func", "mfcc"):
        comp = np.concatenate([gen.components(key, n)[:, :3] for n in names])
        r = [np.corrcoef(comp[:, a], Z[:, a])[0, 1] for a in range(3)]
        np.testing.assert_allclose(r, gen.rho[key], atol=0.05, err_msg=key)


def test_complementarity_zero_no_fusion_gain_one_gain():
    def fused_r(c: float, keys: list[str], a: int) -> float:
        gen = CorpusGenerator(2, "demo", c)
        names = gen.recordings()
        z = np.concatenate([gen.target_latent(n)[:, a] for n in names])
        A = np.column_stack([np.concatenate([gen.components(k, n)[:, a] for n in names]) for k in keys]
                            + [np.ones(z.size)])
        w = np.linalg.lstsq(A, z, rcond=None)[0]
        return float(np.corrcoef(A @ w, z)[0, 1])

    others = ["egemaps_func", "deepspectrum", "boaw_egemaps", "resnet"]
    for c, lo, hi in ((0.0, -0.005, 0.01), (1.0, 0.03, 1.0)):
        gain = fused_r(c, others, 0) - fused_r(c, ["egemaps_func"], 0)
        assert lo <= gain <= hi, (c, gain)


def test_annotation_delay_one_frame():
    gen = CorpusGenerator(0, "demo", 0.5)
    best = {}
    for lag in range(-2, 4):
        xs, ys = [], []
        for n in gen.recordings(("Train", "Devel")):
            T = gen.length(n)
            o = gen.components("egemaps_func", n)[ANNOTATION_DELAY:, 0]  # row k: feature frame k
            y = gen.labels(n)[:, 0]
            k = np.arange(max(0, -lag), T - max(lag, 0))
            xs.append(o[k])
            ys.append(y[k + lag])  # feature frame k against label frame k + lag
        best[lag] = np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1]
    assert max(best, key=best.get) == ANNOTATION_DELAY


# ------------------------------------------------------------------------------------- learnability


def _ridge_dev_ccc(corpus, key: str) -> np.ndarray:
    from sklearn.linear_model import Ridge

    rate = FEATURE_SETS[key].rate

    def xy(part: str):
        xs, ys = [], []
        for name, y in corpus.labels.items():
            if not name.startswith(part):
                continue
            times, X = corpus.features[key][name]
            A = align_to_frames(times, X, len(y), rate=rate)  # 0.1 s frames (LLD/video: window mean)
            xs.append(A[: len(y) - ANNOTATION_DELAY])
            ys.append(y[ANNOTATION_DELAY:])
        return np.concatenate(xs), np.concatenate(ys)

    Xtr, Ytr = xy("Train_")
    Xdv, Ydv = xy("Devel_")
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-8
    model = Ridge(alpha=float(len(Xtr))).fit((Xtr - mu) / sd, Ytr)
    P = model.predict((Xdv - mu) / sd)
    return np.array([ccc(Ydv[:, j], P[:, j]) for j in range(3)])


@pytest.fixture(scope="module")
def demo_ridge_scores() -> dict[str, np.ndarray]:
    corpus = synthesize(seed=0, size="demo")
    return {k: _ridge_dev_ccc(corpus, k) for k in corpus.features}


def test_ridge_learns_informative_sets_and_not_the_noise_set(demo_ridge_scores):
    scores = demo_ridge_scores
    a, v = TARGETS.index("arousal"), TARGETS.index("valence")
    for key, target in (("egemaps_func", a), ("boaw_egemaps", a), ("deepspectrum", a),
                        ("fau_func", v), ("resnet", v)):
        assert scores[key][target] >= 0.3, (key, scores[key])
    assert np.abs(scores["mfcc"]).max() < 0.05, scores["mfcc"]
    # the planted ordering shows: audio sets are better on arousal, visual sets on valence
    assert scores["egemaps_func"][a] > scores["egemaps_func"][v]
    assert scores["fau_func"][v] > scores["fau_func"][a]


def test_ridge_recovers_the_planted_ranking(demo_ridge_scores):
    from scipy.stats import spearmanr

    keys = list(demo_ridge_scores)
    planted = {k: np.mean(INFORMATIVENESS[k]) for k in keys}
    found = {k: float(demo_ridge_scores[k].mean()) for k in keys}
    assert spearmanr([planted[k] for k in keys], [found[k] for k in keys])[0] >= 0.9
    top7 = sorted(keys, key=planted.get, reverse=True)[:7]  # what the DAG's unimodal ranking keeps
    assert set(sorted(keys, key=found.get, reverse=True)[:7]) == set(top7)


# -------------------------------------------------------------------------------------- cache-only


def test_cache_only_matches_cache_built_from_csvs(tmp_path, tiny):
    keys = ["egemaps", "fau_func", "resnet", "boaw_mfcc"]
    rc = cli_main(["synth", "--out", str(tmp_path / "c"), "--size", "tiny", "--seed", "3",
                   "--feature-sets", *keys, "--cache-only", str(tmp_path / "cache")])
    assert rc == 0
    assert not any((tmp_path / "c" / FEATURE_SETS[k].folder).exists() for k in keys)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([f"{k}.npz" for k in keys] + ["labels.npz"])
    for key in keys:
        direct = load_feature_cache(tmp_path / "cache" / f"{key}.npz")
        parsed = build_feature_cache(tiny, key, None)
        assert direct.names == parsed.names and direct.source == parsed.source
        np.testing.assert_array_equal(direct.lengths, parsed.lengths)
        np.testing.assert_allclose(direct.X, parsed.X, atol=2e-4)
        np.testing.assert_allclose(direct.mean, parsed.mean, rtol=1e-6, atol=1e-6)
        assert direct.rate_hz == pytest.approx(parsed.rate_hz, rel=1e-3)
    lab = load_label_cache(tmp_path / "cache" / "labels.npz")
    ref = build_label_cache(tiny, None)
    assert lab.names == ref.names and lab.test is not None and lab.test.names == ref.test.names
    np.testing.assert_array_equal(lab.Y, ref.Y)


# ------------------------------------------------------------------------------------------ errors


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--size", "tiny", "--feature-sets", "mfcc", "nope"]) == 2
    assert "unknown feature set 'nope'" in capsys.readouterr().err
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--size", "tiny", "--complementarity", "1.5"]) == 2
    assert "complementarity must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_generated_corpus(tmp_path, capsys):
    real = tmp_path / "real"
    (real / "labels").mkdir(parents=True)
    (real / "labels" / "Train_DE_01.csv").write_text("keep me")
    assert cli_main(["synth", "--out", str(real), "--size", "tiny", "--feature-sets", "mfcc"]) == 2
    assert "not a generated corpus" in capsys.readouterr().err
    assert (real / "labels" / "Train_DE_01.csv").read_text() == "keep me"
    # a generated corpus is replaced as a whole
    generate_corpus(tmp_path / "gen", size="tiny", feature_sets=["mfcc"])
    generate_corpus(tmp_path / "gen", size="tiny", feature_sets=["fau"])
    assert not (tmp_path / "gen" / FEATURE_SETS["mfcc"].folder).exists()
    assert (tmp_path / "gen" / FEATURE_SETS["fau"].folder).is_dir()


def test_generated_corpus_passes_validate(tiny, capsys):
    assert cli_main(["validate", str(tiny)]) == 0, capsys.readouterr().err
