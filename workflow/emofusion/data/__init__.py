"""The data stage: from a data root (or a generated one) to the binary caches the training reads.

``layout`` reads and writes the AVEC on-disk layout; ``synth`` and ``audio_synth`` generate a
corpus in it; ``audio`` extracts the audio feature sets from WAVs; ``validate`` checks a data root;
``features`` aligns, normalises and caches the feature sets and the labels.
"""
