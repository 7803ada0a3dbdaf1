# Input checks, then binary caches: every feature set aligned to the 0.1 s label frames by its time
# column and z-normalised with Train statistics, and the labels; training jobs never parse CSVs.
# Every check of `emofusion validate` runs here too: the per-file ones inside the cache jobs (same
# library readers), the cross-file one (same recordings in every set and the labels, Test
# included) in check_inputs, which every cache job waits for. Each rule gets the data settings it
# reads as one `data` param (DATA_SETTINGS in common.smk; its script builds its DataSpec from them).


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
        data=get_data_settings("check_inputs"),
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
        data=get_data_settings("cache_labels"),
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
        feature_set=get_feature_entry,
        data=get_feature_data_settings,
        code=CODE["cache_features"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/cache_features.py"
