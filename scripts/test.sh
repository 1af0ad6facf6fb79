#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, the browser and the Ray namespace tools it needs, the
# linters and type checks (scripts/lint.sh), then pytest
# (the PostgreSQL tests start their own server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/setup_browser.sh ]; then bash scripts/setup_browser.sh; fi
bash scripts/setup_ray.sh
bash scripts/lint.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
