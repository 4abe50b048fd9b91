# Shared helpers for the deploy/local scripts. Source it; do not execute it.
# Every script sets COMPONENT before sourcing (used in messages).
# shellcheck shell=bash

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$LOCAL_DIR/../.." && pwd)"
STATE="${AOETL_STATE_DIR:-$REPO/.state}"
CERTS="$STATE/certs"
SECRETS="$STATE/secrets"
ENV_DIR="$STATE/env"
LOGS="$STATE/logs"
RUN="$STATE/run"
COMPONENT="${COMPONENT:-aoetl}"
# shellcheck disable=SC2034  # used by the scripts that source this file
SERVICES=(agent-gateway orchestrator etl-agent monitor)

mkdir -p "$STATE" "$CERTS" "$LOGS" "$RUN"
mkdir -p "$SECRETS" "$ENV_DIR"
chmod 700 "$SECRETS" "$ENV_DIR"
chmod 755 "$STATE" "$CERTS"   # the postgres OS user must reach its certificate and key

log() { printf '[%s] %s\n' "$COMPONENT" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$COMPONENT" "$*" >&2; exit 1; }

# Failure handling for start: `on_failure stop` arms an EXIT trap so that any failing command
# (set -e) stops what was started and names the log; `step "doing X"` sets the message, and
# `on_failure ""` disarms it once the component is up. Run a function whose output goes to a log
# in a subshell, `( fn ) >>"$LOG" 2>&1`, so the error message is not written into that log.
FAIL_CLEANUP=""
FAIL_STEP=""
FAIL_LOG=""
on_failure() { FAIL_CLEANUP="$1"; }
step() { FAIL_STEP="$1"; }
_on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$FAIL_CLEANUP" ]; then
    printf '[%s] ERROR: failed while %s; stopping it again. Read %s\n' "$COMPONENT" "${FAIL_STEP:-starting}" "${FAIL_LOG:-$LOGS/$COMPONENT.log}" >&2
    "$FAIL_CLEANUP" >/dev/null 2>&1 || true
  fi
}
trap _on_exit EXIT

# ensure_certs: run certs.sh unless a caller (stack.sh) already did in this run.
ensure_certs() {
  [ "${AOETL_CERTS_CHECKED:-}" = "$STATE" ] || "$LOCAL_DIR/certs.sh"
}

# need_cmd COMMAND DEBIAN_PACKAGE: install the package if the command is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2"
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$2" >"$LOGS/apt.log" 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update >>"$LOGS/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$2" >>"$LOGS/apt.log" 2>&1 \
      || die "apt-get install $2 failed; read $LOGS/apt.log"
  fi
  command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 not found"
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds; fails after SECONDS.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# secret NAME: prints .state/secrets/NAME, generating a random value (hex, safe in URLs and env files) once.
secret() {
  local file="$SECRETS/$1"
  if [ ! -s "$file" ]; then
    (umask 077; openssl rand -hex 24 >"$file.tmp" && mv "$file.tmp" "$file")
  fi
  cat "$file"
}

# put_secret NAME VALUE: store a value produced elsewhere (role ids, tokens).
put_secret() { (umask 077; printf '%s\n' "$2" >"$SECRETS/$1.tmp" && mv "$SECRETS/$1.tmp" "$SECRETS/$1"); }

# Pid files: .state/run/<name>.pid
pidfile() { echo "$RUN/$1.pid"; }
pid_of() { local f; f="$(pidfile "$1")"; [ -s "$f" ] && cat "$f"; }
# proc_alive PID: the process exists and is not a zombie waiting to be reaped.
proc_alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
pid_alive() { local pid; pid="$(pid_of "$1")" && [ -n "$pid" ] && proc_alive "$pid"; }
# stop_pid NAME [SECONDS]: SIGTERM, wait, then SIGKILL; removes the pid file.
stop_pid() {
  local name="$1" pid deadline=$((SECONDS + ${2:-20}))
  if pid="$(pid_of "$name")" && [ -n "$pid" ] && proc_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    while proc_alive "$pid"; do
      if [ "$SECONDS" -ge "$deadline" ]; then log "pid $pid still alive, sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.2
    done
  fi
  rm -f "$(pidfile "$name")"
}

# write_env, write_env_default, read_env
source "$LOCAL_DIR/lib/env-file.sh"

# load_env FILE: export the KEY=VALUE lines of an env file into this shell (values are not shell-quoted,
# so do not `source` the files).
load_env() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then export "${line%%=*}=${line#*=}"; fi
  done <"$1"
}
