#!/usr/bin/env bash
# Builds the image of one service with docker/service.Dockerfile and checks that it runs locked
# down (read-only root, tmpfs /tmp, uid 65532, no capabilities, no new privileges, no network).
#   deploy/tools/build-service-image.sh <agent-gateway|orchestrator|etl-agent|monitor>
# Environment:
#   BASE_IMAGE   runtime/base image (default: a local Debian base built here, see below); set it to
#                node:20-bookworm-slim where a registry serves it.
#   IMAGE_TAG    tag of aoetl/<service> (default: the git commit, else "dev").
#   NO_CACHE=1   build without the engine's layer cache.
#   NPM_CA_FILE  CA certificate (PEM) of a TLS-inspecting proxy in front of the npm registry,
#                passed to the build stages as the NPM_CA build argument (default: none).
# Local base without a registry: a Debian bookworm minbase rootfs from debootstrap (mirror read from
# the host's apt sources at run time), then `docker import` as aoetl/node-base:<hash>. Debian's
# nodejs is v18, and the services need Node >= 20.19 (require(esm) of ESM-only dependencies such as
# @kubernetes/client-node; see docs/operations/helm.md), so the machine's own Node (>= 20.19) is
# copied into the rootfs at /usr/local/bin/node with its npm and corepack, the layout of the
# official node images.
set -euo pipefail

SERVICES="agent-gateway orchestrator etl-agent monitor"
RECIPE_VERSION=1
SUITE=bookworm
APP_UID=65532
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}/node-base"
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib/debian.sh"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"

die() { echo "build-service-image: $*" >&2; exit 1; }
log() { echo "build-service-image: $*" >&2; }

SERVICE="${1:-}"
[[ " $SERVICES " == *" $SERVICE "* && -n "$SERVICE" ]] || die "usage: $0 <${SERVICES// /|}>"
timeout 10 docker info >/dev/null 2>&1 || die "the Docker engine does not answer"

CLEANUP=()
cleanup() {
  local d
  for d in "${CLEANUP[@]}"; do
    # debootstrap mounts proc/sys inside the target; never delete through a mount.
    awk -v d="$d/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf --one-file-system "$d"
  done
}
trap cleanup EXIT


# Sets BASE to the local base image, building and importing it when missing (not run in a
# subshell, so that the EXIT trap removes its work folder).
local_base() {
  local node_id tag image
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    die "the machine's Node is $(node --version); the services need >= 20.19"
  node_id="node-$(node --version)-$(sha256sum "$(command -v node)" | cut -c1-12)"
  tag="$(echo "recipe $RECIPE_VERSION $SUITE $node_id" | sha256sum | cut -c1-12)"
  image="aoetl/node-base:$tag"
  BASE="$image"
  docker image inspect "$image" >/dev/null 2>&1 && return

  mkdir -p "$CACHE_DIR"
  local tar="$CACHE_DIR/rootfs-$tag.tar"
  if [ ! -f "$tar" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    local mirror work started=$SECONDS
    mirror="$(debian_mirror "$SUITE")"
    [ -n "$mirror" ] || die "no '$SUITE' stanza in $APT_SOURCES"
    work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
    CLEANUP+=("$work")
    log "debootstrap --variant=minbase $SUITE (log: $work.log)"
    debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$mirror" >"$work.log" 2>&1 ||
      die "debootstrap failed: $(tail -n 5 "$work.log")"
    rm -f "$work.log"
    local r="$work/rootfs" lib
    lib="$(dirname "$(readlink -f "$(command -v npm)")")/../.."
    install -D -m 755 "$(command -v node)" "$r/usr/local/bin/node"
    mkdir -p "$r/usr/local/lib/node_modules"
    cp -a "$lib/npm" "$lib/corepack" "$r/usr/local/lib/node_modules/"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
    ln -s ../lib/node_modules/corepack/dist/corepack.js "$r/usr/local/bin/corepack"
    rm -rf "$r"/usr/share/{doc,man,info,locale,lintian}/* "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/log/*
    chmod 1777 "$r/tmp"
    tar --numeric-owner -C "$r" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    log "base rootfs built in $((SECONDS - started)) s"
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --change "LABEL org.opencontainers.image.title=aoetl-node-base aoetl.recipe=$RECIPE_VERSION" \
    --message "aoetl node base, $SUITE minbase, $node_id" "$tar" "$image" >/dev/null || die "docker import failed"
}

BASE="${BASE_IMAGE:-}"
[ -n "$BASE" ] || local_base
tag="${IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
image="aoetl/$SERVICE:$tag"
build_opts=()
[ "${NO_CACHE:-}" = 1 ] && build_opts+=(--no-cache)
if [ -n "${NPM_CA_FILE:-}" ]; then
  [ -r "$NPM_CA_FILE" ] || die "NPM_CA_FILE $NPM_CA_FILE is not readable"
  build_opts+=(--build-arg "NPM_CA=$(cat "$NPM_CA_FILE")")
fi

# The build context: the sources git lists (tracked and new, not ignored), so local state
# (.state), dependencies and builds never reach the engine, with either builder.
context() {
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard -- . \
    ':!:bench' ':!:docs' ':!:examples' ':!:helm' ':!:k8s' ':!:test' ':!:deploy' ':!:docker/sandbox-python' |
    tar -C "$ROOT" --null --files-from=- --ignore-failed-read --numeric-owner -c
}

log "building $image on $BASE"
started=$SECONDS
context | docker build -f docker/service.Dockerfile --build-arg "SERVICE=$SERVICE" --build-arg "BASE_IMAGE=$BASE" \
  "${build_opts[@]}" -t "$image" -
build_seconds=$((SECONDS - started))

# Locked-down smoke test: every production dependency loads, the entry point exists, the root is
# read-only, /tmp is writable, and the process runs as 65532 without capabilities.
docker run --rm --read-only --tmpfs /tmp --user "$APP_UID:$APP_UID" --cap-drop ALL \
  --security-opt no-new-privileges --network none "$image" node -e '
    const fs = require("node:fs");
    const deps = Object.keys(require("/app/package.json").dependencies || {});
    for (const d of deps) require(d);
    require.resolve("/app/dist/server.js");
    let rootWritable = true;
    try { fs.writeFileSync("/app/x", "x"); } catch { rootWritable = false; }
    fs.writeFileSync("/tmp/x", "x");
    const capEff = fs.readFileSync("/proc/self/status", "utf8").match(/CapEff:\s+(\S+)/)[1];
    if (rootWritable || process.getuid() !== 65532 || !/^0+$/.test(capEff)) process.exit(1);
    console.log(`node ${process.version}, uid ${process.getuid()}, ${deps.length} dependencies load, read-only root, CapEff ${capEff}`);
  ' || die "$image failed the locked-down smoke test"
size="$(docker image inspect -f '{{.Size}}' "$image")"
log "built $image in ${build_seconds} s, $((size / 1024 / 1024)) MiB"
echo "$image"
