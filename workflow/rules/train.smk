# One multitask-LSTM training run per run and seed (PyTorch Lightning, tracked in MLflow), then the
# run aggregated over seeds. The train settings are passed one key each (the spec's values, TRAIN in
# common.smk; the script builds its TrainSpec from them): every key of emofusion.spec.TRAIN_KEYS, no other.


rule train:
    input:
        features=get_run_caches,
        labels=RESULTS / "features" / "labels.npz",
        tracking=RESULTS / "tracking.json",
    output:
        scores=RESULTS / "runs" / "{run}" / "seed{seed}" / "scores.json",
        predictions=directory(RESULTS / "runs" / "{run}" / "seed{seed}" / "predictions"),
        checkpoint=RESULTS / "runs" / "{run}" / "seed{seed}" / "model.ckpt",
    log:
        RESULTS / "logs" / "train" / "{run}" / "seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "train" / "{run}" / "seed{seed}.tsv"
    params:
        out_dir=get_run_dir,
        kind=get_run_kind,
        hidden=TRAIN["hidden"],
        dropout=TRAIN["dropout"],
        loss_mode=TRAIN["loss_mode"],
        weights=TRAIN["weights"],
        loss_pooling=TRAIN["loss_pooling"],
        lr=TRAIN["lr"],
        rho=TRAIN["rho"],
        eps=TRAIN["eps"],
        batch_size=TRAIN["batch_size"],
        epochs=TRAIN["epochs"],
        label_shift=TRAIN["label_shift"],
        predict_with=TRAIN["predict_with"],
        max_train_frames=TRAIN["max_train_frames"],
        accelerator=TRAIN["accelerator"],
        code=CODE["train"],
    threads: 1
    resources:
        mem_mb=get_train_mem_mb,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/train.py"


rule aggregate_run:
    input:
        get_seed_scores,
    output:
        scores=RESULTS / "runs" / "{run}" / "scores.json",
        predictions=directory(RESULTS / "runs" / "{run}" / "predictions"),
    log:
        RESULTS / "logs" / "aggregate" / "{run}.log",
    params:
        code=CODE["aggregate_run"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/aggregate_run.py"
