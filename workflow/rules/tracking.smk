# MLflow: initialise the store and create the experiment once, before any tracked job
# (docs/pipeline.md); its output is an input of every tracked rule.


rule init_tracking:
    output:
        json=RESULTS / "tracking.json",
    log:
        RESULTS / "logs" / "init_tracking.log",
    params:
        uri=get_tracking_uri(),
        experiment=config["tracking"]["experiment"],
        artifact_location=get_artifact_location(),
        code=CODE["init_tracking"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/init_tracking.py"
