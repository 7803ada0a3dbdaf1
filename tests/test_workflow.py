"""The workflow at three levels: `snakemake --lint`, dry-runs on configs in a temp dir, and a tiny
real end-to-end run (generated corpus) with rerun scope and SIGKILL/resume checks.

Every Snakemake call here is the real scheduler on real files: `snakemake -s <repo>/Snakefile
-d <tmp> --configfile <tmp>/config.yaml ...`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import NOISE_SET, REPO, SNAKEMAKE, base_config, smk, tiny_config, write_config


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run: {rule: count}."""
    counts = {}
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\s*total\s+\d+", output, re.S)
    if not m:
        return counts
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def planned_wildcards(output: str, rule: str) -> list[str]:
    """The wildcards lines of the planned jobs of ``rule`` in a dry-run's output."""
    out = []
    for block in re.split(r"\n(?=(?:local)?rule |checkpoint )", output):
        if re.match(rf"(?:local)?(?:rule|checkpoint) {rule}:", block):
            m = re.search(r"wildcards: (.*)", block)
            out.append(m.group(1).strip() if m else "")
    return out


# ---------------------------------------------------------------- level 1: lint


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "Lints for" not in text, text


def test_train_rule_passes_every_train_key_as_its_own_param():
    """One param per key of the spec (the script builds its TrainSpec from them), none left out."""
    from emofusion.spec import TRAIN_KEYS

    passed = re.findall(r'^ +(\w+)=TRAIN\["(\w+)"\],$', (REPO / "workflow" / "rules" / "train.smk").read_text(), re.M)
    assert all(name == key for name, key in passed), passed
    assert [name for name, _ in passed] == list(TRAIN_KEYS)


# ---------------------------------------------------------------- level 2: dry-runs


def test_dry_run_plans_paper_dag(tmp_path):
    """12 unimodal + 21 bimodal runs, both protocols x 5 stages, with the pairs pinned."""
    c = base_config()
    c["selection"]["pair_sets"] = ["fau_func", "boaw_egemaps", "egemaps_func", "deepspectrum", "boaw_mfcc",
                                   "resnet", "bovw"]
    write_config(tmp_path, c)
    out = smk(tmp_path, "-n", "--cores", "8").stdout
    counts = job_counts(out)
    assert counts["train"] == 33, counts
    assert counts["aggregate_run"] == 33
    assert counts["cache_features"] == 12
    assert counts["fuse_part"] == 5 * 1 + 5 * (4 + 1)  # in-sample: all; grouped-cv: 4 outer folds + all
    assert counts["fuse_stage"] == 10
    runs = {re.search(r"run=([^,]+)", w).group(1) for w in planned_wildcards(out, "train")}
    assert len([r for r in runs if "+" in r]) == 21 and "boaw_egemaps+fau_func" in runs
    for protocol in ("in-sample", "grouped-cv"):
        for n in range(1, 6):
            assert f"results/fusion/{protocol}/stage{n}/scores.json" in out
    assert not (tmp_path / "results").exists()  # a dry-run writes nothing


def test_dry_run_data_driven_pairs_wait_for_checkpoint(tmp_path):
    write_config(tmp_path, base_config())
    out = smk(tmp_path, "-n", "--cores", "8").stdout
    counts = job_counts(out)
    assert counts["train"] == 12  # bimodal runs are known only after the unimodal ranking
    assert counts["rank_unimodal"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["train"].update(epochz=3), "train.epochz"),
        (lambda c: c["feature_sets"].update(mfcc_deltas={"folder": "x"}), "mfcc_deltas"),
        (lambda c: c["selection"].update(top_fusion=34), "selection.top_fusion"),
        (lambda c: c["fusion"].update(stages=0), "fusion.stages"),
    ],
)
def test_bad_config_one_clear_error_before_any_job(tmp_path, edit, message):
    c = base_config()
    edit(c)
    write_config(tmp_path, c)
    proc = smk(tmp_path, "--cores", "2", check=False, timeout=120)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()  # nothing ran, nothing written


def planned_resources(output: str, rule: str) -> list[dict[str, str]]:
    """The ``resources:`` of each planned job of ``rule`` in a dry-run's output."""
    out = []
    for block in re.split(r"\n(?=(?:local)?rule |checkpoint )", output):
        if re.match(rf"(?:local)?(?:rule|checkpoint) {rule}:", block):
            m = re.search(r"resources: (.*)", block)
            out.append(dict(kv.split("=", 1) for kv in m.group(1).split(", ")) if m else {})
    return out


def test_gpu_profile_gives_each_training_job_one_gpu(tmp_path):
    write_config(tmp_path, tiny_config())
    out = smk(tmp_path, "-n", "--profile", str(REPO / "workflow" / "profiles" / "gpu"), "--resources", "gpu=2").stdout
    train = planned_resources(out, "train")
    assert len(train) == 4 and all(r.get("gpu") == "1" for r in train), train
    assert all("gpu" not in r for r in planned_resources(out, "cache_features"))


