# Input functions and wiring of the workflow, named for what they return. Library work (config
# checks, code hashes, the weight-search draws) is one call into emofusion each. Keep this file
# light: it is parsed on every `snakemake` call (no torch/mlflow imports).

import sys
from pathlib import Path

from emofusion.code_version import code_versions
from emofusion.config import (ablation_train_config, check_config, extra_run_set, machine_mem_mb,
                              search_train_config)
from emofusion.data.synth import is_generated_root
from emofusion.data_spec import DataSpec
from emofusion.errors import ConfigError
from emofusion.formats import read_selected
from emofusion.results.ranking import pairs
from emofusion.results.report_items import report_flag
from emofusion.results.weight_search import sample_search_weights
from emofusion.spec import TrainSpec
from emofusion.tracking_spec import TrackingSpec


try:
    check_config(config)
except ConfigError as exc:  # a user error: one line naming the key, no traceback, nothing run
    sys.exit(f"emofusion: config error: {exc}")


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


SETS_PATTERN = sorted(config["feature_sets"], key=len, reverse=True)


wildcard_constraints:
    run=r"[a-z_]+(\+[a-z_]+)?",
    fs="|".join(SETS_PATTERN),  # the configured sets only: never labels.npz or inputs.json
    seed=r"\d+",
    protocol=r"in-sample|grouped-cv",
    n=r"\d+",
    part=r"fold\d+|all",


# The `code` param of each rule: a hash of its script and of every library module the script
# reaches through its imports (emofusion.code_version), keyed by the script's name.
CODE = code_versions(Path(workflow.basedir) / "workflow" / "scripts", LIB)


def report_item(path, key):
    """An output marked for `snakemake --report`: its caption (workflow/report/{caption}.rst) and its
    place and labels in the report (emofusion.results.report_items.REPORT_ITEMS, reading order)."""
    caption = {"ranking_runs": "rankings", "ranking_unimodal": "rankings"}.get(key, key)
    return report(path, caption=f"../report/{caption}.rst", **report_flag(key))


def uses_builtin_corpus():
    """No data_root: the workflow generates its own corpus under results/corpus."""
    return config["data_root"] is None


def is_generated():
    """Generated data (the built-in corpus, or a root `emofusion synth` wrote): the one decision
    behind the data label of every table and figure."""
    return uses_builtin_corpus() or is_generated_root(config["data_root"])


def get_data_root():
    """The AVEC-layout data folder: the generated corpus, or the configured real data."""
    return str(RESULTS / "corpus") if uses_builtin_corpus() else config["data_root"]


def get_corpus_marker():
    """The generated corpus folder (so caches depend on it), or nothing for real data."""
    return [str(RESULTS / "corpus")] if uses_builtin_corpus() else []


def get_truth_input():
    """What the planted truth is read from on generated data: the built-in corpus folder (truth.json
    inside it) or a generated data root's truth.json; nothing for real data."""
    if uses_builtin_corpus():
        return get_corpus_marker()
    return [str(Path(config["data_root"]) / "truth.json")] if is_generated() else []


def get_truth_path():
    """The generated data's truth.json (the planted ranking the runs overview marks), or None."""
    if uses_builtin_corpus():
        return str(RESULTS / "corpus" / "truth.json")
    return str(Path(config["data_root"]) / "truth.json") if is_generated() else None


def get_labels_input(wildcards):
    if uses_builtin_corpus():
        return get_corpus_marker()
    return [str(Path(config["data_root"]) / "labels")]


def get_feature_input(wildcards):
    """What a feature cache is built from: the corpus marker, the extracted files of an audio set, or
    the real labels + set folder."""
    if uses_builtin_corpus():
        return get_corpus_marker()
    if is_extracted(wildcards.fs):
        return get_extracted_set_files(wildcards.fs)
    root = Path(config["data_root"])
    return [str(root / "labels"), str(root / config["feature_sets"][wildcards.fs]["folder"])]


