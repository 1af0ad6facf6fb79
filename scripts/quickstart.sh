#!/usr/bin/env bash
# The main job: JupyterLab with the maas extension and the quickstart notebook open.
#   bash scripts/quickstart.sh              JupyterLab on http://127.0.0.1:8888 (token printed below)
#   bash scripts/quickstart.sh --headless   execute the quickstart notebook top to bottom, no browser
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
if [ "${1:-}" = "--headless" ]; then
  exec .venv/bin/python scripts/run_notebook.py notebooks/01-quickstart.ipynb
fi
ROOT=()
if [ "$(id -u)" = 0 ]; then ROOT=(--allow-root); fi
exec .venv/bin/jupyter lab "${ROOT[@]}" --ip=127.0.0.1 --port="${PORT:-8888}" --no-browser notebooks/01-quickstart.ipynb
