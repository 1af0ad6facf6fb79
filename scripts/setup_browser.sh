#!/usr/bin/env bash
# What the browser test (tests/browser) needs, installed only when missing:
#  - Debian's Chromium at /usr/bin/chromium (apt; no test tool downloads a browser here),
#  - playwright-core in labextension/ui-tests (jlpm from the venv's JupyterLab),
#  - an installed "Models" extension that matches labextension/src (an editable install copies the
#    built extension once, so a later source change would otherwise leave the browser on old code).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV_BIN="$ROOT/.venv/bin"
export PATH="$VENV_BIN:$PATH"

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

UI_TESTS="$ROOT/labextension/ui-tests"
if [ ! -d "$UI_TESTS/node_modules/playwright-core" ]; then
  (cd "$UI_TESTS" && jlpm install --immutable >/dev/null)
fi

# Rebuild and reinstall the extension when its sources are newer than the installed copy.
INSTALLED="$ROOT/.venv/share/jupyter/labextensions/maas-jupyter/package.json"
if [ ! -f "$INSTALLED" ] || [ -n "$(find "$ROOT/labextension/src" "$ROOT/labextension/style" \
      "$ROOT/labextension/package.json" -newer "$INSTALLED" -print -quit)" ]; then
  LOG="$(mktemp)"
  if ! (cd "$ROOT/labextension" && jlpm install && jlpm build) >"$LOG" 2>&1; then
    cat "$LOG" >&2
    exit 1
  fi
  rm -f "$LOG"
  "$VENV_BIN/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
fi
