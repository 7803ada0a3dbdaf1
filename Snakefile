# emofusion: Atmaja & Akagi (ICASSP 2020) as a workflow. Declarations only; helpers in
# workflow/rules/common.smk, logic in the emofusion library (workflow/emofusion/).
#
# Results path scheme (docs/contracts.md):
#   results/corpus/                           generated corpus (only when data_root is null)
#   results/tracking.json                     MLflow store + experiment, initialised once
#   results/extracted/                        audio/video data roots only: sets extracted from WAV and video
#                                             (AVEC layout: labels/, audio_features_*/{rec}.csv,
#                                             visual_features_face*/{rec}.csv), codebooks/{lld|face}.npz
#   results/features/{set}.npz, labels.npz    binary feature / label cache
#   results/runs/{run}/seed{seed}/            one training run: predictions/, scores.json, model.ckpt
#   results/runs/{run}/                       the run over seeds: predictions/, scores.json (mean, sd)
#         {run} = a feature-set key (fau_func) or two keys joined by '+', sorted (boaw_egemaps+fau_func)
#   results/ranking/unimodal.tsv              checkpoint: the 12 unimodal runs ranked, top 7 selected
#   results/ranking/runs.tsv                  all 12 + 21 runs ranked, top 11 selected
#   results/ranking/planted_check.{json,txt}  generated corpus: the unimodal ranking vs truth.json (Spearman)
#   results/fusion/{protocol}/stage{n}/       predictions/, scores.json   (protocol in-sample|grouped-cv)
#   results/fusion/summary.tsv                stage x protocol x split x culture CCC table
#   results/tables/, results/figures/         Table 3, Fig. 3, runs overview (default target); Table 2
#                                             (`snakemake ablation`), weight_search.tsv (`snakemake search`)
#   results/ablation/{loss_mode}/, results/search/{i}/   the extra runs of Table 2 and the weight search
#   results/system/                           the trained system: checkpoints, normalisation, in-sample chain,
#                                             manifest.json (`emofusion predict --system results/system`)
#   results/mlflow.db, results/mlartifacts/   the MLflow store (docs/mlflow.md: `mlflow ui --backend-store-uri
#                                             sqlite:///results/mlflow.db --artifacts-destination results/mlartifacts`)
#   results/logs/, results/benchmarks/        per-job logs and timings

from snakemake.utils import min_version

min_version("9.0")


# Config: config.yaml is the default experiment, read only when no --configfile is given. A config
# file given with --configfile (workflow/configs/*.yaml, or your own) is complete and replaces it,
# never merged key by key with it; --config key=value overrides go on top of either.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/video.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/ranking.smk"
include: "workflow/rules/fusion.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/system.smk"


rule all:
    default_target: True
    input:
        get_final_outputs,


# The end of a successful run: what it found (Table 3's rows, the planted-ranking check), where the
# tables, figures and report are, and the MLflow UI command and URL (emofusion.results.summary).
onsuccess:
    from emofusion.results.summary import print_summary

    print_summary(RESULTS, generated=is_generated())
