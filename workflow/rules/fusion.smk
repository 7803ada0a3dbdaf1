# Multistage SVR fusion of the top runs as a chain of rules, under both protocols (docs/fusion.md):
# `in-sample` (the paper's: fitted, selected and scored on dev) and `grouped-cv` (nested, no
# held-out label read for its own fold). A stage is made of parts (in-sample: `all`; grouped-cv:
# `fold1..foldG` and `all` for the test predictions); part p of stage n reads only part p of stage
# n-1 (its chain file), so the parts of a stage run in parallel and a stage is a job of its own.


rule fuse_part:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        labels=RESULTS / "features" / "labels.npz",
        prev=get_prev_fusion_part,
    output:
        state=RESULTS / "fusion" / "{protocol}" / "stage{n}" / "{part}.npz",
    log:
        RESULTS / "logs" / "fusion" / "{protocol}" / "stage{n}_{part}.log",
    benchmark:
        RESULTS / "benchmarks" / "fusion" / "{protocol}" / "stage{n}_{part}.tsv"
    params:
        runs_root=RESULTS / "runs",
        settings=get_fusion_settings,
        code=CODE["fuse_part"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/fuse_part.py"


rule fuse_stage:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        labels=RESULTS / "features" / "labels.npz",
        tracking=RESULTS / "tracking.json",
        parts=get_fusion_parts,
    output:
        scores=RESULTS / "fusion" / "{protocol}" / "stage{n}" / "scores.json",
    log:
        RESULTS / "logs" / "fusion" / "{protocol}" / "stage{n}.log",
    params:
        settings=get_fusion_settings,
        code=CODE["fuse_stage"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/fuse_stage.py"


rule fusion_summary:
    input:
        scores=get_fusion_outputs,
        labels=RESULTS / "features" / "labels.npz",
    output:
        tsv=RESULTS / "fusion" / "summary.tsv",
    log:
        RESULTS / "logs" / "fusion" / "summary.log",
    params:
        code=CODE["fusion_summary"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/fusion_summary.py"
