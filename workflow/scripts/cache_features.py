from emofusion.joblog import log_to
from emofusion.pipeline import cache_features

with log_to(snakemake.log[0]):
    cache_features(snakemake.output.npz, key=snakemake.wildcards.fs, data_root=snakemake.params.data_root,
                   settings=snakemake.params.settings)
