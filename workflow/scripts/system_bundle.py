from emofusion.joblog import log_to
from emofusion.system import load_system, predict_root  # noqa: F401 -- what applies the bundle: in this rule's code version
from emofusion.system_build import system_bundle_job

with log_to(snakemake.log[0]):
    system_bundle_job(snakemake.output.bundle, ranking_tsv=snakemake.input.ranking,
                      runs_root=snakemake.params.runs_root, seeds=snakemake.params.seeds,
                      feature_caches=list(snakemake.input.features),
                      feature_settings=snakemake.params.feature_settings, chain_files=list(snakemake.input.chain),
                      summary_tsv=snakemake.input.summary, config=snakemake.params.config,
                      stage=snakemake.params.stage, code_version=snakemake.params.code,
                      tracking_json=snakemake.input.tracking, model_name=snakemake.params.model_name,
                      codebooks=list(snakemake.input.codebooks))
