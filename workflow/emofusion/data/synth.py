"""A generated corpus in the exact AVEC 2019 CES layout, with planted, documented structure.

``emofusion synth --out DIR`` (and :func:`generate_corpus`) writes::

    DIR/labels/<Train|Devel>_<DE|HU>_<NN>.csv     name;timestamp;arousal;valence;liking, 0.1 s, 6 decimals
    DIR/test_labels/Test_<DE|HU>_<NN>.csv          test labels, kept apart (never in labels/)
    DIR/<feature folder>/<same file names>.csv     one folder per feature set (Train, Devel, Test)
    DIR/truth.json                                 everything planted (see below)

Sizes (recordings per partition and culture, label frames per recording, dims)
-------------------------------------------------------------------------------
======  ============  ============  ============  =================  ===========================
size    Train DE+HU   Devel DE+HU   Test DE+HU    label frames       dims
======  ============  ============  ============  =================  ===========================
tiny    3 + 3         3 + 3         2 + 2         40 .. 80           deep sets 32, others real
demo    8 + 8         6 + 6         4 + 4         150 .. 300         deep sets 256, others real
full    34 + 34       14 + 14       16 + 18       900 .. 1768        real (docs/data.md)
======  ============  ============  ============  =================  ===========================

Lengths are uniform in the range; ``Train_DE_01`` always has the longest (1768 at ``full``). The
deep sets are deepspectrum, resnet and vgg. A feature file has 0..3 frames (0.1 s) more than its
labels, drawn per set and recording, never fewer.

File formats (as the real files)
--------------------------------
* labels: ``name;timestamp;arousal;valence;liking``, ``'Train_DE_01'`` quoted, 6 decimals.
* feature files: ``name;frameTime;<feature names>`` header, ``;``, quoted names, 6 decimals;
  the BoW sets (boaw_egemaps, boaw_mfcc, bovw) have no header, ``,`` and integer counts.
* rates: egemaps, mfcc are 100 Hz LLDs (times 0.00, 0.01, ...); fau, resnet, vgg are video at
  25 fps (0.00, 0.04, ...); all other sets are at the 0.1 s label rate.

The planted truth
-----------------
Targets. Per recording and target a standardised latent ``z`` (unit variance in expectation) is
``culture offset + sqrt(1 - mean culture offset^2) * p``, where the process ``p`` is a recording
offset (variance 0.2) plus a within-recording smooth part (variance 0.8: white noise through
Gaussian filters of 5 and 20 frames, in equal parts). Labels are ``clip(mean + scale * z, -1, 1)``
with mean (0.12, 0.10, -0.03), scale (0.14, 0.13, 0.12) for (arousal, valence, liking), close to
the real dev labels' statistics (smoother within a recording and with smaller recording offsets
than the real ones, so that a corpus of a few dozen recordings still pins the planted ranking
down). Culture offsets of ``z``: DE (+0.3, -0.2, +0.1), HU (-0.3, +0.2, -0.1) standard units
(times ``scale`` in label units, ``truth["label_model"]``).

Annotation delay. Labels lag the features by ``ANNOTATION_DELAY`` = 1 frame (0.1 s): feature
frame ``k`` carries the latent of label frame ``k + 1`` (the paper's label shift of 1).

Informativeness. Each set ``s`` has per target ``a`` a planted component
``O[s,a] = rho[s,a] * z[a] + sqrt(1 - rho[s,a]^2) * E[s,a]``, with ``E`` unit-variance noise made
of processes like ``p`` (recording offset + smooth part), so that no temporal filtering can tell
the signal from the noise: ``rho`` (``truth["informativeness"]``) is the correlation of the set's
planted component with the target, the ceiling of what any model of that set alone can reach (in
Pearson r; the CCC of a least-squares predictor is at most ``2 rho^2 / (1 + rho^2)``). ``rho``
differs for every set; ranked by its mean over the three targets the sets are spaced 0.03 apart
(fau_func 0.43 > egemaps_func > resnet > deepspectrum > boaw_egemaps > fau > vgg > boaw_mfcc >
egemaps > bovw > mfcc_func 0.13 > mfcc 0); mfcc is noise only; liking is weak everywhere
(<= 0.17); visual sets are stronger on valence, audio sets on arousal. Noise processes carry no
culture offsets (those would let a set predict the targets' culture offsets). The noise-only set
is made of fast processes (Gaussian filter of 1 frame, no recording offsets): it carries nothing
about the targets, and its chance correlation with the slow targets stays near 1/sqrt(frames)
instead of 1/sqrt(recordings), so a ridge regression on it scores |CCC| < 0.05 on demo data.

Complementarity ``c`` in [0, 1]. ``E[s,a] = sqrt(1-c) * E0[s,a] + sqrt(c) * I[s,a]`` with ``I``
independent per set. ``E0`` makes every set a garbled copy of the best set's component for that
target, ``O* = rho* z + sqrt(1-rho*^2) S`` (``S`` shared by all sets, ``rho*`` the largest rho over
all 12 sets): ``O[s] = (rho[s]/rho*) O* + sqrt(1 - (rho[s]/rho*)^2) N[s]``. At ``c = 0`` every set
thus carries the same signal and the same noise, plus noise of its own, and no fusion can beat the
best set (data-processing inequality); at ``c = 1`` the sets' errors are independent.

Features. Each set mixes its 3 target components and ``k`` nuisance components (independent
smooth processes; k = 2, or 5 for the deep sets) through a fixed random mixing matrix (d x r, a
low-rank signal in d dims), adds white per-feature noise and a per-feature affine map:
functionals noise std 0.5; LLD sets std 1.5 per 100 Hz sample (0.47 after averaging the 10 samples
of a 0.1 s frame); fau std 0.8 per video frame, AU intensities ``max(0, 1.2 + 0.7 x)`` plus a
confidence column near 0.97; deep sets std 2.0 per feature (d large, so the signal is still
recoverable); BoW sets are Poisson counts with rates ``base_j * exp(0.6 * (M x)_j)``, sparse and
non-negative. The LLD and video sets are the frame-rate components linearly interpolated to the
native times, so averaging them within each 0.1 s window recovers the signal.

Determinism. Every random draw comes from a ``numpy.random.Generator`` seeded by
``(seed, purpose, set, recording)``, so the same seed gives the same bytes, and choosing a subset
of sets leaves every other set's bytes unchanged.

``--cache-only``: the aligned, Train-normalised feature cache (``cache.save_feature_cache``)
and ``labels.npz`` are written straight from the same native arrays (no CSV), for paper-scale
timing; the label CSVs and ``truth.json`` still go to ``DIR``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import TARGETS
from ..errors import ConfigError
from ..io import atomic_dir
from .layout import FRAME_S, format_avec_csv

GENERATOR_VERSION = 1
ANNOTATION_DELAY = 1  # label frames (0.1 s)
EXTRA_MAX = 3  # a feature file has 0..EXTRA_MAX frames more than its labels
_MARGIN = 2  # latent frames beyond the last feature frame (alignment of the last window)
VIDEO_FPS = 25.0
LLD_HZ = 100.0

TARGET_MEAN = np.array([0.12, 0.10, -0.03])
TARGET_SCALE = np.array([0.14, 0.13, 0.12])
CULTURE_OFFSETS = {"DE": np.array([0.3, -0.2, 0.1]), "HU": np.array([-0.3, 0.2, -0.1])}
_CULTURE_VAR = np.mean(np.stack(list(CULTURE_OFFSETS.values())) ** 2, axis=0)  # z keeps unit variance
W_RECORDING = 0.2  # share of a process's variance in its per-recording offset
SMOOTH_SIGMAS = (5.0, 20.0)  # Gaussian filter widths (frames) of the within-recording part
NOISE_ONLY_SIGMAS = (1.0,)  # noise-only sets: fast processes without recording offsets

#: planted informativeness rho[set] = (arousal, valence, liking); means 0.43 .. 0.13 in steps of 0.03, mfcc 0
INFORMATIVENESS: dict[str, tuple[float, float, float]] = {
    "egemaps": (0.40, 0.12, 0.05),
    "egemaps_func": (0.74, 0.32, 0.14),
    "boaw_egemaps": (0.62, 0.22, 0.09),
    "mfcc": (0.0, 0.0, 0.0),
    "mfcc_func": (0.30, 0.06, 0.03),
    "boaw_mfcc": (0.46, 0.14, 0.06),
    "deepspectrum": (0.60, 0.30, 0.12),
    "fau": (0.26, 0.50, 0.08),
    "fau_func": (0.40, 0.72, 0.17),
    "bovw": (0.14, 0.30, 0.04),
    "resnet": (0.34, 0.62, 0.15),
    "vgg": (0.22, 0.45, 0.08),
}


@dataclass(frozen=True)
class SizeSpec:
    counts: dict[str, dict[str, int]]  # partition -> culture -> recordings
    min_frames: int
    max_frames: int
    deep_dim: int | None  # None: the real dims


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec({"Train": {"DE": 3, "HU": 3}, "Devel": {"DE": 3, "HU": 3}, "Test": {"DE": 2, "HU": 2}},
                     40, 80, 32),
    "demo": SizeSpec({"Train": {"DE": 8, "HU": 8}, "Devel": {"DE": 6, "HU": 6}, "Test": {"DE": 4, "HU": 4}},
                     150, 300, 256),
    "full": SizeSpec({"Train": {"DE": 34, "HU": 34}, "Devel": {"DE": 14, "HU": 14}, "Test": {"DE": 16, "HU": 18}},
                     900, 1768, None),
}

DEEP_SETS = ("deepspectrum", "resnet", "vgg")
BOW_SETS = ("boaw_egemaps", "boaw_mfcc", "bovw")

_EGEMAPS_LLD = [
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3", "F0semitoneFrom27.5Hz_sma3nz",
    "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz", "logRelF0-H1-H2_sma3nz",
    "logRelF0-H1-A3_sma3nz", "F1frequency_sma3nz", "F1bandwidth_sma3nz", "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz", "F2amplitudeLogRelF0_sma3nz", "F3frequency_sma3nz", "F3amplitudeLogRelF0_sma3nz",
]
_MFCC_LLD = ([f"pcm_fftMag_mfcc_{i}" for i in range(1, 14)] + [f"pcm_fftMag_mfcc_{i}_de" for i in range(1, 14)]
             + [f"pcm_fftMag_mfcc_{i}_de_de" for i in range(1, 14)])
_FAU = ["confidence"] + [f"AU{n:02d}_r" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)]


def _functionals(names: list[str]) -> list[str]:
    return [f"{n}_amean" for n in names] + [f"{n}_stddev" for n in names]


@dataclass(frozen=True)
class SetSpec:
    """How one feature set is generated and written."""

    key: str
    folder: str
    dim: int
    rate: str  # "frame" | "lld" | "video" (feature_sets.FeatureSet.rate)
    modality: str
    kind: str  # "func" | "lld" | "fau" | "deep" | "bow"
    n_nuisance: int
    noise_sd: float
    header: list[str] | None = field(default=None, repr=False)  # None: no header (BoW)

    @property
    def sep(self) -> str:
        return "," if self.kind == "bow" else ";"

    @property
    def step_s(self) -> float:
        return {"frame": FRAME_S, "lld": 1.0 / LLD_HZ, "video": 1.0 / VIDEO_FPS}[self.rate]


def _feature_names(key: str, dim: int) -> list[str] | None:
    if key in BOW_SETS:
        return None
    fixed = {"egemaps": _EGEMAPS_LLD, "egemaps_func": _functionals(_EGEMAPS_LLD), "mfcc": _MFCC_LLD,
             "mfcc_func": _functionals(_MFCC_LLD), "fau": _FAU, "fau_func": _functionals(_FAU)}
    if key in fixed and len(fixed[key]) == dim:
        return fixed[key]
    prefix = "neuron" if key == "deepspectrum" else "feat"
    return [f"{prefix}_{i}" for i in range(1, dim + 1)]


def set_specs(size: str = "full") -> dict[str, SetSpec]:
    """The 12 sets (registry order of ``feature_sets.FEATURE_SETS``) as generated at ``size``."""
    from .feature_sets import FEATURE_SETS

    spec = _size(size)
    out = {}
    for key, fs in FEATURE_SETS.items():
        if key not in INFORMATIVENESS:
            raise ConfigError(f"feature set {key!r} has no planted informativeness in emofusion.data.synth")
        dim = fs.dim if (spec.deep_dim is None or key not in DEEP_SETS) else spec.deep_dim
        if key in BOW_SETS:
            kind, nn, sd = "bow", 2, 0.0
        elif key in DEEP_SETS:
            kind, nn, sd = "deep", 5, 2.0
        elif key == "fau":
            kind, nn, sd = "fau", 2, 0.8
        elif fs.rate == "lld":
            kind, nn, sd = "lld", 2, 1.5
        else:
            kind, nn, sd = "func", 2, 0.5
        out[key] = SetSpec(key, fs.folder, dim, fs.rate, fs.modality, kind, nn, sd, _feature_names(key, dim))
    return out


def _size(size: str) -> SizeSpec:
    try:
        return SIZES[size]
    except KeyError:
        raise ConfigError(f"unknown corpus size {size!r}: expected one of {', '.join(SIZES)}") from None


def _tag(s: str) -> int:
    return zlib.crc32(s.encode())


def _process(rng: np.random.Generator, L: int, n: int, culture_offset: np.ndarray | float = 0.0, *,
             w_recording: float = W_RECORDING, sigmas: tuple[float, ...] = SMOOTH_SIGMAS) -> np.ndarray:
    """(L, n) standardised smooth process: culture offset + recording offset + smooth part."""
    from scipy.ndimage import gaussian_filter1d

    out = np.broadcast_to(culture_offset, (L, n)) + math.sqrt(w_recording) * rng.standard_normal(n)
    within = np.zeros((L, n))
    for sigma in sigmas:
        pad = int(4 * sigma) + 1
        white = rng.standard_normal((L + 2 * pad, n))
        f = gaussian_filter1d(white, sigma, axis=0, mode="constant", truncate=4.0)[pad:pad + L]
        within += f * math.sqrt(2.0 * sigma * math.sqrt(math.pi))  # unit variance
    return out + math.sqrt((1.0 - w_recording) / len(sigmas)) * within


class CorpusGenerator:
    """The generator behind ``emofusion synth``; every method is deterministic in its arguments."""

    def __init__(self, seed: int = 0, size: str = "demo", complementarity: float = 0.5):
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        try:
            c = float(complementarity)
        except (TypeError, ValueError):
            c = math.nan
        if not (0.0 <= c <= 1.0):
            raise ConfigError(f"complementarity must be in [0, 1], got {complementarity!r}")
        self.seed = int(seed)
        self.size = size
        self.spec = _size(size)
        self.complementarity = c
        self.sets = set_specs(size)
        self.rho = {k: np.array(INFORMATIVENESS[k], dtype=np.float64) for k in self.sets}
        self.rho_best = np.max(np.stack(list(self.rho.values())), axis=0)

    # -- recordings ------------------------------------------------------------------------------
    def _rng(self, *parts: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, GENERATOR_VERSION, *(_tag(p) for p in parts)])

    def recordings(self, partitions: Iterable[str] = ("Train", "Devel", "Test")) -> list[str]:
        out = []
        for p in partitions:
            for c, n in self.spec.counts[p].items():
                out += [f"{p}_{c}_{i:02d}" for i in range(1, n + 1)]
        return out

    def length(self, name: str) -> int:
        """Label frames of one recording."""
        if name == "Train_DE_01":
            return self.spec.max_frames
        return int(self._rng("length", name).integers(self.spec.min_frames, self.spec.max_frames + 1))

    def extra(self, key: str, name: str) -> int:
        """Feature frames (0.1 s) beyond the labels in set ``key``'s file."""
        return int(self._rng("extra", key, name).integers(0, EXTRA_MAX + 1))

    def _latent_len(self, name: str) -> int:
        return self.length(name) + ANNOTATION_DELAY + EXTRA_MAX + _MARGIN

    # -- latent processes ------------------------------------------------------------------------
    def target_latent(self, name: str) -> np.ndarray:
        """(L, 3) standardised targets; label frame t is row t, feature frame k is row k + delay."""
        culture = name.split("_")[1]
        rest = _process(self._rng("targets", name), self._latent_len(name), 3)
        return CULTURE_OFFSETS[culture] + np.sqrt(1.0 - _CULTURE_VAR) * rest

    def _noise(self, purpose: str, key: str, name: str, n: int, fast: bool = False) -> np.ndarray:
        """Noise processes: like the targets but without culture offsets (they would leak culture)."""
        rng = self._rng(purpose, key, name)
        if fast:
            return _process(rng, self._latent_len(name), n, w_recording=0.0, sigmas=NOISE_ONLY_SIGMAS)
        return _process(rng, self._latent_len(name), n)

    def labels(self, name: str) -> np.ndarray:
        """(T, 3) label values as written (6 decimals)."""
        z = self.target_latent(name)[: self.length(name)]
        y = np.clip(TARGET_MEAN + TARGET_SCALE * z, -1.0, 1.0)
        return np.round(y, 6) + 0.0

    def components(self, key: str, name: str) -> np.ndarray:
        """(L, 3 + k) planted components of set ``key``: target components O[a], then nuisance."""
        rho, rho_best = self.rho[key], self.rho_best
        s = self.sets[key]
        if not rho.any():  # noise only: fast processes, nothing shared with any other set or the targets
            return self._noise("noise_only", key, name, 3 + s.n_nuisance, fast=True)
        z = self.target_latent(name)
        shared = self._noise("shared", "", name, 3)
        own = self._noise("garble", key, name, 3)
        indep = self._noise("independent", key, name, 3)
        ratio = np.divide(rho, rho_best, out=np.zeros(3), where=rho_best > 0)
        e0_num = ratio * np.sqrt(1.0 - rho_best**2) * shared + np.sqrt(1.0 - ratio**2) * own
        e0 = e0_num / np.sqrt(1.0 - rho**2)
        c = self.complementarity
        E = math.sqrt(1.0 - c) * e0 + math.sqrt(c) * indep
        target_part = rho * z + np.sqrt(1.0 - rho**2) * E
        nuis = self._noise("nuisance", key, name, s.n_nuisance)
        return np.concatenate([target_part, nuis], axis=1)

    def _mixing(self, key: str) -> dict[str, np.ndarray]:
        s = self.sets[key]
        rng = self._rng("mixing", key)
        r = 3 + s.n_nuisance
        M = rng.standard_normal((s.dim, r)) / math.sqrt(r)
        loc = rng.normal(0.0, 2.0, s.dim)
        scale = np.exp(rng.normal(0.0, 0.5, s.dim))
        base = np.exp(rng.normal(-0.3, 1.2, s.dim))  # BoW rates: many small -> sparse counts
        return {"M": M, "loc": loc, "scale": scale, "base": base}

    def native_times(self, key: str, name: str) -> np.ndarray:
        """Time column of set ``key``'s file (seconds, as written)."""
        s = self.sets[key]
        frames = self.length(name) + self.extra(key, name)
        if s.rate == "frame":
            n = frames
        elif s.rate == "lld":
            n = int(round(frames * FRAME_S * LLD_HZ))
        else:
            n = int(math.ceil(frames * FRAME_S * VIDEO_FPS - 1e-9))
        return np.round(np.arange(n) * s.step_s, 6) + 0.0

    def features(self, key: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(times (n,), X (n, d))`` of set ``key``'s file for one recording, values as written."""
        s = self.sets[key]
        mix = self._mixing(key)
        times = self.native_times(key, name)
        C = self.components(key, name)[ANNOTATION_DELAY:]  # row k: feature frame k
        if s.rate != "frame":
            grid = np.arange(C.shape[0]) * FRAME_S
            C = np.stack([np.interp(times, grid, C[:, j]) for j in range(C.shape[1])], axis=1)
        else:
            C = C[: times.size]
        rng = self._rng("features", key, name)
        S = C @ mix["M"].T
        if s.kind == "bow":
            X = rng.poisson(mix["base"] * np.exp(np.clip(0.6 * S, -5.0, 5.0))).astype(np.float64)
            return times, X
        X = S + s.noise_sd * rng.standard_normal(S.shape)
        if s.kind == "fau":
            X = np.maximum(0.0, 1.2 + 0.7 * X)
            X[:, 0] = np.clip(0.97 + 0.02 * rng.standard_normal(times.size), 0.0, 1.0)
        else:
            X = mix["loc"] + mix["scale"] * X
        return times, np.round(X, 6) + 0.0

    # -- truth -----------------------------------------------------------------------------------
    def truth(self, feature_sets: Iterable[str]) -> dict:
        keys = list(feature_sets)
        names = self.recordings()
        return {
            "generator": "emofusion.synth", "version": GENERATOR_VERSION,
            "seed": self.seed, "size": self.size, "complementarity": self.complementarity,
            "targets": list(TARGETS),
            "feature_sets": keys,
            "informativeness": {k: dict(zip(TARGETS, map(float, self.rho[k]), strict=True)) for k in keys},
            "informativeness_mean": {k: round(float(self.rho[k].mean()), 6) for k in keys},
            "noise_sets": [k for k in keys if not self.rho[k].any()],
            "best_informativeness": dict(zip(TARGETS, map(float, self.rho_best), strict=True)),
            "annotation_delay": {"frames": ANNOTATION_DELAY, "seconds": ANNOTATION_DELAY * FRAME_S},
            "label_model": {
                "mean": dict(zip(TARGETS, TARGET_MEAN.tolist(), strict=True)),
                "scale": dict(zip(TARGETS, TARGET_SCALE.tolist(), strict=True)),
                "culture_offsets_std_units": {c: dict(zip(TARGETS, v.tolist(), strict=True))
                                              for c, v in CULTURE_OFFSETS.items()},
                "culture_offsets_label_units": {c: dict(zip(TARGETS, (v * TARGET_SCALE).round(6).tolist(),
                                                            strict=True)) for c, v in CULTURE_OFFSETS.items()},
                "recording_offset_variance": W_RECORDING, "smooth_sigmas_frames": list(SMOOTH_SIGMAS),
                "clip": [-1.0, 1.0],
            },
            "counts": self.spec.counts,
            "frames_range": [self.spec.min_frames, self.spec.max_frames],
            "lengths": {n: self.length(n) for n in names},
            "feature_frames": {k: {n: self.length(n) + self.extra(k, n) for n in names} for k in keys},
            "sets": {k: {"folder": s.folder, "dim": s.dim, "rate": s.rate, "rate_hz": round(1.0 / s.step_s, 6),
                         "modality": s.modality, "kind": s.kind, "rank": 3 + s.n_nuisance,
                         "noise_sd": s.noise_sd, "header": s.header is not None, "separator": s.sep}
                     for k in keys for s in [self.sets[k]]},
            "test_labels_dir": "test_labels",
            "semantics": ("informativeness[set][target] = correlation of the set's planted component with the "
                          "standardised target (ceiling for any model of that set alone); complementarity = "
                          "share of independent (vs shared) noise across sets; see emofusion/data/synth.py"),
        }


def _check_sets(gen: CorpusGenerator, feature_sets: Iterable[str] | None) -> list[str]:
    if feature_sets is None:
        return list(gen.sets)
    keys = list(dict.fromkeys(feature_sets))
    for k in keys:
        if k not in gen.sets:
            raise ConfigError(f"unknown feature set {k!r}: expected one of {', '.join(gen.sets)}")
    if not keys:
        raise ConfigError("no feature sets selected")
    return [k for k in gen.sets if k in keys]  # registry order


_LUT_INT = np.frombuffer("".join(f"{i:>3d}" for i in range(1000)).encode(), dtype=np.uint8).reshape(1000, 3)
_LUT_FRAC = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), dtype=np.uint8).reshape(1000, 3)


