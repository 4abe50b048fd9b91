#!/usr/bin/env bash
# Builds the Python sandbox image without a container registry: a Debian bookworm rootfs from
# debootstrap (mirror read from the host's apt sources), the harness, a non-root user, then
# `docker import`.
#   sandbox-image.sh start    build/import the image if the engine lacks it (needs docker.sh start)
#   sandbox-image.sh status   print whether the image exists
# The tag is a content hash: sha256(harness.py + policy_check.py + recipe version), first 12 hex digits.
# Rootfs tarballs are cached in ${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}/sandbox-python so that a
# fresh dockerd imports in seconds; the debootstrap base is cached by recipe version alone.
# Writes AOETL_SANDBOX_IMAGE to $AOETL_STATE_DIR/env/etl-agent.env.
# AOETL_SANDBOX_PRUNE=false keeps the images of other harness versions (several checkouts sharing one engine).
set -euo pipefail

# Bump when anything below changes what goes into the rootfs.
RECIPE_VERSION=1
SUITE=bookworm
PACKAGES=python3
SANDBOX_UID=65532

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${AOETL_STATE_DIR:-$ROOT/.state}"
LOG="$STATE_DIR/logs/sandbox-image.log"
ENV_DIR="$STATE_DIR/env"
source "$ROOT/deploy/local/lib/env-file.sh"
# What goes into /opt/aoetl: the harness and the static policy checker it runs (both in the tag).
HARNESS_FILES=("$ROOT/docker/sandbox-python/harness.py" "$ROOT/docker/sandbox-python/policy_check.py")
CACHE_DIR="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}/sandbox-python"
source "$ROOT/deploy/local/lib/debian.sh"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"

die() { echo "sandbox-image: $*" >&2; exit 1; }
log() { echo "sandbox-image: $*" >&2; }

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

TAG="$({ cat "${HARNESS_FILES[@]}"; echo "recipe $RECIPE_VERSION"; } | sha256sum | cut -c1-12)"
IMAGE="aoetl/sandbox-python:$TAG"
BASE_TAR="$CACHE_DIR/base-r$RECIPE_VERSION.tar"
ROOTFS_TAR="$CACHE_DIR/rootfs-$TAG.tar"



