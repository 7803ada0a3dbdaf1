from emofusion.data.build_cache import cache_labels_job
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    cache_labels_job(snakemake.output.npz, data_root=snakemake.params.data_root, cultures=snakemake.params.cultures,
                     label_range=snakemake.params.label_range)
