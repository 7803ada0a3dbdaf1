from emofusion.data.audio import write_bags
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    write_bags(list(snakemake.input.llds), snakemake.input.codebook, snakemake.params.out_dir,
               window_s=snakemake.params.window_s)
