from emofusion.joblog import log_to
from emofusion.results.ranking import rank_job

with log_to(snakemake.log[0]):
    rank_job(snakemake.input, snakemake.params.runs, snakemake.output.tsv, top=snakemake.params.top)
