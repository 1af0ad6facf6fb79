#!/usr/bin/env bash
# Lint, format and type checks of the whole repository (needs scripts/setup.sh's .venv and node modules):
# ruff (lint + format) for Python, mypy on maas_jupyter/ (the Protocols are checked there), ESLint + Prettier
# for the labextension's TypeScript. Configured in pyproject.toml and labextension/; scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# --immutable: the lint tools are devDependencies, installed here if an older checkout's build skipped them,
# and a yarn.lock out of step with package.json fails instead of changing.
(cd labextension && ../.venv/bin/jlpm install --immutable >/dev/null && ../.venv/bin/jlpm lint)
