from emofusion.pipeline import copy_labels, log_to

with log_to(snakemake.log[0]):
    copy_labels(snakemake.input[0], snakemake.output.labels)
