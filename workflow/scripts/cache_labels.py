from emofusion.data.build_cache import cache_labels_job
from emofusion.data_spec import DataSpec
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    cache_labels_job(snakemake.output.npz, data_root=snakemake.params.data_root,
                     data=DataSpec.from_settings(snakemake.params.data))
