# The generated corpus (only when data_root is null): AVEC 2019 layout with planted structure.


rule synth_corpus:
    output:
        corpus=directory(RESULTS / "corpus"),
    log:
        RESULTS / "logs" / "synth_corpus.log",
    params:
        size=config["corpus"]["size"],
        seed=config["corpus"]["seed"],
        complementarity=config["corpus"]["complementarity"],
        feature_sets=SETS,
        code=CODE["synth_corpus"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/synth_corpus.py"
