from emofusion.joblog import log_to
from emofusion.pipeline import audio_bags

with log_to(snakemake.log[0]):
    audio_bags(snakemake.input.llds, snakemake.input.codebook, snakemake.params.out_dir,
               window_s=snakemake.params.window_s)
