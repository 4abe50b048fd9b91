#!/usr/bin/env bash
# Builds the OpenBao server (a Vault-API-compatible secrets manager) from the Go module
# proxy and caches the binary outside the clone, keyed by version.
# OpenBao's v2 tags are not addressable as Go module versions (its go.mod has no /v2
# suffix), so we pin the pseudo-version of the v2.4.0 release commit. Its go.mod replaces
# ./api, ./sdk and ./helper/stubbolt with local folders that the module zip does not carry
# (they are separate modules); we drop those replace lines and let the proxy serve them.
set -euo pipefail
OPENBAO_MODULE_VERSION="${OPENBAO_MODULE_VERSION:-v0.0.0-20250828202315-f9407a27fbee}"
CACHE_DIR="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}"
BIN="$CACHE_DIR/openbao/$OPENBAO_MODULE_VERSION/bao"

if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "openbao: the Go toolchain is missing (needed to build OpenBao)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
log="$CACHE_DIR/openbao-build.log"
mkdir -p "$CACHE_DIR/openbao/$OPENBAO_MODULE_VERSION"
{
  src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/openbao/openbao@$OPENBAO_MODULE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -n "$src" ] || { echo "download of github.com/openbao/openbao@$OPENBAO_MODULE_VERSION failed"; exit 1; }
  cp -r "$src" "$work/openbao" && chmod -R u+w "$work/openbao"
  cd "$work/openbao"
  sed -i '/^replace github.com\/openbao\/openbao\/.* => \.\//d' go.mod
  go mod tidy -e >/dev/null 2>&1 || true
  CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" .
  mv "$BIN.tmp" "$BIN"
} >"$log" 2>&1 || { echo "openbao: build failed; read $log" >&2; exit 1; }
echo "$BIN"
