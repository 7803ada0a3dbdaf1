from emofusion.joblog import log_to
from emofusion.pipeline import table2

with log_to(snakemake.log[0]):
    table2(list(snakemake.input), snakemake.params.modes, snakemake.output.md, snakemake.output.tsv,
           snakemake.output.html, feature_set=snakemake.params.feature_set, generated=snakemake.params.generated,
           weights=snakemake.params.weights)
