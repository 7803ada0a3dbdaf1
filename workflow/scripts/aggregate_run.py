from emofusion.joblog import log_to
from emofusion.pipeline import aggregate_run

with log_to(snakemake.log[0]):
    aggregate_run(snakemake.input, snakemake.output.scores)
