# Rankings by mean dev CCC (DE+HU, mean over seeds). The unimodal ranking is a checkpoint: the
# bimodal runs are the pairs of its top sets (or of selection.pair_sets when fixed).


checkpoint rank_unimodal:
    input:
        get_unimodal_scores,
    output:
        tsv=RESULTS / "ranking" / "unimodal.tsv",
    log:
        RESULTS / "logs" / "ranking" / "unimodal.log",
    params:
        runs=SETS,
        top=config["selection"]["top_unimodal"],
        code=CODE["rank_runs"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/rank_runs.py"


rule rank_runs:
    input:
        get_all_run_scores,
    output:
        tsv=RESULTS / "ranking" / "runs.tsv",
    log:
        RESULTS / "logs" / "ranking" / "runs.log",
    params:
        runs=get_run_names_of_input,
        top=config["selection"]["top_fusion"],
        code=CODE["rank_runs"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/rank_runs.py"


# Generated corpus only (in the default target there): how well the unimodal ranking recovers the
# planted truth, Spearman between each set's mean dev CCC and its informativeness in truth.json.
rule planted_check:
    input:
        ranking=RESULTS / "ranking" / "unimodal.tsv",
        corpus=get_corpus_marker(),
    output:
        json=RESULTS / "ranking" / "planted_check.json",
        txt=RESULTS / "ranking" / "planted_check.txt",
    log:
        RESULTS / "logs" / "ranking" / "planted_check.log",
    params:
        truth=RESULTS / "corpus" / "truth.json",
        code=CODE["planted_check"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/planted_check.py"
