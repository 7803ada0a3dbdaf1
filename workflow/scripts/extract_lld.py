from emofusion.data.audio import extract_lld_file
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    extract_lld_file(snakemake.input.wav, snakemake.output.csv, snakemake.wildcards.lld)
