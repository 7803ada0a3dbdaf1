from emofusion.joblog import log_to
from emofusion.results.markdown import write_report_tables

with log_to(snakemake.log[0]):
    write_report_tables(snakemake.input.unimodal, snakemake.input.runs, snakemake.input.summary,
                        snakemake.output.unimodal, snakemake.output.runs, snakemake.output.summary,
                        top_unimodal=snakemake.params.top_unimodal, top_fusion=snakemake.params.top_fusion)
