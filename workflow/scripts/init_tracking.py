from pathlib import Path

from emofusion.joblog import log_to
from emofusion.tracking import init_tracking
from emofusion.tracking_spec import TRACKING_KEYS, TrackingSpec

with log_to(snakemake.log[0]):
    spec = TrackingSpec.from_settings({k: snakemake.params[k] for k in TRACKING_KEYS})
    # uri None: the default store sqlite:///<abs cwd>/results/mlflow.db (artifacts beside it)
    init_tracking(spec.store_uri(), spec.experiment, spec.artifact_location, Path(snakemake.output.json))
