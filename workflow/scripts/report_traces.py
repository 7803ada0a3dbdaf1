from emofusion.joblog import log_to
from emofusion.results.figures_fusion import write_traces

with log_to(snakemake.log[0]):
    write_traces(snakemake.input.ranking, snakemake.params.runs_root, snakemake.params.fusion_root,
                 snakemake.input.labels, snakemake.params.protocols, snakemake.params.stages, snakemake.output.png,
                 snakemake.output.svg, generated=snakemake.params.generated)
