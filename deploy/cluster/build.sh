#!/usr/bin/env bash
# Builds the single-node test cluster's binaries from the Go module proxy, cached by version
# (deploy/cluster/versions.sh). Idempotent: a component already built at its pinned version is kept.
#   kubernetes  k8s.io/kubernetes module: kube-apiserver, -controller-manager, -scheduler, kubelet,
#               kube-proxy, kubectl. The module zip lacks ./staging, so go.work/vendor and the
#               '=> ./staging/...' replaces are dropped and the published k8s.io/* modules are required
#               at the same minor (v0.34.x). ~5 min of both cores cold, ~2 GB peak memory.
#   etcd        a one-file main calling go.etcd.io/etcd/server/v3/etcdmain.Main (the root etcd module
#               has replace directives, so 'go install' of it is refused; Debian's etcd 3.4 is too old).
#   coredns     github.com/coredns/coredns (cluster DNS).
#   pause       the sandbox container's init, compiled from build/pause/linux/pause.c of the module.
# Usage: build.sh [kubernetes|etcd|coredns|pause|all]   (default all). Progress on stderr.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/versions.sh"
mkdir -p "$CLUSTER_CACHE" "$CLUSTER_LOGS"
command -v go >/dev/null || { echo "cluster build: the Go toolchain is missing" >&2; exit 1; }
# GOFLAGS cleared (a caller's -mod=vendor would break these builds); never fetch another toolchain.
GOENV=(env GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=0)

log() { echo "cluster build: $*" >&2; }

k8s_module_dir() {
  "${GOENV[@]}" go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_kubernetes() {
  local out="$K8S_BIN" bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl) b missing=0
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  local src work minor logf="$CLUSTER_LOGS/kubernetes-$K8S_VERSION.log" t0=$SECONDS
  log "building Kubernetes $K8S_VERSION (${bins[*]}); ~5 min cold; log $logf"
  src="$(k8s_module_dir)"
  [ -n "$src" ] && [ -d "$src" ] || { log "the Go module proxy did not give k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  work="$CLUSTER_CACHE/src-kubernetes-$K8S_VERSION"
  rm -rf "$work"
  cp -r "$src" "$work"
  chmod -R u+w "$work"
  rm -rf "$work/go.work" "$work/go.work.sum" "$work/vendor"
  minor="v0.${K8S_VERSION#v1.}"
  # Drop the staging replaces, and require the published staging modules at the same release.
  sed -i -e '/=> \.\/staging\//d' -e "s#^\(\s*k8s\.io/[a-z0-9-]*\) v0\.0\.0\$#\1 $minor#" "$work/go.mod"
  local ver="${K8S_VERSION#v}" ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=${ver%%.*} -X $p.gitMinor=$(echo "$ver" | cut -d. -f2)"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  if ! (cd "$work" && "${GOENV[@]}" GOFLAGS="-buildvcs=false -mod=mod" go build -trimpath -ldflags "-s -w$ld" \
        -o "$out.tmp/" $(printf './cmd/%s ' "${bins[@]}")) >"$logf" 2>&1; then
    log "building Kubernetes failed; read $logf"; tail -n 20 "$logf" >&2; exit 1
  fi
  rm -rf "$out" && mv "$out.tmp" "$out" && rm -rf "$work"
  log "Kubernetes built in $((SECONDS - t0)) s"
}

build_etcd() {
  [ -x "$ETCD_BIN/etcd" ] && return 0
  local work logf="$CLUSTER_LOGS/etcd-$ETCD_VERSION.log" t0=$SECONDS
  log "building etcd $ETCD_VERSION; log $logf"
  work="$(mktemp -d)"
  printf 'module aoetl.local/etcd-build\n\ngo 1.24\n' >"$work/go.mod"
  cat >"$work/main.go" <<'GO'
// etcd server: the upstream main, built from the published go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  if ! (cd "$work" && "${GOENV[@]}" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && "${GOENV[@]}" go mod tidy \
        && "${GOENV[@]}" go build -trimpath -ldflags "-s -w" -o "$work/etcd" .) >"$logf" 2>&1; then
    rm -rf "$work"; log "building etcd failed; read $logf"; exit 1
  fi
  mkdir -p "$ETCD_BIN" && mv "$work/etcd" "$ETCD_BIN/etcd" && rm -rf "$work"
  log "etcd built in $((SECONDS - t0)) s"
}

build_coredns() {
  [ -x "$COREDNS_BIN/coredns" ] && return 0
  local gobin logf="$CLUSTER_LOGS/coredns-$COREDNS_VERSION.log" t0=$SECONDS
  log "building CoreDNS $COREDNS_VERSION; log $logf"
  gobin="$(mktemp -d)"
  if ! (cd "$gobin" && "${GOENV[@]}" GOBIN="$gobin" go install -trimpath -ldflags "-s -w" \
        "github.com/coredns/coredns@$COREDNS_VERSION") >"$logf" 2>&1; then
    rm -rf "$gobin"; log "building CoreDNS failed; read $logf"; exit 1
  fi
  mkdir -p "$COREDNS_BIN" && mv "$gobin/coredns" "$COREDNS_BIN/coredns" && rm -rf "$gobin"
  log "CoreDNS built in $((SECONDS - t0)) s"
}

build_pause() {
  [ -x "$PAUSE_BIN/pause" ] && return 0
  command -v cc >/dev/null || { log "a C compiler (cc) is needed for the pause container"; exit 1; }
  local src
  src="$(k8s_module_dir)/build/pause/linux/pause.c"
  mkdir -p "$PAUSE_BIN"
  cc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$PAUSE_BIN/pause.tmp" "$src"
  strip "$PAUSE_BIN/pause.tmp" && mv "$PAUSE_BIN/pause.tmp" "$PAUSE_BIN/pause"
}

what="${1:-all}"
case "$what" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  coredns) build_coredns ;;
  pause) build_pause ;;
  all) build_pause; build_etcd; build_coredns; build_kubernetes ;;
  *) echo "usage: $0 [kubernetes|etcd|coredns|pause|all]" >&2; exit 2 ;;
esac
