# Extra runs beside the main DAG (docs/contracts.md): paper Table 2's loss ablation
# (`snakemake ablation`) and the section 5 random search over the MTL2 weights (`snakemake search`).
# Same train_run as the DAG's runs, kept apart under results/ablation/ and results/search/, with
# MLflow run names prefixed ablation/ and search/. One seed each: the first of config.seeds.


rule ablation_train:
    input:
        features=get_ablation_caches,
        labels=RESULTS / "features" / "labels.npz",
        tracking=RESULTS / "tracking.json",
    output:
        scores=RESULTS / "ablation" / "{loss_mode}" / "scores.json",
        predictions=directory(RESULTS / "ablation" / "{loss_mode}" / "predictions"),
        checkpoint=RESULTS / "ablation" / "{loss_mode}" / "model.ckpt",
    log:
        RESULTS / "logs" / "ablation" / "{loss_mode}.log",
    benchmark:
        RESULTS / "benchmarks" / "ablation" / "{loss_mode}.tsv"
    wildcard_constraints:
        loss_mode=r"stl_arousal|stl_valence|stl_liking|mtl_equal|mtl1|mtl2",
    params:
        out_dir=get_ablation_dir,
        run_name=get_ablation_run_name,
        seed=SEEDS[0],
        train=get_ablation_params,
        tags=get_ablation_tags,
        code=CODE["ablation_train"],
    threads: 1
    resources:
        mem_mb=get_train_mem_mb,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/ablation_train.py"


rule table2:
    input:
        get_ablation_scores,
    output:
        md=TABLES / "table2.md",
        tsv=TABLES / "table2.tsv",
        html=report_item(TABLES / "table2.html", "table2"),
    log:
        RESULTS / "logs" / "report" / "table2.log",
    params:
        modes=ABLATION_MODES,
        feature_set=config["ablation"]["feature_set"],
        weights=get_ablation_mtl2_weights(),
        generated=is_generated(),
        code=CODE["report_table2"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_table2.py"


rule ablation:
    input:
        TABLES / "table2.md",
        TABLES / "table2.tsv",
        TABLES / "table2.html",


rule search_train:
    input:
        features=get_search_caches,
        labels=RESULTS / "features" / "labels.npz",
        tracking=RESULTS / "tracking.json",
    output:
        scores=RESULTS / "search" / "{i}" / "scores.json",
        weights=RESULTS / "search" / "{i}" / "weights.json",
        predictions=directory(RESULTS / "search" / "{i}" / "predictions"),
        checkpoint=RESULTS / "search" / "{i}" / "model.ckpt",
    log:
        RESULTS / "logs" / "search" / "{i}.log",
    benchmark:
        RESULTS / "benchmarks" / "search" / "{i}.tsv"
    wildcard_constraints:
        i=r"\d+",
    params:
        out_dir=get_search_dir,
        run_name=get_search_run_name,
        seed=SEEDS[0],
        train=get_search_params,
        tags=get_search_tags,
        code=CODE["ablation_search_train"],
    threads: 1
    resources:
        mem_mb=get_train_mem_mb,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/ablation_search_train.py"


rule weight_search_table:
    input:
        scores=get_search_scores,
        weights=get_search_weight_files,
    output:
        tsv=TABLES / "weight_search.tsv",
        md=TABLES / "weight_search.md",
        html=report_item(TABLES / "weight_search.html", "weight_search"),
    log:
        RESULTS / "logs" / "report" / "weight_search.log",
    params:
        feature_set=config["search"]["feature_set"],
        generated=is_generated(),
        code=CODE["report_weight_search"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/report_weight_search.py"


rule search:
    input:
        TABLES / "weight_search.tsv",
        TABLES / "weight_search.md",
        TABLES / "weight_search.html",
