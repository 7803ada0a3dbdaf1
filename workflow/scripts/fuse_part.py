from emofusion.joblog import log_to
from emofusion.pipeline import fuse_part

with log_to(snakemake.log[0]):
    fuse_part(snakemake.input.ranking, snakemake.params.runs_root, snakemake.input.labels,
              snakemake.input.prev[0] if snakemake.input.prev else None, snakemake.output.state,
              protocol=snakemake.wildcards.protocol, stage=int(snakemake.wildcards.n), part=snakemake.wildcards.part,
              settings=snakemake.params.settings)
