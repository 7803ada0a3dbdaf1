from emofusion.joblog import log_to
from emofusion.results.summary import write_planted_check

with log_to(snakemake.log[0]):
    write_planted_check(snakemake.input.ranking, snakemake.params.truth, snakemake.output.json, snakemake.output.txt)
