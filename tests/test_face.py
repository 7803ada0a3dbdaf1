"""Face LLDs from 68-point landmarks (emofusion.data.face): each descriptor follows its own landmark
group and nothing else, the whole face's size, position and in-plane rotation change none of them,
the head pose is recovered from projected 3-D shapes, faceless frames are masked."""

from __future__ import annotations

import numpy as np
import pytest
from emofusion.data.face import (
    DESCRIPTORS,
    FACE_COLUMNS,
    face_llds,
    reference_shape,
    reference_shape_3d,
)

COL = {c: i for i, c in enumerate(FACE_COLUMNS)}
D = 0.03  # a landmark move, in reference units (outer eye corners 1 apart)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch), degrees (the module's convention)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rz @ ry @ rx


def similarity(shape: np.ndarray, scale: float, angle_deg: float, shift) -> np.ndarray:
    """The whole face scaled, rotated (image coordinates, y down: clockwise as seen) and moved."""
    a = np.radians(angle_deg)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return scale * shape @ R.T + np.asarray(shift, dtype=float)


def move(shape: np.ndarray, points, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    s = shape.copy()
    s[list(points), 0] += dx
    s[list(points), 1] += dy
    return s


# descriptor -> (landmark moves in the reference frame (points, dx, dy), expected change); y is down
MOVES = {
    "inner_brow_raise": ([((21, 22), 0, -D)], D),
    "outer_brow_raise": ([((17, 18, 25, 26), 0, -D)], D),
    "brow_lower": ([((21,), D, 0), ((22,), -D, 0)], 2 * D),
    "eye_aperture": ([((37, 38, 43, 44), 0, -D)], D),
    "cheek_raise": ([((40, 41, 46, 47), 0, -D)], D),
    "lip_corner_pull": ([((48, 54), 0, -D)], D),
    "lip_stretch": ([((48,), -D, 0), ((54,), D, 0)], 2 * D),
    "lips_part": ([((65, 66, 67), 0, D)], D),
    "jaw_drop": ([((7, 8, 9), 0, D)], D),
}


def expression(name: str, sign: float = 1.0) -> np.ndarray:
    s = reference_shape()
    for pts, dx, dy in MOVES[name][0]:
        s = move(s, pts, sign * dx, sign * dy)
    return s


def test_the_reference_face_is_neutral_frontal_and_confident():
    v = face_llds(reference_shape()[None]).values[0]
    assert v[COL["confidence"]] == pytest.approx(1.0)
    np.testing.assert_allclose(v[1:], 0.0, atol=1e-12)
    assert set(MOVES) == set(DESCRIPTORS)  # every descriptor has its own test move


@pytest.mark.parametrize("name", list(MOVES))
@pytest.mark.parametrize("pose", [(1.0, 0.0, (0.0, 0.0)), (143.0, 27.0, (310.0, 215.0))], ids=["ref", "image"])
def test_moving_one_landmark_group_moves_only_its_descriptor(name, pose):
    scale, angle, shift = pose
    base = face_llds(similarity(reference_shape(), scale, angle, shift)[None]).values[0]
    for sign in (1.0, -1.0):  # the action, and its opposite (e.g. lip corners down: AU15)
        v = face_llds(similarity(expression(name, sign), scale, angle, shift)[None]).values[0]
        diff = v - base
        assert diff[COL[name]] == pytest.approx(sign * MOVES[name][1], abs=1e-9)
        others = np.delete(diff, COL[name])
        np.testing.assert_allclose(others, 0.0, atol=1e-9, err_msg=f"{name}: {dict(zip(FACE_COLUMNS, diff, strict=True))}")


def test_scaling_rotating_translating_the_face_changes_no_descriptor():
    # an expression with every group moved at once, then the whole face moved about the image
    face = reference_shape()
    for name in MOVES:
        for pts, dx, dy in MOVES[name][0]:
            face = move(face, pts, 0.7 * dx, 0.7 * dy)
    ref = face_llds(face[None]).values[0]
    cases = [(1.0, 0.0, (0, 0)), (80.0, 0.0, (120, 40)), (200.0, -35.0, (640, 480)), (3.5, 170.0, (-2, 9)),
             (55.0, 12.5, (0.3, -800))]
    shapes = np.stack([similarity(face, s, a, t) for s, a, t in cases])
    got = face_llds(shapes).values
    for (s, a, t), v in zip(cases, got, strict=True):
        np.testing.assert_allclose(v[1:10], ref[1:10], atol=1e-9, err_msg=f"scale {s} angle {a} shift {t}")
        assert v[COL["confidence"]] == pytest.approx(ref[COL["confidence"]], abs=1e-9)
        assert v[COL["yaw_deg"]] == pytest.approx(ref[COL["yaw_deg"]], abs=1e-6)
        assert v[COL["pitch_deg"]] == pytest.approx(ref[COL["pitch_deg"]], abs=1e-6)
        assert v[COL["roll_deg"]] == pytest.approx(a, abs=1e-6)  # the in-plane rotation is the roll


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0, 0, 0), (25, 0, 0), (-30, 0, 0), (0, 20, 0), (0, -15, 0),
                                                    (0, 0, 40), (20, -10, 15), (-12, 18, -30)])