def get_inputs_input(wildcards):
    """What the input check reads: the corpus marker, or the real labels + every set's folder."""
    if uses_builtin_corpus():
        return get_corpus_marker()
    root = Path(config["data_root"])
    return [str(root / "labels"), *(str(root / f) for f in get_feature_folders().values())]


def get_feature_folders():
    """``{set key: folder}`` of the configured feature sets read from the data root. Sets extracted
    from audio (``audio.extract``) are left out: they are made from the WAVs, whose recordings were
    checked against the labels when the workflow was parsed (``check_audio_root``)."""
    extracted = set((config.get("audio") or {}).get("extract") or []) | set(
        (config.get("video") or {}).get("extract") or [])
    return {k: v["folder"] for k, v in config["feature_sets"].items() if k not in extracted}


# The data settings as the data rules read them: the spec's values (emofusion.data_spec.DataSpec, a
# null resolved to the library's default there), so stating a default changes no param. Which of them
# each data rule uses (a rule gets only these, as its `data` param), so changing one re-runs only the
# rules that read it (e.g. label_range: not the input check). Tied to the fields of DataSpec by
# tests/test_code_version.py.
DATA = DataSpec.from_settings(config["data"], where="config key data")
DATA_SETTINGS = {
    "check_inputs": ("cultures",),
    "cache_labels": ("cultures", "label_range"),
    "cache_features": ("cultures", "window_s", "pad_tolerance", "label_range", "max_frames"),
}


def get_data_settings(rule_name):
    settings = DATA.settings()
    return {k: settings[k] for k in DATA_SETTINGS[rule_name]}


def get_feature_entry(wildcards):
    """This set's own entry as its cache reads it: the folder, and the format only when not the
    default, so stating `format: avec` (or adding the key) re-runs nothing."""
    entry = config["feature_sets"][wildcards.fs]
    return {"folder": entry["folder"],
            **({"format": entry["format"]} if entry.get("format", "avec") != "avec" else {})}


def get_feature_data_settings(wildcards):
    """The data settings a feature cache reads, with the set's own window_s where its entry gives one
    (so a set's window re-runs that set's cache only)."""
    entry = config["feature_sets"][wildcards.fs]
    return {**get_data_settings("cache_features"), **({"window_s": entry["window_s"]} if "window_s" in entry else {})}


# The tracking section as the init_tracking job reads it (emofusion.tracking_spec.TrackingSpec), one
# param per key (TRACKING_KEYS): a null uri stays null here, the default store (results/mlflow.db) being
# resolved to an absolute path inside the job, so moving the checkout does not change any rule's params.
TRACKING = TrackingSpec.from_settings(config["tracking"], where="config key tracking").settings()


# The train section as the training job reads it: the spec's values (its defaults filled in, e.g. the
# loss weights, which the config leaves null). The train rule passes them one key each (emofusion.spec.TRAIN_KEYS),
# so stating a default changes no param, and a changed key re-runs the jobs whose param it is.
TRAIN = TrainSpec.from_dict(config["train"]).to_dict()


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
    planted = [str(RESULTS / "ranking" / f"planted_check.{ext}") for ext in ("json", "txt")] if uses_builtin_corpus() else []
    return [str(RESULTS / "ranking" / "runs.tsv"), str(RESULTS / "fusion" / "summary.tsv"), *planted,
            *get_report_outputs(wildcards), str(RESULTS / "system")]


def get_all_run_checkpoints(wildcards):
    """Every seed's model.ckpt of every DAG run (the system rule copies the selected runs')."""
    runs = SETS + get_bimodal_runs(wildcards)
    return [str(RESULTS / "runs" / r / f"seed{s}" / "model.ckpt") for r in runs for s in SEEDS]


def get_system_config():
    """The config the system's manifest records: what made the system (the train section as the spec's
    values, as the train rule passes them; not tracking, ablation or search)."""
    keep = ("data_root", "corpus", "data", "feature_sets", "seeds", "selection", "fusion", "system")
    return {**{k: config[k] for k in keep}, "train": TRAIN}