def test_slurm_profile_dry_run(tmp_path):
    """workflow/profiles/slurm as Snakemake reads it through the SLURM executor plugin (in the test
    extra; no SLURM is needed for a dry-run): per-rule runtime, cores and one GPU per training job."""
    write_config(tmp_path, tiny_config())
    out = smk(tmp_path, "-n", "--profile", str(REPO / "workflow" / "profiles" / "slurm")).stdout
    train = planned_resources(out, "train")
    assert len(train) == 4, train
    assert all((r["gpu"], r["runtime"], r["cpus_per_task"]) == ("1", "240", "1") for r in train), train
    (fuse,) = {tuple(sorted(r.items())) for r in planned_resources(out, "fuse_part")}
    assert dict(fuse)["cpus_per_task"] == "1" and dict(fuse)["runtime"] == "240"
    assert all(r["runtime"] == "60" for r in planned_resources(out, "cache_features"))
    assert job_counts(out)["train"] == 4


# ---------------------------------------------------------------- level 3: a tiny real run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny_run")
    write_config(work, tiny_config())
    t0 = time.time()
    proc = smk(work, "--cores", "2", timeout=1500)
    (work / "snakemake.stderr").write_text(proc.stderr)  # the end-of-run summary is in it
    return work, time.time() - t0


def _scores(path: Path) -> dict:
    return json.loads(path.read_text())


def test_tiny_run_outputs_parse(tiny_run):
    work, seconds = tiny_run
    res = work / "results"
    uni = (res / "ranking" / "unimodal.tsv").read_text().splitlines()
    assert len(uni) == 1 + 4
    runs = (res / "ranking" / "runs.tsv").read_text().splitlines()
    header = runs[0].split("\t")
    rows = [dict(zip(header, r.split("\t"), strict=True)) for r in runs[1:]]
    assert len(rows) == 4 + 3
    assert sum(r["selected"] == "1" for r in rows) == 4
    means = [float(r["mean"]) for r in rows]
    assert means == sorted(means, reverse=True)
    for r in rows:  # each ranking number is the run's own scores file
        s = _scores(res / "runs" / r["run"] / "scores.json")
        assert float(r["mean"]) == pytest.approx(s["devel"]["DE+HU"]["mean"], abs=1e-6)
        assert set(s["devel"]) == {"DE+HU", "DE", "HU"} and "test" in s
        assert (res / "runs" / r["run"] / "seed0" / "model.ckpt").is_file()
        assert len(list((res / "runs" / r["run"] / "predictions").glob("Devel_*.csv"))) == 12
    for protocol in ("in-sample", "grouped-cv"):
        for n in (1, 2):
            s = _scores(res / "fusion" / protocol / f"stage{n}" / "scores.json")
            assert -1 <= s["devel"]["DE+HU"]["mean"] <= 1
            assert len(list((res / "fusion" / protocol / f"stage{n}" / "predictions").glob("Devel_*.csv"))) == 12
    summary = (res / "fusion" / "summary.tsv").read_text().splitlines()
    assert len(summary) > 1 and "protocol" in summary[0]
    assert (res / "mlflow.db").is_file()
    # every run's artifacts under a URI with no path in it, their files in results/mlartifacts/
    runs = _mlflow_runs(work)
    assert runs and all(r.info.artifact_uri == f"mlflow-artifacts:/{r.info.run_id}/artifacts" for r in runs)
    scored = [r for r in runs if r.data.tags.get("kind") != "system"]
    assert scored and all((res / "mlartifacts" / r.info.run_id / "artifacts" / "scores.json").is_file() for r in scored)
    # the registered system model's files too (MLflow 3 puts a logged model under models/<model id>/)
    assert len(list((res / "mlartifacts" / "models").glob("m-*/artifacts/MLmodel"))) == 1


def test_tiny_run_recovers_planted_truth(tiny_run):
    """The noise-only set is ranked last among the unimodal runs, and the best run is well above it."""
    work, _ = tiny_run
    truth = _scores(work / "results" / "corpus" / "truth.json")
    assert all(v == 0 for v in truth["informativeness"][NOISE_SET].values())
    uni = [ln.split("\t") for ln in (work / "results" / "ranking" / "unimodal.tsv").read_text().splitlines()[1:]]
    assert uni[-1][1] == NOISE_SET, uni
    best = float(uni[0][6])
    noise = float(uni[-1][6])
    assert abs(noise) < 0.15
    assert best > noise + 0.15, (best, noise)


def test_tiny_run_ends_with_the_summary_and_the_planted_check(tiny_run):
    work, _ = tiny_run
    check = json.loads((work / "results" / "ranking" / "planted_check.json").read_text())
    uni = (work / "results" / "ranking" / "unimodal.tsv").read_text().splitlines()
    assert check["n_sets"] == len(uni) - 1 and -1 <= check["spearman"] <= 1
    summary = (work / "snakemake.stderr").read_text().split("emofusion: what this run found", 1)[1]
    assert f"Planted-ranking check: Spearman {check['spearman']:.3f}" in summary
    assert "Multistage" in summary and "results/tables/table3.md" in summary and "results/figures/fig3.png" in summary
    exp = json.loads((work / "results" / "tracking.json").read_text())["experiment_id"]
    assert ("mlflow ui --backend-store-uri sqlite:///results/mlflow.db --artifacts-destination results/mlartifacts "
            "--host 127.0.0.1 --port 5000") in summary
    assert f"/#/experiments/{exp}/runs?viewStateShareKey=" in summary and "workflowType=machine_learning" in summary


