"""The feature-set registry: every feature set by key, with its default folder, dim, rate and modality.

:data:`FEATURE_SETS` holds the 12 sets of AVEC 2019 CES (docs/data.md); :data:`EXTRACTED_SETS` the
face sets this project extracts from video files (:mod:`emofusion.data.video_config`); :data:`ALL_SETS`
both. A set's folder is only its default (the folder is configuration). The rate class says how
a set is placed on the 0.1 s label frames (:mod:`emofusion.data.alignment`): ``frame`` one row per
label frame, ``lld`` 100 Hz, ``video`` the video frame rate. :func:`get_feature_set` is the one
lookup by key (an unknown key is a :class:`~emofusion.errors.ConfigError`), :func:`modality_of` a
run's modality from its sets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class FeatureSet:
    """One of the 12 AVEC 2019 CES feature sets: registry key, default folder, dim, rate, modality."""

    key: str
    folder: str
    dim: int
    rate: str  # "frame" (0.1 s) | "lld" (100 Hz) | "video" (video frame rate)
    modality: str  # "audio" | "visual"
    #: the file's first feature column is ``success`` (1 face, 0 none): rows with 0 are masked, and
    #: the column itself is not a feature (the face LLDs extracted from video, emofusion.data.face_tracker)
    masked: bool = False


FEATURE_SETS: dict[str, FeatureSet] = {
    fs.key: fs
    for fs in (
        FeatureSet("egemaps", "audio_features_egemaps", 23, "lld", "audio"),
        FeatureSet("egemaps_func", "audio_features_egemaps_functionals", 46, "frame", "audio"),
        FeatureSet("boaw_egemaps", "audio_features_egemaps_xbow", 100, "frame", "audio"),
        FeatureSet("mfcc", "audio_features_mfcc", 39, "lld", "audio"),
        FeatureSet("mfcc_func", "audio_features_mfcc_functionals", 78, "frame", "audio"),
        FeatureSet("boaw_mfcc", "audio_features_mfcc_xbow", 100, "frame", "audio"),
        FeatureSet("deepspectrum", "audio_features_DeepSpectrum_VGG16", 4096, "frame", "audio"),
        FeatureSet("fau", "visual_features", 18, "video", "visual"),
        FeatureSet("fau_func", "visual_features_functionals", 36, "frame", "visual"),
        FeatureSet("bovw", "visual_features_xbow", 100, "frame", "visual"),
        FeatureSet("resnet", "visual_features_ResNet", 2048, "video", "visual"),
        FeatureSet("vgg", "visual_features_VGG", 4096, "video", "visual"),
    )
}

#: sets this project extracts from video files (emofusion.data.video_config); not among AVEC 2019's 12, so
#: the generated feature corpus and ``emofusion validate``'s default sets leave them out
EXTRACTED_SETS: dict[str, FeatureSet] = {
    fs.key: fs
    for fs in (
        FeatureSet("face", "visual_features_face", 13, "video", "visual", masked=True),
        FeatureSet("face_func", "visual_features_face_functionals", 26, "frame", "visual"),
        FeatureSet("bovw_face", "visual_features_face_xbow", 100, "frame", "visual"),
    )
}
ALL_SETS: dict[str, FeatureSet] = {**FEATURE_SETS, **EXTRACTED_SETS}


def modality_of(keys: Iterable[str]) -> str:
    """``audio``, ``visual`` or ``audiovisual`` of a run's feature-set keys, from :data:`FEATURE_SETS`
    (``unknown`` when none is a registry key)."""
    mods = sorted({ALL_SETS[k].modality for k in keys if k in ALL_SETS})
    if not mods:
        return "unknown"
    return mods[0] if len(mods) == 1 else "audiovisual"


def get_feature_set(key: str) -> FeatureSet:
    try:
        return ALL_SETS[key]
    except KeyError:
        raise ConfigError(f"unknown feature set {key!r}: expected one of {', '.join(ALL_SETS)}") from None
