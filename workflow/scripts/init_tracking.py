from emofusion.joblog import log_to
from emofusion.pipeline import init_tracking

with log_to(snakemake.log[0]):
    init_tracking(snakemake.output.json, uri=snakemake.params.uri, experiment=snakemake.params.experiment,
                  artifact_location=snakemake.params.artifact_location)
