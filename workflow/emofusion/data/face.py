"""Face LLDs from 68-point facial landmarks: geometric descriptors of the facial action groups,
head pose and a confidence, one row per video frame.

Input: landmarks ``(T, 68, 2)`` in image pixels (x to the right, y down), in the 68-point
iBUG 300-W order that dlib's shape predictor and OpenFace use (0-16 jaw, 17-21 and 22-26 the brows
(the person's right brow first, on the image's left), 27-30 nose bridge, 31-35 nose base, 36-41
and 42-47 the eyes (corners 36/39 and 42/45), 48-59 outer lip (corners 48 and 54), 60-67 inner
lip). A frame without a face is NaN (any NaN coordinate makes the whole frame faceless).

**Size and pose removed.** Each frame is aligned to the reference shape (:func:`reference_shape`,
the frontal projection of :func:`reference_shape_3d`; its outer eye corners 1 unit apart) by the
least-squares similarity transform (rigid Procrustes: scale, in-plane rotation, translation, no
reflection) fitted on the points that facial actions hardly move (:data:`RIGID`: eye corners,
nose, the jaw at ear level). The descriptors are measured on the aligned shape, in units of the
reference's outer-eye-corner distance, and minus their value on the reference, so the reference
face gives 0 and a positive value means more of the action. Out-of-plane rotation (yaw, pitch)
is not undone by a 2-D alignment: it is reported instead.

Columns (:data:`FACE_COLUMNS`; the OpenFace action unit each follows in brackets):

=====================  =========================================================================
``confidence``         detector score (1 when none is given) x the fit of the rigid points:
                       ``max(0, 1 - rms / RMS_ZERO)``, rms the residual of the pose fit in units
``inner_brow_raise``   height of the inner brow ends (21, 22) above the eye-corner line (AU1)
``outer_brow_raise``   height of the outer brow points (17, 18, 25, 26) above that line (AU2)
``brow_lower``         brows drawn together: minus the gap between the inner brow ends (AU4;
                       its lowering shows in the two raise columns)
``eye_aperture``       height of the upper lids (37, 38, 43, 44) above the eye-corner line;
                       a blink is a dip to about minus its neutral value (AU5, AU7, AU45)
``cheek_raise``        rise of the lower lids (40, 41, 46, 47) towards that line: the eye
                       narrowed from below (AU6, AU7)
``lip_corner_pull``    height of the lip corners (48, 54) relative to the nose base (33);
                       negative: corners pulled down (AU12; AU15 when negative)
``lip_stretch``        mouth width, corner to corner (AU20)
``lips_part``          gap between the inner lips (61-63 to 65-67) (AU25)
``jaw_drop``           drop of the chin (7, 8, 9) below the nose base (AU26)
``yaw_deg``            head pose, degrees, from a weak-perspective fit of the rigid points of
``pitch_deg``          :func:`reference_shape_3d`: yaw > 0 turns the nose to the image's right,
``roll_deg``           pitch > 0 lifts it, roll > 0 turns the face clockwise as seen (y down);
                       R = Rz(roll) Ry(yaw) Rx(pitch). Approximate: the reference is one
                       generic face, and the projection is taken as orthographic
=====================  =========================================================================

A faceless frame is a row of NaN with ``valid`` False: it is masked downstream (windows average
the frames with a face), never zero-filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FACE_COLUMNS = ("confidence", "inner_brow_raise", "outer_brow_raise", "brow_lower", "eye_aperture", "cheek_raise",
                "lip_corner_pull", "lip_stretch", "lips_part", "jaw_drop", "yaw_deg", "pitch_deg", "roll_deg")
#: the columns of a face LLD file after name and frameTime (emofusion.data.face_tracker writes it):
#: ``success`` (1 a face, 0 none: the row is masked) and FACE_COLUMNS
LLD_HEADER = ("success", *FACE_COLUMNS)
#: the geometric descriptors (FACE_COLUMNS without confidence and pose)
DESCRIPTORS = FACE_COLUMNS[1:10]
#: points the alignment and the pose fit use: jaw at ear level, nose bridge and base, eye corners
RIGID = (0, 1, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)
#: rms residual of the rigid points (in outer-eye-corner units) at which the confidence reaches 0
RMS_ZERO = 0.1

_INNER_BROW, _OUTER_BROW = (21, 22), (17, 18, 25, 26)
_EYE_CORNERS, _UPPER_LIDS, _LOWER_LIDS = (36, 39, 42, 45), (37, 38, 43, 44), (40, 41, 46, 47)
_LIP_CORNERS, _NOSE_BASE = (48, 54), 33
_UPPER_INNER_LIP, _LOWER_INNER_LIP, _CHIN = (61, 62, 63), (65, 66, 67), (7, 8, 9)


def reference_shape_3d() -> np.ndarray:
    """A generic frontal face, ``(68, 3)``: x to the image's right, y down, z towards the camera;
    outer eye corners at x = -0.5 and 0.5 (1 unit apart), the eye-corner line at y = 0. Built from
    simple curves (jaw a half ellipse, arched brows, the nose tip 0.4 units ahead of the eye
    corners): a reference for alignment and pose, not anyone's measured face."""
    p = np.zeros((68, 3))
    a = np.pi * np.arange(17) / 16  # jaw: ear level (0, 16) round the chin (8)
    p[0:17] = np.column_stack([-0.75 * np.cos(a), 0.05 + 1.0 * np.sin(a), -0.6 + 0.5 * np.sin(a)])
    t = np.linspace(0, 1, 5)
    brow_x = -0.62 + 0.5 * t
    brow_y = -0.28 - 0.08 * np.sin(np.pi * t)
    p[17:22] = np.column_stack([brow_x, brow_y, np.full(5, 0.05)])
    p[22:27] = np.column_stack([-brow_x[::-1], brow_y[::-1], np.full(5, 0.05)])
    p[27:31] = np.column_stack([np.zeros(4), [-0.1, 0.05, 0.2, 0.35], [0.1, 0.2, 0.3, 0.4]])
    p[31:36] = np.column_stack([[-0.15, -0.08, 0, 0.08, 0.15], [0.42, 0.44, 0.45, 0.44, 0.42],
                                [0.15, 0.22, 0.25, 0.22, 0.15]])
    right_eye = [(-0.5, 0.0), (-0.4, -0.05), (-0.26, -0.05), (-0.16, 0.0), (-0.26, 0.04), (-0.4, 0.04)]
    p[36:42, :2] = right_eye
    p[42:48, :2] = [(-x, y) for x, y in (right_eye[3], right_eye[2], right_eye[1], right_eye[0], right_eye[5],
                                         right_eye[4])]
    p[36:48, 2] = 0.02
    p[[36, 39, 42, 45], 2] = 0.0
    outer = [(-0.3, 0.65), (-0.2, 0.6), (-0.08, 0.57), (0.0, 0.58), (0.08, 0.57), (0.2, 0.6), (0.3, 0.65),
             (0.2, 0.72), (0.08, 0.75), (0.0, 0.76), (-0.08, 0.75), (-0.2, 0.72)]
    inner = [(-0.26, 0.65), (-0.1, 0.63), (0.0, 0.63), (0.1, 0.63), (0.26, 0.65), (0.1, 0.67), (0.0, 0.67),
             (-0.1, 0.67)]
    p[48:60, :2] = outer
    p[60:68, :2] = inner
    p[48:68, 2] = 0.15
    return p


