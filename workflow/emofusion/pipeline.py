"""Glue between the workflow and the library: one function per Snakemake script.

Each function takes plain paths and values (what the rule passes as input/output/params) and
calls the library; the scripts under workflow/scripts/ route the log (emofusion.joblog) and call one of these.
Heavy imports happen inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path


def aggregate_run(seed_scores: Sequence[str | Path], out_scores: str | Path) -> None:
    from .results.ranking import aggregate_seeds

    aggregate_seeds([Path(p).parent for p in seed_scores], Path(out_scores).parent)


def rank(score_files: Sequence[str | Path], runs: Sequence[str], out_tsv: str | Path, *, top: int) -> None:
    from .formats import read_ranking
    from .results.ranking import rank_runs

    print(f"read {len(score_files)} scores files: {', '.join(map(str, score_files))}")
    selected = rank_runs(dict(zip(runs, score_files, strict=True)), top, out_tsv)
    rows = read_ranking(out_tsv)
    print(f"ranked {len(rows)} runs by mean dev CCC (DE+HU: mean of arousal, valence, liking; mean over "
          f"seeds); selected the top {top}:")
    for r in rows:
        print(f"  {r['rank']:>3}. {r['run']:<32} mean {r['mean']:.3f}  (arousal {r['arousal']:.3f}, "
              f"valence {r['valence']:.3f}, liking {r['liking']:.3f})" + ("  SELECTED" if r["selected"] else ""))
    print(f"selected: {', '.join(selected)}")
    print(f"wrote {out_tsv}")


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


def table2(score_files: Sequence[str | Path], modes: Sequence[str], out_md: str | Path, out_tsv: str | Path,
           out_html: str | Path, *, feature_set: str, generated: bool, weights: Mapping | None = None) -> None:
    from .results.tables import write_table2

    write_table2(dict(zip(modes, score_files, strict=True)), feature_set, out_md, out_tsv, generated=generated,
                 weights=weights, out_html=out_html)


def weight_search(score_files: Sequence[str | Path], weight_files: Sequence[str | Path], out_tsv: str | Path,
                  out_md: str | Path, out_html: str | Path, *, feature_set: str, generated: bool) -> None:
    from .results.weight_search import write_weight_search

    write_weight_search(score_files, weight_files, out_tsv, out_md, feature_set=feature_set, generated=generated,
                        out_html=out_html)


def fig3(fusion_root: str | Path, out_png: str | Path, out_svg: str | Path, *, protocols: Sequence[str],
         stages: Sequence[int], generated: bool, labels_cache: str | Path | None = None,
         ranking_tsv: str | Path | None = None) -> None:
    from .results.figures_fusion import write_fig3

    write_fig3(fusion_root, protocols, stages, out_png, out_svg, generated=generated, labels_npz=labels_cache,
               ranking_tsv=ranking_tsv)


def comparisons(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path, labels_cache: str | Path,
                out_md: str | Path, out_tsv: str | Path, out_html: str | Path, *, protocols: Sequence[str],
                stages: Sequence[int], generated: bool) -> None:
    from .results.tables import write_comparisons

    write_comparisons(ranking_tsv, runs_root, fusion_root, labels_cache, protocols, stages, out_md, out_tsv,
                      generated=generated, out_html=out_html)


def learning_curves(ranking_tsv: str | Path, history_files: Sequence[str | Path], out_png: str | Path,
                    out_svg: str | Path, *, generated: bool) -> None:
    from .results.figures_runs import write_learning_curves

    write_learning_curves(ranking_tsv, history_files, out_png, out_svg, generated=generated)


def fusion_correlation(ranking_tsv: str | Path, runs_root: str | Path, labels_cache: str | Path, out_png: str | Path,
                       out_svg: str | Path, *, generated: bool) -> None:
    from .results.figures_fusion import write_correlation

    write_correlation(ranking_tsv, runs_root, labels_cache, out_png, out_svg, generated=generated)


def traces(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path, labels_cache: str | Path,
           out_png: str | Path, out_svg: str | Path, *, protocols: Sequence[str], stages: Sequence[int],
           generated: bool) -> None:
    from .results.figures_fusion import write_traces

    write_traces(ranking_tsv, runs_root, fusion_root, labels_cache, protocols, stages, out_png, out_svg,
                 generated=generated)


def de_vs_hu(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path, labels_cache: str | Path,
             out_png: str | Path, out_svg: str | Path, *, protocols: Sequence[str], stages: Sequence[int],
             generated: bool) -> None:
    from .results.figures_fusion import write_cultures

    write_cultures(ranking_tsv, runs_root, fusion_root, labels_cache, protocols, stages, out_png, out_svg,
                   generated=generated)


def report_tables(unimodal_tsv: str | Path, runs_tsv: str | Path, summary_tsv: str | Path, out_unimodal: str | Path,
                  out_runs: str | Path, out_summary: str | Path, *, top_unimodal: int, top_fusion: int) -> None:
    """The rankings and the fusion summary as HTML tables for `snakemake --report`."""
    from .results.markdown import tsv_to_html

    by = "ranked by mean dev CCC (DE+HU, mean over seeds); 'selected' = 1"
    tsv_to_html(unimodal_tsv, "Unimodal ranking", f"The 12 unimodal runs, {by}: the top {top_unimodal}, whose "
                "pairs make the bimodal runs.", out_unimodal)
    tsv_to_html(runs_tsv, "Ranking of all runs", f"Unimodal and bimodal runs, {by}: the top {top_fusion}, fed "
                "to the fusion.", out_runs)
    tsv_to_html(summary_tsv, "Fusion summary", "CCC of every fusion stage, protocol, split and culture "
                "(in-sample: the paper's protocol, fitted and scored on dev; grouped-cv: held-out recordings).",
                out_summary)


def runs_overview(ranking_tsv: str | Path, out_png: str | Path, out_svg: str | Path, *, generated: bool,
                  truth_json: str | Path | None = None) -> None:
    from .results.figures_runs import write_runs_overview

    write_runs_overview(ranking_tsv, out_png, out_svg, generated=generated, truth_json=truth_json)


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
