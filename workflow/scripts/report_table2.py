from emofusion.joblog import log_to
from emofusion.results.tables import write_table2

with log_to(snakemake.log[0]):
    write_table2(dict(zip(snakemake.params.modes, list(snakemake.input), strict=True)), snakemake.params.feature_set,
                 snakemake.output.md, snakemake.output.tsv, generated=snakemake.params.generated,
                 weights=snakemake.params.weights, out_html=snakemake.output.html)