def reference_shape() -> np.ndarray:
    """``(68, 2)``: the frontal projection of :func:`reference_shape_3d`."""
    return reference_shape_3d()[:, :2].copy()


def align(landmarks: np.ndarray, reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align each frame's 68 points to ``reference`` on the :data:`RIGID` points:
    ``(aligned (T, 68, 2), angle (T,))``, ``angle`` the rotation (radians) the alignment applied.
    Frames with NaN stay NaN."""
    L = np.asarray(landmarks, dtype=np.float64)
    ref = reference_shape() if reference is None else np.asarray(reference, dtype=np.float64)
    rig = list(RIGID)
    P = L[:, rig]
    Q = ref[rig]
    mp = P.mean(axis=1, keepdims=True)
    mq = Q.mean(axis=0)
    pc, qc = P - mp, Q - mq
    # the closed-form 2-D similarity: q ~ s R(theta) p
    a = np.sum(pc[..., 0] * qc[None, :, 0] + pc[..., 1] * qc[None, :, 1], axis=1)
    b = np.sum(pc[..., 0] * qc[None, :, 1] - pc[..., 1] * qc[None, :, 0], axis=1)
    theta = np.arctan2(b, a)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.hypot(a, b) / np.sum(pc**2, axis=(1, 2))
    c, sn = np.cos(theta) * s, np.sin(theta) * s
    X = L - mp
    aligned = np.stack([c[:, None] * X[..., 0] - sn[:, None] * X[..., 1],
                        sn[:, None] * X[..., 0] + c[:, None] * X[..., 1]], axis=-1) + mq
    return aligned, theta


def head_pose(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weak-perspective pose of each frame from the :data:`RIGID` points of
    :func:`reference_shape_3d`: ``(angles (T, 3) yaw, pitch, roll in degrees, rms (T,))``, ``rms`` the
    fit's residual in reference units (scale removed)."""
    L = np.asarray(landmarks, dtype=np.float64)
    rig = list(RIGID)
    X3 = reference_shape_3d()[rig]
    X3c = X3 - X3.mean(axis=0)
    pinv = np.linalg.pinv(X3c)  # (3, k)
    x2 = L[:, rig]
    x2c = x2 - x2.mean(axis=1, keepdims=True)
    A = np.einsum("ij,tjk->tki", pinv, x2c)  # (T, 2, 3): x2c ~ X3c @ A^T
    ok = np.isfinite(A).all(axis=(1, 2))
    angles = np.full((L.shape[0], 3), np.nan)
    rms = np.full(L.shape[0], np.nan)
    if not ok.any():
        return angles, rms
    U, S, Vt = np.linalg.svd(A[ok], full_matrices=False)  # A = U diag(S) Vt, Vt (2, 3)
    R2 = U @ Vt  # nearest rows-orthonormal matrix
    scale = S.mean(axis=1)
    r3 = np.cross(R2[:, 0], R2[:, 1])
    R = np.concatenate([R2, r3[:, None]], axis=1)  # (n, 3, 3), rows r1 r2 r3
    yaw = np.arcsin(np.clip(-R[:, 2, 0], -1, 1))
    pitch = np.arctan2(R[:, 2, 1], R[:, 2, 2])
    roll = np.arctan2(R[:, 1, 0], R[:, 0, 0])
    angles[ok] = np.degrees(np.column_stack([yaw, pitch, roll]))
    pred = scale[:, None, None] * np.einsum("kj,tij->tki", X3c, R2)
    res = x2c[ok] - pred
    rms[ok] = np.sqrt(np.mean(np.sum(res**2, axis=2), axis=1)) / scale
    return angles, rms


def _descriptors(S: np.ndarray) -> np.ndarray:
    """``(T, 9)`` raw geometric measures of aligned shapes ``(T, 68, 2)``, in DESCRIPTORS order."""
    x, y = S[..., 0], S[..., 1]
    eye_line = y[:, list(_EYE_CORNERS)].mean(axis=1)
    nose = y[:, _NOSE_BASE]
    return np.column_stack([
        eye_line - y[:, list(_INNER_BROW)].mean(axis=1),
        eye_line - y[:, list(_OUTER_BROW)].mean(axis=1),
        -(x[:, _INNER_BROW[1]] - x[:, _INNER_BROW[0]]),
        eye_line - y[:, list(_UPPER_LIDS)].mean(axis=1),
        eye_line - y[:, list(_LOWER_LIDS)].mean(axis=1),
        nose - y[:, list(_LIP_CORNERS)].mean(axis=1),
        x[:, _LIP_CORNERS[1]] - x[:, _LIP_CORNERS[0]],
        y[:, list(_LOWER_INNER_LIP)].mean(axis=1) - y[:, list(_UPPER_INNER_LIP)].mean(axis=1),
        y[:, list(_CHIN)].mean(axis=1) - nose,
    ])


@dataclass(frozen=True)
class FaceLLDs:
    """Per-frame face LLDs: ``values (T, 13)`` in :data:`FACE_COLUMNS` order (NaN rows where
    faceless) and ``valid (T,)``."""

    values: np.ndarray
    valid: np.ndarray
    columns: tuple[str, ...] = FACE_COLUMNS

    @property
    def faceless_share(self) -> float:
        return float(1.0 - self.valid.mean()) if self.valid.size else 1.0


def face_llds(landmarks: np.ndarray, score: np.ndarray | None = None) -> FaceLLDs:
    """The face LLDs of ``landmarks (T, 68, 2)`` (module docstring); ``score (T,)`` the detector's
    per-frame confidence in [0, 1] (default 1)."""
    L = np.asarray(landmarks, dtype=np.float64)
    if L.ndim != 3 or L.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (frames, 68, 2), got {L.shape}")
    T = L.shape[0]
    valid = np.isfinite(L).all(axis=(1, 2))
    out = np.full((T, len(FACE_COLUMNS)), np.nan)
    if valid.any():
        Lv = L[valid]
        aligned, _ = align(Lv)
        ref = _descriptors(reference_shape()[None])[0]
        out[valid, 1:10] = _descriptors(aligned) - ref
        angles, rms = head_pose(Lv)
        out[valid, 10:13] = angles
        sc = np.ones(T) if score is None else np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
        out[valid, 0] = sc[valid] * np.maximum(0.0, 1.0 - rms / RMS_ZERO)
    return FaceLLDs(values=out, valid=valid)


def read_face_file(path: str | Path, table=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, values (n, 13), valid (n,))`` of a face LLD file (``success`` column first);
    ``table``: the file already read by ``layout.read_table``."""
    from ..errors import DataError
    from .layout import check_single_name, check_times, read_table

    path = Path(path)
    tab = read_table(path, min_cols=3) if table is None else table
    check_single_name(tab, path.stem)
    check_times(tab)
    if tab.header is None or tuple(tab.header[2:]) != LLD_HEADER:
        raise DataError(path, f"not a face LLD file: expected the header name;frameTime;{';'.join(LLD_HEADER)}",
                        line=1)
    s = tab.values[:, 0]
    bad = np.flatnonzero((s != 0) & (s != 1))
    if bad.size:
        raise DataError(path, f"success = {s[bad[0]]:g}: expected 0 or 1", line=int(bad[0]) + 2, column="success")
    return tab.times, tab.values[:, 1:], s == 1
