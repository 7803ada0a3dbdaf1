#!/usr/bin/env bash
# The whole pipeline, on a fresh machine too: set up .venv where needed (tools/setup.sh), then the
# default Snakemake run. Arguments go on to snakemake (./run.sh ablation search, ./run.sh -n).
set -euo pipefail
cd "$(dirname "$0")"
. tools/setup.sh
exec snakemake --cores 8 "$@"
