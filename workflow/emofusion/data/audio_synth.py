"""A generated *audio* corpus: WAV files and 0.1 s labels with planted, documented structure.

``emofusion synth --audio --out DIR [--size tiny|demo]`` (and :func:`generate_audio_corpus`) writes::

    DIR/audio/<Train|Devel|Test>_<DE|HU>_<NN>.wav   16 kHz, mono, 16 bit
    DIR/labels/<Train|Devel>_<DE|HU>_<NN>.csv       the labels (AVEC format), exactly those of the
    DIR/test_labels/Test_<DE|HU>_<NN>.csv           feature corpus of the same seed and size (test apart)
    DIR/visual_features/<same names>.csv            a per-frame "visual" set in the user CSV format
                                                    (25 fps), white noise: the control with no signal
    DIR/truth.json                                  what was planted (below)

Recordings, lengths and labels come from :class:`emofusion.data.synth_generator.CorpusGenerator` (same seed, same
labels). The audio is a synthetic voice: a harmonic source (up to 7.5 kHz) under a syllable-rate
envelope, plus a faint noise floor. Per 0.1 s, with ``z`` the standardised latent of the targets
(arousal, valence, liking; the label's latent, with the same 1-frame annotation delay as the feature
corpus, so audio at time ``s`` carries the latent of label frame ``s / 0.1 + 1``):

* **arousal** drives pitch and loudness: F0 = base * 2^((PITCH_ST * z_a + offsets) / 12) with
  ``PITCH_ST`` semitones per unit, level + ``LOUD_DB`` dB per unit;
* **valence** drives the spectral tilt: harmonic k has amplitude k^(-(TILT0 - TILT_PER_Z * z_v)),
  so positive valence is brighter (measurable as eGeMAPS' alpha ratio, Hammarberg index, slopes);
* **liking** weakly drives the speaking rate: syllables at SYLLABLE_HZ * 2^(RATE_PER_Z * z_l);
* a recording-level **culture offset** (CULTURE_PITCH_ST semitones, CULTURE_DB dB) and a speaker
  offset per recording (SPEAKER_ST_SD semitones sd) that carry no label information.

Determinism: every draw comes from a generator seeded by (seed, purpose, recording).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_dir
from .layout import FRAME_S

SAMPLE_RATE = 16000
BASE_F0 = 140.0  # Hz
PITCH_ST = 4.0  # semitones per unit of arousal latent
LOUD_DB = 6.0  # dB per unit of arousal latent
TILT0 = 1.3  # harmonic roll-off exponent at valence latent 0
TILT_PER_Z = 0.35  # roll-off change per unit of valence latent (positive valence: brighter)
SYLLABLE_HZ = 4.0
RATE_PER_Z = 0.12  # log2 speaking-rate change per unit of liking latent (weak)
CULTURE_PITCH_ST = {"DE": -1.0, "HU": 1.0}
CULTURE_DB = {"DE": 1.0, "HU": -1.0}
SPEAKER_ST_SD = 0.5
LEVEL = 0.05  # linear amplitude at 0 dB
NOISE_LEVEL = 0.002
MAX_F_HZ = 7500.0
EXTRA_S = 0.3  # audio beyond the last label frame
VISUAL_FPS = 25.0
VISUAL_COLUMNS = ["AU01_r", "AU04_r", "AU06_r", "AU12_r", "AU25_r"]
AUDIO_SIZES = ("tiny", "demo")


def latent_at(z: np.ndarray, t: np.ndarray, delay: int) -> np.ndarray:
    """Latent rows (label frames) interpolated at times ``t`` (s), shifted by the annotation delay."""
    pos = t / FRAME_S + delay
    rows = np.arange(z.shape[0])
    return np.stack([np.interp(pos, rows, z[:, j]) for j in range(z.shape[1])], axis=1)


def synth_voice(z: np.ndarray, culture: str, n_samples: int, rng: np.random.Generator, *,
                delay: int = 1) -> np.ndarray:
    """Float32 samples of one recording from its latent ``z`` (label frames x 3)."""
    t = np.arange(n_samples) / SAMPLE_RATE
    lat = latent_at(z, t, delay)
    za, zv, zl = lat[:, 0], lat[:, 1], lat[:, 2]
    speaker = SPEAKER_ST_SD * rng.standard_normal()
    f0 = BASE_F0 * 2.0 ** ((PITCH_ST * za + CULTURE_PITCH_ST[culture] + speaker) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    beta = TILT0 - TILT_PER_Z * zv
    harm = np.zeros(n_samples)
    norm = np.zeros(n_samples)
    k_max = int(MAX_F_HZ // f0.min())
    two_cos = 2.0 * np.cos(phase)
    s_prev, s_k = np.zeros(n_samples), np.sin(phase)  # sin(k phase) by the Chebyshev recurrence
    block = SAMPLE_RATE // 100  # amplitudes change slowly: computed per 10 ms block
    beta_b, f0_b = beta[::block], f0[::block]
    for k in range(1, k_max + 1):
        a_b = np.where(k * f0_b < MAX_F_HZ, np.exp(-beta_b * math.log(k)), 0.0)
        a = np.repeat(a_b, block)[:n_samples]
        harm += a * s_k
        norm += a
        s_prev, s_k = s_k, two_cos * s_k - s_prev
    harm /= norm
    rate = SYLLABLE_HZ * 2.0 ** (RATE_PER_Z * zl)
    syl = np.sin(2 * np.pi * np.cumsum(rate) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))
    env = 0.7 + 0.3 * syl  # syllable-rate amplitude modulation (always voiced: F0 measurable throughout)
    gain = LEVEL * 10 ** ((LOUD_DB * za + CULTURE_DB[culture]) / 20.0)
    x = gain * env * harm + NOISE_LEVEL * rng.standard_normal(n_samples)
    return np.clip(x, -0.99, 0.99).astype(np.float32)


def visual_control(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 5) AU intensities of pure white noise, independent of every label and of each other
    frame (as the feature corpus' noise-only set: no slow component whose chance correlation with
    the slow labels could pass for signal)."""
    return np.maximum(0.0, 1.0 + 0.5 * rng.standard_normal((n_frames, len(VISUAL_COLUMNS))))


