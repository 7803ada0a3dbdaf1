# The trained system (results/system/, docs/predict.md): the selected runs' checkpoints (every seed), the
# Train normalisation and alignment settings of their sets, the in-sample fusion chain of stages
# 1..fusion.stages (fitted on all labelled dev frames) and a manifest (code version, config, every
# fusion score of both protocols). `emofusion predict --system results/system` applies it to new
# recordings. With system.model_name set, the bundle is also logged as an MLflow pyfunc model (run
# `system`) and registered under that name (emofusion.system_mlflow). Its code param is the code version the manifest records (emofusion predict compares it).


rule system:
    input:
        ranking=RESULTS / "ranking" / "runs.tsv",
        checkpoints=get_all_run_checkpoints,
        features=expand(str(RESULTS / "features" / "{fs}.npz"), fs=SETS),
        chain=expand(str(RESULTS / "fusion" / "in-sample" / "stage{n}" / "all.npz"), n=STAGES),
        summary=RESULTS / "fusion" / "summary.tsv",
        tracking=RESULTS / "tracking.json",
        codebooks=get_system_codebooks,
    output:
        bundle=directory(RESULTS / "system"),
    log:
        RESULTS / "logs" / "system.log",
    params:
        runs_root=RESULTS / "runs",
        seeds=SEEDS,
        feature_settings=get_system_feature_settings,
        config=get_system_config(),
        stage=config["system"]["stage"],
        model_name=config["system"]["model_name"],
        code=CODE["system_bundle"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/system_bundle.py"
