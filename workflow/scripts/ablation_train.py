from emofusion.joblog import log_to
from emofusion.training.job import train_extra_job

with log_to(snakemake.log[0]):
    train_extra_job(snakemake.input.features, snakemake.input.labels, snakemake.input.tracking,
                    snakemake.params.out_dir, run_name=snakemake.params.run_name, seed=snakemake.params.seed,
                    kind="ablation", params=snakemake.params.train, tags=snakemake.params.tags)