def format_visual_csv(name: str, times: np.ndarray, X: np.ndarray) -> str:
    from .audio import format_feature_csv

    return format_feature_csv(name, times, X, VISUAL_COLUMNS)


def generate_audio_corpus(out_dir: str | Path, *, seed: int = 0, size: str = "tiny") -> dict:
    """Write a generated audio corpus to ``out_dir`` (replaced atomically as a whole); return the truth."""
    import soundfile as sf

    from .synth import guard_out, write_labels
    from .synth_generator import CorpusGenerator
    from .synth_planted import ANNOTATION_DELAY

    if size not in AUDIO_SIZES:
        raise ConfigError(f"--size {size} with --audio: audio corpora come in {', '.join(AUDIO_SIZES)} "
                          "(full would be hours of audio)")
    gen = CorpusGenerator(seed, size)
    out = Path(out_dir)
    guard_out(out)
    names = gen.recordings()
    lengths = {n: gen.length(n) for n in names}
    with atomic_dir(out) as tmp:
        write_labels(gen, tmp)
        (tmp / "audio").mkdir()
        (tmp / "visual_features").mkdir()
        for n in names:
            rng = gen.rng("audio", n)
            n_samples = int(round((lengths[n] * FRAME_S + EXTRA_S) * SAMPLE_RATE))
            x = synth_voice(gen.target_latent(n), n.split("_")[1], n_samples, rng, delay=ANNOTATION_DELAY)
            sf.write(str(tmp / "audio" / f"{n}.wav"), x, SAMPLE_RATE, subtype="PCM_16")
            n_vis = int(n_samples / SAMPLE_RATE * VISUAL_FPS)
            times = np.round(np.arange(n_vis) / VISUAL_FPS, 6)
            V = visual_control(n_vis, gen.rng("visual_control", n))
            (tmp / "visual_features" / f"{n}.csv").write_text(format_visual_csv(n, times, V))
        truth = {
            "generator": "emofusion.synth",
            "kind": "audio",
            "seed": seed,
            "size": size,
            "sample_rate": SAMPLE_RATE,
            "annotation_delay_frames": ANNOTATION_DELAY,
            "planted": {
                "arousal": {"pitch_semitones_per_unit": PITCH_ST, "loudness_db_per_unit": LOUD_DB},
                "valence": {"spectral_tilt": f"harmonic k amplitude k^-({TILT0} - {TILT_PER_Z} z_valence)"},
                "liking": {"speaking_rate": f"{SYLLABLE_HZ} Hz * 2^({RATE_PER_Z} z_liking) (weak)"},
                "culture_offset": {"pitch_semitones": CULTURE_PITCH_ST, "level_db": CULTURE_DB},
                "speaker_offset_semitones_sd": SPEAKER_ST_SD,
                "unit": "z = the standardised latent of each target (labels = mean + scale * z, see label_model)",
            },
            "informativeness": {"fau": {"arousal": 0.0, "valence": 0.0, "liking": 0.0}},
            "control": "visual_features/ (key fau) is white noise independent of every label: the no-signal control",
            "label_model": gen.truth([])["label_model"],
            "lengths": lengths,
        }
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        tmp.chmod(0o755)
    return truth


def duration_s(truth: dict) -> float:
    """Seconds of audio in a generated corpus (from its truth)."""
    return sum(n * FRAME_S + EXTRA_S for n in truth["lengths"].values())

