from emofusion.pipeline import log_to, rank

with log_to(snakemake.log[0]):
    rank(snakemake.input, snakemake.params.runs, snakemake.output.tsv, top=snakemake.params.top)
