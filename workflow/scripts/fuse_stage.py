from emofusion.fusion.stage import fuse_stage_job
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    fuse_stage_job(snakemake.input.ranking, snakemake.input.labels, snakemake.input.tracking,
                   list(snakemake.input.parts), snakemake.output.scores, protocol=snakemake.wildcards.protocol,
                   stage=int(snakemake.wildcards.n), settings=snakemake.params.settings)
