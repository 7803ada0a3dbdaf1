from emofusion.fusion.fit import fuse_part_job
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    fuse_part_job(snakemake.input.ranking, snakemake.params.runs_root, snakemake.input.labels,
                  snakemake.input.prev[0] if snakemake.input.prev else None, snakemake.output.state,
                  protocol=snakemake.wildcards.protocol, stage=int(snakemake.wildcards.n),
                  part=snakemake.wildcards.part, settings=snakemake.params.settings)
