from emofusion.joblog import log_to
from emofusion.pipeline import extract_face

with log_to(snakemake.log[0]):
    extract_face(snakemake.input.video, snakemake.output.csv)
