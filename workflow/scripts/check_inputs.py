from emofusion.joblog import log_to
from emofusion.pipeline import check_inputs

with log_to(snakemake.log[0]):
    check_inputs(snakemake.output.json, data_root=snakemake.params.data_root, folders=snakemake.params.folders,
                 cultures=snakemake.params.cultures)
