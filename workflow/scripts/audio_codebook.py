from emofusion.data.audio import write_codebook
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    write_codebook(list(snakemake.input), snakemake.output.npz, lld=snakemake.wildcards.lld,
                   size=snakemake.params.size, seed=snakemake.params.seed)
