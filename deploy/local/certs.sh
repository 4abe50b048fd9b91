#!/usr/bin/env bash
# Dev CA plus server and client certificates (EC P-256) under .state/certs, generated only when
# missing, not signed by the current CA, or expiring within a week. Also writes the static
# service env entries (ports, TLS file paths). Safe to run any number of times.
set -euo pipefail
COMPONENT=certs
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_cmd openssl openssl

# docker: dockerd's TLS port (docker.sh); docker-client: the etl-agent's client certificate for it.
SERVERS=(redis postgres oidc openbao docker)
CLIENTS=(agent-gateway orchestrator etl-agent monitor admin docker-client)
LOG="$LOGS/certs.log"

# valid NAME...: each cert exists with its key, chains to our CA and is still valid in a week.
valid() {
  local n files=()
  for n in "$@"; do
    [ -s "$CERTS/$n.crt" ] && [ -s "$CERTS/$n.key" ] || return 1
    files+=("$CERTS/$n.crt")
  done
  openssl verify -CAfile "$CERTS/ca.crt" -attime "$(($(date +%s) + 604800))" "${files[@]}" >/dev/null 2>&1
}

new_key() { (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"); }

make_ca() {
  log "creating dev CA"
  new_key "$CERTS/ca.key"
  openssl req -x509 -new -key "$CERTS/ca.key" -sha256 -days 3650 -subj "/CN=aoetl dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$CERTS/ca.crt"
}

# make_leaf NAME server|client
make_leaf() {
  local name="$1" kind="$2" ext
  ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    if [ "$kind" = server ]; then
      echo "extendedKeyUsage=serverAuth"
      echo "subjectAltName=DNS:localhost,IP:127.0.0.1"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  log "creating $kind certificate $name"
  new_key "$CERTS/$name.key"
  openssl req -new -key "$CERTS/$name.key" -subj "/CN=$name" -out "$CERTS/$name.csr"
  openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$ext" -out "$CERTS/$name.crt"
  rm -f "$ext" "$CERTS/$name.csr"
}

{
  if [ ! -s "$CERTS/ca.crt" ] || [ ! -s "$CERTS/ca.key" ] ||
     ! openssl x509 -checkend 2592000 -noout -in "$CERTS/ca.crt" >/dev/null 2>&1; then
    make_ca
  fi
  if ! valid "${SERVERS[@]}" "${CLIENTS[@]}"; then
    for n in "${SERVERS[@]}"; do valid "$n" || make_leaf "$n" server; done
    for n in "${CLIENTS[@]}"; do valid "$n" || make_leaf "$n" client; done
  fi
  chmod 600 "$CERTS"/*.key
  chmod 644 "$CERTS"/*.crt
} 2>>"$LOG" || die "certificate generation failed; read $LOG"

# Static per-service settings. Log level is only a default so a developer can change it.
declare -A HTTP_PORT=([agent-gateway]=8080 [orchestrator]=9102 [etl-agent]=9103 [monitor]=8090)
declare -A METRICS_PORT=([agent-gateway]=9101 [orchestrator]=9102 [etl-agent]=9103 [monitor]=9104)
for s in "${SERVICES[@]}"; do
  write_env_default "$s" AOETL_LOG_LEVEL info
  write_env "$s" AOETL_HTTP_HOST 127.0.0.1
  write_env "$s" AOETL_HTTP_PORT "${HTTP_PORT[$s]}"
  write_env "$s" AOETL_METRICS_PORT "${METRICS_PORT[$s]}"
  write_env "$s" AOETL_REDIS_URL rediss://127.0.0.1:6390
  write_env "$s" AOETL_TLS_CA_FILE "$CERTS/ca.crt"
  write_env "$s" AOETL_TLS_CERT_FILE "$CERTS/$s.crt"
  write_env "$s" AOETL_TLS_KEY_FILE "$CERTS/$s.key"
done
# Owned by the OIDC issuer / sandbox scripts; these are only the defaults from the brief.
write_env_default agent-gateway AOETL_OIDC_ISSUER https://127.0.0.1:9400
write_env_default agent-gateway AOETL_OIDC_AUDIENCE aoetl-api
write_env_default agent-gateway AOETL_OIDC_CA_FILE "$CERTS/ca.crt"
write_env_default etl-agent AOETL_SANDBOX_RUNTIME runc
write_env_default etl-agent AOETL_SANDBOX_ALLOW_RUNC true  # the runc default above is for development only
write_env_default etl-agent AOETL_DOCKER_SOCKET /var/run/docker.sock
write_env test AOETL_STATE_DIR "$STATE"
write_env test AOETL_TLS_CA_FILE "$CERTS/ca.crt"
write_env test AOETL_TLS_CERT_FILE "$CERTS/admin.crt"
write_env test AOETL_TLS_KEY_FILE "$CERTS/admin.key"
