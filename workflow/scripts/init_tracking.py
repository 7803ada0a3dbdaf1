from pathlib import Path

from emofusion.joblog import log_to
from emofusion.tracking import default_tracking_uri, init_tracking

with log_to(snakemake.log[0]):
    # uri None: the default store sqlite:///<abs cwd>/results/mlflow.db (artifacts beside it)
    init_tracking(snakemake.params.uri or default_tracking_uri(), snakemake.params.experiment,
                  snakemake.params.artifact_location, Path(snakemake.output.json))
