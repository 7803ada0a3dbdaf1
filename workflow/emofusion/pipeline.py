"""Glue between the workflow and the library: one function per Snakemake script.

Each function takes plain paths and values (what the rule passes as input/output/params) and
calls the library; the scripts under workflow/scripts/ route the log (emofusion.joblog) and call one of these.
Heavy imports happen inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

# --- audio data roots (emofusion.data.audio) ---


def copy_labels(src_dir: str | Path, out_dir: str | Path) -> None:
    """The label files of an audio root, copied beside the extracted sets (one atomic folder)."""
    import shutil

    from .io import atomic_dir

    with atomic_dir(out_dir) as tmp:
        for f in sorted(Path(src_dir).glob("*.csv")):
            shutil.copyfile(f, tmp / f.name)


def extract_lld(wav: str | Path, out_csv: str | Path, *, lld: str) -> None:
    from .data.audio import extract_lld_file

    extract_lld_file(wav, out_csv, lld)


def audio_functionals(lld_csvs: Sequence[str | Path], out_dir: str | Path, *, window_s: float) -> None:
    from .data.audio import write_functionals

    write_functionals(list(lld_csvs), out_dir, window_s=window_s)


def audio_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, *, lld: str, size: int, seed: int) -> None:
    from .data.audio import write_codebook

    write_codebook(list(lld_csvs), out_npz, lld=lld, size=size, seed=seed)


def audio_bags(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path, *,
               window_s: float) -> None:
    from .data.audio import write_bags

    write_bags(list(lld_csvs), codebook_npz, out_dir, window_s=window_s)


# --- video data roots (emofusion.data.video) ---


def extract_face(video: str | Path, out_csv: str | Path) -> None:
    """The face LLD file of one recording; the share of faceless frames goes to the job's log."""
    from .data.video import extract_face_file

    log = logging.getLogger("emofusion.video")
    vf = extract_face_file(video, out_csv, warn=log.warning)
    log.info("%s: %d frames, %.1f%% without a face; %d full-frame and %d region detections", video,
             vf.times.size, 100 * vf.faceless_share, vf.full_detections, vf.roi_detections)


def face_functionals(lld_csvs: Sequence[str | Path], out_dir: str | Path, *, window_s: float) -> None:
    from .data.video import write_face_functionals

    write_face_functionals(list(lld_csvs), out_dir, window_s=window_s)


def face_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, *, size: int, seed: int) -> None:
    from .data.video import write_face_codebook

    write_face_codebook(list(lld_csvs), out_npz, size=size, seed=seed)


def face_bags(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path, *,
              window_s: float) -> None:
    from .data.video import write_face_bags

    write_face_bags(list(lld_csvs), codebook_npz, out_dir, window_s=window_s)
