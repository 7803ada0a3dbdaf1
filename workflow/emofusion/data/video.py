"""Video data roots: from video files to the face feature sets (AVEC on-disk layout).

A video data root holds ``<root>/video/<Partition>_<Culture>_<NN>.<mp4|avi|mkv|mov>`` beside
``<root>/labels/`` (same names; Test videos may have no labels). :func:`check_video_root` checks
it (one :class:`~emofusion.errors.DataError` naming the file); the workflow extracts one face LLD
file per recording, then one job per derived set:

* ``face``: the face LLDs of :mod:`emofusion.data.face` (confidence, 9 geometric descriptors of the
  facial action groups, head pose) at the video's own frame rate, plus a ``success`` column (1: a
  face was found in that frame, 0: none; the other cells of a faceless row are written as 0, as
  OpenFace does, and are never read: the row is masked);
* ``face_func``: mean and population standard deviation of the 13 LLD columns over the frames
  *with a face* within a 4 s window centred on each 0.1 s frame (by time, since the frame rate is
  the video's); a 0.1 s frame whose window holds no face takes the values of the nearest frame
  whose window holds one. 26 columns;
* ``bovw_face``: a bag of 100 visual words over the same windows, through the audio bag-of-words
  code (Train-only codebook, k-means++ seeding, seed 10, ``log10(1 + count)``), counting the frames
  with a face only (a window without a face is a bag of zeros). The LLDs are standardised with the
  Train statistics first: AVEC's visual bags skipped that, as its 17 AU intensities share one
  0-5 scale, but here pose in degrees and shape ratios do not.

**Decoding.** PyAV (its wheel carries FFmpeg, so every common container and codec is read with no
system library; OpenCV's reader gives no access to the container's timestamps). A frame's time is
its presentation timestamp in seconds, from the start of the stream: any frame rate, and variable
rates too. Frames are decoded to grey (the luma plane), which is what dlib's detector uses.

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

Bad video is one DataError naming the file: not found, empty, unreadable (FFmpeg's reason), no
video stream, no frames, timestamps not increasing, a frame rate below :data:`MIN_FPS` (the 0.1 s
label frames would go without frames), no face in the whole recording, a video much shorter than its
labels, a label file without its video or a Train/Devel video without its labels. A recording
with more than :data:`FACELESS_WARN` of its frames faceless gets a warning naming it and the share.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write_text
from .audio import (
    BOAW_SEED,
    BOAW_SIZE,
    FUNC_WINDOW_S,
    Codebook,
    _label_frames,
    format_feature_csv,
    learn_codebook,
    load_codebook,
    save_codebook,
)
from .face import FACE_COLUMNS, LLD_HEADER, face_llds, read_face_file
from .layout import FRAME_S, NAME_RE, PARTITIONS, list_recordings, parse_name

VIDEO_FOLDER = "video"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
#: below this frame rate some 0.1 s label frames would hold no video frame
MIN_FPS = 10.0
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


# --------------------------------------------------------------------------------------------------
# models (dlib, face-recognition-models)


def predictor_path() -> Path:
    """dlib's 68-point shape predictor inside the ``face_recognition_models`` package, found
    without importing it (its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("video extraction needs the face-recognition-models package (dlib's 68-point "
                          "shape predictor): pip install face-recognition-models")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / "shape_predictor_68_face_landmarks.dat"
        if p.is_file():
            return p
    raise ConfigError("face-recognition-models is installed without models/shape_predictor_68_face_landmarks.dat")


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


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    frames: int
    fps: float  # frames / span of the timestamps
    duration_s: float  # last frame time + one frame
    width: int
    height: int


def _open(path: Path):
    import av

    if not path.is_file():
        raise DataError(path, "video file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes): not a video")
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


def _stream_start(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _check_times(path: Path, times: np.ndarray) -> None:
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
    with _open(path) as c:
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
        start = _stream_start(st)
    times = np.sort(np.asarray(pts, dtype=np.float64) * float(tb)) - start if pts else np.zeros(0)
    _check_times(path, times)
    step = float(np.median(np.diff(times))) if times.size > 1 else FRAME_S
    fps = (times.size - 1) / (times[-1] - times[0]) if times.size > 1 else 1.0 / step
    return VideoInfo(path, int(times.size), float(fps), float(times[-1] + step), int(w), int(h))


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """``(time s from the stream's start, grey frame (h, w) uint8)`` for every decoded frame."""
    path = Path(path)
    with _open(path) as c:
        st = c.streams.video[0]
        start = _stream_start(st)
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
    _check_times(path, times)
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


# --------------------------------------------------------------------------------------------------
# functionals and bags of visual words, over time windows of the frames with a face


def _frame_count(times: np.ndarray) -> int:
    return int(math.floor(times[-1] / FRAME_S + 1e-6)) + 1 if times.size else 0


def _windows(times: np.ndarray, n_out: int, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(n_out) * FRAME_S
    half = window_s / 2
    return (np.searchsorted(times, c - half - 1e-9, side="left"),
            np.searchsorted(times, c + half + 1e-9, side="right"))


def _fill_empty(out: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Rows where ``empty`` take the nearest row that is not (ties: the earlier)."""
    if not empty.any():
        return out
    full = np.flatnonzero(~empty)
    idx = np.arange(out.shape[0])
    j = np.clip(np.searchsorted(full, idx), 1, max(full.size - 1, 1)) if full.size > 1 else np.zeros_like(idx)
    if full.size > 1:
        left = full[j - 1]
        right = full[j]
        j = np.where(np.abs(idx - left) <= np.abs(right - idx), left, right)
    else:
        j = np.full_like(idx, full[0])
    out[empty] = out[j[empty]]
    return out


def face_functionals(times: np.ndarray, X: np.ndarray, valid: np.ndarray, *,
                     window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, 2d)`` at 0.1 s: mean then population std of each column over the frames with a
    face within ``window_s`` centred on each frame (module docstring)."""
    n_out = _frame_count(times)
    tv, Xv = times[valid], np.asarray(X, np.float64)[valid]
    lo, hi = _windows(tv, n_out, window_s)
    mu0 = Xv.mean(axis=0)
    Xc = Xv - mu0
    cs = np.zeros((Xv.shape[0] + 1, Xv.shape[1]))
    cs2 = np.zeros_like(cs)
    np.cumsum(Xc, axis=0, out=cs[1:])
    np.cumsum(Xc * Xc, axis=0, out=cs2[1:])
    n = np.maximum(hi - lo, 1)[:, None].astype(np.float64)
    mean = (cs[hi] - cs[lo]) / n
    var = np.maximum((cs2[hi] - cs2[lo]) / n - mean**2, 0.0)
    out = np.concatenate([mean + mu0, np.sqrt(var)], axis=1)
    return _fill_empty(out, hi == lo)


def face_bags(times: np.ndarray, X: np.ndarray, valid: np.ndarray, codebook: Codebook, *,
              window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, size)`` at 0.1 s: ``log10(1 + count)`` of each word among the frames with a face
    in each frame's window."""
    n_out = _frame_count(times)
    tv = times[valid]
    size = codebook.words.shape[0]
    words = codebook.assign(np.asarray(X, np.float64)[valid])
    onehot = np.zeros((words.size + 1, size), dtype=np.int64)
    onehot[np.arange(1, words.size + 1), words] = 1
    cs = np.cumsum(onehot, axis=0)
    lo, hi = _windows(tv, n_out, window_s)
    return np.log10(1.0 + (cs[hi] - cs[lo]))


def _frame_times(n: int) -> np.ndarray:
    return np.round(np.arange(n) * FRAME_S, 6)


def write_face_functionals(lld_csvs: Sequence[str | Path], out_dir: str | Path, *,
                           window_s: float = FUNC_WINDOW_S) -> None:
    out_dir = Path(out_dir)
    names = [f"{c}_amean" for c in FACE_COLUMNS] + [f"{c}_stddev" for c in FACE_COLUMNS]
    for f in map(Path, lld_csvs):
        t, X, v = read_face_file(f)
        F = face_functionals(t, X, v, window_s=window_s)
        atomic_write_text(out_dir / f.name, format_feature_csv(f.stem, _frame_times(F.shape[0]), F, names))


def write_face_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, *, size: int = BOAW_SIZE,
                        seed: int = BOAW_SEED) -> Codebook:
    """The codebook of the face LLDs from the Train files' frames with a face (others ignored)."""
    train = {}
    for f in map(Path, lld_csvs):
        if f.stem.startswith("Train_"):
            _, X, v = read_face_file(f)
            train[f.stem] = X[v]
    cb = learn_codebook(train, "face", size=size, seed=seed)
    save_codebook(out_npz, cb)
    return cb


def write_face_bags(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path, *,
                    window_s: float = FUNC_WINDOW_S) -> None:
    cb = load_codebook(codebook_npz)
    out_dir = Path(out_dir)
    for f in map(Path, lld_csvs):
        t, X, v = read_face_file(f)
        B = face_bags(t, X, v, cb, window_s=window_s)
        atomic_write_text(out_dir / f.name, format_feature_csv(f.stem, _frame_times(B.shape[0]), B, None, sep=","))


# --------------------------------------------------------------------------------------------------
# the video root


def check_video_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                     cultures: Iterable[str] = ("DE", "HU"), labels_folder: str | None = "labels",
                     tolerance_frames: int = 10) -> dict[str, VideoInfo]:
    """Check a video data root; returns ``{recording: VideoInfo}`` for ``partitions`` x ``cultures``
    (the pairing and length rules of the module docstring; faces are found at extraction).
    ``labels_folder=None``: recordings without labels (``emofusion predict``), no pairing checked."""
    root = Path(root)
    vdir, ldir = root / VIDEO_FOLDER, root / (labels_folder or "labels")
    if not vdir.is_dir():
        raise DataError(vdir, "video folder not found: a video data root holds video/<Partition>_<Culture>_<NN>."
                              f"{'|'.join(s[1:] for s in VIDEO_SUFFIXES)}")
    if labels_folder is not None and not ldir.is_dir():
        raise DataError(ldir, "labels folder not found")
    parts, cults = set(partitions), set(cultures)
    vids: dict[str, Path] = {}
    for f in sorted(vdir.iterdir()):
        if f.name.startswith("."):
            continue
        if f.suffix.lower() not in VIDEO_SUFFIXES or not NAME_RE.match(f.stem):
            raise DataError(f, "unexpected file in the video folder: expected <Train|Devel|Test>_<DE|HU|CN>_<NN>."
                               f"{'|'.join(s[1:] for s in VIDEO_SUFFIXES)}")
        if f.stem in vids:
            raise DataError(f, f"two videos of one recording: {vids[f.stem].name} and {f.name}")
        p, c, _ = parse_name(f.stem, f)
        if p in parts and c in cults:
            vids[f.stem] = f
    labels = {n: ldir / f"{n}.csv" for n in list_recordings(ldir, parts, cults)} if labels_folder is not None else {}
    for n in sorted(labels):
        if n not in vids:
            raise DataError(labels[n], f"label file without its video: no {VIDEO_FOLDER}/{n}.<"
                                       f"{'|'.join(s[1:] for s in VIDEO_SUFFIXES)}>")
    for n in sorted(vids):
        if n not in labels and parse_name(n)[0] != "Test" and labels_folder is not None:
            raise DataError(vids[n], f"video without its label file: {labels_folder}/{n}.csv not found")
    if not vids:
        raise DataError(vdir, f"no videos for partitions {'/'.join(sorted(parts))} and cultures "
                              f"{'/'.join(sorted(cults))}")
    out = {}
    for n, f in sorted(vids.items()):
        info = read_video_info(f)
        if n in labels:
            need = _label_frames(labels[n])
            have = int(math.floor(info.duration_s / FRAME_S + 1e-9))
            if need - have > tolerance_frames:
                raise DataError(f, f"video much shorter than its labels: {info.duration_s:.2f} s of video, "
                                   f"{need} label frames ({need * FRAME_S:.1f} s) in {labels[n]} "
                                   f"(tolerance {tolerance_frames} frames)")
        out[n] = info
    return out


def validate_video_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                        cultures: Iterable[str] = ("DE", "HU"), labels_folder: str = "labels",
                        tolerance_frames: int = 10) -> str | None:
    """``emofusion validate`` on a video root: :func:`check_video_root`, then a summary; None where
    ``<root>/video`` does not exist."""
    if not (Path(root) / VIDEO_FOLDER).is_dir():
        return None
    infos = check_video_root(root, partitions=partitions, cultures=cultures, labels_folder=labels_folder,
                             tolerance_frames=tolerance_frames)
    lines = [f"video ({VIDEO_FOLDER}/): {len(infos)} files, checked against {labels_folder}/",
             f"{'partition':<10} {'files':>5} {'minutes':>8}  frame rates / sizes"]
    for p in PARTITIONS:
        sel = [i for n, i in infos.items() if n.startswith(p + "_")]
        if not sel:
            continue
        rates = ", ".join(f"{r:.3g} fps" for r in sorted({round(i.fps, 2) for i in sel}))
        sizes = ", ".join(sorted({f"{i.width}x{i.height}" for i in sel}))
        lines.append(f"{p:<10} {len(sel):>5} {sum(i.duration_s for i in sel) / 60:>8.2f}  {rates} / {sizes}")
    return "\n".join(lines)


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


# --------------------------------------------------------------------------------------------------
# configuration


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
