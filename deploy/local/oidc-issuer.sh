#!/usr/bin/env bash
# Development OIDC issuer (deploy/local/oidc-issuer, panva's oidc-provider) on https://127.0.0.1:9400.
#
#   deploy/local/oidc-issuer.sh start|stop|status|restart
#
# Serves with the dev CA's server certificate $AOETL_STATE_DIR/certs/oidc.{crt,key} (made by certs.sh).
# Generated at first start: .state/oidc/jwks.json (signing keys) and .state/secrets/oidc-client-<name>.secret.
# Writes AOETL_OIDC_ISSUER, AOETL_OIDC_AUDIENCE and AOETL_OIDC_CA_FILE to .state/env/agent-gateway.env.
# Tokens: deploy/local/token.sh <identity>. `start` restarts a running issuer whose provider code changed since it
# started (new clients or identities, e.g. the dashboard client), recorded in .state/run/oidc-issuer.code.
set -euo pipefail
COMPONENT=oidc-issuer
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

APP_DIR="$LOCAL_DIR/oidc-issuer"
HOST=127.0.0.1
PORT="${AOETL_OIDC_PORT:-9400}"
ISSUER="https://$HOST:$PORT"
AUDIENCE=aoetl-api
CA_FILE="$CERTS/ca.crt"
LOG_FILE="$LOGS/oidc-issuer.log"

# running_pid: prints the pid from the pid file if that process is alive and is our server.
running_pid() {
  local pid
  pid="$(pid_of oidc-issuer)" && [[ "$pid" =~ ^[0-9]+$ ]] && proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'oidc-issuer/server.mjs' || return 1
  echo "$pid"
}

healthy() {
  curl -fsS --max-time 3 --cacert "$CA_FILE" "$ISSUER/.well-known/openid-configuration" 2>/dev/null |
    grep -qF "\"issuer\":\"$ISSUER\""
}

install_deps() {
  [ -d "$APP_DIR/node_modules/oidc-provider" ] && return 0
  log "installing node dependencies"
  if ! (cd "$REPO" && pnpm install --filter '@aoetl/oidc-issuer...' >&2); then
    log "pnpm workspace install failed; falling back to npm in $APP_DIR"
    (cd "$APP_DIR" && npm install --no-package-lock --no-audit --no-fund >&2)
  fi
  [ -d "$APP_DIR/node_modules/oidc-provider" ] || die "oidc-provider is not installed"
}

# code_hash: what the running issuer must have been started from (a changed provider restarts it at start).
code_hash() { cat "$APP_DIR/provider.mjs" "$APP_DIR/server.mjs" | sha256sum | cut -d' ' -f1; }
CODE_FILE="$RUN/oidc-issuer.code"

# ready_or_dead: the issuer answers, or the server process has already exited.
ready_or_dead() { healthy || ! proc_alive "$(pid_of oidc-issuer)"; }

publish_env() {
  write_env agent-gateway AOETL_OIDC_ISSUER "$ISSUER"
  write_env agent-gateway AOETL_OIDC_AUDIENCE "$AUDIENCE"
  write_env agent-gateway AOETL_OIDC_CA_FILE "$CA_FILE"
}

start() {
  local pid f
  if pid="$(running_pid)" && [ "$(cat "$CODE_FILE" 2>/dev/null)" != "$(code_hash)" ]; then
    log "the issuer's code changed since pid $pid started (clients, identities): restarting it"
    stop
  fi
  if pid="$(running_pid)"; then
    healthy || die "pid $pid is running but $ISSUER does not answer; read $LOG_FILE"
    log "already running (pid $pid) at $ISSUER"
    publish_env
    return 0
  fi
  rm -f "$(pidfile oidc-issuer)"
  ensure_certs
  for f in "$CA_FILE" "$CERTS/oidc.crt" "$CERTS/oidc.key"; do [ -s "$f" ] || die "missing $f"; done
  port_open "$PORT" && die "port $PORT is already in use by another process"
  install_deps

  on_failure stop
  step "starting the server"
  log "starting (log $LOG_FILE)"
  AOETL_STATE_DIR="$STATE" AOETL_OIDC_HOST="$HOST" AOETL_OIDC_PORT="$PORT" AOETL_OIDC_ISSUER="$ISSUER" \
    setsid node "$APP_DIR/server.mjs" </dev/null >>"$LOG_FILE" 2>&1 &
  echo $! >"$(pidfile oidc-issuer)"
  code_hash >"$CODE_FILE"
  step "waiting for $ISSUER/.well-known/openid-configuration"
  wait_until 30 ready_or_dead || true
  if ! healthy; then
    tail -n 20 "$LOG_FILE" >&2
    die "did not become ready"
  fi
  publish_env
  on_failure ""
  log "ready at $ISSUER (pid $(pid_of oidc-issuer))"
}

stop() {
  if running_pid >/dev/null; then
    stop_pid oidc-issuer 10
    log "stopped"
  else
    rm -f "$(pidfile oidc-issuer)"
    log "not running"
  fi
}

status() {
  local pid
  if pid="$(running_pid)" && healthy; then
    echo "oidc-issuer: running (pid $pid) at $ISSUER"
  else
    echo "oidc-issuer: not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