def _cells(values: np.ndarray, decimals: int) -> np.ndarray | None:
    """(n, d, W) ASCII cells of ``values`` as ``%.{decimals}f`` (decimals 0 or 6), space-padded, with one
    trailing byte for the separator; the caller drops the spaces, so the text is what ``"%.6f" % v`` gives.
    None when a magnitude reaches 1000 (the caller then formats with ``%``)."""
    K = np.rint(np.asarray(values, dtype=np.float64) * 10**decimals).astype(np.int64)
    ip, fp = np.divmod(np.abs(K), 10**decimals)
    if ip.size and ip.max() >= 1000:
        return None
    W = 1 + 3 + (1 + decimals if decimals else 0) + 1
    buf = np.empty(K.shape + (W,), dtype=np.uint8)
    buf[..., 0] = np.where(K < 0, ord("-"), ord(" "))
    buf[..., 1:4] = _LUT_INT[ip]
    if decimals:
        buf[..., 4] = ord(".")
        hi, lo = np.divmod(fp, 1000)
        buf[..., 5:8] = _LUT_FRAC[hi]
        buf[..., 8:11] = _LUT_FRAC[lo]
    return buf


def format_feature_csv(spec: SetSpec, name: str, times: np.ndarray, X: np.ndarray) -> str:
    """One feature file's text: header (unless BoW), quoted name, 6-decimal time and values
    (integers for BoW). Vectorised; byte for byte what ``"%.6f" % v`` per cell gives."""
    sep = spec.sep
    head = "" if spec.header is None else sep.join(["name", "frameTime", *spec.header]) + "\n"
    n = len(times)
    decimals = 0 if spec.kind == "bow" else 6
    tcell = _cells(np.asarray(times)[:, None], 6)
    vcell = _cells(X, decimals)
    if tcell is None or vcell is None or X.shape[1] == 0:  # rare: |value| >= 1000
        row = f"'{name}'{sep}%.6f" + (sep + ("%d" if decimals == 0 else "%.6f")) * X.shape[1] + "\n"
        return head + "".join([row % tuple(r) for r in np.column_stack([times, X]).tolist()])
    tcell[..., -1] = ord(sep)
    vcell[..., -1] = ord(sep)
    vcell[:, -1, -1] = ord("\n")
    prefix = np.frombuffer(f"'{name}'{sep}".encode(), dtype=np.uint8)
    rows = np.concatenate([np.broadcast_to(prefix, (n, prefix.size)), tcell.reshape(n, -1),
                           vcell.reshape(n, -1)], axis=1)
    return head + rows.tobytes().replace(b" ", b"").decode("ascii")


