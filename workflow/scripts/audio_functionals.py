from emofusion.pipeline import audio_functionals, log_to

with log_to(snakemake.log[0]):
    audio_functionals(snakemake.input, snakemake.params.out_dir, window_s=snakemake.params.window_s)
