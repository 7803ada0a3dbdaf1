from emofusion.joblog import log_to
from emofusion.pipeline import fig3

with log_to(snakemake.log[0]):
    fig3(snakemake.params.fusion_root, snakemake.output.png, snakemake.output.svg,
         protocols=snakemake.params.protocols, stages=snakemake.params.stages, generated=snakemake.params.generated,
         labels_cache=snakemake.input.labels, ranking_tsv=snakemake.input.ranking)
