"""A generated *video* corpus: short face videos with planted, documented structure.

``emofusion synth --video --out DIR [--audio] [--size tiny|demo]`` (and :func:`generate_video_corpus`)
writes ``DIR/video/<Partition>_<Culture>_<NN>.mp4`` beside the labels of the feature corpus of the
same seed and size (with ``--audio`` also the audio root of :mod:`emofusion.data.audio_synth`, same
labels), and ``truth.json`` says what was planted.

The face is a real photograph shipped inside the scikit-image wheel (``skimage/data/astronaut.png``,
located through the package's files, not imported), cropped round the face and turned grey. Its 68
landmarks are found once with dlib (:class:`emofusion.data.face_tracker.FaceTracker`); each frame moves some
of them and warps the image to follow (a smooth displacement field: every landmark and the image
border are control points, the moved ones carry their displacement, the others hold still; the
field is the Gaussian-weighted mean of the control points' displacements, fading to 0 away from
them). With ``z`` the standardised latent of the targets at the frame's time (the same 1-frame
annotation delay as the other generated corpora), displacements in pixels of the crop (the face is
about 90 pixels wide, its outer eye corners about 50 apart):

* **arousal**: the lower lip and the chin drop by ``JAW_PX * (1 + tanh(z_a))`` (lips part, jaw drop);
* **valence**: the lip corners rise by ``CORNER_PX * z_v`` (lip-corner pull);
* **liking**, weakly: the brows rise by ``BROW_PX * z_l``;
* nuisance carrying no label information: head motion (a slow random similarity transform:
  shifts up to ``HEAD_SHIFT_PX``, scale ``1 +- HEAD_SCALE``, roll up to ``HEAD_ROLL_DEG``),
  lighting (a slow gain and offset), pixel noise, and one occlusion per recording (a grey patch
  over the face for ``OCCLUDED_SHARE`` of its frames: frames without a face).

Videos are H.264 (libx264 through PyAV) at ``FPS[size]`` frames per second, ``FRAME_SIZE`` pixels,
running ``EXTRA_S`` past the last label frame. Determinism: every draw comes from a generator seeded
by (seed, purpose, recording).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_dir
from .layout import FRAME_S
from .package_data import package_file

FPS = {"tiny": 15, "demo": 25}
VIDEO_SIZES = tuple(FPS)
FRAME_SIZE = 160  # square frames, pixels
CROP = (220, 128)  # centre (x, y) of the face in astronaut.png
JAW_PX = 2.5
CORNER_PX = 2.5
BROW_PX = 1.5
HEAD_SHIFT_PX = 5.0
HEAD_SCALE = 0.04
HEAD_ROLL_DEG = 4.0
LIGHT_GAIN = 0.15
NOISE_SD = 3.0
OCCLUDED_SHARE = 0.1
EXTRA_S = 0.3
SIGMA_PX = 6.0  # width of a control point's influence
_JAW_POINTS = (5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 64, 65, 66, 67, 60)
_CORNER_POINTS = (48, 54, 60, 64)
_BROW_POINTS = tuple(range(17, 27))


def astronaut_path() -> Path:
    """``skimage/data/astronaut.png`` inside the installed scikit-image (not imported)."""
    return package_file("skimage", "data/astronaut.png",
                        not_installed="`emofusion synth --video` needs scikit-image (its wheel ships the face "
                                      "image astronaut.png): pip install scikit-image",
                        not_shipped="scikit-image is installed without skimage/data/astronaut.png")


def base_face() -> tuple[np.ndarray, np.ndarray]:
    """``(grey crop (FRAME_SIZE, FRAME_SIZE) float64, its 68 landmarks (68, 2))``."""
    from PIL import Image

    from .face_tracker import FaceTracker

    img = np.asarray(Image.open(astronaut_path()).convert("L"), dtype=np.float64)
    h = FRAME_SIZE // 2
    cx, cy = CROP
    crop = img[cy - h:cy + h, cx - h:cx + h].copy()
    pts, score = FaceTracker().find(crop.astype(np.uint8))
    if not np.isfinite(pts).all():
        raise RuntimeError("dlib found no face in the astronaut crop")  # a bug: the crop is fixed
    return crop, pts


def _slow(rng: np.random.Generator, n: int, fps: float, period_s: float = 3.0) -> np.ndarray:
    """A smooth random signal in about [-1, 1]: a sum of 3 sinusoids of random phase."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for k in (1.0, 1.7, 2.9):
        out += np.sin(2 * np.pi * t * k / (period_s * 2.0) + rng.uniform(0, 2 * np.pi))
    return out / 3.0


