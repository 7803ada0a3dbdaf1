from emofusion.joblog import log_to
from emofusion.results.tables import write_comparisons

with log_to(snakemake.log[0]):
    write_comparisons(snakemake.input.ranking, snakemake.params.runs_root, snakemake.params.fusion_root,
                      snakemake.input.labels, snakemake.params.protocols, snakemake.params.stages,
                      snakemake.output.md, snakemake.output.tsv, generated=snakemake.params.generated,
                      out_html=snakemake.output.html)
