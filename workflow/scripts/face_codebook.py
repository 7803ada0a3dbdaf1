from emofusion.data.face_windows import write_face_codebook
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    write_face_codebook(list(snakemake.input), snakemake.output.npz, size=snakemake.params.size,
                        seed=snakemake.params.seed)
