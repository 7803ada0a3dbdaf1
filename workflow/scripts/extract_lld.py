from emofusion.joblog import log_to
from emofusion.pipeline import extract_lld

with log_to(snakemake.log[0]):
    extract_lld(snakemake.input.wav, snakemake.output.csv, lld=snakemake.wildcards.lld)
