"""Audio data roots: extraction (column counts, 0.1 s frames aligned with the labels, the AVEC
functionals window, a Train-only codebook), the user's visual CSV format, every bad-audio case
(one clear error naming the file, nothing written), and the config checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from emofusion.config import check_config
from emofusion.data import audio
from emofusion.data.audio_synth import SAMPLE_RATE, synth_voice
from emofusion.data.build_cache import build_feature_cache
from emofusion.data.layout import format_avec_csv, read_feature_file
from emofusion.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


def _voice(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_frames = int(seconds / 0.1) + 3
    z = np.cumsum(rng.standard_normal((n_frames, 3)) * 0.2, axis=0)
    return synth_voice(z, "DE", int(seconds * SAMPLE_RATE), rng)


def _write_root(root: Path, names: dict[str, float], *, label_s: dict[str, float] | None = None) -> Path:
    """A small audio root: WAVs of the given seconds, labels of (by default) the same length."""
    (root / "audio").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, (n, secs) in enumerate(sorted(names.items())):
        sf.write(str(root / "audio" / f"{n}.wav"), _voice(secs, i), SAMPLE_RATE, subtype="PCM_16")
        if n.startswith("Test_"):
            continue
        frames = int(round((label_s or {}).get(n, secs - 0.2) / 0.1))
        y = np.zeros((frames, 3)) + 0.1
        (root / "labels" / f"{n}.csv").write_text(format_avec_csv(n, y))
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    names = {"Train_DE_01": 6.0, "Train_HU_01": 5.0, "Devel_DE_01": 5.5, "Test_DE_01": 4.5}
    return _write_root(tmp_path_factory.mktemp("audio_root"), names)


@pytest.fixture(scope="module")
def extracted(root, tmp_path_factory) -> Path:
    """The six sets of ``root`` extracted with the workflow's library calls, plus labels."""
    out = tmp_path_factory.mktemp("extracted")
    import shutil

    shutil.copytree(root / "labels", out / "labels")
    for lld in audio.LLD_SETS:
        files = []
        for wav in sorted((root / "audio").glob("*.wav")):
            f = out / audio.folder_of(lld) / f"{wav.stem}.csv"
            audio.extract_lld_file(wav, f, lld)
            files.append(f)
        audio.write_functionals(files, out / audio.folder_of(f"{lld}_func"))
        audio.write_codebook(files, out / "codebooks" / f"{lld}.npz", lld=lld, size=20)
        audio.write_bags(files, out / "codebooks" / f"{lld}.npz", out / audio.folder_of(f"boaw_{lld}"))
    return out


@pytest.mark.parametrize(("key", "dim", "step"), [
    ("egemaps", 23, 0.01), ("mfcc", 39, 0.01), ("egemaps_func", 46, 0.1), ("mfcc_func", 78, 0.1),
    ("boaw_egemaps", 20, 0.1), ("boaw_mfcc", 20, 0.1),  # the test codebook has 20 words (workflow: 100)
])
def test_extracted_sets_have_avec_dims_and_rates(extracted, key, dim, step):
    for f in sorted((extracted / audio.folder_of(key)).glob("*.csv")):
        times, X = read_feature_file(f)
        assert X.shape[1] == dim, f
        assert np.allclose(np.diff(times), step, atol=1e-6), f
        assert times[0] == 0.0


def test_mfcc_config_gives_the_avec_columns(extracted):
    header = (extracted / "audio_features_mfcc" / "Train_DE_01.csv").read_text().split("\n", 1)[0].split(";")
    assert header[2:15] == [f"pcm_fftMag_mfcc[{i}]" for i in range(13)]
    assert header[15] == "pcm_fftMag_mfcc_de[0]" and header[-1] == "pcm_fftMag_mfcc_de_de[12]"


@pytest.mark.parametrize("key", audio.EXTRACTABLE)
def test_extracted_sets_cover_the_label_frames(extracted, key):
    """Every extracted set goes through the existing cache unchanged: one row per 0.1 s label frame."""
    cache = build_feature_cache(extracted, key, None, cultures=("DE", "HU"))
    for n in ("Train_DE_01", "Train_HU_01", "Devel_DE_01"):
        labels = read_feature_file(extracted / "labels" / f"{n}.csv")[0]
        assert cache.get(n).shape[0] == labels.size
    assert "Test_DE_01" in cache.names


