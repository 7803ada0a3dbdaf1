"""Glue between the workflow and the library: one function per Snakemake script.

Each function takes plain paths and values (what the rule passes as input/output/params) and
calls the library; the scripts under workflow/scripts/ route the log (emofusion.joblog) and call one of these.
Heavy imports happen inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path


def system_bundle(out_dir: str | Path, *, ranking_tsv: str | Path, runs_root: str | Path, seeds: Sequence[int],
                  feature_caches: Sequence[str | Path], feature_settings: Mapping[str, Mapping],
                  chain_files: Sequence[str | Path], summary_tsv: str | Path, config: Mapping, stage: int,
                  code_version: str, tracking_json: str | Path | None = None, model_name: str | None = None,
                  codebooks: Sequence[str | Path] = ()) -> None:
    """The trained system (results/system/, emofusion.system): checkpoints, normalisation, the
    in-sample chain and the manifest; then, with a ``model_name`` and a tracking store, the bundle
    logged as an MLflow pyfunc model and registered under that name (emofusion.system_mlflow)."""
    import os

    from .formats import read_tracking
    from .system import write_bundle

    write_bundle(out_dir, ranking_tsv=ranking_tsv, runs_root=runs_root, seeds=seeds,
                 feature_caches={Path(f).stem: f for f in feature_caches}, feature_settings=feature_settings,
                 chain_files=list(chain_files), summary_tsv=summary_tsv, config=config, stage=int(stage),
                 code_version=code_version, codebooks=list(codebooks), log=lambda m: print(m, flush=True))
    tracking = read_tracking(tracking_json) if tracking_json else {"tracking_uri": None}
    if model_name and tracking["tracking_uri"]:
        from .system_mlflow import log_system_model

        run_id, version = log_system_model(out_dir, tracking_uri=tracking["tracking_uri"],
                                           experiment=tracking["experiment_name"], model_name=model_name,
                                           workdir=os.getcwd())
        print(f"registered the system as MLflow model {model_name!r} version {version} (run {run_id})", flush=True)


# --- reports, ablation, search (issue 6) ---


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
