from emofusion.pipeline import fusion_summary, log_to

with log_to(snakemake.log[0]):
    fusion_summary(list(snakemake.input.scores), snakemake.input.labels, snakemake.output.tsv)
