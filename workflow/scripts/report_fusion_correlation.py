from emofusion.joblog import log_to
from emofusion.results.figures_fusion import write_correlation

with log_to(snakemake.log[0]):
    write_correlation(snakemake.input.ranking, snakemake.params.runs_root, snakemake.input.labels,
                      snakemake.output.png, snakemake.output.svg, generated=snakemake.params.generated)
