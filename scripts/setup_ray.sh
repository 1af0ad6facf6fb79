#!/usr/bin/env bash
# What the Ray tests (tests/ray) need beyond the venv, installed only when missing: `unshare`
# (util-linux) and `ip`, `ss` (iproute2). Each Ray scenario runs its two-node cluster in a network
# namespace that holds only loopback (`unshare --net`, then `ip link set lo up`), because Ray Serve
# replicas listen on every interface. MAAS_SKIP_RAY=1 switches those tests off, and this set-up with them.
set -euo pipefail

if [ "${MAAS_SKIP_RAY:-}" = "1" ]; then exit 0; fi

missing=()
command -v unshare >/dev/null || missing+=(util-linux)
if ! command -v ip >/dev/null || ! command -v ss >/dev/null; then missing+=(iproute2); fi

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
