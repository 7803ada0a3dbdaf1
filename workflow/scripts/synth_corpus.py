from emofusion.joblog import log_to
from emofusion.pipeline import synth_corpus

with log_to(snakemake.log[0]):
    synth_corpus(snakemake.output.corpus, size=snakemake.params.size, seed=snakemake.params.seed,
                 complementarity=snakemake.params.complementarity, feature_sets=snakemake.params.feature_sets)