def get_system_feature_settings(wildcards):
    """Per set, what aligning a new recording needs: its folder, window and file format; for a set
    the workflow extracts, where from and the window of its functionals and bags."""
    out = {k: {"folder": v["folder"], "window_s": v.get("window_s", config["data"]["window_s"]),
               "format": v.get("format", "avec")} for k, v in config["feature_sets"].items()}
    for source, keys in (("audio", AUDIO_EXTRACT), ("video", VIDEO_EXTRACT)):
        for k in keys:
            if k in out:
                out[k]["extract"] = {"source": source, "window_s": config[source]["window_s"]}
    return out


def get_system_codebooks(wildcards):
    """The Train-only codebooks of the extracted bag-of-words sets (the bundle keeps a copy)."""
    from emofusion.system_extract import codebook_name, kind_of

    return sorted({str(EXTRACTED / "codebooks" / codebook_name(source, k))
                   for source, keys in (("audio", AUDIO_EXTRACT), ("video", VIDEO_EXTRACT))
                   for k in keys if k in config["feature_sets"] and kind_of(source, k)[1] == "boaw"})


def get_run_names_of_input(wildcards, input):
    """Run names of a ranking rule's inputs (results/runs/{run}/scores.json)."""
    return [Path(p).parent.name for p in input]


# Which fusion settings each protocol uses: a rule gets only these (one key each), so changing a
# setting re-runs only the protocols that read it (e.g. outer_folds: grouped-cv only). Tied to the fields
# of emofusion.fusion_spec.FusionSpec by tests/test_code_version.py.
FUSION_SETTINGS = {
    "in-sample": ("ks", "Cs", "tol", "method"),
    "grouped-cv": ("ks", "Cs", "tol", "method", "outer_folds", "inner_folds", "seed"),
}


def get_fusion_settings(wildcards):
    return {k: config["fusion"][k] for k in FUSION_SETTINGS[wildcards.protocol]}


def get_fusion_part_names(protocol):
    if protocol == "in-sample":
        return ["all"]
    return [f"fold{i}" for i in range(1, config["fusion"]["outer_folds"] + 1)] + ["all"]


def get_fusion_parts(wildcards):
    """The chain files of one stage: its parts."""
    return [str(RESULTS / "fusion" / wildcards.protocol / f"stage{wildcards.n}" / f"{p}.npz")
            for p in get_fusion_part_names(wildcards.protocol)]


def get_prev_fusion_part(wildcards):
    """The same part of the previous stage (nothing for stage 1)."""
    n = int(wildcards.n)
    if n == 1:
        return []
    return [str(RESULTS / "fusion" / wildcards.protocol / f"stage{n - 1}" / f"{wildcards.part}.npz")]


# --- reports, ablation, search ---
# Tables and figures (workflow/rules/report.smk) and the extra runs of paper Table 2 and section 5
# (workflow/rules/ablation.smk): results/ablation/{loss_mode}/, results/search/{i}/ (docs/contracts.md).

TABLES = RESULTS / "tables"
FIGURES = RESULTS / "figures"
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
    """The feature set of the ablation or the search (checked: one of feature_sets)."""
    return extra_run_set(config, section)


def get_ablation_caches(wildcards):
    return [str(RESULTS / "features" / f"{get_extra_set('ablation')}.npz")]


def get_search_caches(wildcards):
    return [str(RESULTS / "features" / f"{get_extra_set('search')}.npz")]


def get_ablation_mtl2_weights():
    """The (alpha, beta, gamma) the ablation's MTL2 run trains with (Table 2 prints them)."""
    return TrainSpec.from_dict(ablation_train_config(config["train"], "mtl2")).weights


def get_ablation_params(wildcards):
    """config.train with the loss mode of this ablation run."""
    return ablation_train_config(config["train"], wildcards.loss_mode)


def get_search_params(wildcards):
    """config.train as MTL2 with the i-th sampled (alpha, beta, gamma)."""
    return search_train_config(config["train"], SEARCH_WEIGHTS[int(wildcards.i)])


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


