from emofusion.pipeline import extract_lld, log_to

with log_to(snakemake.log[0]):
    extract_lld(snakemake.input.wav, snakemake.output.csv, lld=snakemake.wildcards.lld)
