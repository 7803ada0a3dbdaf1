from emofusion.pipeline import fuse, log_to

with log_to(snakemake.log[0]):
    fuse(snakemake.input.ranking, snakemake.params.runs_root, snakemake.input.labels, snakemake.input.tracking,
         snakemake.params.out_dir, protocol=snakemake.wildcards.protocol, params=snakemake.params.fusion,
         n_jobs=snakemake.threads)
