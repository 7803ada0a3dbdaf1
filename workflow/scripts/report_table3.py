from emofusion.pipeline import log_to, table3

with log_to(snakemake.log[0]):
    table3(snakemake.input.ranking, snakemake.params.runs_root, snakemake.params.fusion_root, snakemake.output.md,
           snakemake.output.tsv, snakemake.output.html, protocols=snakemake.params.protocols,
           stages=snakemake.params.stages, generated=snakemake.params.generated,
           labels_cache=snakemake.input.labels)
