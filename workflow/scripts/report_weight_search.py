from emofusion.joblog import log_to
from emofusion.pipeline import weight_search

with log_to(snakemake.log[0]):
    weight_search(list(snakemake.input.scores), list(snakemake.input.weights), snakemake.output.tsv,
                  snakemake.output.md, snakemake.output.html, feature_set=snakemake.params.feature_set,
                  generated=snakemake.params.generated)
