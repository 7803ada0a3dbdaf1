"""The generator behind ``emofusion synth``: latent processes, labels, features and truth of a
corpus with the structure :mod:`emofusion.data.synth_planted` plants.

Determinism. Every random draw comes from a ``numpy.random.Generator`` seeded by
``(seed, purpose, set, recording)``, so the same seed gives the same bytes, and choosing a subset
of sets leaves every other set's bytes unchanged.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

import numpy as np

from .. import TARGETS
from ..errors import ConfigError
from .layout import FRAME_S
from .synth_planted import (
    ANNOTATION_DELAY,
    CULTURE_OFFSETS,
    CULTURE_VAR,
    EXTRA_MAX,
    INFORMATIVENESS,
    LLD_HZ,
    NOISE_ONLY_SIGMAS,
    SMOOTH_SIGMAS,
    TARGET_MEAN,
    TARGET_SCALE,
    VIDEO_FPS,
    W_RECORDING,
    set_specs,
    size_spec,
)

GENERATOR_VERSION = 1
_MARGIN = 2  # latent frames beyond the last feature frame (alignment of the last window)


def _tag(s: str) -> int:
    return zlib.crc32(s.encode())


def latent_process(rng: np.random.Generator, L: int, n: int, culture_offset: np.ndarray | float = 0.0, *,
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
        self.spec = size_spec(size)
        self.complementarity = c
        self.sets = set_specs(size)
        self.rho = {k: np.array(INFORMATIVENESS[k], dtype=np.float64) for k in self.sets}
        self.rho_best = np.max(np.stack(list(self.rho.values())), axis=0)

    # -- recordings ------------------------------------------------------------------------------
    def rng(self, *parts: str) -> np.random.Generator:
        """The random generator of one purpose (e.g. ``"audio", name``), seeded by ``(seed, version, parts)``."""
        return np.random.default_rng([self.seed, GENERATOR_VERSION, *(_tag(p) for p in parts)])

    def recordings(self, partitions: Iterable[str] = ("Train", "Devel", "Test")) -> list[str]:
        out = []
        for p in partitions:
            for c, n in self.spec.counts[p].items():
                out += [f"{p}_{c}_{i:02d}" for i in range(1, n + 1)]
        return out

    def select_sets(self, feature_sets: Iterable[str] | None) -> list[str]:
        """The selected set keys in registry order (all where ``feature_sets`` is None); unknown or
        no sets are a :class:`ConfigError`."""
        if feature_sets is None:
            return list(self.sets)
        keys = list(dict.fromkeys(feature_sets))
        for k in keys:
            if k not in self.sets:
                raise ConfigError(f"unknown feature set {k!r}: expected one of {', '.join(self.sets)}")
        if not keys:
            raise ConfigError("no feature sets selected")
        return [k for k in self.sets if k in keys]  # registry order

    def length(self, name: str) -> int:
        """Label frames of one recording."""
        if name == "Train_DE_01":
            return self.spec.max_frames
        return int(self.rng("length", name).integers(self.spec.min_frames, self.spec.max_frames + 1))

    def extra(self, key: str, name: str) -> int:
        """Feature frames (0.1 s) beyond the labels in set ``key``'s file."""
        return int(self.rng("extra", key, name).integers(0, EXTRA_MAX + 1))

    def _latent_len(self, name: str) -> int:
        return self.length(name) + ANNOTATION_DELAY + EXTRA_MAX + _MARGIN

    # -- latent processes ------------------------------------------------------------------------
    def target_latent(self, name: str) -> np.ndarray:
        """(L, 3) standardised targets; label frame t is row t, feature frame k is row k + delay."""
        culture = name.split("_")[1]
        rest = latent_process(self.rng("targets", name), self._latent_len(name), 3)
        return CULTURE_OFFSETS[culture] + np.sqrt(1.0 - CULTURE_VAR) * rest

    def _noise(self, purpose: str, key: str, name: str, n: int, fast: bool = False) -> np.ndarray:
        """Noise processes: like the targets but without culture offsets (they would leak culture)."""
        rng = self.rng(purpose, key, name)
        if fast:
            return latent_process(rng, self._latent_len(name), n, w_recording=0.0, sigmas=NOISE_ONLY_SIGMAS)
        return latent_process(rng, self._latent_len(name), n)

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
        rng = self.rng("mixing", key)
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
        rng = self.rng("features", key, name)
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
