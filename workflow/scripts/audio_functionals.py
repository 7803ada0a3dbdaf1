from emofusion.joblog import log_to
from emofusion.pipeline import audio_functionals

with log_to(snakemake.log[0]):
    audio_functionals(snakemake.input, snakemake.params.out_dir, window_s=snakemake.params.window_s)
