# Video data roots (video.extract sets): video files -> the face feature sets under results/extracted/,
# one face LLD job per recording, then one functionals, codebook and bag-of-words job. The caches of
# the extracted sets read results/extracted/ (workflow/rules/features.smk); labels/ is copied there
# by rule audio_labels (audio.smk), shared by audio and video roots.


rule extract_face:
    input:
        video=get_video,
    output:
        csv=EXTRACTED / "visual_features_face" / "{rec}.csv",
    log:
        RESULTS / "logs" / "video" / "face" / "{rec}.log",
    benchmark:
        RESULTS / "benchmarks" / "video" / "face" / "{rec}.tsv"
    params:
        code=CODE["extract_face"],
    threads: 1
    resources:
        mem_mb=1500,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/extract_face.py"


rule face_functionals:
    input:
        get_face_files,
    output:
        get_face_derived_files("face_func"),
    log:
        RESULTS / "logs" / "video" / "face_functionals.log",
    benchmark:
        RESULTS / "benchmarks" / "video" / "face_functionals.tsv"
    params:
        out_dir=str(EXTRACTED / "visual_features_face_functionals"),
        window_s=(config.get("video") or {}).get("window_s", 4.0),
        code=CODE["face_functionals"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/face_functionals.py"


rule face_codebook:
    input:
        get_train_face_files,
    output:
        npz=EXTRACTED / "codebooks" / "face.npz",
    log:
        RESULTS / "logs" / "video" / "face_codebook.log",
    benchmark:
        RESULTS / "benchmarks" / "video" / "face_codebook.tsv"
    params:
        size=(config.get("video") or {}).get("codebook_size", 100),
        seed=(config.get("video") or {}).get("seed", 10),
        code=CODE["face_codebook"],
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/face_codebook.py"


rule face_bags:
    input:
        codebook=EXTRACTED / "codebooks" / "face.npz",
        llds=get_face_files,
    output:
        get_face_derived_files("bovw_face"),
    log:
        RESULTS / "logs" / "video" / "face_bags.log",
    benchmark:
        RESULTS / "benchmarks" / "video" / "face_bags.tsv"
    params:
        out_dir=str(EXTRACTED / "visual_features_face_xbow"),
        window_s=(config.get("video") or {}).get("window_s", 4.0),
        code=CODE["face_bags"],
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/emofusion.yaml"
    script:
        "../scripts/face_bags.py"
