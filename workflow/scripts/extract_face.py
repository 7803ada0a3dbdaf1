from emofusion.pipeline import extract_face, log_to

with log_to(snakemake.log[0]):
    extract_face(snakemake.input.video, snakemake.output.csv)