# --- audio data roots (workflow/rules/audio.smk) ---
# With audio.extract set, data_root holds audio/<name>.wav beside labels/; the listed sets are
# extracted into results/extracted/ (a complete AVEC-layout root: labels/ copied, one folder per
# set), and their caches read it from there. Every other set is read from data_root as usual.

from emofusion.data.audio import EXTRACTABLE, LLD_SETS, check_audio_root, folder_of

EXTRACTED = RESULTS / "extracted"
AUDIO_EXTRACT = list((config.get("audio") or {}).get("extract") or [])
# checked when the workflow is parsed: one clear error naming the file before any job starts
AUDIO_INFO = (check_audio_root(config["data_root"], cultures=DATA.cultures,
                               tolerance_frames=DATA.pad_tolerance) if AUDIO_EXTRACT else {})
AUDIO_RECORDINGS = sorted(AUDIO_INFO)

# --- video data roots (workflow/rules/video.smk): video/<name>.<mp4|avi|mkv|mov> beside labels/ ---
from emofusion.data.video import check_video_root
from emofusion.data.video_config import folder_of as video_folder_of

VIDEO_EXTRACT = list((config.get("video") or {}).get("extract") or [])
VIDEO_INFO = (check_video_root(config["data_root"], cultures=DATA.cultures,
                               tolerance_frames=DATA.pad_tolerance) if VIDEO_EXTRACT else {})
VIDEO_RECORDINGS = sorted(VIDEO_INFO)


wildcard_constraints:
    lld="|".join(LLD_SETS),
    rec=r"(Train|Devel|Test)_(DE|HU|CN)_\d{2}",


def is_extracted(fs):
    return fs in AUDIO_EXTRACT or fs in VIDEO_EXTRACT


def get_set_data_root(wildcards):
    """Where a set's cache reads it: results/extracted for extracted sets, else the data root."""
    return str(EXTRACTED) if is_extracted(wildcards.fs) else get_data_root()


def get_wav(wildcards):
    return str(Path(config["data_root"]) / "audio" / f"{wildcards.rec}.wav")


def get_lld_files(wildcards):
    return [str(EXTRACTED / folder_of(wildcards.lld) / f"{r}.csv") for r in AUDIO_RECORDINGS]


def get_train_lld_files(wildcards):
    return [f for f in get_lld_files(wildcards) if Path(f).stem.startswith("Train_")]


def get_derived_files(kind):
    """Output files of the functionals / bag-of-words job of one LLD set (one per recording)."""
    suffix = {"func": "functionals", "boaw": "xbow"}[kind]
    return [str(EXTRACTED / f"audio_features_{{lld}}_{suffix}" / f"{r}.csv") for r in AUDIO_RECORDINGS]


def get_extracted_set_files(fs):
    """Everything the cache of an extracted set reads: the copied labels and the set's files."""
    if fs in VIDEO_EXTRACT:
        return [str(EXTRACTED / "labels")] + [str(EXTRACTED / video_folder_of(fs) / f"{r}.csv")
                                              for r in VIDEO_RECORDINGS]
    return [str(EXTRACTED / "labels")] + [str(EXTRACTED / folder_of(fs) / f"{r}.csv") for r in AUDIO_RECORDINGS]


def get_audio_labels_dir(wildcards):
    return str(Path(config["data_root"]) / "labels")


def get_functionals_dir(wildcards):
    return str(EXTRACTED / f"audio_features_{wildcards.lld}_functionals")


def get_bags_dir(wildcards):
    return str(EXTRACTED / f"audio_features_{wildcards.lld}_xbow")


def get_video(wildcards):
    return str(VIDEO_INFO[wildcards.rec].path)


def get_face_files(wildcards=None):
    return [str(EXTRACTED / video_folder_of("face") / f"{r}.csv") for r in VIDEO_RECORDINGS]


def get_train_face_files(wildcards=None):
    return [f for f in get_face_files() if Path(f).stem.startswith("Train_")]


def get_face_derived_files(key):
    return [str(EXTRACTED / video_folder_of(key) / f"{r}.csv") for r in VIDEO_RECORDINGS]
