#!/usr/bin/env bash
# Print an access token from the local OIDC issuer (client_credentials grant).
#
#   deploy/local/token.sh <identity> [scope]
#
# identity: alice | bob | carol | admin | reader. The default scope asks for every aoetl scope;
# the issuer narrows it to the ones the identity's roles allow.
set -euo pipefail
COMPONENT=token
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ISSUER="https://127.0.0.1:${AOETL_OIDC_PORT:-9400}"
# RFC 8707 wants an absolute URI; the tokens' audience is aoetl-api.
RESOURCE=urn:aoetl-api

identity="${1:-}"
scope="${2:-aoetl:read aoetl:submit aoetl:approve aoetl:admin}"
[[ "$identity" =~ ^[a-z][a-z0-9_-]*$ ]] || {
  echo "usage: $0 <identity> [scope]   (identity: alice|bob|carol|admin|reader)" >&2
  exit 2
}
secret_file="$SECRETS/oidc-client-$identity.secret"
[ -s "$secret_file" ] || die "unknown identity '$identity' (no $secret_file; run deploy/local/oidc-issuer.sh start)"

# The credentials reach curl through a config on stdin, so the secret never shows in the process list.
response="$(printf 'user = "%s:%s"\n' "$identity" "$(<"$secret_file")" |
  curl -sS --fail-with-body --max-time 10 --cacert "$CERTS/ca.crt" --config - \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "resource=$RESOURCE" \
    --data-urlencode "scope=$scope" \
    "$ISSUER/token")" || die "token request failed: ${response:-no response}"

printf '%s' "$response" | node -e '
  let body = "";
  process.stdin.on("data", (chunk) => (body += chunk)).on("end", () => {
    const token = JSON.parse(body).access_token;
    if (!token) { process.stderr.write("[token] ERROR: no access_token in the response\n"); process.exit(1); }
    process.stdout.write(token + "\n");
  });'
