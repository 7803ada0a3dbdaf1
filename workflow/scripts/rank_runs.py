from emofusion.joblog import log_to
from emofusion.pipeline import rank

with log_to(snakemake.log[0]):
    rank(snakemake.input, snakemake.params.runs, snakemake.output.tsv, top=snakemake.params.top)
