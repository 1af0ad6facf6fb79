#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, the browser and PostgreSQL it needs, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/setup_browser.sh ]; then bash scripts/setup_browser.sh; fi
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
