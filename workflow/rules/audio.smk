# Audio data roots (audio.extract set): WAV -> the AVEC audio feature sets under results/extracted/,
# one job per recording and LLD set, then one functionals, codebook and bag-of-words job per LLD set.
# The caches of the extracted sets read results/extracted/ (workflow/rules/features.smk).


rule audio_labels:
    input:
        get_audio_labels_dir,
    output:
        labels=directory(EXTRACTED / "labels"),
    log:
        RESULTS / "logs" / "audio" / "labels.log",
    params:
        code=CODE["audio_labels"],
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/audio_labels.py"


rule extract_lld:
    input:
        wav=get_wav,
    output:
        csv=EXTRACTED / "audio_features_{lld}" / "{rec}.csv",
    log:
        RESULTS / "logs" / "audio" / "lld" / "{lld}" / "{rec}.log",
    benchmark:
        RESULTS / "benchmarks" / "audio" / "lld" / "{lld}" / "{rec}.tsv"
    params:
        code=CODE["extract_lld"],
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/extract_lld.py"


rule audio_functionals:
    input:
        get_lld_files,
    output:
        get_derived_files("func"),
    log:
        RESULTS / "logs" / "audio" / "functionals" / "{lld}.log",
    benchmark:
        RESULTS / "benchmarks" / "audio" / "functionals" / "{lld}.tsv"
    params:
        out_dir=get_functionals_dir,
        window_s=config["audio"]["window_s"],
        code=CODE["audio_functionals"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/audio_functionals.py"


rule audio_codebook:
    input:
        get_train_lld_files,
    output:
        npz=EXTRACTED / "codebooks" / "{lld}.npz",
    log:
        RESULTS / "logs" / "audio" / "codebook" / "{lld}.log",
    benchmark:
        RESULTS / "benchmarks" / "audio" / "codebook" / "{lld}.tsv"
    params:
        size=config["audio"]["codebook_size"],
        seed=config["audio"]["seed"],
        code=CODE["audio_codebook"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/audio_codebook.py"


rule audio_bags:
    input:
        codebook=EXTRACTED / "codebooks" / "{lld}.npz",
        llds=get_lld_files,
    output:
        get_derived_files("boaw"),
    log:
        RESULTS / "logs" / "audio" / "bags" / "{lld}.log",
    benchmark:
        RESULTS / "benchmarks" / "audio" / "bags" / "{lld}.tsv"
    params:
        out_dir=get_bags_dir,
        window_s=config["audio"]["window_s"],
        code=CODE["audio_bags"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/audio_bags.py"
