from emofusion.joblog import log_to
from emofusion.results.figures_runs import write_learning_curves

with log_to(snakemake.log[0]):
    write_learning_curves(snakemake.input.ranking, snakemake.params.histories, snakemake.output.png,
                          snakemake.output.svg, generated=snakemake.params.generated)
