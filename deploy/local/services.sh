#!/usr/bin/env bash
# The four aoetl services as local processes, each with its env file from .state/env.
#   services.sh start|stop|status
set -euo pipefail
COMPONENT=services
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# service → "api port, metrics port" (api port 0: no API besides /livez /readyz /metrics)
declare -A PORTS=([agent-gateway]="8080 9101" [orchestrator]="0 9102" [etl-agent]="0 9103" [monitor]="8090 9104")
START_ORDER=(monitor orchestrator etl-agent agent-gateway)
OTLP_PORT=4318

pidfile() { echo "$RUN/$1.pid"; }
# A killed process can linger as a zombie until init reaps it: that is not running.
running() {
  local f st
  f="$(pidfile "$1")"
  [ -s "$f" ] || return 1
  st="$(ps -o stat= -p "$(cat "$f")" 2>/dev/null)" || return 1
  [[ "$st" != Z* ]]
}
metrics_port() { local p="${PORTS[$1]}"; echo "${p#* }"; }
ready() { curl -fsS "http://127.0.0.1:$(metrics_port "$1")/readyz" >/dev/null 2>&1; }

start_one() {
  local svc=$1 api metrics
  read -r api metrics <<<"${PORTS[$svc]}"
  [ -f "$REPO/services/$svc/dist/server.js" ] || die "$svc is not built (run: pnpm run build)"
  [ -f "$ENV_DIR/$svc.env" ] || die "$ENV_DIR/$svc.env is missing (run: deploy/local/stack.sh up)"
  write_env_default "$svc" AOETL_HTTP_HOST 127.0.0.1
  write_env_default "$svc" AOETL_METRICS_PORT "$metrics"
  [ "$api" = 0 ] || write_env_default "$svc" AOETL_HTTP_PORT "$api"
  # A stable consumer name: a restarted service first finishes the stream entries it had taken.
  write_env_default "$svc" AOETL_CONSUMER_NAME "$svc-1"
  # OpenTelemetry (docs/operations/tracing.md): spans go to an OTLP/HTTP receiver on 127.0.0.1:4318 when one listens
  # (the trace end-to-end test starts one; so can a local collector). With nothing listening, each batch export
  # (every 500 ms, in the background) fails at once with a refused connection and is dropped: no request waits for it.
  write_env_default "$svc" OTEL_EXPORTER_OTLP_ENDPOINT "http://127.0.0.1:$OTLP_PORT"
  write_env_default "$svc" OTEL_EXPORTER_OTLP_PROTOCOL http/json
  write_env_default "$svc" OTEL_BSP_SCHEDULE_DELAY 500
  if [ "$svc" = monitor ]; then
    # Quarantine (docs/operations/quarantine.md): 5 violations of one agent within 2 minutes here (production default:
    # within 10). Its Redis user and Vault identity come from redis.sh and openbao.sh.
    write_env_default monitor AOETL_QUARANTINE_WINDOW_MS 120000
  fi
  if [ "$svc" = monitor ]; then  # the monitor's admin routes verify tokens like the gateway
    for k in AOETL_OIDC_ISSUER AOETL_OIDC_AUDIENCE AOETL_OIDC_CA_FILE; do
      [ -z "$(read_env agent-gateway "$k")" ] || write_env_default monitor "$k" "$(read_env agent-gateway "$k")"
    done
    # The dashboard for people: browser login at the issuer (client aoetl-dashboard), an encrypted session cookie,
    # and the control database through aoetl_monitor (AOETL_DATABASE_URL/PASSWORD, written by postgres.sh).
    write_env_default monitor AOETL_DASHBOARD_URL "http://127.0.0.1:$api"
    write_env_default monitor AOETL_DASHBOARD_RESOURCE urn:aoetl-api
    write_env_default monitor AOETL_SESSION_SECRET "$(secret monitor-session.secret)"
  fi
  if running "$svc"; then log "$svc already running"; return 0; fi
  log "starting $svc"
  (
    load_env "$ENV_DIR/$svc.env"
    cd "$REPO"
    exec nohup node "services/$svc/dist/server.js" >>"$LOGS/$svc.log" 2>&1 </dev/null
  ) &
  echo $! >"$(pidfile "$svc")"
  if ! wait_until 60 ready "$svc"; then
    stop_one "$svc"
    die "$svc did not become ready on :$metrics/readyz; read $LOGS/$svc.log"
  fi
}

stop_one() {
  local svc=$1 f pid
  f="$(pidfile "$svc")"
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  if running "$svc"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 15 bash -c "! ps -o stat= -p $pid 2>/dev/null | grep -qv '^Z'" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case "${1:-}" in
  start)
    for s in "${START_ORDER[@]}"; do start_one "$s"; done
    echo "aoetl services are up:"
    echo "  agent-gateway  http://127.0.0.1:8080 (API)     metrics http://127.0.0.1:9101/metrics"
    echo "  orchestrator   health/metrics http://127.0.0.1:9102/readyz"
    echo "  etl-agent      health/metrics http://127.0.0.1:9103/readyz"
    echo "  monitor        dashboard http://127.0.0.1:8090/  metrics http://127.0.0.1:9104/metrics"
    ;;
  stop)
    for ((i = ${#START_ORDER[@]} - 1; i >= 0; i--)); do stop_one "${START_ORDER[i]}"; done
    ;;
  status)
    rc=0
    for s in "${START_ORDER[@]}"; do
      if ready "$s"; then printf '%-14s healthy   http://127.0.0.1:%s/readyz\n' "$s" "$(metrics_port "$s")"
      else printf '%-14s unhealthy (log: %s)\n' "$s" "$LOGS/$s.log"; rc=1; fi
    done
    exit "$rc"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
