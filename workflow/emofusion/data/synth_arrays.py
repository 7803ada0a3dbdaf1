"""A generated corpus's arrays in memory, without writing (for tests; keep it small)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .synth_generator import CorpusGenerator


@dataclass
class SynthCorpus:
    """In-memory arrays of a generated corpus, exactly as ``synth.generate_corpus`` writes them."""

    truth: dict
    labels: dict[str, np.ndarray]  # every recording (Train, Devel, Test): (T, 3)
    features: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # key -> name -> (times, X)


def synthesize(*, seed: int = 0, size: str = "tiny", feature_sets: Iterable[str] | None = None,
               complementarity: float = 0.5) -> SynthCorpus:
    """The arrays ``synth.generate_corpus`` would write, without writing (for tests; keep it small)."""
    gen = CorpusGenerator(seed, size, complementarity)
    keys = gen.select_sets(feature_sets)
    names = gen.recordings()
    return SynthCorpus(truth=gen.truth(keys), labels={n: gen.labels(n) for n in names},
                       features={k: {n: gen.features(k, n) for n in names} for k in keys})
