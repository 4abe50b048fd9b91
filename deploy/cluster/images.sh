#!/usr/bin/env bash
# The cluster's images: the four service images (docker/service.Dockerfile on the Debian-built base,
# deploy/tools/build-service-image.sh) and the sandbox image (deploy/local/sandbox-image.sh), built by
# the local Docker engine, then `docker save | ctr -n k8s.io images import` into the cluster's
# containerd. Pods use them with imagePullPolicy: Never (no registry anywhere).
#   images.sh import [all|sandbox|services]   build what the engine lacks (default all), import into the
#                       running cluster; prints the image references, one per line: aoetl/<name>:<tag>
# The cluster stage imports only the sandbox image (the stack builds it anyway); the four service
# images cost a docker build each (pnpm install + tsc) and are only needed for a chart install.
# Needs: the cluster up (cluster.sh up) and the Docker engine answering (deploy/local/docker.sh start).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
SERVICES=(agent-gateway orchestrator etl-agent monitor)
LOGF="$CLUSTER_STATE/logs/images.log"

WHAT="${2:-all}"
[ "${1:-}" = import ] && [[ " all sandbox services " == *" $WHAT "* ]] || { echo "usage: $0 import [all|sandbox|services]" >&2; exit 2; }
netns_exists && mntns_exists || cluster_die "the cluster is not up (deploy/cluster/cluster.sh up)"
timeout 10 docker info >/dev/null 2>&1 || cluster_die "the Docker engine does not answer (deploy/local/docker.sh start)"
mkdir -p "$(dirname "$LOGF")"

TAG="${IMAGE_TAG:-$(git -C "$CLUSTER_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
refs=()
[ "$WHAT" = sandbox ] && SERVICES=()
for s in "${SERVICES[@]}"; do
  if ! docker image inspect "aoetl/$s:$TAG" >/dev/null 2>&1; then
    cluster_log "building aoetl/$s:$TAG"
    IMAGE_TAG="$TAG" bash "$CLUSTER_ROOT/deploy/tools/build-service-image.sh" "$s" >>"$LOGF" 2>&1 \
      || cluster_die "building aoetl/$s failed; read $LOGF"
  fi
  refs+=("aoetl/$s:$TAG")
done
if [ "$WHAT" != services ]; then
  sandbox="$(AOETL_SANDBOX_PRUNE=false bash "$CLUSTER_ROOT/deploy/local/sandbox-image.sh" start 2>>"$LOGF" | tail -n 1)" \
    || cluster_die "building the sandbox image failed; read $LOGF"
  refs+=("$sandbox")
fi

t0=$SECONDS
docker save "${refs[@]}" | in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io images import - >>"$LOGF" 2>&1 \
  || cluster_die "importing ${refs[*]} into the cluster's containerd failed; read $LOGF"
cluster_log "imported ${#refs[@]} images in $((SECONDS - t0)) s"
printf '%s\n' "${refs[@]}"
