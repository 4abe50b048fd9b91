#!/usr/bin/env bash
# schemathesis (from PyPI) against the running gateway, driven by the committed OpenAPI document
# (docs/api/openapi.json), with real tokens from the local OIDC issuer. Checks: no server error, every response
# matches its documented schema, status code and content type. Bounded (well under 3 minutes on 2 cores).
# Last line: "N passed, N failed" (N passed = test cases schemathesis ran without a failure).
#
# The fuzzer must not disturb what others run on the shared stack, so it acts in two ways:
#   1. as carol (tenant globex, submit+read), on every operation, every phase including stateful (which follows
#      the ids responses return): globex is a tenant of its own, and carol cannot approve or administer;
#   2. as admin (tenant acme), on the operations that cannot touch existing data (reads, creating a pipeline,
#      registering and deleting connections, the audit query), with stateful testing and the reuse of ids seen
#      in responses turned off, so every id and connection name it sends is generated (never crm-source,
#      never another test's run).
# POST /v1/pipelines/{id}/runs is left out of both: a run of a fuzzed pipeline would start real ETL work on this
# 2-core machine. Its request and response schemas are exercised by the API, matrix and e2e tests instead.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
API="${AOETL_API_URL:-http://127.0.0.1:8080}"
SPEC="$REPO/docs/api/openapi.json"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-12}"
STATE="${AOETL_STATE_DIR:-$REPO/.state}"
# Not under test-results/: make test sums every file there (this script's closing line goes there instead).
OUT="$STATE/schemathesis"
mkdir -p "$OUT"
rm -f "$OUT"/*.json

fail() {
  echo "[schemathesis] ERROR: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

curl -fsS -o /dev/null "$API/docs/json" || fail "the gateway is not answering at $API (run: make up)"
ST="$(bash "$REPO/deploy/tools/install-schemathesis.sh" | tail -n 1)" || fail "could not install schemathesis"

config="$(mktemp)"
trap 'rm -f "$config"' EXIT
cat >"$config" <<'TOML'
[phases.examples.extra-data-sources]
responses = false
[phases.coverage.extra-data-sources]
responses = false
[phases.fuzzing.extra-data-sources]
responses = false
TOML

CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
# The rate limit (per identity) is 1200 requests a minute; stay under it so answers are not 429s.
COMMON=("$SPEC" --url "$API" --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" --workers 1 --request-timeout 20
  --rate-limit 1000/m --exclude-operation-id createRun --report json --seed 20261123 --no-color
  # The preview runs code in an etl-agent's sandbox (60 a minute per identity; the corpus e2e and the gateway-preview
  # integration test cover it); erasure deletes rows in shared target tables: neither is fuzzed.
  --exclude-operation-id previewTransform --exclude-operation-id eraseSubject
  # Server-sent events are long-lived streams (tested with real connections in run-events-limits.test.ts,
  # run-events-end.test.ts and the e2e suites). A stream ends as soon as its run is terminal (cancelled included),
  # but the stream of a run still waiting (an awaiting_approval run of another suite, which the stateful phase finds
  # through listRuns) stays open for timeoutSeconds, up to 900 s by the schema: past the 20 s request timeout.
  --exclude-operation-id streamRunEvents)

# run_as IDENTITY NAME [st run options...]   (ST_CONFIG=file: a schemathesis.toml for this run)
run_as() {
  local identity=$1 name=$2
  shift 2
  local pre=()
  [ -z "${ST_CONFIG:-}" ] || pre=(--config-file "$ST_CONFIG")
  local token
  token="$("$REPO/deploy/local/token.sh" "$identity")" || fail "no token for $identity"
  echo "[schemathesis] $name: as $identity" >&2
  set +e
  # (schemathesis keeps a .schemathesis/ cache in its working directory: keep it out of the repository.)
  (cd "$OUT" && exec timeout 300 "$ST" "${pre[@]}" run "${COMMON[@]}" "$@" -H "Authorization: Bearer $token" --report-json-path "$OUT/$name.json" \
    >"$OUT/$name.log" 2>&1)
  local rc=$?
  set -e
  tail -n 25 "$OUT/$name.log" >&2
  [ -s "$OUT/$name.json" ] || fail "$name produced no report (exit $rc); read $OUT/$name.log"
}

run_as carol tenant-globex
ST_CONFIG="$config" run_as admin admin-no-existing-data --phases examples,coverage,fuzzing \
  --exclude-operation-id updatePipeline --exclude-operation-id deletePipeline --exclude-operation-id cancelRun \
  --exclude-operation-id decideApproval

python3 - "$OUT" <<'PY'
import json, pathlib, sys
cases = failed = 0
for report in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    r = json.loads(report.read_text())
    tc = r["test_cases"]
    bad = tc["with_failures"] + tc["errored"] + sum(e.get("count", 1) for e in r["errors"])
    print(f"[schemathesis] {report.stem}: {tc['generated']} cases, {tc['with_failures']} with failures, "
          f"{len(r['errors'])} error kinds, {r['operations']['tested']} operations, exit {r['exit_code']}", file=sys.stderr)
    for f in r["failures"]:
        print(f"[schemathesis]   failure {f['code']} {f['title']}: {f.get('operations')}", file=sys.stderr)
    for e in r["errors"]:
        print(f"[schemathesis]   error {e['title']}", file=sys.stderr)
    cases += tc["generated"]
    failed += bad
print(f"{max(cases - failed, 0)} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
