from emofusion.joblog import log_to
from emofusion.pipeline import audio_codebook

with log_to(snakemake.log[0]):
    audio_codebook(snakemake.input, snakemake.output.npz, lld=snakemake.wildcards.lld, size=snakemake.params.size,
                   seed=snakemake.params.seed)
