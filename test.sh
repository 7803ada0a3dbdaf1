#!/usr/bin/env bash
# The tests, on a fresh machine too: set up .venv where needed (tools/setup.sh), then the default
# pytest run. Arguments go on to pytest (./test.sh -m slow). The exit status is pytest's: 0 only
# when tests ran and passed (5: none collected).
set -euo pipefail
cd "$(dirname "$0")"
. tools/setup.sh
# CI (CI=true, no arguments) runs the default tests and the end-to-end ones (marker e2e); a plain
# ./test.sh leaves those out to stay under 5 minutes.
if [[ "${CI:-}" == "true" && $# -eq 0 ]]; then
    exec pytest -m "not slow and not cluster and not ui"
fi
exec pytest "$@"
