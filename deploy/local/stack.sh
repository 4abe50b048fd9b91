#!/usr/bin/env bash
# The whole local stack: certs -> postgres -> redis -> openbao, then (when present and executable)
# docker.sh, sandbox-image.sh and oidc-issuer.sh, which other teams own.
#   stack.sh up       start everything (idempotent); on failure stops what this run started
#   stack.sh down     stop everything in reverse order and check that no process is left
#   stack.sh status   one line per component; exit 1 if any is unhealthy
# AOETL_STACK_SKIP="docker oidc-issuer ..." leaves the named components out.
set -euo pipefail
COMPONENT=stack
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ORDER=(postgres redis openbao docker sandbox-image oidc-issuer model-server)

# components: the ones to manage, in start order.
components() {
  local c
  for c in "${ORDER[@]}"; do
    case " ${AOETL_STACK_SKIP:-} " in *" $c "*) continue ;; esac
    [ -x "$LOCAL_DIR/$c.sh" ] && echo "$c"
  done
}

endpoint() {
  case "$1" in
    postgres) echo "postgres://127.0.0.1:5433 (TLS verify-full; superuser socket $STATE/postgres/run)" ;;
    redis) echo "rediss://127.0.0.1:6390 (client certificate + ACL user)" ;;
    openbao) echo "https://127.0.0.1:8200 (root token: $SECRETS/openbao-root-token)" ;;
    docker) echo "unix://$(read_env etl-agent AOETL_DOCKER_SOCKET | sed 's|^unix://||'), runtime $(read_env etl-agent AOETL_SANDBOX_RUNTIME)" ;;
    sandbox-image) echo "image $(read_env etl-agent AOETL_SANDBOX_IMAGE)" ;;
    oidc-issuer) read_env agent-gateway AOETL_OIDC_ISSUER ;;
    model-server) read_env test AOETL_MODEL_SERVER_URL ;;
  esac
}

certs_ok() {
  local files=() n
  for n in redis postgres oidc openbao agent-gateway orchestrator etl-agent monitor admin; do files+=("$CERTS/$n.crt"); done
  openssl verify -CAfile "$CERTS/ca.crt" "${files[@]}" >/dev/null 2>&1
}

up() {
  local c started=()
  "$LOCAL_DIR/certs.sh"
  export AOETL_CERTS_CHECKED="$STATE"
  # Debian's Chromium for the monitor dashboard's browser test (test/e2e/monitor-dashboard.test.ts, playwright-core).
  need_cmd chromium chromium
  for c in $(components); do
    local was_up=1
    "$LOCAL_DIR/$c.sh" status >/dev/null 2>&1 || was_up=0
    log "starting $c"
    if ! "$LOCAL_DIR/$c.sh" start; then
      log "ERROR: $c failed to start (its log: $LOGS/); stopping what this run started: ${started[*]:-nothing}"
      local i
      for ((i = ${#started[@]} - 1; i >= 0; i--)); do "$LOCAL_DIR/${started[i]}.sh" stop >/dev/null 2>&1 || true; done
      exit 1
    fi
    [ "$was_up" = 1 ] || started+=("$c")
  done
  echo
  echo "aoetl local stack is up (state: $STATE)"
  for c in $(components); do printf '  %-14s %s\n' "$c" "$(endpoint "$c")"; done
  printf '  %-14s %s\n' "env files" "$ENV_DIR/{agent-gateway,orchestrator,etl-agent,monitor,test}.env"
}

# leftovers: live redis-server/postgres/bao processes that belong to this state folder
# (their working directory or command line is inside it).
leftovers() {
  local pid where
  for pid in $(pgrep -x 'redis-server|postgres|bao' || true); do
    where="$(readlink "/proc/$pid/cwd" 2>/dev/null)/ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    case "$where" in *"$STATE/"*) proc_alive "$pid" && echo "$pid $(ps -o args= -p "$pid")" ;; esac
  done
}

down() {
  local c rc=0 out
  for c in $(components | tac); do
    log "stopping $c"
    if out="$("$LOCAL_DIR/$c.sh" stop 2>&1)"; then
      [ -z "$out" ] || echo "$out" >&2
    elif [ $? -ne 2 ]; then     # 2 = usage error: the script has no stop (e.g. an image); nothing to do
      echo "$out" >&2; log "WARNING: $c stop failed"; rc=1
    fi
  done
  # Verify: no pid file of a managed component points at a live process, and no process of ours is left.
  local left pidname f
  left="$(leftovers)"
  for c in $(components); do
    pidname="$c"; [ "$c" = docker ] && pidname=dockerd
    f="$RUN/$pidname.pid"
    if [ -s "$f" ] && proc_alive "$(cat "$f")"; then left+=$'\n'"$(cat "$f") ($c, from $f)"; fi
  done
  if [ -n "${left//[$'\n ']/}" ]; then
    log "ERROR: processes still running:"; echo "$left" >&2; exit 1
  fi
  log "stopped; no stack process left"
  return "$rc"
}

status() {
  local c rc=0 out
  if certs_ok; then printf '%-14s healthy   %s\n' certs "$CERTS"; else printf '%-14s unhealthy %s\n' certs "$CERTS (run certs.sh)"; rc=1; fi
  for c in $(components); do
    if out="$("$LOCAL_DIR/$c.sh" status 2>&1)"; then
      printf '%-14s healthy   %s\n' "$c" "$(endpoint "$c")"
    else
      printf '%-14s unhealthy %s\n' "$c" "$(echo "$out" | tail -n 1)"; rc=1
    fi
  done
  return "$rc"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