def test_functionals_are_the_avec_script_window():
    """Oracle: AVEC 2019's generate_functionals.py loop (frame t: rows 10t-200 .. 10t+200, clipped)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((537, 3)) * [1, 10, 100] + [0, 5, 1000]
    F = audio.functionals(X)
    expected = []
    for t in range(10_000):
        c = t * 10
        lo, hi = max(0, c - 200), min(X.shape[0], c + 201)
        if not (lo < hi and c <= X.shape[0]):
            break
        expected.append(np.concatenate([X[lo:hi].mean(0), X[lo:hi].std(0)]))
    assert F.shape == (len(expected), 6) == (54, 6)
    np.testing.assert_allclose(F, np.array(expected), rtol=1e-9, atol=1e-9)


def test_bag_of_words_counts_words_in_the_window():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 4))
    cb = audio.learn_codebook({"Train_DE_01": X}, "egemaps", size=8, seed=0)
    B = audio.bag_of_words(X, cb)
    words = cb.assign(X)
    lo, hi = audio.window_bounds(X.shape[0])
    counts = np.stack([np.bincount(words[a:b], minlength=8) for a, b in zip(lo, hi, strict=True)])
    np.testing.assert_allclose(B, np.log10(1 + counts))
    assert B.shape == (31, 8)
    np.testing.assert_allclose((10 ** B - 1).sum(axis=1), hi - lo)  # every frame in the window counted once


def test_codebook_is_learned_on_train_only(extracted, tmp_path):
    files = sorted((extracted / "audio_features_egemaps").glob("*.csv"))
    cb = audio.write_codebook(files, tmp_path / "a.npz", lld="egemaps", size=20)
    assert cb.train == ("Train_DE_01", "Train_HU_01")
    # a Devel file changed beyond recognition: the codebook does not move
    devel = tmp_path / "Devel_DE_01.csv"
    text = (extracted / "audio_features_egemaps" / "Devel_DE_01.csv").read_text().splitlines()
    times, X = read_feature_file(extracted / "audio_features_egemaps" / "Devel_DE_01.csv")
    devel.write_text(audio.format_feature_csv("Devel_DE_01", times, X * 100 + 7, text[0].split(";")[2:]))
    cb2 = audio.write_codebook([f for f in files if "Devel" not in f.name] + [devel], tmp_path / "b.npz",
                               lld="egemaps", size=20)
    np.testing.assert_array_equal(cb.words, cb2.words)
    np.testing.assert_array_equal(cb.mean, cb2.mean)
    with pytest.raises(ValueError, match="Train recordings only"):
        audio.learn_codebook({"Train_DE_01": X, "Devel_DE_01": X}, "egemaps", size=4)


def test_predict_extracts_every_audio_set_as_the_workflow_does(root, extracted, tmp_path):
    """`emofusion predict`'s extraction (system_extract) on a root of WAVs only, from a bundle's settings
    and its copy of the Train codebook: every file of the six sets is the workflow's, byte for byte."""
    import shutil

    from emofusion.system_extract import bundle_settings, extract_missing

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    books = sorted((extracted / "codebooks").glob("*.npz"))
    keys = ["egemaps", "egemaps_func", "boaw_egemaps", "mfcc", "mfcc_func", "boaw_mfcc"]
    sets = {k: {"folder": audio.folder_of(k), "extract": bundle_settings(k, {"source": "audio", "window_s": 4.0},
                                                                          books, bundle)} for k in keys}
    assert sorted(p.name for p in (bundle / "extract").iterdir()) == ["egemaps.npz", "mfcc.npz"]
    new = tmp_path / "new"
    shutil.copytree(root / "audio", new / "audio")
    folders = extract_missing(sets, new, bundle, tmp_path / "out")
    for k in keys:
        want = sorted((extracted / audio.folder_of(k)).glob("*.csv"))
        assert len(want) == 4 and sorted(p.name for p in folders[k].iterdir()) == [p.name for p in want], k
        for f in want:
            assert (folders[k] / f.name).read_bytes() == f.read_bytes(), (k, f.name)
    (new / "audio" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="unexpected file in the audio folder"):
        extract_missing(sets, new, bundle, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_user_visual_csv_is_read_by_the_same_alignment(tmp_path):
    """The documented visual format: name;frameTime;<any columns>, any frame rate (here 30 fps)."""
    (tmp_path / "labels").mkdir()
    (tmp_path / "visual_features").mkdir()
    for n, frames in (("Train_DE_01", 50), ("Devel_DE_01", 40)):
        (tmp_path / "labels" / f"{n}.csv").write_text(format_avec_csv(n, np.zeros((frames, 3))))
        t = np.arange(int(frames * 0.1 * 30) + 2) / 30
        V = np.column_stack([t * 10, np.ones_like(t)])  # AU_a grows 10/s, AU_b constant
        (tmp_path / "visual_features" / f"{n}.csv").write_text(
            audio.format_feature_csv(n, t, V, ["AU_a", "AU_b"]))
    cache = build_feature_cache(tmp_path, "fau", None, cultures=("DE",))
    assert cache.dim == 2 and cache.get("Train_DE_01").shape == (50, 2)
    raw = cache.get("Devel_DE_01") * cache.std + cache.mean
    # frame i averages the video frames in [0.1 i - 0.05, 0.1 i + 0.05): the ramp's value ~ i
    np.testing.assert_allclose(raw[1:-1, 0], np.arange(1, 39), atol=0.2)


# --------------------------------------------------------------------------------------------------
# bad audio: one clear error naming the file


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emofusion.cli", *args], capture_output=True, text=True,
                          timeout=120)


