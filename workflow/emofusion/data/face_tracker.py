"""The face LLDs of one video: decoding to grey frames, dlib's face tracker, the ``face`` LLD file.

The ``face`` set holds the face LLDs of :mod:`emofusion.data.face` (confidence, 9 geometric
descriptors of the facial action groups, head pose) at the video's own frame rate, plus a
``success`` column (1: a face was found in that frame, 0: none; the other cells of a faceless row
are written as 0, as OpenFace does, and are never read: the row is masked). The sets derived from
it are :mod:`emofusion.data.face_windows`'s; the video files are read as
:mod:`emofusion.data.video` says (frame times from the container's timestamps).

**Decoding.** Frames are decoded to grey (the luma plane), which is what dlib's detector uses.

**Face detection and landmarks.** dlib's HOG frontal-face detector and its 68-point shape
predictor (``shape_predictor_68_face_landmarks.dat``, from the ``face-recognition-models``
package; located through the package's files without importing it, as its ``__init__`` imports
``pkg_resources``, which current setuptools no longer has). **Tracking:** the whole frame is
searched on the first frame, after a frame without a face, and every :data:`DETECT_EVERY` frames;
on the frames in between the detector searches only the last face's box grown by
:data:`ROI_MARGIN` of its size on every side (a fraction of the frame's pixels), shrunk by an
integer factor so that the face is about :data:`ROI_FACE_PX` pixels wide (the detector's cost
grows with the pixels searched), and the full frame only when that fails. The 68 points are then fitted inside the box found. A frame's
detector score ``s`` enters the LLDs' confidence as ``1 - exp(-s)``. The 68-point model's training
data (iBUG 300-W) excludes commercial use.

A recording with no face in the whole of it is one DataError naming the file (bad video files are
:mod:`emofusion.data.video`'s errors); one with more than :data:`FACELESS_WARN` of its frames
faceless gets a warning naming it and the share.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write_text
from .audio import format_feature_csv
from .face import LLD_HEADER, face_llds
from .package_data import package_file
from .video import check_frame_times, open_video, stream_start

#: full-frame detection at least every this many frames (else: in the last face's region)
DETECT_EVERY = 10
#: the search region around the last face: its box grown by this fraction of its size per side
ROI_MARGIN = 0.5
#: detector upsampling of the full frame (0: faces from about 80 pixels wide)
UPSAMPLE = 0
#: the region search shrinks the region (block means) so the last face is about this wide
ROI_FACE_PX = 110
#: a recording with a larger share of faceless frames gets a warning naming it
FACELESS_WARN = 0.2


# --------------------------------------------------------------------------------------------------
# models (dlib, face-recognition-models)


def predictor_path() -> Path:
    """dlib's 68-point shape predictor inside the ``face_recognition_models`` package, found
    without importing it (its ``__init__`` needs ``pkg_resources``)."""
    return package_file("face_recognition_models", "models/shape_predictor_68_face_landmarks.dat",
                        not_installed="video extraction needs the face-recognition-models package (dlib's "
                                      "68-point shape predictor): pip install face-recognition-models",
                        not_shipped="face-recognition-models is installed without "
                                    "models/shape_predictor_68_face_landmarks.dat")


class FaceTracker:
    """dlib's detector + 68-point predictor with the region tracking of the module docstring."""

    def __init__(self, *, detect_every: int = DETECT_EVERY, roi_margin: float = ROI_MARGIN,
                 upsample: int = UPSAMPLE):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))
        self._rect = dlib.rectangle
        self.detect_every, self.roi_margin, self.upsample = detect_every, roi_margin, upsample
        self.full_detections = 0
        self.roi_detections = 0
        self.reset()

    def reset(self) -> None:
        self.box = None  # (left, top, right, bottom) of the last face
        self.since = 0

    def _best(self, img: np.ndarray, upsample: int, dx: int = 0, dy: int = 0):
        rects, scores, _ = self.detector.run(img, upsample, 0.0)
        if not rects:
            return None
        i = int(np.argmax(scores))
        r = rects[i]
        return (r.left() + dx, r.top() + dy, r.right() + dx, r.bottom() + dy), float(scores[i])

    def _best_scaled(self, roi: np.ndarray, k: int, dx: int, dy: int):
        """:meth:`_best` on ``roi`` shrunk by ``k`` (k x k block means), the box in full-size pixels."""
        if k > 1:
            h, w = (roi.shape[0] // k) * k, (roi.shape[1] // k) * k
            roi = roi[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3)).astype(np.uint8)
        found = self._best(np.ascontiguousarray(roi), 0)
        if found is None:
            return None
        (left, top, right, bottom), score = found
        return (left * k + dx, top * k + dy, (right + 1) * k - 1 + dx, (bottom + 1) * k - 1 + dy), score

    def find(self, img: np.ndarray) -> tuple[np.ndarray, float]:
        """``(landmarks (68, 2), detector score)`` of one grey frame; NaN landmarks and score 0
        where no face is found."""
        found = None
        if self.box is not None and self.since < self.detect_every:
            left, top, right, bottom = self.box
            mx, my = int(self.roi_margin * (right - left)), int(self.roi_margin * (bottom - top))
            h, w = img.shape[:2]
            x0, y0, x1, y1 = max(0, left - mx), max(0, top - my), min(w, right + mx), min(h, bottom + my)
            k = max(1, int((right - left) // ROI_FACE_PX))
            if (x1 - x0) // k >= 40 and (y1 - y0) // k >= 40:
                self.roi_detections += 1
                found = self._best_scaled(img[y0:y1, x0:x1], k, x0, y0)
            if found is not None:
                self.since += 1
        if found is None:
            self.full_detections += 1
            found = self._best(img, self.upsample)
            self.since = 0
        if found is None:
            self.box = None
            return np.full((68, 2), np.nan), 0.0
        self.box, score = found
        shape = self.predictor(img, self._rect(*self.box))
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        return pts, score


# --------------------------------------------------------------------------------------------------
# decoding


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """``(time s from the stream's start, grey frame (h, w) uint8)`` for every decoded frame."""
    path = Path(path)
    with open_video(path) as c:
        st = c.streams.video[0]
        start = stream_start(st)
        try:
            for frame in c.decode(st):
                t = frame.time
                if t is None:
                    raise DataError(path, "a decoded frame has no timestamp")
                yield float(t) - start, frame.to_ndarray(format="gray")
        except DataError:
            raise
        except Exception as exc:
            raise DataError(path, f"unreadable video data: {str(exc).splitlines()[-1].strip()}") from None


# --------------------------------------------------------------------------------------------------
# the face LLDs of one video


@dataclass(frozen=True)
class VideoFace:
    """Per-frame face LLDs of one video: frame times, ``values (T, 13)`` in FACE_COLUMNS order (NaN
    where faceless), ``valid (T,)``, and the tracker's detection counts."""

    path: Path
    times: np.ndarray
    values: np.ndarray
    valid: np.ndarray
    full_detections: int
    roi_detections: int

    @property
    def faceless_share(self) -> float:
        return float(1.0 - self.valid.mean())


def extract_face(path: str | Path, *, tracker: FaceTracker | None = None, warn=None) -> VideoFace:
    """Decode, track, and compute the face LLDs of one video (module docstring)."""
    path = Path(path)
    tracker = tracker or FaceTracker()
    tracker.reset()
    f0, r0 = tracker.full_detections, tracker.roi_detections
    times, L, S = [], [], []
    for t, img in iter_frames(path):
        pts, score = tracker.find(img)
        times.append(t)
        L.append(pts)
        S.append(score)
    times = np.asarray(times, dtype=np.float64)
    check_frame_times(path, times)
    L = np.asarray(L).reshape(-1, 68, 2)
    conf = 1.0 - np.exp(-np.maximum(np.asarray(S), 0.0))
    lld = face_llds(L, conf)
    if not lld.valid.any():
        raise DataError(path, f"no face found in the whole recording ({times.size} frames)")
    out = VideoFace(path, times, lld.values, lld.valid, tracker.full_detections - f0, tracker.roi_detections - r0)
    share = out.faceless_share
    if share > FACELESS_WARN:
        msg = (f"{path}: {share:.0%} of its {times.size} frames without a face (above {FACELESS_WARN:.0%}): "
               "masked, not used")
        if warn is None:
            warnings.warn(msg, stacklevel=2)
        else:
            warn(msg)
    return out


def face_lld_table(vf: VideoFace) -> np.ndarray:
    """The LLD file's cells after the time: ``success`` then the 13 columns (0 where faceless)."""
    X = np.where(vf.valid[:, None], vf.values, 0.0)
    return np.column_stack([vf.valid.astype(np.float64), X])


def extract_face_file(video: str | Path, out_csv: str | Path, *, warn=None) -> VideoFace:
    """One job of the workflow: the face LLD file of one recording (AVEC layout, ``;``, header)."""
    video = Path(video)
    vf = extract_face(video, warn=warn)
    atomic_write_text(out_csv, format_feature_csv(video.stem, np.round(vf.times, 6), face_lld_table(vf),
                                                  list(LLD_HEADER)))
    return vf
