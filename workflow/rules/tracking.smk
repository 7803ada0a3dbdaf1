# MLflow: initialise the store and create the experiment once, before any tracked job
# (docs/pipeline.md); its output is an input of every tracked rule. The tracking settings are passed
# one key each (TRACKING in common.smk; the script builds its TrackingSpec from them): every key of
# emofusion.tracking_spec.TRACKING_KEYS, no other.


rule init_tracking:
    output:
        json=RESULTS / "tracking.json",
    log:
        RESULTS / "logs" / "init_tracking.log",
    params:
        uri=TRACKING["uri"],
        experiment=TRACKING["experiment"],
        artifact_location=TRACKING["artifact_location"],
        code=CODE["init_tracking"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/init_tracking.py"
