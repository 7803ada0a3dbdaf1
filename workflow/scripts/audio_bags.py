from emofusion.pipeline import audio_bags, log_to

with log_to(snakemake.log[0]):
    audio_bags(snakemake.input.llds, snakemake.input.codebook, snakemake.params.out_dir,
               window_s=snakemake.params.window_s)