def test_noop_rerun_plans_nothing(tiny_run):
    work, _ = tiny_run
    t0 = time.time()
    out = smk(work, "-n", "--cores", "2").stdout
    assert "Nothing to be done" in out, out[-2000:]
    print(f"no-op dry-run: {time.time() - t0:.1f} s")


def test_changing_one_feature_set_reruns_only_its_runs(tiny_run, tmp_path):
    work, _ = tiny_run
    c = tiny_config()
    c["feature_sets"]["egemaps_func"]["window_s"] = 0.2
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(c, sort_keys=False))
    out = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(cfg),
                          "-n", "--cores", "2"], capture_output=True, text=True, timeout=300).stdout
    caches = planned_wildcards(out, "cache_features")
    assert caches == ["fs=egemaps_func"], caches
    trained = {re.search(r"run=([^,]+)", w).group(1) for w in planned_wildcards(out, "train")}
    assert trained and all("egemaps_func" in r.split("+") for r in trained), trained
    assert "synth_corpus" not in job_counts(out) and "cache_labels" not in job_counts(out)


def test_changing_a_fusion_setting_reruns_fusion_only(tiny_run, tmp_path):
    work, _ = tiny_run
    c = tiny_config()
    c["fusion"]["Cs"] = [0.1, 1.0]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(c, sort_keys=False))
    out = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(cfg),
                          "-n", "--cores", "2"], capture_output=True, text=True, timeout=300).stdout
    counts = job_counts(out)
    # the fusion, and what reads it (summary, Table 3, Fig. 3, comparisons, figures); no training, caches or rankings
    assert set(counts) <= {"fuse_part", "fuse_stage", "fusion_summary", "table3", "fig3", "comparisons", "traces",
                           "de_vs_hu", "report_tables", "system", "all"}, counts
    assert counts.get("fuse_part") == 2 * (1 + 3) and counts.get("fuse_stage") == 4


def _plan(work, tmp_path, edit):
    c = tiny_config()
    edit(c)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(c, sort_keys=False))
    return subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(cfg),
                           "-n", "--cores", "2"], capture_output=True, text=True, timeout=300).stdout


def test_one_more_stage_plans_only_that_stage(tiny_run, tmp_path):
    work, _ = tiny_run
    out = _plan(work, tmp_path, lambda c: c["fusion"].update(stages=3))
    parts = planned_wildcards(out, "fuse_part")
    assert parts and all("n=3" in w for w in parts), parts
    stages = planned_wildcards(out, "fuse_stage")
    assert len(parts) == 1 + 3 and len(stages) == 2 and all("n=3" in w for w in stages), (parts, stages)
    assert set(job_counts(out)) <= {"fuse_part", "fuse_stage", "fusion_summary", "table3", "fig3", "comparisons",
                                    "traces", "de_vs_hu", "report_tables", "system", "all"}


@pytest.mark.parametrize(("edit", "protocols"), [
    (lambda c: c["fusion"].update(outer_folds=3), {"grouped-cv"}),  # a grouped-cv-only setting
    (lambda c: c["fusion"].update(tol=5e-4), {"in-sample", "grouped-cv"}),
])
def test_a_protocol_setting_reruns_only_that_protocol(tiny_run, tmp_path, edit, protocols):
    work, _ = tiny_run
    out = _plan(work, tmp_path, edit)
    planned = {re.search(r"protocol=([a-z-]+)", w).group(1) for w in planned_wildcards(out, "fuse_part")}
    assert planned == protocols, out[-3000:]


def test_changing_protocols_reruns_no_fusion_stage(tiny_run, tmp_path):
    """Dropping a protocol re-plans only what lists the protocols (summary, Table 3, Fig. 3)."""
    work, _ = tiny_run
    out = _plan(work, tmp_path, lambda c: c["fusion"].update(protocols=["grouped-cv"]))
    counts = job_counts(out)
    assert "fuse_part" not in counts and "fuse_stage" not in counts, counts


def planned_reasons(output: str) -> dict[str, set[str]]:
    """{rule: the ``reason:`` lines of its planned jobs} of a dry-run's output."""
    out: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule |checkpoint )", output):
        m = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        r = re.search(r"reason: (.*)", block)
        if m and r:
            out.setdefault(m.group(1), set()).add(r.group(1).strip())
    return out


