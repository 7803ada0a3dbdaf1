from emofusion.joblog import log_to
from emofusion.results.figures_runs import write_runs_overview

with log_to(snakemake.log[0]):
    write_runs_overview(snakemake.input.ranking, snakemake.output.png, snakemake.output.svg,
                        generated=snakemake.params.generated, truth_json=snakemake.params.truth)
