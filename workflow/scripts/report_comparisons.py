from emofusion.joblog import log_to
from emofusion.pipeline import comparisons

with log_to(snakemake.log[0]):
    comparisons(snakemake.input.ranking, snakemake.params.runs_root, snakemake.params.fusion_root,
                snakemake.input.labels, snakemake.output.md, snakemake.output.tsv, snakemake.output.html,
                protocols=snakemake.params.protocols, stages=snakemake.params.stages,
                generated=snakemake.params.generated)
