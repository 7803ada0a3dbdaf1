# Results people read, written by the default target: paper Table 3 (best per method, both fusion
# protocols, with bootstrap intervals), the paired comparisons, Fig. 3 (CCC vs number of fusion
# stages, with bands), the runs overview, learning curves, the fused runs' correlation, traces of
# dev recordings, DE vs HU, and HTML copies of the rankings and the fusion summary. Every number
# comes from a scores file or a prediction folder; the paper's figures only from
# emofusion.results.paper.PAPER_TABLE3. Marked with report_item() (common.smk) so `snakemake --report
# results/report.html` shows them with the captions in workflow/report/, labelled and in reading order
# (emofusion.results.report_items.REPORT_ITEMS).


rule table3:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        fusion=get_fusion_outputs,
        labels=RESULTS / "features" / "labels.npz",
    output:
        md=TABLES / "table3.md",
        tsv=TABLES / "table3.tsv",
        html=report_item(TABLES / "table3.html", "table3"),
    log:
        RESULTS / "logs" / "report" / "table3.log",
    params:
        runs_root=RESULTS / "runs",
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated(),
        grid={"ks": config["fusion"]["ks"], "Cs": config["fusion"]["Cs"]},
        code=CODE["report_table3"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_table3.py"


rule fig3:
    input:
        fusion=get_fusion_outputs,
        ranking=RESULTS / "ranking" / "runs.tsv",
        labels=RESULTS / "features" / "labels.npz",
    output:
        png=report_item(FIGURES / "fig3.png", "fig3"),
        svg=FIGURES / "fig3.svg",
    log:
        RESULTS / "logs" / "report" / "fig3.log",
    params:
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated(),
        code=CODE["report_fig3"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_fig3.py"


rule runs_overview:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        truth=get_truth_input(),
    output:
        png=report_item(FIGURES / "runs_overview.png", "runs_overview"),
        svg=FIGURES / "runs_overview.svg",
    log:
        RESULTS / "logs" / "report" / "runs_overview.log",
    params:
        generated=is_generated(),
        truth=get_truth_path(),
        code=CODE["report_runs_overview"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_runs_overview.py"


rule comparisons:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        fusion=get_fusion_outputs,
        labels=RESULTS / "features" / "labels.npz",
    output:
        md=TABLES / "comparisons.md",
        tsv=TABLES / "comparisons.tsv",
        html=report_item(TABLES / "comparisons.html", "comparisons"),
    log:
        RESULTS / "logs" / "report" / "comparisons.log",
    params:
        runs_root=RESULTS / "runs",
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated(),
        code=CODE["report_comparisons"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_comparisons.py"


rule learning_curves:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        seeds=get_all_run_seed_scores,
    output:
        png=report_item(FIGURES / "learning_curves.png", "learning_curves"),
        svg=FIGURES / "learning_curves.svg",
    log:
        RESULTS / "logs" / "report" / "learning_curves.log",
    params:
        histories=get_all_run_histories,
        generated=is_generated(),
        code=CODE["report_learning_curves"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_learning_curves.py"


rule fusion_correlation:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        labels=RESULTS / "features" / "labels.npz",
    output:
        png=report_item(FIGURES / "fusion_correlation.png", "fusion_correlation"),
        svg=FIGURES / "fusion_correlation.svg",
    log:
        RESULTS / "logs" / "report" / "fusion_correlation.log",
    params:
        runs_root=RESULTS / "runs",
        generated=is_generated(),
        code=CODE["report_fusion_correlation"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_fusion_correlation.py"


rule traces:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        fusion=get_fusion_outputs,
        labels=RESULTS / "features" / "labels.npz",
    output:
        png=report_item(FIGURES / "traces.png", "traces"),
        svg=FIGURES / "traces.svg",
    log:
        RESULTS / "logs" / "report" / "traces.log",
    params:
        runs_root=RESULTS / "runs",
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated(),
        code=CODE["report_traces"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_traces.py"


rule de_vs_hu:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        fusion=get_fusion_outputs,
        labels=RESULTS / "features" / "labels.npz",
    output:
        png=report_item(FIGURES / "de_vs_hu.png", "de_vs_hu"),
        svg=FIGURES / "de_vs_hu.svg",
    log:
        RESULTS / "logs" / "report" / "de_vs_hu.log",
    params:
        runs_root=RESULTS / "runs",
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated(),
        code=CODE["report_de_vs_hu"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_de_vs_hu.py"


rule report_tables:
    input:
        unimodal=RESULTS / "ranking" / "unimodal.tsv",
        runs=RESULTS / "ranking" / "runs.tsv",
        summary=RESULTS / "fusion" / "summary.tsv",
    output:
        unimodal=report_item(TABLES / "ranking_unimodal.html", "ranking_unimodal"),
        runs=report_item(TABLES / "ranking_runs.html", "ranking_runs"),
        summary=report_item(TABLES / "fusion_summary.html", "fusion_summary"),
    log:
        RESULTS / "logs" / "report" / "report_tables.log",
    params:
        top_unimodal=config["selection"]["top_unimodal"],
        top_fusion=config["selection"]["top_fusion"],
        code=CODE["report_tables"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_tables.py"
