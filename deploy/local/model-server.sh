#!/usr/bin/env bash
# Local OpenAI-compatible model server (deploy/local/model-server/server.mjs, Node built-ins only) on
# http://127.0.0.1:9450. Its answers are scripted by tests (POST /__script); it records every request body
# (GET /__requests). See the header of server.mjs for the protocol.
#
#   deploy/local/model-server.sh start|stop|status|restart
#
# Writes AOETL_MODEL_SERVER_URL (the admin root) and AOETL_LLM_BASE_URL (the OpenAI base URL, …/v1) to
# .state/env/test.env, and AOETL_MODEL_SERVER_API_KEY (also in .state/secrets/model-server-api-key), which the
# server requires as the bearer token on /v1/*. The orchestrator and the gateway get the model planner's settings
# (AOETL_LLM_*; the API key itself is in OpenBao KV aoetl-llm/api-key, written by openbao.sh) with
# AOETL_LLM_DEFAULT_PLANNER=rules: `make demo` keeps the offline planner, and a pipeline or preview that asks for
# `planner: "llm"` (the e2e tests) gets this server. Tenant globex has a daily token budget of 0 (the budget test).
set -euo pipefail
COMPONENT=model-server
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

APP="$LOCAL_DIR/model-server/server.mjs"
HOST=127.0.0.1
PORT="${AOETL_MODEL_SERVER_PORT:-9450}"
URL="http://$HOST:$PORT"
MODEL=aoetl-local
LOG_FILE="$LOGS/model-server.log"

# running_pid: prints the pid from the pid file if that process is alive and is our server.
running_pid() {
  local pid
  pid="$(pid_of model-server)" && [[ "$pid" =~ ^[0-9]+$ ]] && proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'model-server/server.mjs' || return 1
  echo "$pid"
}

healthy() { curl -fsS --max-time 3 "$URL/healthz" 2>/dev/null | grep -qF '"ok":true'; }

# ready_or_dead: the server answers, or its process has already exited.
ready_or_dead() { healthy || ! proc_alive "$(pid_of model-server)"; }

publish_env() {
  write_env test AOETL_MODEL_SERVER_URL "$URL"
  write_env test AOETL_LLM_BASE_URL "$URL/v1"
  write_env test AOETL_LLM_MODEL "$MODEL"
  write_env test AOETL_MODEL_SERVER_API_KEY "$(secret model-server-api-key)"
  local svc
  for svc in orchestrator agent-gateway; do
    write_env "$svc" AOETL_LLM_BASE_URL "$URL/v1"
    write_env "$svc" AOETL_LLM_MODEL "$MODEL"
    write_env "$svc" AOETL_LLM_API_KEY_KV_PATH aoetl-llm/api-key
    write_env "$svc" AOETL_LLM_PRICES "{\"$MODEL\":{\"inputPerMillion\":2,\"outputPerMillion\":8}}"
    write_env "$svc" AOETL_LLM_DEFAULT_PLANNER rules
    write_env "$svc" AOETL_LLM_TENANT_BUDGETS globex=0
    # short, so the fault tests (timeouts, 429 with Retry-After) finish well inside the run's planning window
    write_env "$svc" AOETL_LLM_TIMEOUT_MS 3000
    write_env "$svc" AOETL_LLM_MAX_ATTEMPTS 3
    write_env "$svc" AOETL_LLM_RETRY_BASE_MS 100
    write_env "$svc" AOETL_LLM_MAX_RETRY_DELAY_MS 2000
  done
}

start() {
  local pid
  if pid="$(running_pid)"; then
    healthy || die "pid $pid is running but $URL does not answer; read $LOG_FILE"
    log "already running (pid $pid) at $URL"
    publish_env
    return 0
  fi
  rm -f "$(pidfile model-server)"
  port_open "$PORT" && die "port $PORT is already in use by another process"
  command -v node >/dev/null 2>&1 || die "node is not installed"

  on_failure stop
  step "starting the server"
  log "starting (log $LOG_FILE)"
  AOETL_MODEL_SERVER_PORT="$PORT" AOETL_MODEL_SERVER_MODEL="$MODEL" AOETL_MODEL_SERVER_API_KEY="$(secret model-server-api-key)" \
    setsid node "$APP" </dev/null >>"$LOG_FILE" 2>&1 &
  echo $! >"$(pidfile model-server)"
  step "waiting for $URL/healthz"
  wait_until 15 ready_or_dead || true
  if ! healthy; then
    tail -n 20 "$LOG_FILE" >&2
    die "did not become ready"
  fi
  publish_env
  on_failure ""
  log "ready at $URL (pid $(pid_of model-server))"
}

stop() {
  if running_pid >/dev/null; then
    stop_pid model-server 10
    log "stopped"
  else
    rm -f "$(pidfile model-server)"
    log "not running"
  fi
}

status() {
  local pid
  if pid="$(running_pid)" && healthy; then
    echo "model-server: running (pid $pid) at $URL"
  else
    echo "model-server: not running"
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
