from emofusion.joblog import log_to
from emofusion.pipeline import learning_curves

with log_to(snakemake.log[0]):
    learning_curves(snakemake.input.ranking, snakemake.params.histories, snakemake.output.png, snakemake.output.svg,
                    generated=snakemake.params.generated)
