"""Video data roots: the video files of a data root, checked and read by their timestamps (AVEC layout).

A video data root holds ``<root>/video/<Partition>_<Culture>_<NN>.<mp4|avi|mkv|mov>`` beside
``<root>/labels/`` (same names; Test videos may have no labels). :func:`check_video_root` checks
it (one :class:`~emofusion.errors.DataError` naming the file); the workflow then extracts one face
LLD file per recording (:mod:`emofusion.data.face_tracker`) and the sets derived from it
(:mod:`emofusion.data.face_windows`); :mod:`emofusion.data.video_config` says which sets are
extracted and where they go.

**Decoding.** PyAV (its wheel carries FFmpeg, so every common container and codec is read with no
system library; OpenCV's reader gives no access to the container's timestamps). A frame's time is
its presentation timestamp in seconds, from the start of the stream: any frame rate, and variable
rates too. :func:`read_video_info` reads the packets' timestamps only (demuxed, not decoded);
:func:`open_video`, :func:`stream_start` and :func:`check_frame_times` are shared with the decoder
of the face tracker.

Bad video is one DataError naming the file: not found, empty, unreadable (FFmpeg's reason), no
video stream, no frames, timestamps not increasing, a frame rate below :data:`MIN_FPS` (the 0.1 s
label frames would go without frames), a video much shorter than its labels, a label file without
its video or a Train/Devel video without its labels (no face in the whole recording is the face
tracker's error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .layout import FRAME_S, PARTITIONS
from .media_root import MediaKind, check_media_file, check_media_root, summary_table

VIDEO_FOLDER = "video"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
#: below this frame rate some 0.1 s label frames would hold no video frame
MIN_FPS = 10.0


# --------------------------------------------------------------------------------------------------
# reading a video's timestamps


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    frames: int
    fps: float  # frames / span of the timestamps
    duration_s: float  # last frame time + one frame
    width: int
    height: int


def open_video(path: Path):
    """The PyAV container of ``path``; DataError where it is missing, empty, unreadable or holds no
    video stream."""
    import av

    check_media_file(path, "video", "a video")
    try:
        container = av.open(str(path))
    except Exception as exc:  # FFmpeg's reason: invalid data, unknown format ...
        msg = str(exc).splitlines()[-1].strip() if str(exc) else type(exc).__name__
        if "End of file" in msg:
            msg = "the file ends before any frame (cut short, or a header without frames)"
        raise DataError(path, f"unreadable video file: {msg}") from None
    if not container.streams.video:
        container.close()
        raise DataError(path, "no video stream in the file (audio only?)")
    return container


def stream_start(stream) -> float:
    """The stream's start time in seconds (0 where the container gives none)."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def check_frame_times(path: Path, times: np.ndarray) -> None:
    """DataError where ``times`` is empty, not increasing, or a rate below :data:`MIN_FPS`."""
    if times.size == 0:
        raise DataError(path, "the video stream holds no frames")
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(path, f"frame timestamps not increasing: frame {i + 1} at {times[i + 1]:.6f} s after "
                              f"{times[i]:.6f} s")
    if times.size > 1:
        fps = (times.size - 1) / (times[-1] - times[0])
        if fps < MIN_FPS:
            raise DataError(path, f"frame rate {fps:.2f} fps: below {MIN_FPS:g} fps, some 0.1 s label frames "
                                  "would hold no video frame")


def read_video_info(path: str | Path) -> VideoInfo:
    """Frame count, rate and length of one video from its packets' timestamps (demuxed, not
    decoded: cheap); DataError where it cannot be read or holds no usable frames."""
    path = Path(path)
    with open_video(path) as c:
        st = c.streams.video[0]
        tb = st.time_base
        pts = []
        try:
            for pkt in c.demux(st):
                if pkt.pts is not None and pkt.size:
                    pts.append(pkt.pts)
        except Exception as exc:
            raise DataError(path, f"unreadable video data: {str(exc).splitlines()[-1].strip()}") from None
        w, h = st.codec_context.width, st.codec_context.height
        start = stream_start(st)
    times = np.sort(np.asarray(pts, dtype=np.float64) * float(tb)) - start if pts else np.zeros(0)
    check_frame_times(path, times)
    step = float(np.median(np.diff(times))) if times.size > 1 else FRAME_S
    fps = (times.size - 1) / (times[-1] - times[0]) if times.size > 1 else 1.0 / step
    return VideoInfo(path, int(times.size), float(fps), float(times[-1] + step), int(w), int(h))


# --------------------------------------------------------------------------------------------------
# the video root


VIDEO_ROOT = MediaKind(VIDEO_FOLDER, "a video data root", VIDEO_SUFFIXES, "videos",
                       lambda n: f"no {VIDEO_FOLDER}/{n}.<{'|'.join(s[1:] for s in VIDEO_SUFFIXES)}>",
                       read_video_info, one_file_each=True)


def check_video_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                     cultures: Iterable[str] = ("DE", "HU"), labels_folder: str | None = "labels",
                     tolerance_frames: int = 10) -> dict[str, VideoInfo]:
    """Check a video data root; returns ``{recording: VideoInfo}`` for ``partitions`` x ``cultures``
    (the pairing and length rules of the module docstring, :mod:`emofusion.data.media_root`'s;
    faces are found at extraction). ``labels_folder=None``: recordings without labels
    (``emofusion predict``), no pairing checked."""
    return check_media_root(VIDEO_ROOT, root, partitions=partitions, cultures=cultures,
                            labels_folder=labels_folder, tolerance_frames=tolerance_frames)


def _rates_and_sizes(infos: Sequence[VideoInfo]) -> str:
    rates = ", ".join(f"{r:.3g} fps" for r in sorted({round(i.fps, 2) for i in infos}))
    sizes = ", ".join(sorted({f"{i.width}x{i.height}" for i in infos}))
    return f"{rates} / {sizes}"


def validate_video_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                        cultures: Iterable[str] = ("DE", "HU"), labels_folder: str = "labels",
                        tolerance_frames: int = 10) -> str | None:
    """``emofusion validate`` on a video root: :func:`check_video_root`, then a summary; None where
    ``<root>/video`` does not exist."""
    if not (Path(root) / VIDEO_FOLDER).is_dir():
        return None
    infos = check_video_root(root, partitions=partitions, cultures=cultures, labels_folder=labels_folder,
                             tolerance_frames=tolerance_frames)
    return summary_table(infos, f"video ({VIDEO_FOLDER}/): {len(infos)} files, checked against {labels_folder}/",
                         "frame rates / sizes", _rates_and_sizes)


def video_path(root: str | Path, rec: str) -> Path:
    """The video of recording ``rec`` under ``root/video`` (whichever allowed suffix exists)."""
    vdir = Path(root) / VIDEO_FOLDER
    for s in VIDEO_SUFFIXES:
        p = vdir / f"{rec}{s}"
        if p.is_file():
            return p
    for f in vdir.iterdir() if vdir.is_dir() else ():
        if f.stem == rec and f.suffix.lower() in VIDEO_SUFFIXES:
            return f
    raise DataError(vdir / rec, "video not found")
