from emofusion.joblog import log_to
from emofusion.pipeline import face_codebook

with log_to(snakemake.log[0]):
    face_codebook(snakemake.input, snakemake.output.npz, size=snakemake.params.size, seed=snakemake.params.seed)
