from emofusion.joblog import log_to
from emofusion.spec import TRAIN_KEYS
from emofusion.training.job import train_job

with log_to(snakemake.log[0]):
    train_job(snakemake.input.features, snakemake.input.labels, snakemake.input.tracking, snakemake.params.out_dir,
              run=snakemake.wildcards.run, seed=snakemake.wildcards.seed, kind=snakemake.params.kind,
              params={k: snakemake.params[k] for k in TRAIN_KEYS})
