from emofusion.fusion.summary import fusion_summary_job
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    fusion_summary_job(list(snakemake.input.scores), snakemake.input.labels, snakemake.output.tsv)
