"""The face sets extracted from video: their keys, kinds and folders, and the ``video`` config block.

The sets themselves are :mod:`emofusion.data.face_tracker`'s (``face``) and
:mod:`emofusion.data.face_windows`'s (``face_func``, ``bovw_face``); the video files they are
extracted from are :mod:`emofusion.data.video`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError

#: sets extracted from video: key -> kind
EXTRACTABLE: dict[str, str] = {"face": "lld", "face_func": "func", "bovw_face": "boaw"}
FOLDERS = {"face": "visual_features_face", "face_func": "visual_features_face_functionals",
           "bovw_face": "visual_features_face_xbow"}


def folder_of(key: str) -> str:
    try:
        return FOLDERS[key]
    except KeyError:
        raise ConfigError(f"feature set {key!r} cannot be extracted from video (extractable: "
                          f"{', '.join(EXTRACTABLE)})") from None


def check_video_config(config: Mapping) -> None:
    """The ``video`` block against ``feature_sets`` (as :func:`emofusion.data.audio.check_audio_config`)."""
    video = config.get("video") or {}
    extract = list(video.get("extract") or [])
    if not extract:
        return
    if config.get("data_root") is None:
        raise ConfigError("config key video.extract: extraction needs a video data root (data_root is null; "
                          "`emofusion synth --video --out DIR` writes one)")
    sets = config["feature_sets"]
    for key in extract:
        folder_of(key)
        if key not in sets:
            raise ConfigError(f"config key video.extract: {key!r} is not one of feature_sets ({', '.join(sets)})")
        if sets[key]["folder"] != folder_of(key):
            raise ConfigError(f"config key feature_sets.{key}.folder: an extracted set is written to its folder "
                              f"{folder_of(key)!r}, got {sets[key]['folder']!r}")
