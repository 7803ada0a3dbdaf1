"""`python -m emofusion.bench extract [--recordings N] [--seconds S] [--keep DIR]`

Writes N generated voice recordings of S seconds (16 kHz, as ``emofusion synth --audio``; half
Train, half Devel) and times, in one process on one core, what the workflow's extraction jobs do:

* ``egemaps``, ``mfcc``: one LLD file per recording (``audio.extract_lld_file``: read the WAV,
  openSMILE, write the AVEC CSV), each with a fresh ``opensmile.Smile`` as in a job of its own;
* ``*_func``: the functionals of all recordings from their LLD files (``audio.write_functionals``);
* ``boaw_*``: the Train-only codebook plus the bags of all recordings (``write_codebook`` +
  ``write_bags``), 100 words.

With ``--video-recordings M`` (default 2; 0 skips them) it also writes M generated face videos
of ``--video-seconds`` seconds at ``--fps`` (default 25) and ``--size WxH`` (default 640x480; the
astronaut face of ``emofusion synth --video`` animated at 160x160, scaled up 3x and centred) and
times the face sets the same way: ``face`` (``face_tracker.extract_face_file``: decode, track, LLDs, write
the CSV; a fresh dlib detector and predictor per video, as in a job of its own), ``face_func`` and
``bovw_face`` from those LLD files.

It prints, per feature set, the seconds taken and the real-time factor (seconds of audio or video
per second of processing; higher is faster). Python start-up and imports of a job are not included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_bench_audio(root: Path, recordings: int, seconds: float, seed: int = 0) -> list[Path]:
    import soundfile as sf

    from ..data.audio_synth import SAMPLE_RATE, synth_voice

    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True)
    wavs = []
    for i in range(recordings):
        name = f"{('Train', 'Devel')[i % 2]}_{('DE', 'HU')[(i // 2) % 2]}_{i // 4 + 1:02d}"
        z = np.cumsum(rng.standard_normal((int(seconds / 0.1) + 5, 3)) * 0.2, axis=0)
        x = synth_voice(z, name.split("_")[1], int(seconds * SAMPLE_RATE), rng)
        f = root / "audio" / f"{name}.wav"
        sf.write(str(f), x, SAMPLE_RATE, subtype="PCM_16")
        wavs.append(f)
    return wavs


def write_bench_video(root: Path, recordings: int, seconds: float, fps: int, size: tuple[int, int],
                      seed: int = 0) -> list[Path]:
    """Generated face videos (:mod:`emofusion.data.video_synth`'s animation, random planted signals)."""
    import av

    from ..data import video_synth as vs

    rng = np.random.default_rng(seed)
    anim = vs.FaceAnimator()
    w, h = size
    (root / "video").mkdir(parents=True)
    out = []
    for i in range(recordings):
        name = f"{('Train', 'Devel')[i % 2]}_{('DE', 'HU')[(i // 2) % 2]}_{i // 4 + 1:02d}"
        n = int(round(seconds * fps))
        z = np.cumsum(rng.standard_normal((n, 3)) * 0.05, axis=0)
        D = vs.planted_displacements(z[:, 0], z[:, 1], z[:, 2])
        f = root / "video" / f"{name}.mp4"
        with av.open(str(f), mode="w") as c:
            st = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
            st.width, st.height = w, h
            st.pix_fmt = "yuv420p"
            for k in range(n):
                img = anim.frame(D[k], (0.0, 0.0, 1.0, 0.0), 1.0, 0.0, rng.normal(0, 3, (vs.FRAME_SIZE,) * 2), False)
                big = np.kron(img, np.ones((3, 3), np.uint8))
                canvas = np.zeros((h, w), np.uint8)
                y0, x0 = max((h - big.shape[0]) // 2, 0), max((w - big.shape[1]) // 2, 0)
                part = big[:h - y0, :w - x0]
                canvas[y0:y0 + part.shape[0], x0:x0 + part.shape[1]] = part
                fr = av.VideoFrame.from_ndarray(canvas, format="gray").reformat(format="yuv420p")
                for pkt in st.encode(fr):
                    c.mux(pkt)
            for pkt in st.encode():
                c.mux(pkt)
        out.append(f)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.bench extract", description=__doc__.splitlines()[0])
    p.add_argument("--recordings", type=int, default=8, help="audio recordings to time (0: none)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each recording (s)")
    p.add_argument("--keep", metavar="DIR", help="write into DIR and keep it (default: a temp dir)")
    p.add_argument("--video-recordings", type=int, default=2, help="face videos to time (0: none)")
    p.add_argument("--video-seconds", type=float, default=20.0, help="length of each video (s)")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--size", default="640x480", help="video frame size WxH")
    args = p.parse_args(argv)

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="emofusion-bench-extract-"))
    try:
        if args.recordings > 0:
            _bench_audio(root, args)
        if args.video_recordings > 0:
            _bench_video(root, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _bench_audio(root: Path, args: argparse.Namespace) -> None:
    from ..data import audio

    wavs = write_bench_audio(root, args.recordings, args.seconds)
    total = args.recordings * args.seconds
    rows = []
    for lld in audio.LLD_SETS:
        out = root / audio.folder_of(lld)
        t0 = time.perf_counter()
        for w in wavs:
            audio.extract_lld_file(w, out / f"{w.stem}.csv", lld)
        rows.append((lld, time.perf_counter() - t0))
        files = sorted(out.glob("*.csv"))
        t0 = time.perf_counter()
        audio.write_functionals(files, root / audio.folder_of(f"{lld}_func"))
        rows.append((f"{lld}_func", time.perf_counter() - t0))
        t0 = time.perf_counter()
        audio.write_codebook(files, root / "codebooks" / f"{lld}.npz", lld=lld)
        audio.write_bags(files, root / "codebooks" / f"{lld}.npz", root / audio.folder_of(f"boaw_{lld}"))
        rows.append((f"boaw_{lld}", time.perf_counter() - t0))
    print(f"extraction of {args.recordings} recordings x {args.seconds:g} s = {total:g} s of 16 kHz audio "
          f"(one process, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"{'feature set':<14} {'seconds':>8} {'x real time':>12}   (derived sets: from the LLD files)")
    for key, dt in rows:
        print(f"{key:<14} {dt:>8.2f} {total / dt:>12.1f}")
    lld_time = sum(dt for k, dt in rows)
    print(f"{'all six':<14} {lld_time:>8.2f} {total / lld_time:>12.1f}")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since ``t0``: the CPU time is this process's alone, what one core
    gives when other jobs share the machine."""
    w, c = _clock()
    return w - t0[0], c - t0[1]


def _bench_video(root: Path, args: argparse.Namespace) -> None:
    from ..data.face_tracker import extract_face_file
    from ..data.face_windows import write_face_bags, write_face_codebook, write_face_functionals
    from ..data.video_config import folder_of

    w, h = (int(v) for v in args.size.lower().split("x"))
    vids = write_bench_video(root, args.video_recordings, args.video_seconds, args.fps, (w, h))
    total = args.video_recordings * args.video_seconds
    out = root / folder_of("face")
    rows, full, roi = [], 0, 0
    t0 = _clock()
    for v in vids:
        vf = extract_face_file(v, out / f"{v.stem}.csv", warn=lambda m: None)
        full, roi = full + vf.full_detections, roi + vf.roi_detections
    rows.append(("face", _since(t0)))
    files = sorted(out.glob("*.csv"))
    t0 = _clock()
    write_face_functionals(files, root / folder_of("face_func"))
    rows.append(("face_func", _since(t0)))
    t0 = _clock()
    write_face_codebook(files, root / "codebooks" / "face.npz")
    write_face_bags(files, root / "codebooks" / "face.npz", root / folder_of("bovw_face"))
    rows.append(("bovw_face", _since(t0)))
    print(f"face sets of {args.video_recordings} videos x {args.video_seconds:g} s = {total:g} s of {w}x{h} "
          f"video at {args.fps} fps ({full} full-frame and {roi} region detections; load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'feature set':<14} {'seconds':>8} {'x real time':>12} {'CPU s':>8} {'x real time (CPU)':>18}"
          "   (derived sets: from the LLD files)")
    for key, (dt, cpu) in rows:
        print(f"{key:<14} {dt:>8.2f} {total / max(dt, 1e-9):>12.1f} {cpu:>8.2f} {total / max(cpu, 1e-9):>18.1f}")
    t, c = sum(dt for _, (dt, _c) in rows), sum(c for _, (_d, c) in rows)
    print(f"{'all three':<14} {t:>8.2f} {total / t:>12.1f} {c:>8.2f} {total / c:>18.1f}")
