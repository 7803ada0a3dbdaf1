from emofusion.data.build_cache import cache_features_job
from emofusion.data_spec import DataSpec
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    cache_features_job(snakemake.output.npz, key=snakemake.wildcards.fs, data_root=snakemake.params.data_root,
                       entry=snakemake.params.feature_set, data=DataSpec.from_settings(snakemake.params.data))
