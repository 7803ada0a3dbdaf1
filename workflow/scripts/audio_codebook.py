from emofusion.pipeline import audio_codebook, log_to

with log_to(snakemake.log[0]):
    audio_codebook(snakemake.input, snakemake.output.npz, lld=snakemake.wildcards.lld, size=snakemake.params.size,
                   seed=snakemake.params.seed)
