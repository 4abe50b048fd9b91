#!/usr/bin/env bash
# Local Docker engine for the ETL sandbox: Debian's docker.io plus gVisor (runsc).
#   docker.sh start   install if needed, register runsc, start dockerd unless one already answers
#   docker.sh stop    stop dockerd, but only one that this script started
#   docker.sh status  show whether the engine answers and which runtimes it has
# dockerd listens on its unix socket and on a loopback TLS port (AOETL_DOCKER_TLS_PORT, default 2376)
# that requires a client certificate (--tlsverify; certificates docker and docker-client from certs.sh).
# Writes AOETL_DOCKER_SOCKET, AOETL_SANDBOX_RUNTIME, AOETL_SANDBOX_ALLOW_RUNC and, when the TLS port answers, AOETL_DOCKER_HOST
# with AOETL_DOCKER_CA_FILE/CERT_FILE/KEY_FILE to $AOETL_STATE_DIR/env/etl-agent.env (the etl-agent
# then uses the TLS port, as in a cluster; the socket stays for local tools and tests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${AOETL_STATE_DIR:-$ROOT/.state}"
LOG="$STATE_DIR/logs/dockerd.log"
PIDFILE="$STATE_DIR/run/dockerd.pid"
ENV_DIR="$STATE_DIR/env"
source "$ROOT/deploy/local/lib/env-file.sh"
DAEMON_JSON=/etc/docker/daemon.json
SOCKET=/var/run/docker.sock
PROBE_IMAGE=aoetl/runtime-probe:1
CERTS="$STATE_DIR/certs"
TLS_PORT="${AOETL_DOCKER_TLS_PORT:-2376}"
TLS_HOST="tcp://127.0.0.1:$TLS_PORT"
export DOCKER_HOST="unix://$SOCKET"

die() { echo "docker: $*" >&2; exit 1; }
log() { echo "docker: $*" >&2; }

answering() { timeout 10 docker info >/dev/null 2>&1; }
has_runsc() { timeout 10 docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }
our_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

ensure_packages() {
  local missing=()
  for p in docker.io runsc jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  { apt-get -o DPkg::Lock::Timeout=600 update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; } \
    >>"$LOG" 2>&1 || die "apt-get install ${missing[*]} failed; read $LOG"
}

# Merge the runsc runtime into daemon.json, keeping every other key; DAEMON_JSON_CHANGED=1 if it wrote.
DAEMON_JSON_CHANGED=0
register_runsc() {
  local runsc
  runsc="$(command -v runsc)" || die "runsc binary not found after install"
  mkdir -p "$(dirname "$DAEMON_JSON")"
  [ -s "$DAEMON_JSON" ] || echo '{}' >"$DAEMON_JSON"
  local merged
  merged="$(jq --arg path "$runsc" \
    '.runtimes = ((.runtimes // {}) + {runsc: {path: $path, runtimeArgs: ["--network=none"]}})' "$DAEMON_JSON")" \
    || die "$DAEMON_JSON is not valid JSON; fix it by hand"
  if [ "$merged" != "$(jq . "$DAEMON_JSON")" ]; then
    printf '%s\n' "$merged" >"$DAEMON_JSON.tmp" && mv "$DAEMON_JSON.tmp" "$DAEMON_JSON"
    DAEMON_JSON_CHANGED=1
  fi
}

# launch_dockerd ARGS...: start dockerd in the background, wait up to 60 s for it to answer.
launch_dockerd() {
  echo "=== $(date -Is) dockerd $*" >>"$LOG"
  setsid dockerd "$@" >>"$LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 120); do
    answering && return 0
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 1; }
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  return 1
}

# A tiny image made of the host's /usr/bin/true and its libraries: enough to prove that a
# runtime can start a container, without a registry.
ensure_probe_image() {
  docker image inspect "$PROBE_IMAGE" >/dev/null 2>&1 && return 0
  local files
  files="$(ldd /usr/bin/true | grep -o '/[^ ]*' | sed 's|^/||' | sort -u)"
  # shellcheck disable=SC2086
  tar -C / -chf - usr/bin/true $files | docker import --change 'CMD ["/usr/bin/true"]' - "$PROBE_IMAGE" >/dev/null
}