# Strip what a sandbox does not need and add the unprivileged user.
finish_rootfs() {
  local dir="$1"
  rm -rf "$dir"/usr/share/{doc,man,info,locale,lintian,linda,bash-completion,common-licenses}/* \
    "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old "$dir"/var/lib/apt/lists/* \
    "$dir"/var/log/* "$dir"/usr/lib/python3.11/ensurepip "$dir"/usr/lib/python3.11/idlelib \
    "$dir"/usr/lib/python3.11/lib2to3 "$dir"/usr/lib/python3.11/pydoc_data \
    "$dir"/usr/lib/python3.11/test "$dir"/usr/lib/x86_64-linux-gnu/gconv
  # No package manager or perl inside the sandbox (dpkg's database stays as the inventory).
  rm -rf "$dir"/usr/bin/apt* "$dir"/usr/lib/apt "$dir"/usr/lib/x86_64-linux-gnu/libapt-* \
    "$dir"/etc/apt "$dir"/var/lib/apt "$dir"/var/cache/apt "$dir"/usr/bin/perl* \
    "$dir"/usr/lib/x86_64-linux-gnu/perl-base "$dir"/usr/share/perl5
  # No setuid/setgid programs: nothing inside may gain privileges.
  find "$dir" -xdev -type f -perm /6000 -exec chmod ug-s {} +
  grep -q "^sandbox:" "$dir/etc/group" || echo "sandbox:x:$SANDBOX_UID:" >>"$dir/etc/group"
  grep -q "^sandbox:" "$dir/etc/passwd" ||
    echo "sandbox:x:$SANDBOX_UID:$SANDBOX_UID:aoetl sandbox:/nonexistent:/usr/sbin/nologin" >>"$dir/etc/passwd"
  chmod 1777 "$dir/tmp"
}

build_base() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    { apt-get -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends debootstrap; } \
      >>"$LOG" 2>&1 || die "apt-get install debootstrap failed; read $LOG"
  }
  local mirror work
  mirror="$(debian_mirror "$SUITE")"
  [ -n "$mirror" ] || die "no '$SUITE' stanza in $APT_SOURCES"
  work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
  CLEANUP+=("$work")
  log "debootstrap $SUITE ($PACKAGES) into $work/rootfs; log $LOG"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$mirror" >>"$LOG" 2>&1 ||
    die "debootstrap failed; read $LOG"
  finish_rootfs "$work/rootfs"
  tar --numeric-owner -C "$work/rootfs" -cf "$BASE_TAR.tmp" . || die "could not write $BASE_TAR"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
}

# Final rootfs = base + /opt/aoetl/{harness,policy_check}.py (appended to a copy of the base tarball).
build_rootfs() {
  [ -f "$BASE_TAR" ] || build_base
  local stage
  stage="$(mktemp -d "$CACHE_DIR/stage.XXXXXX")"
  CLEANUP+=("$stage")
  install -d -m 755 "$stage/opt/aoetl"
  install -m 644 "${HARNESS_FILES[@]}" "$stage/opt/aoetl/"
  cp "$BASE_TAR" "$ROOTFS_TAR.tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$stage" -rf "$ROOTFS_TAR.tmp" ./opt/aoetl
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
}

import_image() {
  docker import \
    --change "USER $SANDBOX_UID:$SANDBOX_UID" \
    --change 'WORKDIR /tmp' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["/usr/bin/python3", "-I", "-S", "/opt/aoetl/harness.py"]' \
    --change "LABEL org.opencontainers.image.title=aoetl-sandbox-python aoetl.recipe=$RECIPE_VERSION" \
    --message "aoetl sandbox, recipe $RECIPE_VERSION" \
    "$ROOTFS_TAR" "$IMAGE" >>"$LOG" 2>&1 || die "docker import failed; read $LOG"
}

# Drop tarballs and images of older recipes/harnesses (an image in use stays).
prune_old() {
  find "$CACHE_DIR" -maxdepth 1 -type f \( -name 'rootfs-*.tar' -o -name 'base-r*.tar' \) \
    ! -name "$(basename "$ROOTFS_TAR")" ! -name "$(basename "$BASE_TAR")" -delete
  docker images --format '{{.Repository}}:{{.Tag}}' aoetl/sandbox-python | grep -vxF "$IMAGE" |
    xargs -r docker rmi >>"$LOG" 2>&1 || true
}

start() {
  mkdir -p "$STATE_DIR/logs" "$CACHE_DIR"
  timeout 10 docker info >/dev/null 2>&1 || die "the Docker engine does not answer; run deploy/local/docker.sh start"
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already present"
  else
    if [ -f "$ROOTFS_TAR" ]; then
      log "importing cached rootfs $ROOTFS_TAR"
    else
      build_rootfs
    fi
    import_image
    log "built $IMAGE"
    [ "${AOETL_SANDBOX_PRUNE:-true}" = false ] || prune_old
  fi
  docker run --rm --network=none --read-only "$IMAGE" /usr/bin/python3 -I -S -c 'import decimal, json, sys; assert sys.version_info[:2] == (3, 11)' \
    >>"$LOG" 2>&1 || die "$IMAGE does not run python3; read $LOG"
  write_env etl-agent AOETL_SANDBOX_IMAGE "$IMAGE"
  echo "$IMAGE"
}

status() {
  if timeout 10 docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "sandbox-image: $IMAGE present"
  else
    echo "sandbox-image: $IMAGE missing (cached rootfs: $([ -f "$ROOTFS_TAR" ] && echo yes || echo no))"
    return 1
  fi
}

case "${1:-start}" in  # no argument: start (as /work/helper-run.sh and older callers invoke it)
  start) start ;;
  status) status ;;
  *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
