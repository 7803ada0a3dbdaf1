# Multistage SVR fusion of the top runs, under both protocols (DESIGN.md section 4): `in-sample`
# (the paper's: fitted, selected and scored on dev) and `grouped-cv` (nested, no held-out label
# read for its own fold). Stage n+1 = the fused base runs + stage n's output.


rule fuse:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        labels=RESULTS / "features" / "labels.npz",
        tracking=RESULTS / "tracking.json",
    output:
        scores=expand(RESULTS / "fusion" / "{{protocol}}" / "stage{n}" / "scores.json", n=STAGES),
    log:
        RESULTS / "logs" / "fusion" / "{protocol}.log",
    benchmark:
        RESULTS / "benchmarks" / "fusion" / "{protocol}.tsv"
    params:
        runs_root=RESULTS / "runs",
        out_dir=get_fusion_dir,
        fusion=config["fusion"],
        code=CODE["fuse"],
    threads: 2
    resources:
        mem_mb=6000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/fuse.py"


rule fusion_summary:
    input:
        get_fusion_outputs,
    output:
        tsv=RESULTS / "fusion" / "summary.tsv",
    log:
        RESULTS / "logs" / "fusion" / "summary.log",
    params:
        fusion_root=RESULTS / "fusion",
        code=CODE["fusion_summary"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/fusion_summary.py"
