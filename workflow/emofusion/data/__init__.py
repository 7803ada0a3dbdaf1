"""The data stage: from a data root (or a generated one) to the binary caches the training reads.

``layout`` reads and writes the AVEC on-disk layout; ``synth`` and ``audio_synth`` generate a
corpus in it (``video_synth`` its videos); ``audio`` extracts the audio feature sets from WAVs;
``video`` checks a video root and reads its frame times, ``face_tracker`` extracts the face LLDs
(:mod:`face` computes them from landmarks), ``face_windows`` the face sets derived from them and
``video_config`` names the sets extracted from video; ``validate`` checks a data root;
``feature_sets`` is the registry of the feature sets; ``recordings`` says which recordings a root's
labels and feature folders hold; ``alignment`` places a set's files on the 0.1 s label frames;
``normalisation`` takes the Train-only z-score statistics; ``cache`` is the binary caches' format
(save, load) and ``build_cache`` builds them from a data root.
"""