class FaceAnimator:
    """Warps the base face: ``frame(disp (68, 2), head (tx, ty, scale, roll rad), gain, offset)``."""

    def __init__(self):
        self.img, self.pts = base_face()
        n = FRAME_SIZE
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
        self.xx, self.yy = xx, yy
        edge = np.linspace(0, n - 1, 9)
        border = np.array([(x, y) for x in edge for y in (0.0, n - 1.0)] + [(x, y) for y in edge[1:-1]
                                                                          for x in (0.0, n - 1.0)])
        self.ctrl = np.concatenate([self.pts, border])
        d2 = (xx[None] - self.ctrl[:, 0, None, None]) ** 2 + (yy[None] - self.ctrl[:, 1, None, None]) ** 2
        W = np.exp(-d2 / (2 * SIGMA_PX**2))  # (k, n, n)
        norm = W.sum(axis=0) + 0.05
        # only the planted points ever move: the field is their displacements times their weights
        self.moved = sorted(set(_JAW_POINTS) | set(_CORNER_POINTS) | set(_BROW_POINTS))
        self.Wm = (W[self.moved] / norm).reshape(len(self.moved), -1).astype(np.float32)

    def frame(self, disp: np.ndarray, head: tuple[float, float, float, float], gain: float, offset: float,
              noise: np.ndarray, occlude: bool) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        n = FRAME_SIZE
        tx, ty, s, roll = head
        c = (n - 1) / 2.0
        # output pixel -> the face's unmoved frame (inverse similarity about the centre)
        xo, yo = self.xx - c - tx, self.yy - c - ty
        cr, sr = math.cos(-roll) / s, math.sin(-roll) / s
        xf, yf = cr * xo - sr * yo + c, sr * xo + cr * yo + c
        field = np.asarray(disp, np.float32)[self.moved].T @ self.Wm  # (2, n * n)
        dx, dy = field[0].reshape(n, n), field[1].reshape(n, n)
        # the field is sampled at the output grid (displacements are small against SIGMA_PX)
        out = map_coordinates(self.img, [yf - dy, xf - dx], order=1, mode="nearest")
        out = out * gain + offset + noise
        if occlude:
            x0, y0 = self.pts.min(axis=0) - 8
            x1, y1 = self.pts.max(axis=0) + 8
            out[int(max(y0, 0)):int(y1), int(max(x0, 0)):int(x1)] = 128.0
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def planted_displacements(za: np.ndarray, zv: np.ndarray, zl: np.ndarray) -> np.ndarray:
    """``(T, 68, 2)`` landmark displacements in pixels (module docstring); only the jaw, lip and brow
    points move (:class:`FaceAnimator` warps with those alone)."""
    T = za.size
    D = np.zeros((T, 68, 2))
    D[:, list(_JAW_POINTS), 1] += (JAW_PX * (1.0 + np.tanh(za)))[:, None]
    D[:, list(_CORNER_POINTS), 1] -= (CORNER_PX * zv)[:, None]
    D[:, list(_BROW_POINTS), 1] -= (BROW_PX * zl)[:, None]
    return D


def write_video(path: Path, frames, fps: int) -> None:
    import av

    with av.open(str(path), mode="w") as c:
        st = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast", "threads": "1"})
        st.width = st.height = FRAME_SIZE
        st.pix_fmt = "yuv420p"
        st.thread_count = 1
        for img in frames:
            fr = av.VideoFrame.from_ndarray(img, format="gray").reformat(format="yuv420p")
            for pkt in st.encode(fr):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)


def write_videos(gen, folder: Path, size: str, animator: FaceAnimator | None = None) -> dict:
    """One video per recording of ``gen`` into ``folder``; returns ``{name: frames}``."""
    from .audio_synth import latent_at
    from .synth_planted import ANNOTATION_DELAY

    fps = FPS[size]
    anim = animator or FaceAnimator()
    folder.mkdir(parents=True, exist_ok=True)
    frames = {}
    for name in gen.recordings():
        rng = gen.rng("video", name)
        n = int(round((gen.length(name) * FRAME_S + EXTRA_S) * fps))
        t = np.arange(n) / fps
        lat = latent_at(gen.target_latent(name), t, ANNOTATION_DELAY)
        D = planted_displacements(lat[:, 0], lat[:, 1], lat[:, 2])
        tx, ty = HEAD_SHIFT_PX * _slow(rng, n, fps), HEAD_SHIFT_PX * _slow(rng, n, fps)
        sc = 1.0 + HEAD_SCALE * _slow(rng, n, fps)
        roll = np.radians(HEAD_ROLL_DEG) * _slow(rng, n, fps)
        gain = 1.0 + LIGHT_GAIN * _slow(rng, n, fps, period_s=5.0)
        offset = 10.0 * _slow(rng, n, fps, period_s=5.0)
        occ_len = max(1, int(round(OCCLUDED_SHARE * n)))
        occ0 = int(rng.integers(0, max(n - occ_len, 1)))

        def gen_frames(D=D, tx=tx, ty=ty, sc=sc, roll=roll, gain=gain, offset=offset, rng=rng,
                       occ0=occ0, occ_len=occ_len, n=n):
            for i in range(n):
                noise = rng.normal(0.0, NOISE_SD, (FRAME_SIZE, FRAME_SIZE))
                yield anim.frame(D[i], (tx[i], ty[i], sc[i], roll[i]), gain[i], offset[i], noise,
                                 occ0 <= i < occ0 + occ_len)

        write_video(folder / f"{name}.mp4", gen_frames(), fps)
        frames[name] = n
    return frames


