from pathlib import Path

from emofusion.joblog import log_to
from emofusion.results.ranking import aggregate_seeds

with log_to(snakemake.log[0]):
    aggregate_seeds([Path(p).parent for p in snakemake.input], Path(snakemake.output.scores).parent)
