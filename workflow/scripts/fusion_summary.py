from emofusion.joblog import log_to
from emofusion.pipeline import fusion_summary

with log_to(snakemake.log[0]):
    fusion_summary(list(snakemake.input.scores), snakemake.input.labels, snakemake.output.tsv)
