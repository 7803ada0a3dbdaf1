from emofusion.joblog import log_to
from emofusion.pipeline import runs_overview

with log_to(snakemake.log[0]):
    runs_overview(snakemake.input.ranking, snakemake.output.png, snakemake.output.svg,
                  generated=snakemake.params.generated, truth_json=snakemake.params.truth)
