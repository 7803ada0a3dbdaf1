from emofusion.data.face_windows import write_face_bags
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    write_face_bags(list(snakemake.input.llds), snakemake.input.codebook, snakemake.params.out_dir,
                    window_s=snakemake.params.window_s)
