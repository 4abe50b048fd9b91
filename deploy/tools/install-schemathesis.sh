#!/usr/bin/env bash
# Installs schemathesis (API fuzzing from an OpenAPI document) from PyPI into a virtualenv under the aoetl cache:
#   ${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}/venv
# Idempotent: does nothing when the pinned version is already there. Prints the path of the `st` binary.
set -euo pipefail

VERSION=4.32.5
CACHE="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}"
VENV="$CACHE/venv"

if [ -x "$VENV/bin/st" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$VERSION" ]; then
  echo "$VENV/bin/st"
  exit 0
fi

command -v python3 >/dev/null || { echo "[schemathesis] ERROR: python3 is required" >&2; exit 1; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "[schemathesis] installing python3-venv (Debian)" >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv >&2
fi
mkdir -p "$CACHE"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
"$VENV/bin/st" --version >&2
echo "$VENV/bin/st"