def test_head_pose_of_a_projected_3d_face(yaw, pitch, roll):
    X = reference_shape_3d()
    L = (X @ rotation(yaw, pitch, roll).T)[:, :2] * 120.0 + [320.0, 240.0]  # orthographic projection
    v = face_llds(L[None]).values[0]
    np.testing.assert_allclose(v[[COL["yaw_deg"], COL["pitch_deg"], COL["roll_deg"]]], [yaw, pitch, roll],
                               atol=1e-6)
    assert v[COL["confidence"]] == pytest.approx(1.0)  # a rigid shape fits exactly
    # the sign conventions in image terms: yaw > 0 moves the nose tip (30) right, pitch > 0 lifts it
    nose = L[30] - (L[36] + L[45]) / 2
    if yaw and not roll and not pitch:
        assert np.sign(nose[0]) == np.sign(yaw)


def test_faceless_frames_are_nan_rows_and_masked():
    L = np.stack([reference_shape(), expression("jaw_drop"), reference_shape(), reference_shape()])
    L[1] = np.nan  # no face
    L[3, 10] = np.nan  # one landmark missing: the frame counts as faceless
    f = face_llds(L)
    assert f.valid.tolist() == [True, False, True, False]
    assert np.isnan(f.values[[1, 3]]).all() and np.isfinite(f.values[[0, 2]]).all()
    assert f.faceless_share == pytest.approx(0.5)
    assert f.values.shape == (4, len(FACE_COLUMNS)) and f.columns == FACE_COLUMNS
    assert face_llds(np.full((3, 68, 2), np.nan)).faceless_share == 1.0


def test_confidence_is_the_detector_score_times_the_rigid_fit():
    rng = np.random.default_rng(0)
    ref = reference_shape()
    noisy = ref + rng.normal(0, 0.03, ref.shape)  # landmarks off by ~0.03 units: a poorer fit
    garbage = rng.uniform(-1, 1, ref.shape)  # not a face at all
    f = face_llds(np.stack([ref, ref, noisy, garbage]), score=np.array([1.0, 0.6, 1.0, 1.0]))
    c = f.values[:, COL["confidence"]]
    assert c[0] == pytest.approx(1.0) and c[1] == pytest.approx(0.6)
    assert 0.2 < c[2] < 0.9
    assert c[3] == 0.0


def test_landmarks_must_be_frames_by_68_by_2():
    with pytest.raises(ValueError, match=r"\(frames, 68, 2\)"):
        face_llds(np.zeros((5, 66, 2)))
