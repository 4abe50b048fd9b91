#!/usr/bin/env bash
# Installs what building and testing aoetl needs on a fresh Debian machine: pnpm (from the npm registry)
# and the workspace's dependencies from the committed lockfile. Node.js 20.19+ is expected on the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PNPM_VERSION=10.34.8

node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "bootstrap: Node.js >= 20.19 is required (found $(node --version 2>/dev/null || echo none))" >&2; exit 1; }
if [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION" >&2
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi
command -v curl >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq curl >/dev/null; }
pnpm install --frozen-lockfile --reporter=append-only >/dev/null
