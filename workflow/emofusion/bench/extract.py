"""`python -m emofusion.bench extract [--recordings N] [--seconds S] [--keep DIR]`

Writes N generated voice recordings of S seconds (16 kHz, as ``emofusion synth --audio``; half
Train, half Devel) and times, in one process on one core, what the workflow's extraction jobs do:

* ``egemaps``, ``mfcc``: one LLD file per recording (``audio.extract_lld_file``: read the WAV,
  openSMILE, write the AVEC CSV), each with a fresh ``opensmile.Smile`` as in a job of its own;
* ``*_func``: the functionals of all recordings from their LLD files (``audio.write_functionals``);
* ``boaw_*``: the Train-only codebook plus the bags of all recordings (``write_codebook`` +
  ``write_bags``), 100 words.

It prints, per feature set, the seconds taken and the real-time factor (seconds of audio per
second of processing; higher is faster). Python start-up and imports of a job are not included.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.bench extract", description=__doc__.splitlines()[0])
    p.add_argument("--recordings", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60.0, help="length of each recording (s)")
    p.add_argument("--keep", metavar="DIR", help="write into DIR and keep it (default: a temp dir)")
    args = p.parse_args(argv)

    from ..data import audio

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="emofusion-bench-extract-"))
    try:
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
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0
