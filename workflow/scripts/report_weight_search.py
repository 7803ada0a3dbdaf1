from emofusion.joblog import log_to
from emofusion.results.weight_search import write_weight_search

with log_to(snakemake.log[0]):
    write_weight_search(list(snakemake.input.scores), list(snakemake.input.weights), snakemake.output.tsv,
                        snakemake.output.md, feature_set=snakemake.params.feature_set,
                        generated=snakemake.params.generated, out_html=snakemake.output.html)
