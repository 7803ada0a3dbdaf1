from pathlib import Path

from emofusion.data.synth import generate_corpus
from emofusion.joblog import log_to

with log_to(snakemake.log[0]):
    generate_corpus(Path(snakemake.output.corpus), seed=snakemake.params.seed, size=snakemake.params.size,
                    complementarity=snakemake.params.complementarity,
                    feature_sets=list(snakemake.params.feature_sets))