# The TLS endpoint, as dockerd's own flags: a client must present a certificate of the dev CA.
tls_flags() {
  echo -H "unix://$SOCKET" -H "$TLS_HOST" --tlsverify \
    --tlscacert "$CERTS/ca.crt" --tlscert "$CERTS/docker.crt" --tlskey "$CERTS/docker.key"
}
tls_answering() {
  timeout 10 docker -H "$TLS_HOST" --tlsverify --tlscacert "$CERTS/ca.crt" \
    --tlscert "$CERTS/docker-client.crt" --tlskey "$CERTS/docker-client.key" info >/dev/null 2>&1
}

runtime_works() {
  timeout 60 docker run --rm --runtime="$1" --network=none "$PROBE_IMAGE" >>"$LOG" 2>&1
}

start() {
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/run"
  # docker server and docker-client certificates (certs.sh is a no-op when they are current; stack.sh ran it already)
  [ "${AOETL_CERTS_CHECKED:-}" = "$STATE_DIR" ] || "$ROOT/deploy/local/certs.sh"
  ensure_packages
  register_runsc
  if answering; then
    if ! has_runsc && [ "$DAEMON_JSON_CHANGED" = 1 ]; then
      # dockerd re-reads the runtimes section of daemon.json on SIGHUP.
      local pid
      pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
      [ -n "$pid" ] && kill -HUP "$pid" && sleep 2
    fi
    log "dockerd already answering on $SOCKET"
  else
    our_pid >/dev/null && die "dockerd (pid $(our_pid)) is running but not answering; read $LOG"
    # shellcheck disable=SC2046  # tls_flags prints separate words (paths without spaces)
    if ! launch_dockerd $(tls_flags); then
      log "dockerd with default flags failed; retrying with vfs storage, no iptables, no bridge"
      # shellcheck disable=SC2046
      launch_dockerd $(tls_flags) --storage-driver=vfs --iptables=false --bridge=none \
        || die "dockerd failed to start; read $LOG"
    fi
    log "dockerd started (pid $(cat "$PIDFILE")), log $LOG"
  fi
  has_runsc || die "dockerd answers but has no runsc runtime (check $DAEMON_JSON); read $LOG"

  ensure_probe_image || die "could not import the runtime probe image; read $LOG"
  local runtime=runc
  if runtime_works runsc; then
    runtime=runsc
  else
    log "gVisor (runsc) cannot start containers here; falling back to runc; read $LOG"
    runtime_works runc || die "runc cannot start containers either; read $LOG"
  fi
  write_env etl-agent AOETL_DOCKER_SOCKET "$SOCKET"
  write_env etl-agent AOETL_SANDBOX_RUNTIME "$runtime"
  # runc is refused by the agent unless allowed: only this local fallback allows it (development only).
  write_env etl-agent AOETL_SANDBOX_ALLOW_RUNC "$([ "$runtime" = runc ] && echo true || echo false)"
  if tls_answering; then
    write_env etl-agent AOETL_DOCKER_HOST "$TLS_HOST"
    write_env etl-agent AOETL_DOCKER_CA_FILE "$CERTS/ca.crt"
    write_env etl-agent AOETL_DOCKER_CERT_FILE "$CERTS/docker-client.crt"
    write_env etl-agent AOETL_DOCKER_KEY_FILE "$CERTS/docker-client.key"
    log "ready: socket $SOCKET and TLS $TLS_HOST (client certificate required), sandbox runtime $runtime"
  else
    # A dockerd this script did not start (or an older one) has no TLS port: the etl-agent uses the socket.
    write_env etl-agent AOETL_DOCKER_HOST ""
    log "WARNING: no TLS endpoint on $TLS_HOST (dockerd not started by docker.sh with --tlsverify); the etl-agent uses $SOCKET"
    log "ready: socket $SOCKET, sandbox runtime $runtime"
  fi
}

stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    log "no dockerd started by this script is running; nothing to stop"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "dockerd (pid $pid) stopped"; return 0; }
    sleep 0.5
  done
  die "dockerd (pid $pid) did not stop within 30 s; read $LOG"
}

status() {
  if answering; then
    local owner="started elsewhere"
    our_pid >/dev/null && owner="started by docker.sh, pid $(our_pid)"
    local tls="no TLS port on $TLS_HOST"
    tls_answering && tls="TLS with client certificates on $TLS_HOST"
    echo "docker: answering on $SOCKET ($owner), $tls; runtimes: $(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
  else
    echo "docker: not answering on $SOCKET"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
