from emofusion.data.recordings import check_inputs_job
from emofusion.data_spec import DataSpec
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    check_inputs_job(snakemake.output.json, data_root=snakemake.params.data_root, folders=snakemake.params.folders,
                     data=DataSpec.from_settings(snakemake.params.data))