def _bad_root(tmp_path: Path, case: str) -> tuple[Path, str]:
    root = _write_root(tmp_path / "root", {"Train_DE_01": 3.0, "Devel_DE_01": 3.0})
    wav = root / "audio" / "Devel_DE_01.wav"
    if case == "unreadable":
        wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
        return root, "Devel_DE_01.wav: unreadable audio file"
    if case == "empty":
        wav.write_bytes(b"")
        return root, "Devel_DE_01.wav: empty file"
    if case == "label_without_wav":
        wav.unlink()
        return root, "Devel_DE_01.csv: label file without its audio"
    if case == "wav_without_label":
        (root / "labels" / "Devel_DE_01.csv").unlink()
        return root, "Devel_DE_01.wav: audio without its label file"
    if case == "too_short":
        (root / "labels" / "Devel_DE_01.csv").write_text(format_avec_csv("Devel_DE_01", np.zeros((60, 3))))
        return root, "Devel_DE_01.wav: audio much shorter than its labels"
    if case == "low_rate":
        sf.write(str(wav), np.zeros(3 * 4000, np.float32), 4000)
        return root, "Devel_DE_01.wav: sample rate 4000 Hz"
    raise AssertionError(case)


BAD_CASES = ["unreadable", "empty", "label_without_wav", "wav_without_label", "too_short", "low_rate"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_audio_one_clear_error(tmp_path, case):
    root, message = _bad_root(tmp_path, case)
    with pytest.raises(DataError) as err:
        audio.check_audio_root(root)
    assert message in str(err.value)
    proc = _cli("validate", str(root))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_audio_stops_the_workflow_before_any_job(tmp_path):
    root, message = _bad_root(tmp_path, "too_short")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
                           "--configfile", str(REPO / "workflow" / "configs" / "audio.yaml"),
                           "--config", f"data_root={root}", "--cores", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_stereo_and_other_rates_are_downmixed_and_resampled(tmp_path):
    """Documented: any channel count is averaged to mono, any rate >= 8 kHz resampled to 16 kHz."""
    x = _voice(2.0)
    import audresample

    x44 = audresample.resample(x, SAMPLE_RATE, 44100)[0]
    stereo = np.stack([x44, x44 * 0.5], axis=1)
    f = tmp_path / "Train_DE_01.wav"
    sf.write(str(f), stereo, 44100, subtype="PCM_16")
    y = audio.load_audio(f)
    assert y.ndim == 1 and abs(y.size - x.size) <= 2
    times, X, _ = audio.extract_lld(f, "egemaps")
    assert X.shape[1] == 23 and np.allclose(np.diff(times), 0.01)


# --------------------------------------------------------------------------------------------------
# configuration


def _audio_yaml(data_root: Path) -> dict:
    """workflow/configs/audio.yaml with ``data_root`` (check_config requires a folder that exists)."""
    import yaml

    c = yaml.safe_load((REPO / "workflow" / "configs" / "audio.yaml").read_text())
    c["data_root"] = str(data_root)
    return c


@pytest.fixture
def _audio_config(tmp_path):
    return lambda: _audio_yaml(tmp_path)


def test_audio_config_is_valid(_audio_config):
    check_config(_audio_config())


@pytest.mark.parametrize(("edit", "key"), [
    (lambda c: c["audio"].update(extract=["egemaps", "fau"]), "audio.extract"),
    (lambda c: c["feature_sets"].pop("mfcc"), "audio.extract"),
    (lambda c: c["feature_sets"]["egemaps"].update(folder="mine"), "feature_sets.egemaps.folder"),
    (lambda c: c.update(data_root=None), "audio.extract"),
    (lambda c: c["selection"].update(top_fusion=13), "selection.top_fusion"),  # 6 sets, top 4: 12 runs
    (lambda c: c["selection"].update(top_unimodal=7), "selection.top_unimodal"),
])
def test_audio_config_errors_name_the_key(_audio_config, edit, key):
    c = _audio_config()
    edit(c)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(c)


# --------------------------------------------------------------------------------------------------
# end to end: the generated audio corpus through the real scheduler

# Thresholds. The generated audio plants arousal in pitch (4 semitones per unit of the standardised
# latent) and loudness (6 dB per unit); on the tiny corpus single eGeMAPS LLDs averaged per 0.1 s frame
# correlate with the arousal labels at r = 0.86 (Loudness) and 0.83 (F0 semitones), so a fitted model
# can reach a CCC of about 2r^2/(1+r^2) = 0.74 from one of them alone. Chance: the 4 tiny Test
# recordings (~280 frames) are few and their labels smooth, with recording offsets, so an independent
# predictor as smooth as the labels and scaled like them (the worst case for CCC) reaches
# |CCC| = 0.53 in 1% of draws (its 99% quantile, checked below against MIN_AROUSAL from the same
# generator); a white one 0.12 in 5%. The control set (visual_features/, key fau) is white noise
# independent of every label, but the LSTM's output on it may be smooth, so its chance range is the
# smooth one. Hence: the best run on an extracted audio set must reach a Test arousal CCC above that 99% chance
# quantile (MIN_AROUSAL), and exceed the control's by MIN_MARGIN (clearly better, not a tie).
MIN_AROUSAL = 0.6
MIN_MARGIN = 0.2


def _chance_ccc_quantile(q: float, *, smooth: bool, draws: int = 400) -> float:
    """|CCC| quantile of a predictor independent of the tiny Test arousal labels and scaled like them:
    smooth like the labels (same process: recording offset + smooth part) or white."""
    from emofusion.data.synth_generator import CorpusGenerator, latent_process
    from emofusion.results.metrics import ccc

    gen = CorpusGenerator(0, "tiny")
    tests = gen.recordings(("Test",))
    y = np.concatenate([gen.labels(n)[:, 0] for n in tests])
    out = []
    for d in range(draws):
        rng = np.random.default_rng(1000 + d)
        if smooth:
            p = np.concatenate([latent_process(rng, gen.length(n), 1)[:, 0] for n in tests])
        else:
            p = rng.standard_normal(y.size)
        p = y.mean() + y.std() * (p - p.mean()) / p.std()
        out.append(abs(ccc(y, p)))
    return float(np.quantile(out, q))


def test_chance_levels_are_below_the_thresholds():
    assert _chance_ccc_quantile(0.99, smooth=True) < MIN_AROUSAL
    assert _chance_ccc_quantile(0.95, smooth=False) < MIN_MARGIN


# The end-to-end run takes the shipped workflow/configs/audio.yaml as the README does (from a copy of
# the checkout, where config.yaml lies beside it), with small-model overrides in a second config file
# (several --configfile files merge in order, key by key; --config would pass 0.01 as a string), so
# the six extracted sets stay and the control set is added beside them.
E2E_OVERRIDES = {
    "feature_sets": {"fau": {"folder": "visual_features"}},  # the user-CSV visual control: no signal
    # 6 Train recordings: batches of 2 and a larger step, so 40 epochs are 120 updates (seconds on CPU)
    "train": {"hidden": [32, 16], "epochs": 40, "batch_size": 2, "lr": 0.003},
    "selection": {"top_unimodal": 2, "top_fusion": 3},
    "fusion": {"protocols": ["in-sample"], "stages": 1, "ks": [1, 3], "Cs": [0.01, 1.0]},
    "tracking": {"experiment": "emofusion-audio-test"},
    "system": {"stage": 1, "model_name": None},
}
AUDIO_SETS = ["egemaps", "egemaps_func", "boaw_egemaps", "mfcc", "mfcc_func", "boaw_mfcc"]


@pytest.mark.e2e
def test_workflow_audio_corpus_end_to_end(tmp_path, repo_copy, capsys):
    """tiny audio corpus -> the six audio sets extracted -> 7 unimodal + 1 bimodal runs -> fusion and the
    system bundle, with the shipped audio.yaml from a fresh copy of the checkout, real scheduler; then
    `emofusion predict` on a root of the Test WAVs only (no labels) extracts the audio sets itself and
    writes the DAG's Test predictions byte for byte."""
    import json
    import os

    import yaml
    from emofusion.data.audio_synth import generate_audio_corpus

    root = tmp_path / "corpus"
    generate_audio_corpus(root, seed=0, size="tiny")
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump(E2E_OVERRIDES))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", "workflow/configs/audio.yaml",
                           str(overrides), "--config", f"data_root={root}", "--cores", "2",
                           "results/fusion/summary.tsv", "results/ranking/runs.tsv", "results/system"],
                          cwd=repo_copy, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    work = repo_copy
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the extracted root is a complete AVEC layout; exactly the configured sets were cached
    assert len(list((work / "results" / "extracted" / "audio_features_egemaps").glob("*.csv"))) == 16
    assert sorted(p.stem for p in (work / "results" / "features").glob("*.npz")) == sorted([*AUDIO_SETS, "fau",
                                                                                           "labels"])

    def test_arousal(run: str) -> float:
        return json.loads((work / "results" / "runs" / run / "scores.json").read_text())["test"]["DE+HU"]["arousal"]

    best = max(test_arousal(r) for r in AUDIO_SETS)  # the runs on extracted audio sets
    control = test_arousal("fau")
    assert best >= MIN_AROUSAL, (best, control)
    assert best - control >= MIN_MARGIN, (best, control)
    fused = json.loads((work / "results" / "fusion" / "in-sample" / "stage1" / "scores.json").read_text())
    assert np.isfinite(fused["test"]["DE+HU"]["arousal"])
    # the trained system applied to new recordings given as WAVs: the same extraction, the same bytes
    import shutil

    from emofusion.cli import main

    res = work / "results"
    manifest = json.loads((res / "system" / "manifest.json").read_text())
    extracted = {k for k, i in manifest["feature_sets"].items() if "extract" in i}
    assert extracted and extracted <= set(AUDIO_SETS), manifest["feature_sets"]
    for k in extracted:
        if manifest["feature_sets"][k]["extract"]["kind"] == "boaw":
            assert (res / "system" / manifest["feature_sets"][k]["extract"]["codebook"]).is_file()
    new = tmp_path / "new"
    (new / "audio").mkdir(parents=True)
    for wav in sorted((root / "audio").glob("Test_*.wav")):
        shutil.copyfile(wav, new / "audio" / wav.name)
    for k, info in manifest["feature_sets"].items():  # a set the system does not extract: its files, as given
        if k not in extracted:
            shutil.copytree(root / info["folder"], new / info["folder"], ignore=lambda d, fs: [
                f for f in fs if not f.startswith("Test_")])
    dag = sorted((res / "fusion" / "in-sample" / "stage1" / "predictions").glob("Test_*.csv"))
    capsys.readouterr()
    assert main(["predict", "--system", str(res / "system"), "--data-root", str(new), "--out",
                 str(tmp_path / "out"), "--stage", "1"]) == 0, capsys.readouterr().err
    assert dag and sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in dag]
    for f in dag:
        assert (tmp_path / "out" / f.name).read_bytes() == f.read_bytes(), f.name
    # neither the feature folder nor audio/ to extract it from: one line naming the folder, nothing written
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert main(["predict", "--system", str(res / "system"), "--data-root", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nor audio/ to extract it from" in err, err
    assert not (tmp_path / "out2").exists()
