#!/usr/bin/env bash
# Create .venv and install everything the project needs, from nothing: the pinned Python set,
# the package itself in editable mode (which builds the JupyterLab extension with jlpm).
# Re-running is cheap: a stamp records what was installed and is compared with the inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.maas-installed
inputs=$(cat requirements-dev.txt pyproject.toml labextension/package.json labextension/yarn.lock | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && [ -f maas_jupyter/labextension/package.json ]; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
# --no-build-isolation: the build hook needs jupyterlab's jlpm, which the pinned set already has.
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check
echo "$inputs" > "$stamp"
