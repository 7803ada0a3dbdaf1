# Input checks, then binary caches: every feature set aligned to the 0.1 s label frames by its time
# column and z-normalised with Train statistics, and the labels; training jobs never parse CSVs.
# Every check of `emofusion validate` runs here too: the per-file ones inside the cache jobs (same
# library readers), the cross-file one (same recordings in every set and the labels, Test
# included) in check_inputs, which every cache job waits for.


rule check_inputs:
    input:
        get_inputs_input,
    output:
        json=RESULTS / "features" / "inputs.json",
    log:
        RESULTS / "logs" / "cache" / "check_inputs.log",
    params:
        data_root=get_data_root(),
        folders=get_feature_folders(),
        cultures=config["data"]["cultures"],
        code=CODE["check_inputs"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/check_inputs.py"


rule cache_labels:
    input:
        get_labels_input,
        checked=ancient(RESULTS / "features" / "inputs.json"),
    output:
        npz=RESULTS / "features" / "labels.npz",
    log:
        RESULTS / "logs" / "cache" / "labels.log",
    params:
        data_root=get_data_root(),
        cultures=config["data"]["cultures"],
        label_range=config["data"]["label_range"],
        code=CODE["cache_labels"],
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
        checked=ancient(RESULTS / "features" / "inputs.json"),
    output:
        npz=RESULTS / "features" / "{fs}.npz",
    log:
        RESULTS / "logs" / "cache" / "{fs}.log",
    benchmark:
        RESULTS / "benchmarks" / "cache" / "{fs}.tsv"
    params:
        data_root=get_set_data_root,
        settings=get_feature_params,
        code=CODE["cache_features"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/cache_features.py"
