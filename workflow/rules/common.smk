# Every Python helper and input function of the workflow, named for what it returns.
# Keep this file light: it is parsed on every `snakemake` call (no torch/mlflow imports).

import hashlib
from pathlib import Path

from emofusion.config import check_config, machine_mem_mb
from emofusion.ranking import pairs, read_selected


check_config(config)


# Jobs declare mem_mb; unless the user passes --resources mem_mb=N (or a profile does), cap their
# sum at 85% of the machine's memory so `--cores 8` never runs it out of memory. Under a cluster
# executor (workflow/profiles/slurm) this does not throttle submission: mem_mb is a "local"-scope
# resource in Snakemake, not tallied across submitted jobs; each job gets its mem_mb from SLURM.
if "mem_mb" not in workflow.global_resources and machine_mem_mb():
    workflow.register_resource("mem_mb", machine_mem_mb())

RESULTS = Path("results")
SETS = list(config["feature_sets"])
SEEDS = list(config["seeds"])
STAGES = list(range(1, config["fusion"]["stages"] + 1))
PROTOCOLS = list(config["fusion"]["protocols"])
LIB = Path(workflow.basedir) / "workflow" / "emofusion"


wildcard_constraints:
    run=r"[a-z_]+(\+[a-z_]+)?",
    fs=r"[a-z_]+",
    seed=r"\d+",
    protocol=r"in-sample|grouped-cv",
    n=r"\d+",


def code_version(*modules):
    """Hash of the library modules a rule's outputs depend on. It is a param of that rule, so
    changing the code re-runs the affected jobs (Snakemake's params rerun trigger)."""
    h = hashlib.sha256()
    for m in modules:
        h.update((LIB / f"{m}.py").read_bytes())
    return h.hexdigest()[:16]


CODE = {
    "corpus": code_version("synth", "corpus", "features", "io"),
    "features": code_version("features", "corpus", "io"),
    "train": code_version("model", "loss", "task", "data", "train", "metrics", "features", "corpus", "io"),
    "ranking": code_version("ranking", "corpus", "io"),
    "fusion": code_version("fusion", "fusion_solver", "metrics", "corpus", "io"),
}


def is_generated():
    return config["data_root"] is None


def get_data_root():
    """The AVEC-layout data folder: the generated corpus, or the configured real data."""
    return str(RESULTS / "corpus") if is_generated() else config["data_root"]


def get_corpus_marker():
    """The generated corpus folder (so caches depend on it), or nothing for real data."""
    return [str(RESULTS / "corpus")] if is_generated() else []


def get_labels_input(wildcards):
    if is_generated():
        return get_corpus_marker()
    return [str(Path(config["data_root"]) / "labels")]


def get_feature_input(wildcards):
    """What a feature cache is built from: the corpus marker, or the real labels + set folder."""
    if is_generated():
        return get_corpus_marker()
    root = Path(config["data_root"])
    return [str(root / "labels"), str(root / config["feature_sets"][wildcards.fs]["folder"])]


def get_feature_params(wildcards):
    """Everything a feature cache depends on: only this set's own entry and the data settings."""
    entry = config["feature_sets"][wildcards.fs]
    return {
        "folder": entry["folder"],
        "window_s": entry.get("window_s", config["data"]["window_s"]),
        "pad_tolerance": config["data"]["pad_tolerance"],
        "max_frames": config["data"]["max_frames"],
        "cultures": config["data"]["cultures"],
    }


def get_tracking_uri():
    """The configured MLflow URI, or None for the default store (results/mlflow.db, resolved to an
    absolute path inside the job, so moving the checkout does not change any rule's params)."""
    return config["tracking"]["uri"]


def get_artifact_location():
    """The configured artifact location, or None (beside the default store: results/mlartifacts)."""
    return config["tracking"]["artifact_location"]


def get_run_caches(wildcards):
    return [str(RESULTS / "features" / f"{s}.npz") for s in wildcards.run.split("+")]


def get_run_kind(wildcards):
    return "bimodal" if "+" in wildcards.run else "unimodal"


def get_run_dir(wildcards):
    return str(RESULTS / "runs" / wildcards.run / f"seed{wildcards.seed}")


def get_seed_scores(wildcards):
    return [str(RESULTS / "runs" / wildcards.run / f"seed{s}" / "scores.json") for s in SEEDS]


def get_train_mem_mb(wildcards, input):
    """Memory estimate of one training job: the caches it loads (features of all partitions are
    held in memory) plus the framework and activations. A paper-scale 8192-dim bimodal job ~7 GB."""
    return int(1200 + 0.9 * input.size_mb)


def get_unimodal_scores(wildcards):
    return [str(RESULTS / "runs" / s / "scores.json") for s in SETS]


def get_pair_sets(wildcards):
    """The sets whose pairs make the bimodal runs: fixed in config, or the checkpoint's top k."""
    fixed = config["selection"]["pair_sets"]
    if fixed is not None:
        return list(fixed)
    tsv = checkpoints.rank_unimodal.get().output.tsv
    return read_selected(tsv)


def get_bimodal_runs(wildcards):
    return pairs(get_pair_sets(wildcards))