def planted_truth(size: str) -> dict:
    return {
        "fps": FPS[size],
        "frame_size": [FRAME_SIZE, FRAME_SIZE],
        "face": "skimage/data/astronaut.png (scikit-image), cropped round the face, grey",
        "arousal": {"lower_lip_and_chin_drop_px": f"{JAW_PX} * (1 + tanh(z_arousal))",
                    "descriptors": ["lips_part", "jaw_drop"]},
        "valence": {"lip_corner_rise_px": f"{CORNER_PX} * z_valence", "descriptors": ["lip_corner_pull"]},
        "liking": {"brow_rise_px": f"{BROW_PX} * z_liking (weak)",
                   "descriptors": ["inner_brow_raise", "outer_brow_raise"]},
        "nuisance": {"head_shift_px": HEAD_SHIFT_PX, "head_scale": HEAD_SCALE, "head_roll_deg": HEAD_ROLL_DEG,
                     "light_gain": LIGHT_GAIN, "noise_sd": NOISE_SD, "occluded_share": OCCLUDED_SHARE},
        "unit": "z = the standardised latent of each target at the frame's time (annotation delay applied)",
    }


def generate_video_corpus(out_dir: str | Path, *, seed: int = 0, size: str = "tiny", audio: bool = False) -> dict:
    """Write a generated video (``audio``: audiovisual) corpus to ``out_dir``; return the truth."""
    from .synth import guard_out, write_labels
    from .synth_generator import CorpusGenerator
    from .synth_planted import ANNOTATION_DELAY

    if size not in VIDEO_SIZES:
        raise ConfigError(f"--size {size} with --video: video corpora come in {', '.join(VIDEO_SIZES)}")
    gen = CorpusGenerator(seed, size)
    out = Path(out_dir)
    if audio:
        from .audio_synth import generate_audio_corpus

        truth = generate_audio_corpus(out, seed=seed, size=size)
        with atomic_dir(out / "video") as tmp:
            frames = write_videos(gen, tmp, size)
            tmp.chmod(0o755)
        truth["kind"] = "audiovisual"
        truth["planted"]["video"] = planted_truth(size)
        truth["video_frames"] = frames
        (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        return truth
    guard_out(out)
    with atomic_dir(out) as tmp:
        write_labels(gen, tmp)
        frames = write_videos(gen, tmp / "video", size)
        truth = {
            "generator": "emofusion.synth",
            "kind": "video",
            "seed": seed,
            "size": size,
            "annotation_delay_frames": ANNOTATION_DELAY,
            "planted": {"video": planted_truth(size)},
            "label_model": gen.truth([])["label_model"],
            "lengths": {n: gen.length(n) for n in gen.recordings()},
            "video_frames": frames,
        }
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        tmp.chmod(0o755)
    return truth


#: descriptor -> the target whose latent it was planted to follow
PLANTED = {"lips_part": "arousal", "jaw_drop": "arousal", "lip_corner_pull": "valence",
           "inner_brow_raise": "liking", "outer_brow_raise": "liking"}


def planted_correlations(corpus: str | Path, face_dir: str | Path) -> dict[str, float]:
    """Pearson r of each planted descriptor (:data:`PLANTED`) with its target's latent at the frame
    times, over the frames with a face of every face LLD file in ``face_dir`` (files of the
    generated corpus ``corpus``, whose truth.json gives seed and size)."""
    from .audio_synth import latent_at
    from .face import FACE_COLUMNS, read_face_file
    from .synth_generator import CorpusGenerator
    from .synth_planted import ANNOTATION_DELAY

    truth = json.loads((Path(corpus) / "truth.json").read_text())
    gen = CorpusGenerator(truth["seed"], truth["size"])
    targets = ("arousal", "valence", "liking")
    xs = {c: [] for c in PLANTED}
    zs = {c: [] for c in PLANTED}
    for f in sorted(Path(face_dir).glob("*.csv")):
        t, X, v = read_face_file(f)
        lat = latent_at(gen.target_latent(f.stem), t[v], ANNOTATION_DELAY)
        for c, target in PLANTED.items():
            xs[c].append(X[v, FACE_COLUMNS.index(c)])
            zs[c].append(lat[:, targets.index(target)])
    return {c: float(np.corrcoef(np.concatenate(xs[c]), np.concatenate(zs[c]))[0, 1]) for c in PLANTED}


def main(argv: list[str] | None = None) -> int:
    """``python -m emofusion.data.video_synth CORPUS FACE_DIR``: print :func:`planted_correlations`."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m emofusion.data.video_synth", description=main.__doc__)
    p.add_argument("corpus", help="a generated video corpus (emofusion synth --video)")
    p.add_argument("face_dir", help="its extracted face LLD files (results/extracted/visual_features_face)")
    args = p.parse_args(argv)
    r = planted_correlations(args.corpus, args.face_dir)
    print(f"{'descriptor':<18} {'planted from':<8} {'r':>6}")
    for c, v in r.items():
        print(f"{c:<18} {PLANTED[c]:<8} {v:>6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
