from emofusion.joblog import log_to
from emofusion.pipeline import copy_labels

with log_to(snakemake.log[0]):
    copy_labels(snakemake.input[0], snakemake.output.labels)