@pytest.mark.parametrize(
    ("leaf", "reached_by", "untouched"),
    [
        # fusion/solver: imported by fusion/design, which the fitting job (fusion.fit.fuse_part_job)
        # and the system bundle (fusion.apply re-applies the chain) reach; joining a stage does not.
        # The system job is planned too, but Snakemake gives it only the input reason (its inputs are
        # the re-fitted chain files), so by the "Params have changed" reason only fuse_part is reached
        ("fusion/solver.py", {"fuse_part"},
         {"synth_corpus", "init_tracking", "cache_labels", "cache_features", "train", "aggregate_run",
          "rank_unimodal", "rank_runs", "runs_overview"}),
        # training/devices: imported by the trainer only (the GPU claim); what reads the runs re-runs as downstream
        ("training/devices.py", {"train"}, {"synth_corpus", "init_tracking", "cache_labels", "cache_features"}),
    ],
)
def test_library_edit_reruns_exactly_the_rules_that_reach_it(tiny_run, tmp_path, leaf, reached_by, untouched):
    """Edit one leaf module in a copy of the repo: the jobs re-planned because their code param
    changed are exactly the rules whose scripts import it (directly or not); everything else
    planned is downstream of them, and the stages before them stay put."""
    work, _ = tiny_run
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "workflow", copy / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Snakefile", copy / "Snakefile")
    module = copy / "workflow" / "emofusion" / leaf
    module.write_text(module.read_text() + "\n# an edit\n")
    out = subprocess.run([*SNAKEMAKE, "-s", str(copy / "Snakefile"), "-d", str(work), "--configfile",
                          str(work / "config.yaml"), "-n", "--cores", "2"], capture_output=True, text=True,
                         timeout=300).stdout
    reasons = planned_reasons(out)
    by_code = {rule for rule, rs in reasons.items() if any("Params have changed" in r for r in rs)}
    assert by_code == reached_by, reasons
    assert not untouched & set(reasons), reasons
    for rule, rs in reasons.items():
        if rule not in reached_by and rule != "all":
            assert all("Input files updated by another job" in r for r in rs), (rule, rs)


@pytest.mark.parametrize(("edit", "by_params"), [
    # one train key: the training jobs re-run for their params; what reads them only as downstream
    (lambda c: c["train"].update(epochs=13), {"train"}),
    # the loss weights stated as the spec's defaults (the config leaves them null): no change at all
    (lambda c: c["train"].update(weights={"alpha": 0.7, "beta": 0.2, "gamma": 1.0}), set()),
])
def test_one_train_key_reruns_only_what_reads_it(tiny_run, tmp_path, edit, by_params):
    work, _ = tiny_run
    out = _plan(work, tmp_path, edit)
    reasons = planned_reasons(out)
    assert {rule for rule, rs in reasons.items() if any("Params have changed" in r for r in rs)} == by_params, reasons
    assert not {"synth_corpus", "init_tracking", "cache_labels", "cache_features", "check_inputs"} & set(reasons)
    for rule, rs in reasons.items():
        if rule not in by_params and rule != "all":
            assert all("Input files updated by another job" in r for r in rs), (rule, rs)
    if by_params:
        trained = {re.search(r"run=([^,]+)", w).group(1) for w in planned_wildcards(out, "train")}
        assert set(tiny_config()["feature_sets"]) <= trained, trained
    else:
        assert "Nothing to be done" in out, out[-2000:]


# ---------------------------------------------------------------- the trained system (results/system/)


def _new_root(res: Path, dest: Path, manifest: dict) -> Path:
    """A data root of new recordings: the tiny run's Test feature files of the sets the system needs,
    no labels (the workflow never read a Test label for them)."""
    for info in manifest["feature_sets"].values():
        (dest / info["folder"]).mkdir(parents=True)
        for f in sorted((res / "corpus" / info["folder"]).glob("Test_*.csv")):
            shutil.copyfile(f, dest / info["folder"] / f.name)
    return dest


