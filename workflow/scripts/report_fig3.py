from emofusion.joblog import log_to
from emofusion.results.figures_fusion import write_fig3

with log_to(snakemake.log[0]):
    write_fig3(snakemake.params.fusion_root, snakemake.params.protocols, snakemake.params.stages,
               snakemake.output.png, snakemake.output.svg, generated=snakemake.params.generated,
               labels_npz=snakemake.input.labels, ranking_tsv=snakemake.input.ranking)
