from emofusion.joblog import log_to
from emofusion.pipeline import cache_labels

with log_to(snakemake.log[0]):
    cache_labels(snakemake.output.npz, data_root=snakemake.params.data_root, cultures=snakemake.params.cultures,
                 label_range=snakemake.params.label_range)
