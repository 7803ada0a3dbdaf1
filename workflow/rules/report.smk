# Results people read, written by the default target: paper Table 3 (best per method, both fusion
# protocols), Fig. 3 (CCC vs number of fusion stages) and the runs overview. Every number comes
# from a scores file; the paper's figures only from emofusion.report.PAPER_TABLE3. Marked report()
# so `snakemake --report results/report.html` shows them with the captions in workflow/report/.


rule table3:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        runs=get_all_run_scores,
        fusion=get_fusion_outputs,
    output:
        md=TABLES / "table3.md",
        tsv=TABLES / "table3.tsv",
        html=report(TABLES / "table3.html", caption="../report/table3.rst", category="Tables"),
    log:
        RESULTS / "logs" / "report" / "table3.log",
    params:
        runs_root=RESULTS / "runs",
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated_data(),
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
        get_fusion_outputs,
    output:
        png=report(FIGURES / "fig3.png", caption="../report/fig3.rst", category="Figures"),
        svg=FIGURES / "fig3.svg",
    log:
        RESULTS / "logs" / "report" / "fig3.log",
    params:
        fusion_root=RESULTS / "fusion",
        protocols=PROTOCOLS,
        stages=STAGES,
        generated=is_generated_data(),
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
    output:
        png=report(FIGURES / "runs_overview.png", caption="../report/runs_overview.rst", category="Figures"),
        svg=FIGURES / "runs_overview.svg",
    log:
        RESULTS / "logs" / "report" / "runs_overview.log",
    params:
        generated=is_generated_data(),
        code=CODE["report_runs_overview"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_runs_overview.py"