@dataclass
class SynthCorpus:
    """In-memory arrays of a generated corpus, exactly as :func:`generate_corpus` writes them."""

    truth: dict
    labels: dict[str, np.ndarray]  # every recording (Train, Devel, Test): (T, 3)
    features: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # key -> name -> (times, X)


def synthesize(*, seed: int = 0, size: str = "tiny", feature_sets: Iterable[str] | None = None,
               complementarity: float = 0.5) -> SynthCorpus:
    """The arrays :func:`generate_corpus` would write, without writing (for tests; keep it small)."""
    gen = CorpusGenerator(seed, size, complementarity)
    keys = _check_sets(gen, feature_sets)
    names = gen.recordings()
    return SynthCorpus(truth=gen.truth(keys), labels={n: gen.labels(n) for n in names},
                       features={k: {n: gen.features(k, n) for n in names} for k in keys})


def is_generated_root(root: str | Path) -> bool:
    """Whether ``root`` is a data root ``emofusion synth`` wrote (features or audio): its
    ``truth.json`` names the generator. The one test of "generated data" behind every data label."""
    try:
        return json.loads((Path(root) / "truth.json").read_text()).get("generator") == "emofusion.synth"
    except (OSError, ValueError, AttributeError):
        return False


def guard_out(out: Path) -> None:
    """Refuse to replace a folder that is not a generated corpus (it may be real data)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "truth.json").is_file())):
        raise ConfigError(f"{out} exists and is not a generated corpus (no truth.json): refusing to replace it")
    if (out / "truth.json").is_file() and not is_generated_root(out):
        raise ConfigError(f"{out}/truth.json was not written by emofusion synth: refusing to replace {out}")


def write_labels(gen: CorpusGenerator, root: Path) -> None:
    for name in gen.recordings():
        folder = root / ("test_labels" if name.startswith("Test_") else "labels")
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.csv").write_text(format_avec_csv(name, gen.labels(name)))


def generate_corpus(out_dir: str | Path, *, seed: int = 0, size: str = "demo",
                    feature_sets: Iterable[str] | None = None, complementarity: float = 0.5,
                    cache_dir: str | Path | None = None) -> dict:
    """Write a generated corpus to ``out_dir`` (replaced atomically as a whole); return the truth.

    With ``cache_dir``, no feature CSVs are written: the aligned, Train-normalised caches
    ``<cache_dir>/<key>.npz`` and ``<cache_dir>/labels.npz`` are written instead (labels and
    truth.json still go to ``out_dir``).
    """
    gen = CorpusGenerator(seed, size, complementarity)
    keys = _check_sets(gen, feature_sets)
    out = Path(out_dir)
    guard_out(out)
    truth = gen.truth(keys)
    if cache_dir is not None:
        truth["cache_only"] = True
    with atomic_dir(out) as tmp:
        write_labels(gen, tmp)
        if cache_dir is None:
            for k in keys:
                spec = gen.sets[k]
                folder = tmp / spec.folder
                folder.mkdir()
                for name in gen.recordings():
                    times, X = gen.features(k, name)
                    (folder / f"{name}.csv").write_text(format_feature_csv(spec, name, times, X))
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")  # the folder is atomic
        tmp.chmod(0o755)  # mkdtemp made it 0700; a corpus is for reading by others too
    if cache_dir is not None:
        write_cache(gen, keys, out, Path(cache_dir))
    return truth


def build_cache_arrays(gen: CorpusGenerator, key: str):
    """The :class:`cache.FeatureCache` of set ``key`` built straight from the native arrays.

    Same recordings, lengths, alignment and Train-only normalisation as
    ``build_cache.build_feature_cache`` on the written CSVs (labelled recordings: label frames; Test:
    covered frames, capped at ``alignment.MAX_FRAMES``).
    """
    from .alignment import MAX_FRAMES, align_to_frames, available_frames
    from .cache import FeatureCache
    from .normalisation import normalise_train_only

    spec = gen.sets[key]
    names = sorted(gen.recordings())
    rowwise = spec.rate == "frame"
    lengths = []
    for n in names:
        if n.startswith("Test_"):
            t = gen.native_times(key, n)
            lengths.append(min(available_frames(t, rowwise=rowwise), MAX_FRAMES))
        else:
            lengths.append(gen.length(n))
    lengths = np.array(lengths, dtype=np.int64)
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    X = np.empty((int(offsets[-1]), spec.dim), dtype=np.float32)
    for i, n in enumerate(names):
        times, F = gen.features(key, n)
        X[offsets[i]:offsets[i + 1]] = align_to_frames(times, F, int(lengths[i]), rate=spec.rate)
    views = {n: X[offsets[i]:offsets[i + 1]] for i, n in enumerate(names)}
    mean, std = normalise_train_only(views)
    for v in views.values():
        v -= mean.astype(np.float32)
        v /= std.astype(np.float32)
    return FeatureCache(key=key, source=spec.folder, names=names, lengths=lengths, offsets=offsets, X=X,
                        mean=mean, std=std, rate_hz=round(1.0 / spec.step_s, 6))


def write_cache(gen: CorpusGenerator, keys: Iterable[str], label_root: Path, cache_dir: Path) -> None:
    """``<cache_dir>/<key>.npz`` for every key, and ``labels.npz`` from the label CSVs under ``label_root``."""
    from .build_cache import build_label_cache
    from .cache import cache_path, save_feature_cache

    cache_dir.mkdir(parents=True, exist_ok=True)
    for k in keys:
        save_feature_cache(cache_path(cache_dir, k), build_cache_arrays(gen, k))
    build_label_cache(label_root, cache_dir / "labels.npz")
