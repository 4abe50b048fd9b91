#!/usr/bin/env bash
# Installs the tools that render, lint and analyse the Helm chart (helm/test/run.sh uses them):
#   helm              helm.sh/helm/v3/cmd/helm                         (Go module proxy)
#   netpolicy         github.com/np-guard/netpol-analyzer/cmd/netpolicy (Go module proxy)
#   kube-score        github.com/zegl/kube-score/cmd/kube-score        (Go module proxy)
#   python venv       PyYAML, for the Pod Security field check          (PyPI)
#
# kube-linter is NOT used: neither golang.stackrox.io/kube-linter (its module path) nor
# github.com/stackrox/kube-linter is served by the Go module proxy here (403 for every
# version). kube-score checks the same class of workload misconfigurations (security
# context, capabilities, resources, probes, NetworkPolicy coverage, PDB/HPA targets);
# see docs/operations/helm.md "Linter".
#
# Binaries are cached outside the clone, keyed by version:
#   ${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}/bin/<tool>-<version>, with <tool> -> <tool>-<version>
# Idempotent: a tool already built at the pinned version is not rebuilt.
# Prints the bin dir on stdout (last line); progress goes to stderr.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.19.5}"
NETPOL_VERSION="${NETPOL_VERSION:-v1.4.2}"
KUBE_SCORE_VERSION="${KUBE_SCORE_VERSION:-v1.20.0}"
PYYAML_VERSION="${PYYAML_VERSION:-6.0.3}"

CACHE_DIR="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}"
BIN_DIR="$CACHE_DIR/bin"
LOG_DIR="$CACHE_DIR/logs"
mkdir -p "$BIN_DIR" "$LOG_DIR"

command -v go >/dev/null || { echo "install-helm-tools: the Go toolchain is missing (needed to build helm, netpolicy, kube-score)" >&2; exit 1; }

# Build one Go program into $BIN_DIR/<name>-<version><suffix> and point $BIN_DIR/<name> at it.
# Optional 4th/5th arguments: extra -ldflags, and a cache-key suffix that names them.
go_tool() {
  local name="$1" pkg="$2" version="$3" ldflags="${4:-}" suffix="${5:-}"
  local target="$BIN_DIR/$name-$version$suffix"
  if [ ! -x "$target" ]; then
    echo "install-helm-tools: building $pkg@$version" >&2
    local gobin log
    gobin="$(mktemp -d)"
    log="$LOG_DIR/$name-$version.log"
    # GOFLAGS is cleared so a caller's -mod=... cannot break 'go install pkg@version';
    # GOTOOLCHAIN=local: build with the installed toolchain, never fetch another one.
    if ! (cd "$gobin" && env GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$gobin" \
          go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version") >"$log" 2>&1; then
      rm -rf "$gobin"
      echo "install-helm-tools: building $pkg@$version failed; read $log" >&2
      exit 1
    fi
    mv "$gobin/$(basename "$pkg")" "$target.tmp"
    mv "$target.tmp" "$target"
    rm -rf "$gobin"
  fi
  ln -sfn "$name-$version$suffix" "$BIN_DIR/$name"
}

# netpol-analyzer cannot be built with 'go install pkg@version' here: the proxy refuses its
# version list (needed for the deprecation check) and the checksum database has no entry for
# github.com/np-guard/netpol-analyzer nor its dependency github.com/np-guard/models (404).
# So it is built inside a throw-away module whose go.sum pins those two modules' hashes
# (recorded when v1.4.2 / v0.5.6 were first fetched; a changed zip fails the build with a
# checksum mismatch). Every other dependency is verified against the checksum database as usual.
NETPOL_GOSUM="${NETPOL_GOSUM:-github.com/np-guard/netpol-analyzer v1.4.2 h1:rntc7NyesdZ8GjUP8HEctICNBXuQOurbclNo+ZVWQYo=
github.com/np-guard/netpol-analyzer v1.4.2/go.mod h1:enTdgIfMJc/OoIUxnC7lVr/+2xA7tN1/5TPaDCZTqqs=
github.com/np-guard/models v0.5.6 h1:oWajSa+/mlR0lyVmoG35LbKclHXj+4aTs/HmMQCCD1s=
github.com/np-guard/models v0.5.6/go.mod h1:Cj2nHAECvIuNoEBHXyzvauf3jXYgLzjxuHH73COaazE=}"

go_tool_pinned() {
  local name="$1" module="$2" pkg="$3" version="$4" gosum="$5"
  local target="$BIN_DIR/$name-$version"
  if [ ! -x "$target" ]; then
    echo "install-helm-tools: building $pkg@$version (pinned go.sum)" >&2
    local work log
    work="$(mktemp -d)"
    log="$LOG_DIR/$name-$version.log"
    printf 'module aoetl.local/%s-build\n\ngo 1.24\n\nrequire %s %s\n' "$name" "$module" "$version" >"$work/go.mod"
    printf '%s\n' "$gosum" >"$work/go.sum"
    if ! (cd "$work" && env GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
          go build -trimpath -ldflags "-s -w" -o "$work/$name" "$pkg") >"$log" 2>&1; then
      rm -rf "$work"
      echo "install-helm-tools: building $pkg@$version failed; read $log" >&2
      exit 1
    fi
    mv "$work/$name" "$target.tmp"
    mv "$target.tmp" "$target"
    rm -rf "$work"
  fi
  ln -sfn "$name-$version" "$BIN_DIR/$name"
}

# Helm's release Makefile stamps its version and the Kubernetes version of its client-go
# (v0.34 -> 1.34 for Helm 3.19) into the binary; without that, 'go install' builds default to
# Kubernetes 1.20 for .Capabilities and kubeVersion checks. Do what the Makefile does.
HELM_K8S_MINOR="${HELM_K8S_MINOR:-34}"
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.metadata= \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
go_tool        helm       helm.sh/helm/v3/cmd/helm                           "$HELM_VERSION" "$HELM_LDFLAGS" "-k8s1.$HELM_K8S_MINOR"
go_tool_pinned netpolicy  github.com/np-guard/netpol-analyzer \
               github.com/np-guard/netpol-analyzer/cmd/netpolicy             "$NETPOL_VERSION" "$NETPOL_GOSUM"
go_tool        kube-score github.com/zegl/kube-score/cmd/kube-score          "$KUBE_SCORE_VERSION"

# A private venv with PyYAML for helm/test/check_pod_security.py (python3 stdlib has no YAML).
PY="${PYTHON:-$(command -v python3 || true)}"
[ -n "$PY" ] || { echo "install-helm-tools: python3 is missing" >&2; exit 1; }
VENV="$CACHE_DIR/venv-helm-test-pyyaml-$PYYAML_VERSION"
if ! "$VENV/bin/python" -c 'import yaml' >/dev/null 2>&1; then
  echo "install-helm-tools: creating $VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >"$LOG_DIR/venv.log" 2>&1 \
    || { echo "install-helm-tools: python3 -m venv failed (Debian: apt-get install python3-venv); read $LOG_DIR/venv.log" >&2; exit 1; }
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "PyYAML==$PYYAML_VERSION" >>"$LOG_DIR/venv.log" 2>&1 \
    || { echo "install-helm-tools: pip install PyYAML failed; read $LOG_DIR/venv.log" >&2; exit 1; }
fi
ln -sfn "$VENV/bin/python" "$BIN_DIR/helm-test-python"

echo "$BIN_DIR"
