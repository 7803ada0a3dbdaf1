"""The face sets extracted from video: their keys, kinds and folders, and the ``video`` config block.

The sets themselves are :mod:`emofusion.data.face_tracker`'s (``face``) and
:mod:`emofusion.data.face_windows`'s (``face_func``, ``bovw_face``); the video files they are
extracted from are :mod:`emofusion.data.video`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from .extract_config import check_extract_block

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
    check_extract_block(config, "video", a_root="a video data root", synth="emofusion synth --video --out DIR",
                        known=folder_of, folder_of=folder_of, its_folder="its folder")