def get_all_run_scores(wildcards):
    runs = SETS + get_bimodal_runs(wildcards)
    return [str(RESULTS / "runs" / r / "scores.json") for r in runs]


def get_fusion_outputs(wildcards):
    return [str(RESULTS / "fusion" / p / f"stage{n}" / "scores.json") for p in PROTOCOLS for n in STAGES]


def get_final_outputs(wildcards):
    return [str(RESULTS / "ranking" / "runs.tsv"), str(RESULTS / "fusion" / "summary.tsv"),
            *get_report_outputs(wildcards)]


def get_run_names_of_input(wildcards, input):
    """Run names of a ranking rule's inputs (results/runs/{run}/scores.json)."""
    return [Path(p).parent.name for p in input]


def get_fusion_dir(wildcards):
    return str(RESULTS / "fusion" / wildcards.protocol)


# --- reports, ablation, search ---
# Tables and figures (workflow/rules/report.smk) and the extra runs of paper Table 2 and section 5
# (workflow/rules/ablation.smk): results/ablation/{loss_mode}/, results/search/{i}/ (DESIGN.md 7).

from emofusion.errors import ConfigError
from emofusion.report import sample_search_weights

TABLES = RESULTS / "tables"
FIGURES = RESULTS / "figures"
CODE["report"] = code_version("report", "metrics", "corpus", "features", "io")
ABLATION_MODES = list(config["ablation"]["modes"])
SEARCH_WEIGHTS = sample_search_weights(config["search"]["n"], config["search"]["seed"])


FIGURE_NAMES = ["fig3", "runs_overview", "learning_curves", "fusion_correlation", "traces", "de_vs_hu"]


def get_report_outputs(wildcards):
    """What the default target adds: Table 3, the paired comparisons, the figures and the HTML
    copies of the rankings and the fusion summary (for `snakemake --report`)."""
    tables = [str(TABLES / f"{t}.{ext}") for t in ("table3", "comparisons") for ext in ("md", "tsv", "html")]
    tables += [str(TABLES / f"{t}.html") for t in ("ranking_unimodal", "ranking_runs", "fusion_summary")]
    figures = [str(FIGURES / f"{name}.{ext}") for name in FIGURE_NAMES for ext in ("png", "svg")]
    return tables + figures


def get_all_run_seed_scores(wildcards):
    """Every seed folder's scores.json (written last, after its history.json) of every DAG run."""
    runs = SETS + get_bimodal_runs(wildcards)
    return [str(RESULTS / "runs" / r / f"seed{s}" / "scores.json") for r in runs for s in SEEDS]


def get_all_run_histories(wildcards, input):
    """The history.json beside each seed scores.json of the learning-curves rule's input."""
    return [str(Path(f).parent / "history.json") for f in input.seeds]


def get_extra_set(section):
    """The feature set of the ablation or the search; it must be one of feature_sets."""
    fs = config[section]["feature_set"]
    if fs not in SETS:
        raise ConfigError(f"config key {section}.feature_set: {fs!r} is not one of feature_sets ({', '.join(SETS)})")
    return fs


def get_ablation_caches(wildcards):
    return [str(RESULTS / "features" / f"{get_extra_set('ablation')}.npz")]


def get_search_caches(wildcards):
    return [str(RESULTS / "features" / f"{get_extra_set('search')}.npz")]


def get_ablation_params(wildcards):
    """config.train with the loss mode of this ablation run; only MTL2 takes config's weights
    (MTL1 uses its own defaults, alpha + beta + gamma = 1; STL and equal weights are fixed)."""
    weights = dict(config["train"]["weights"]) if wildcards.loss_mode == "mtl2" else {}
    return {**config["train"], "loss_mode": wildcards.loss_mode, "weights": weights}


def get_search_params(wildcards):
    """config.train as MTL2 with the i-th sampled (alpha, beta, gamma)."""
    return {**config["train"], "loss_mode": "mtl2", "weights": dict(SEARCH_WEIGHTS[int(wildcards.i)])}


def get_search_id():
    """The tag shared by the runs of one search (MLflow groups them by it)."""
    return f"search-{get_extra_set('search')}-seed{config['search']['seed']}"  # not n: a larger n only adds runs


def get_ablation_tags(wildcards):
    return {"ablation_set": get_extra_set("ablation"), "feature_sets": get_extra_set("ablation")}


def get_search_tags(wildcards):
    return {"search_id": get_search_id(), "feature_sets": get_extra_set("search")}


def get_ablation_scores(wildcards):
    return [str(RESULTS / "ablation" / m / "scores.json") for m in ABLATION_MODES]


def get_search_scores(wildcards):
    return [str(RESULTS / "search" / str(i) / "scores.json") for i in range(len(SEARCH_WEIGHTS))]


def get_search_weight_files(wildcards):
    return [str(RESULTS / "search" / str(i) / "weights.json") for i in range(len(SEARCH_WEIGHTS))]


def get_ablation_dir(wildcards):
    return str(RESULTS / "ablation" / wildcards.loss_mode)


def get_ablation_run_name(wildcards):
    return f"ablation/{wildcards.loss_mode}"


def get_search_dir(wildcards):
    return str(RESULTS / "search" / wildcards.i)


def get_search_run_name(wildcards):
    return f"search/{wildcards.i}"
