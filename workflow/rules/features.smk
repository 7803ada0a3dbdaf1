# Binary caches: every feature set aligned to the 0.1 s label frames and z-normalised with Train
# statistics, and the labels; training jobs never parse CSVs.


rule cache_labels:
    input:
        get_labels_input,
    output:
        npz=RESULTS / "features" / "labels.npz",
    log:
        RESULTS / "logs" / "cache" / "labels.log",
    params:
        data_root=get_data_root(),
        cultures=config["data"]["cultures"],
        code=CODE["features"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/cache_labels.py"


rule cache_features:
    input:
        get_feature_input,
    output:
        npz=RESULTS / "features" / "{fs}.npz",
    log:
        RESULTS / "logs" / "cache" / "{fs}.log",
    benchmark:
        RESULTS / "benchmarks" / "cache" / "{fs}.tsv"
    params:
        data_root=get_set_data_root,
        settings=get_feature_params,
        code=CODE["features"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/cache_features.py"
