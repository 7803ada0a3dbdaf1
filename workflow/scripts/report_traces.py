from emofusion.joblog import log_to
from emofusion.pipeline import traces

with log_to(snakemake.log[0]):
    traces(snakemake.input.ranking, snakemake.params.runs_root, snakemake.params.fusion_root, snakemake.input.labels,
           snakemake.output.png, snakemake.output.svg, protocols=snakemake.params.protocols,
           stages=snakemake.params.stages, generated=snakemake.params.generated)
