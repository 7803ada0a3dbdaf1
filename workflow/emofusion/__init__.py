"""emofusion: multitask LSTM + multistage SVR fusion for dimensional emotion recognition.

Reproduces Atmaja & Akagi (ICASSP 2020) on AVEC 2019 CES (SEWA DE+HU) data or on a generated
corpus in the same on-disk layout. The library never imports snakemake and has no import-time
side effects.
"""

__version__ = "0.1.0"

#: The three emotion dimensions, in the order used by every array in this package.
TARGETS: tuple[str, str, str] = ("arousal", "valence", "liking")

#: The columns of every score row (a scores.json group, the ranking TSV, the tables): the targets, then their mean.
SCORE_COLUMNS: tuple[str, ...] = (*TARGETS, "mean")