def _predict(capsys, *args: str) -> tuple[int, str, str]:
    from emofusion.cli import main

    capsys.readouterr()
    rc = main(["predict", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_system_bundle_holds_the_selected_runs_and_says_what_to_expect(tiny_run):
    from emofusion.formats import read_selected
    from emofusion.system import current_code_version

    work, _ = tiny_run
    res = work / "results"
    m = json.loads((res / "system" / "manifest.json").read_text())
    runs = read_selected(res / "ranking" / "runs.tsv")
    assert sorted(m["runs"]) == m["runs"] == sorted(runs) and m["seeds"] == [0]
    for r in runs:  # every seed's checkpoint, byte for byte
        assert (res / "system" / "runs" / r / "seed0.ckpt").read_bytes() == (res / "runs" / r / "seed0" /
                                                                              "model.ckpt").read_bytes()
    assert sorted(m["feature_sets"]) == sorted({s for r in runs for s in r.split("+")})
    assert m["code_version"] == current_code_version() and m["default_stage"] == 1
    assert m["fusion"]["protocol"] == "in-sample" and m["fusion"]["stages"] == 2 and m["fusion"]["context"] == [3, 3]
    assert "grouped-cv" in m["honest_accuracy"] and "optimistic" in m["honest_accuracy"]
    gcv = m["scores"]["grouped-cv"]["stage1"]["devel"]["DE+HU"]
    summary = [ln.split("\t") for ln in (res / "fusion" / "summary.tsv").read_text().splitlines()]
    row = next(r for r in summary if r[:4] == ["grouped-cv", "1", "devel", "DE+HU"])
    assert gcv["mean"] == pytest.approx(float(row[summary[0].index("mean")]))
    assert m["config"]["train"]["epochs"] == 12 and m["config"]["system"]["stage"] == 1


def test_predict_writes_the_dags_test_files_byte_for_byte(tiny_run, tmp_path, capsys):
    """`emofusion predict` on a root holding only the Test feature files (no labels) writes, for every
    stage, the very files of results/fusion/in-sample/stage<n>/predictions/Test_*.csv."""
    work, _ = tiny_run
    res = work / "results"
    m = json.loads((res / "system" / "manifest.json").read_text())
    new = _new_root(res, tmp_path / "new", m)
    for stage in (1, 2):
        out = tmp_path / f"out{stage}"
        rc, stdout, err = _predict(capsys, "--system", str(res / "system"), "--data-root", str(new), "--out", str(out),
                                   *(["--stage", "2"] if stage == 2 else []))
        assert rc == 0 and "warning" not in err, err
        assert f"fusion stage {stage} of 2" in stdout and "grouped-cv dev CCC" in stdout, stdout
        dag = sorted((res / "fusion" / "in-sample" / f"stage{stage}" / "predictions").glob("Test_*.csv"))
        assert len(dag) == 8 and sorted(p.name for p in out.iterdir()) == [p.name for p in dag]
        for f in dag:
            assert (out / f.name).read_bytes() == f.read_bytes(), (stage, f.name)


def test_predict_scores_the_recordings_with_labels_as_the_dag_does(tiny_run, tmp_path, capsys):
    """Labels beside the features (here the tiny corpus's Test labels as NEW/labels): predict prints
    their scores, which are the DAG's test scores of that stage; the predictions do not change."""
    from emofusion.data.layout import read_prediction_dir
    from emofusion.system import score_with_labels

    work, _ = tiny_run
    res = work / "results"
    m = json.loads((res / "system" / "manifest.json").read_text())
    new = _new_root(res, tmp_path / "new", m)
    shutil.copytree(res / "corpus" / "test_labels", new / "labels")
    rc, stdout, err = _predict(capsys, "--system", str(res / "system"), "--data-root", str(new), "--out",
                               str(tmp_path / "out"), "--stage", "2", "--traces", str(tmp_path / "traces"))
    assert rc == 0 and "scores of the 8 recordings with labels in" in stdout, (stdout, err)
    # --traces: one figure per recording, the gold labels drawn beside the prediction
    import numpy as np
    from emofusion.system_traces import trace_figure
    from PIL import Image

    pngs = sorted((tmp_path / "traces").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(p.stem for p in (tmp_path / "out").glob("*.csv")), pngs
    assert all(Image.open(p).size[0] > 500 for p in pngs) and "wrote 8 trace figures" in stdout
    y = np.zeros((50, 3))
    assert [len(ax.lines) for ax in trace_figure("Test_DE_01", y, y, stage=2).axes] == [2, 2, 2]
    assert [len(ax.lines) for ax in trace_figure("Test_DE_01", y, None, stage=2).axes] == [1, 1, 1]
    dag = res / "fusion" / "in-sample" / "stage2"
    for f in sorted((dag / "predictions").glob("Test_*.csv")):
        assert (tmp_path / "out" / f.name).read_bytes() == f.read_bytes()
    preds = read_prediction_dir(tmp_path / "out")
    scores, ci, names = score_with_labels(preds, new / "labels")
    assert len(names) == 8
    for group, row in json.loads((dag / "scores.json").read_text())["test"].items():
        for t, v in row.items():
            assert scores[group][t] == pytest.approx(v, abs=1e-6) and ci[group][t]["lo"] <= v <= ci[group][t]["hi"]
    assert f"{scores['DE+HU']['mean']:8.3f} ({ci['DE+HU']['mean']['lo']:.3f}" in stdout


def _break_root(kind: str, root: Path, m: dict) -> str:
    """Damage a copy of the new root one way; returns what the error line must say."""
    key, info = sorted(m["feature_sets"].items())[0]
    folder = root / info["folder"]
    first = sorted(folder.glob("*.csv"))[0]
    if kind == "missing set":
        shutil.rmtree(folder)
        return f"{info['folder']}: feature set '{key}'"
    lines = first.read_text().splitlines()
    if kind == "wrong dim":  # the last column dropped (";"-separated with a header, or the BoW sets' ",")
        sep = ";" if ";" in lines[0] else ","
        first.write_text("\n".join(sep.join(ln.split(sep)[:-1]) for ln in lines) + "\n")
        return f"{first.name}:1: {info['dim'] - 1} feature columns, but the system's set '{key}' has {info['dim']}"
    if kind == "too short":
        first.write_text("\n".join(lines[:4]) + "\n")
        return f"{first.name}: recording too short"
    if kind == "missing recording":
        first.unlink()
        return f"missing recording: {first.stem}"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing set", "wrong dim", "too short", "missing recording"])
def test_predict_bad_input_one_line_nothing_written(tiny_run, tmp_path, capsys, kind):
    work, _ = tiny_run
    res = work / "results"
    m = json.loads((res / "system" / "manifest.json").read_text())
    new = _new_root(res, tmp_path / "new", m)
    if kind == "missing recording" and len(m["feature_sets"]) == 1:
        pytest.skip("one set: no other set to miss a recording against")
    expect = _break_root(kind, new, m)
    out = tmp_path / "out"
    rc, stdout, err = _predict(capsys, "--system", str(res / "system"), "--data-root", str(new), "--out", str(out))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and expect in err and "Traceback" not in err, err
    assert not out.exists() and stdout == ""


@pytest.mark.parametrize("kind", ["manifest", "checkpoint", "chain", "normalisation", "not a bundle"])
def test_predict_damaged_bundle_one_line_nothing_written(tiny_run, tmp_path, capsys, kind):
    work, _ = tiny_run
    res = work / "results"
    bundle = tmp_path / "system"
    shutil.copytree(res / "system", bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    new = _new_root(res, tmp_path / "new", m)
    if kind == "manifest":
        (bundle / "manifest.json").write_text((bundle / "manifest.json").read_text()[:200])
        expect = "manifest.json: damaged system bundle: manifest.json does not parse"
    elif kind == "checkpoint":
        ck = bundle / "runs" / m["runs"][0] / "seed0.ckpt"
        ck.write_bytes(ck.read_bytes()[:1000])
        expect = "seed0.ckpt: damaged system bundle: checkpoint does not load"
    elif kind == "chain":
        (bundle / "chain" / "stage2.npz").write_bytes(b"not a zip")
        expect = "stage2.npz: damaged system bundle: not a fusion chain file"
    elif kind == "normalisation":
        (bundle / "features" / f"{sorted(m['feature_sets'])[0]}.npz").unlink()
        expect = "damaged system bundle: normalisation of set"
    else:
        (bundle / "manifest.json").unlink()
        expect = "manifest.json: not a system bundle"
    out = tmp_path / "out"
    rc, stdout, err = _predict(capsys, "--system", str(bundle), "--data-root", str(new), "--out", str(out))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and expect in err and "Traceback" not in err, err
    assert not out.exists() and stdout == ""


def test_predict_bundle_of_another_code_version_warns_naming_both(tiny_run, tmp_path, capsys):
    from emofusion.system import current_code_version

    work, _ = tiny_run
    res = work / "results"
    bundle = tmp_path / "system"
    shutil.copytree(res / "system", bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    m["code_version"] = "0123456789abcdef"
    (bundle / "manifest.json").write_text(json.dumps(m))
    new = _new_root(res, tmp_path / "new", m)
    rc, _, err = _predict(capsys, "--system", str(bundle), "--data-root", str(new), "--out", str(tmp_path / "out"),
                          "--stage", "3")
    assert rc == 2 and "--stage: 3 is not one of the system's stages 1..2" in err and not (tmp_path / "out").exists()
    rc, _, err = _predict(capsys, "--system", str(bundle), "--data-root", str(new), "--out", str(tmp_path / "out"))
    line = f"was written by code version 0123456789abcdef; this is code version {current_code_version()}"
    assert rc == 0 and line in err and len(list((tmp_path / "out").glob("Test_*.csv"))) == 8, err


def _same_as_files(frame, out: Path) -> int:
    """How many recordings of a pyfunc output frame format to the very text of `emofusion predict`'s files."""
    from emofusion import TARGETS
    from emofusion.data.layout import format_avec_csv

    same = 0
    for name, rows in frame.groupby("name"):
        same += format_avec_csv(name, rows[list(TARGETS)].to_numpy()) == (out / f"{name}.csv").read_text()
    return same


@pytest.mark.e2e
def test_registered_system_model_predicts_what_emofusion_predict_writes(tiny_run, tmp_path, capsys):
    """The DAG registered the bundle as an MLflow pyfunc model (run `system`); loaded by its models:/ URI,
    and through `mlflow models predict`, it gives `emofusion predict`'s numbers (same text at 6 decimals)."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    work, _ = tiny_run
    res = work / "results"
    uri = f"sqlite:///{res / 'mlflow.db'}"
    name = tiny_config()["system"]["model_name"]
    client = MlflowClient(tracking_uri=uri)
    versions = client.search_model_versions(f"name = '{name}'")
    assert len(versions) == 1, versions
    v = versions[0]
    run = client.get_run(v.run_id)
    assert run.info.run_name == "system" and run.data.tags["kind"] == "system" and run.info.status == "FINISHED"
    m = json.loads((res / "system" / "manifest.json").read_text())
    assert run.data.tags["emofusion.runs"] == ",".join(m["runs"])
    # its metrics: the grouped-cv scores of each stage, the accuracy to expect on new recordings
    gcv = m["scores"]["grouped-cv"]
    assert {k: v for k, v in run.data.metrics.items() if k.endswith("/dev/CCC")} == \
        {f"grouped-cv/{st}/dev/CCC": b["devel"][next(iter(b["devel"]))]["mean"] for st, b in gcv.items()}
    # the model version links to its runs: each fused training run per seed and the in-sample stage runs
    ids = v.tags["emofusion.linked_run_ids"].split(",")
    assert ids == run.data.tags["emofusion.linked_run_ids"].split(",")
    got = [(client.get_run(i).info.run_name, client.get_run(i).data.tags.get("seed")) for i in ids]
    assert got == [(r, str(s)) for r in m["runs"] for s in m["seeds"]] + [
        (f"fusion/in-sample/stage{n}", None) for n in range(1, m["fusion"]["stages"] + 1)], got
    assert all(f"(#/experiments/{run.info.experiment_id}/runs/{i})" in v.description for i in ids), v.description
    assert "grouped-cv" in v.description
    new = _new_root(res, tmp_path / "new", m)
    out = tmp_path / "out"
    rc, _, err = _predict(capsys, "--system", str(res / "system"), "--data-root", str(new), "--out", str(out),
                          "--stage", "2")
    assert rc == 0, err
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{v.version}")
    sig = model.metadata.signature
    assert sig.inputs.input_names() == ["data_root"] and sig.outputs.input_names() == ["name", "timestamp", "arousal",
                                                                                       "valence", "liking"]
    frame = model.predict(pd.DataFrame({"data_root": [str(new)]}), params={"stage": 2})
    assert frame["name"].nunique() == 8 and _same_as_files(frame, out) == 8
    # the CLI of MLflow, in a process of its own (the model's own copy of the package on its path)
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": ["data_root"], "data": [[str(new)]]},
                                                  "params": {"stage": 2}}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.run([sys.executable, "-m", "mlflow", "models", "predict", "-m", f"models:/{name}/{v.version}",
                           "-i", str(tmp_path / "in.json"), "-t", "json", "-o", str(tmp_path / "pred.json"),
                           "--env-manager", "local"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = pd.DataFrame(json.loads((tmp_path / "pred.json").read_text())["predictions"])
    assert _same_as_files(served, out) == 8


@pytest.mark.e2e
def test_data_root_run_matches_the_generated_corpus_run(tiny_run, tmp_path):
    """The path real users take: the tiny run's corpus copied to a folder and read with
    `--config data_root=...`. A clean log (no InputFunctionException, no traceback) and the same
    caches (a 0.1 s set, a 100 Hz LLD set, the labels) and scores as the generated-corpus run."""
    import numpy as np

    ref, _ = tiny_run
    root = tmp_path / "AVEC2019_CES"
    shutil.copytree(ref / "results" / "corpus", root)
    work = tmp_path / "work"
    write_config(work, tiny_config())
    runs = ["fau_func"]  # trained (its cache and the labels compared too), plus the 100 Hz set's cache
    proc = smk(work, "--cores", "2", "results/runs/fau_func/scores.json", f"results/features/{NOISE_SET}.npz",
               "--config", f"data_root={root}", timeout=900)
    logs = "".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log"))
    text = proc.stdout + proc.stderr + logs
    for bad in ("InputFunctionException", "Traceback", "KeyError", "error:"):
        assert bad not in text, (bad, text[-3000:])
    assert not (work / "results" / "corpus").exists()  # read, not generated
    for name in (*runs, NOISE_SET, "labels"):
        a, b = (np.load(d / "results" / "features" / f"{name}.npz") for d in (ref, work))
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}.npz {k}")
    for r in runs:
        assert _scores(work / "results" / "runs" / r / "scores.json") == _scores(ref / "results" / "runs" / r /
                                                                                 "scores.json"), r


def _mlflow_runs(work: Path, view: str = "active") -> list:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{work / 'results' / 'mlflow.db'}")
    exp = c.get_experiment_by_name(tiny_config()["tracking"]["experiment"])
    return c.search_runs([exp.experiment_id], run_view_type=getattr(ViewType, view.upper() + "_ONLY"),
                         max_results=50000)


def _job_of(run) -> tuple[str, str]:
    """One workflow job's runs: the run name (a training run's or a fusion stage's) and its seed."""
    return run.info.run_name, run.data.tags.get("seed", "")


def _kill_when(proc: subprocess.Popen, ready, what: str, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"the workflow ended before {what}"
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
    proc.wait()


def _without_timings(doc: dict) -> dict:
    """A fusion stage's scores.json less the solver's wall-clock start, end and seconds."""
    doc = json.loads(json.dumps(doc))
    for k in ("start_time", "end_time", "seconds"):
        doc.get("solver", {}).pop(k, None)
    return doc


@pytest.mark.e2e
def test_sigkill_then_rerun_gives_identical_results(tiny_run, tmp_path):
    """Kill snakemake's process group hard while a training job is mid-fit, run the same command
    again and kill it while a fuse_part job runs, then run it to the end: byte-identical summary,
    rankings and predictions, the same fusion scores (less wall-clock timings) as the uninterrupted
    tiny run, no temp file, and in MLflow's default view exactly one FINISHED run per job, the killed
    training attempt's run in the trash, tagged with the run that superseded it."""
    ref, _ = tiny_run
    work = tmp_path / "killed"
    write_config(work, tiny_config())
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(work / "config.yaml"),
           "--cores", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = work / "results"

    def start():
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)

    def training_mid_fit():  # two runs done, another one past its first epoch and not done
        if len(list((res / "runs").glob("*/seed*/scores.json"))) < 2:
            return False
        for log in (res / "logs" / "train").glob("*/seed*.log"):
            run_dir = res / "runs" / log.parent.name / log.stem
            if not (run_dir / "scores.json").exists() and "epoch " in log.read_text():
                return True
        return False

    _kill_when(start(), training_mid_fit, "training job mid-fit")
    assert not (res / "fusion" / "summary.tsv").exists()
    assert any(r.info.status == "RUNNING" for r in _mlflow_runs(work))  # killed while its run was open
    # a hard kill leaves Snakemake's directory lock behind: release it, then the same command again
    # (README, "re-running only what changed"); the profile's rerun-incomplete redoes killed jobs
    smk(work, "--unlock")

    _kill_when(start(), lambda: _fuse_part_log_without_state(res), "fuse_part job running")
    assert _fuse_part_log_without_state(res), "the fuse_part job ended before the kill"
    assert not (res / "fusion" / "summary.tsv").exists()
    smk(work, "--unlock")
    smk(work, "--cores", "2", timeout=1500)

    # outputs: byte for byte (fusion scores.json less its solver's wall-clock timings)
    files = [Path("fusion/summary.tsv"), *sorted(p.relative_to(ref / "results") for p in
                                                 (ref / "results" / "ranking").glob("*.tsv"))]
    for pattern in ("runs/*/predictions/*.csv", "runs/*/seed*/predictions/*.csv", "fusion/*/stage*/predictions/*.csv",
                    "runs/*/scores.json", "runs/*/seed*/scores.json"):
        found = sorted(p.relative_to(ref / "results") for p in (ref / "results").glob(pattern))
        assert found, pattern
        assert found == sorted(p.relative_to(res) for p in res.glob(pattern)), pattern
        files += found
    for rel in files:
        assert (res / rel).read_bytes() == (ref / "results" / rel).read_bytes(), rel
    stages = sorted(p.relative_to(ref / "results") for p in (ref / "results" / "fusion").glob("*/stage*/scores.json"))
    assert stages
    for rel in stages:
        assert _without_timings(_scores(res / rel)) == _without_timings(_scores(ref / "results" / rel)), rel
    assert not [p for p in res.rglob("*") if p.name.endswith(".tmp")]
    # MLflow: the same jobs as the uninterrupted run, each with exactly one run, FINISHED
    runs = _mlflow_runs(work)
    jobs = sorted(_job_of(r) for r in runs)
    assert jobs == sorted(_job_of(r) for r in _mlflow_runs(ref))
    assert len(jobs) == len(set(jobs)), [j for j in jobs if jobs.count(j) > 1]
    assert {r.info.status for r in runs} == {"FINISHED"}
    kept = {r.info.run_id for r in runs}
    trashed = [r for r in _mlflow_runs(work, "deleted") if r.data.tags.get("kind") != "fusion"]
    assert trashed, "the killed training attempt's run"
    for r in trashed:
        assert r.info.status == "KILLED" and r.data.tags["emofusion.superseded_by"] in kept
    shutil.rmtree(res / "corpus", ignore_errors=True)


def _fuse_part_log_without_state(res: Path) -> bool:
    """A fuse_part job has started (its script opened its log) and not written its state file."""
    for log in (res / "logs" / "fusion").glob("*/stage*_*.log"):
        stage, part = log.stem.split("_", 1)
        if not (res / "fusion" / log.parent.name / stage / f"{part}.npz").exists():
            return True
    return False


@pytest.mark.slow
def test_default_run_recovers_planted_truth(tmp_path):
    """The default config (demo corpus, all 12 sets, paper architecture and MTL2 loss): the unimodal
    ranking recovers the planted truth (Spearman >= 0.9 against the planted mean informativeness; 0.95
    and 0.96 with training seeds 0, 1, 2, emofusion.data.synth_planted) and
    the best run is well above the noise-only set. About 10 minutes on 2 cores: `pytest -m slow`."""
    from emofusion.results.ranking import planted_agreement

    write_config(tmp_path, base_config())
    smk(tmp_path, "--cores", "8", timeout=2400)
    res = tmp_path / "results"
    agree = planted_agreement(res / "ranking" / "unimodal.tsv", res / "corpus" / "truth.json")
    assert agree["noise_sets"] == [NOISE_SET]
    assert agree["spearman"] >= 0.9, agree
    assert agree["best_mean"] >= agree["noise_mean"][NOISE_SET] + 0.1, agree
    assert len(list((res / "runs").glob("*/scores.json"))) == 33
    for protocol in ("in-sample", "grouped-cv"):
        assert len(list((res / "fusion" / protocol).glob("stage*/scores.json"))) == 5
    # the README's results block is what this run gives: regenerating it changes nothing
    from emofusion.cli import main

    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    assert main(["results-block", "--results", str(res), "--readme", str(readme)]) == 0
    assert readme.read_text() == (REPO / "README.md").read_text(), "README results block differs from a fresh run"
