from emofusion.pipeline import aggregate_run, log_to

with log_to(snakemake.log[0]):
    aggregate_run(snakemake.input, snakemake.output.scores)
