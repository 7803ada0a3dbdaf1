from emofusion.joblog import log_to
from emofusion.pipeline import face_bags

with log_to(snakemake.log[0]):
    face_bags(snakemake.input.llds, snakemake.input.codebook, snakemake.params.out_dir,
              window_s=snakemake.params.window_s)
