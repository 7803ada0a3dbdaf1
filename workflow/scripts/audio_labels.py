import shutil
from pathlib import Path

from emofusion.io import atomic_dir
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    # the label files of the data root, copied beside the extracted sets (one atomic folder)
    with atomic_dir(snakemake.output.labels) as tmp:
        for f in sorted(Path(snakemake.input[0]).glob("*.csv")):
            shutil.copyfile(f, tmp / f.name)
