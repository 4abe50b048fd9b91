#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are called through check/refuse, which shellcheck cannot follow
# Chart tests for helm/aoetl. Needs Go (tools are built from the Go module proxy and cached) and
# python3. Prints one "ok -"/"not ok -" line per check and ends with "N passed, N failed".
#
#   bash helm/test/run.sh            all checks
#   UPDATE_EXPECTED=1 bash ...       rewrite the expected connectivity files from the analyzer
#                                    (then review the diff line by line before committing it)
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CHART="$ROOT/helm/aoetl"
DOCS="$ROOT/docs/operations/helm.md"
RELEASE=aoetl
NAMESPACE=aoetl

passed=0
failed=0
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
  failed=$((failed + 1))
  echo "not ok - $1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then sed -e 's/^/    /' "$2" | tail -n 40; fi
}
# check NAME CMD...: passes when CMD exits 0; its output is shown only on failure.
check() {
  local name="$1"; shift
  local log="$WORK/log.$passed.$failed"
  if "$@" >"$log" 2>&1; then ok "$name"; else not_ok "$name" "$log"; fi
}
# refuse NAME PATTERN CMD...: passes when CMD fails and its output matches PATTERN.
refuse() {
  local name="$1" pattern="$2"; shift 2
  local log="$WORK/log.$passed.$failed"
  if "$@" >"$log" 2>&1; then not_ok "$name (was accepted)" "$log"
  elif grep -Eq -- "$pattern" "$log"; then ok "$name"
  else not_ok "$name (failed for another reason)" "$log"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# --- tools --------------------------------------------------------------------------------
if ! BIN="$(bash "$ROOT/deploy/tools/install-helm-tools.sh" 2>"$WORK/install.log" | tail -n 1)" || [ ! -x "$BIN/helm" ]; then
  not_ok "install helm, netpolicy, kube-score (deploy/tools/install-helm-tools.sh)" "$WORK/install.log"
  finish
fi
HELM="$BIN/helm"
NETPOL="$BIN/netpolicy"
KUBESCORE="$BIN/kube-score"
PY="$BIN/helm-test-python"
echo "# $("$HELM" version --short), netpol-analyzer $(basename "$(readlink "$BIN/netpolicy")" | sed 's/netpolicy-//'), kube-score $(basename "$(readlink "$BIN/kube-score")" | sed 's/kube-score-//')"

# The chart <-> config contract: the environment of every service container (check_chart.py
# container-env) loaded by that service's own config schema (config-contract.mjs, needs the build).
contract() { # contract RENDERED
  "$PY" "$HERE/check_chart.py" container-env "$1" >"$WORK/container-env.json" &&
    node "$HERE/config-contract.mjs" "$WORK/container-env.json"
}

# The scenarios are rendered for a cluster that serves the CRDs of cert-manager, the Prometheus
# Operator and KEDA (helm template --api-versions; helm lint has no such flag, so it is told through
# prerequisites.assumeApiVersions). The checks further down prove the refusal without them.
PREREQ_APIS=(cert-manager.io/v1 monitoring.coreos.com/v1 keda.sh/v1alpha1)
API_ARGS=()
for a in "${PREREQ_APIS[@]}"; do API_ARGS+=(--api-versions "$a"); done
LINT_APIS=(--set-json "prerequisites.assumeApiVersions=$(printf '"%s",' "${PREREQ_APIS[@]}" | sed 's/^/[/; s/,$/]/')")

render() { # render SCENARIO_FILE OUT [extra helm args...]
  local values="$1" out="$2"; shift 2
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$values" "${API_ARGS[@]}" "$@" >"$out"
}

# --- values documentation ----------------------------------------------------------------
check "every value in values.yaml is documented with ## @param" "$PY" "$HERE/check_chart.py" values-docs "$CHART/values.yaml"
check "values.schema.json and the README parameter table equal what values_schema.py generates from the @param lines" \
  "$PY" "$HERE/values_schema.py" check
schema_drift_caught() { # a @param edited without regenerating must be caught (on a copy of the chart)
  rm -rf "$WORK/drift-chart" && cp -r "$CHART" "$WORK/drift-chart" &&
    sed -i 's|## @param nameOverride |## @param nameOverride (edited) |' "$WORK/drift-chart/values.yaml" &&
    ! VALUES_SCHEMA_CHART_DIR="$WORK/drift-chart" "$PY" "$HERE/values_schema.py" check
}
check "self-test: a @param description edited without regenerating fails the schema check" schema_drift_caught

# --- lint, render, kube-score, Pod Security, RBAC for every scenario -----------------------
# kube-score: every default check, plus the optional seccomp and container-ports checks. Left
# off: the *-requests-equal-limits checks (Burstable QoS on purpose; see docs/operations/helm.md).
KUBESCORE_ARGS=(score --output-format ci
  --enable-optional-test container-seccomp-profile
  --enable-optional-test container-ports-check)
kube_score() { # kube_score RENDERED: 0 findings (CRITICAL or WARNING) or fail
  local out="$WORK/kube-score.txt"
  "$KUBESCORE" "${KUBESCORE_ARGS[@]}" "$1" >"$out" 2>&1
  local findings
  findings="$(grep -cE '^\[(CRITICAL|WARNING)\]' "$out")"
  grep -E '^\[(CRITICAL|WARNING)\]' "$out"
  echo "kube-score: $(grep -c '^\[OK\]' "$out") ok, $findings finding(s)"
  [ "$findings" -eq 0 ] && ! grep -qiE 'error|failed to' "$out"
}
# Every kube-score/ignore annotation must be justified in the docs (the object name appears in
# the exceptions table together with the check id).
ignores_documented() {
  local rendered="$1" missing=0
  while read -r obj check; do
    [ -z "$obj" ] && continue
    if grep -F -- "${obj#*/}" "$DOCS" | grep -qF -- "$check"; then echo "justified: $obj $check"
    else echo "NOT justified in docs/operations/helm.md: $obj $check"; missing=1; fi
  done < <("$PY" "$HERE/check_chart.py" ignores "$rendered")
  return "$missing"
}

# NOTES.txt is only rendered by install/upgrade (which need a cluster); render it through a copy
# of the chart where a throw-away template feeds it to tpl.
NOTES_CHART="$WORK/notes-chart"
cp -r "$CHART" "$NOTES_CHART" && mkdir -p "$NOTES_CHART/files" && cp "$CHART/templates/NOTES.txt" "$NOTES_CHART/files/NOTES.tpl"
printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata:' '  name: notes' 'data:' '  notes: |' \
  '{{ tpl (.Files.Get "files/NOTES.tpl") . | indent 4 }}' >"$NOTES_CHART/templates/zz-notes-render.yaml"
notes_render() { # notes_render [helm args...]
  "$HELM" template "$RELEASE" "$NOTES_CHART" --namespace "$NAMESPACE" --show-only templates/zz-notes-render.yaml "${API_ARGS[@]}" "$@" \
    | sed -n 's/^    //p'
}

refuse "chart defaults (no values file) are refused, naming every value an install must give" \
  "values every install must give are missing: oidc.issuer .*; sandbox.docker.host " \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE"
REQUIRED=(--set oidc.issuer=https://login.example.com --set sandbox.docker.host=tcp://docker.example.com:2376)
check "chart defaults plus the required values render" "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "${REQUIRED[@]}"
notes_warn() { notes_render --set nameOverride= "${REQUIRED[@]}" >"$WORK/notes.txt" && cat "$WORK/notes.txt" && grep -q "WARNING: oidc.networkPolicy" "$WORK/notes.txt"; }
check "chart defaults: NOTES.txt renders and warns about the flows still to configure" notes_warn
# What each service's config schema declares (the least-privilege check derives the grants from it).
if ! node "$HERE/config-contract.mjs" --facts >"$WORK/facts.json" 2>"$WORK/facts.err"; then
  not_ok "config schemas of the services (node helm/test/config-contract.mjs --facts; needs pnpm run build)" "$WORK/facts.err"
fi
scenarios=()
for values in "$CHART"/ci/*-values.yaml "$ROOT/k8s/example/values.yaml"; do
  name="$(basename "$values" -values.yaml)"
  [ "$values" = "$ROOT/k8s/example/values.yaml" ] && name="k8s-example"
  scenarios+=("$name")
  rendered="$WORK/$name.yaml"
  check "[$name] helm lint --strict" "$HELM" lint --strict "$CHART" --namespace "$NAMESPACE" -f "$values" "${LINT_APIS[@]}"
  if render "$values" "$rendered" 2>"$WORK/render.err"; then
    ok "[$name] helm template ($(grep -c '^kind:' "$rendered") objects)"
  else
    not_ok "[$name] helm template" "$WORK/render.err"
    continue
  fi
  check "[$name] NOTES.txt renders" notes_render -f "$values"
  check "[$name] kube-score: 0 findings" kube_score "$rendered"
  check "[$name] kube-score exceptions are justified in the docs" ignores_documented "$rendered"
  check "[$name] restricted Pod Security fields on every pod template" "$PY" "$HERE/check_chart.py" pod-security "$rendered"
  check "[$name] RBAC is minimal" "$PY" "$HERE/check_chart.py" rbac "$rendered"
  check "[$name] chart <-> config contract: every AOETL_* setting is declared by its service's schema, every required one rendered" \
    contract "$rendered"
  check "[$name] least privilege: Secrets, mounts, Vault, API token/RBAC and egress flows only where the service's config reads them" \
    "$PY" "$HERE/check_chart.py" least-privilege "$rendered" "$WORK/facts.json"
done
if [ "${#scenarios[@]}" -ge 6 ]; then ok "${#scenarios[@]} scenarios checked (ci/*-values.yaml and k8s/example)"
else not_ok "at least 5 ci scenarios and the k8s example (found ${#scenarios[@]})"; fi

# --- the checks themselves catch what they are for (on broken copies of the default render) ---
if [ -s "$WORK/default.yaml" ]; then
  sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$WORK/default.yaml" >"$WORK/broken.yaml"
  refuse "self-test: the Pod Security check catches a writable root filesystem" "readOnlyRootFilesystem must be true" \
    "$PY" "$HERE/check_chart.py" pod-security "$WORK/broken.yaml"
  sed 's/automountServiceAccountToken: false/automountServiceAccountToken: true/' "$WORK/default.yaml" >"$WORK/broken.yaml"
  refuse "self-test: the Pod Security check catches a needless API token" "automountServiceAccountToken" \
    "$PY" "$HERE/check_chart.py" pod-security "$WORK/broken.yaml"
  { cat "$WORK/default.yaml"; printf -- '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: aoetl-too-much\nrules:\n  - apiGroups: ["*"]\n    resources: ["*"]\n    verbs: ["*"]\n'; } >"$WORK/broken.yaml"
  refuse "self-test: the RBAC check catches a ClusterRole" "no cluster-wide RBAC" \
    "$PY" "$HERE/check_chart.py" rbac "$WORK/broken.yaml"
  sed -e 's/imagePullPolicy: Always/imagePullPolicy: IfNotPresent/' -e 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$WORK/default.yaml" >"$WORK/broken.yaml"
  refuse "self-test: kube-score reports a writable root and a cached pull policy" "[1-9][0-9]* finding" kube_score "$WORK/broken.yaml"
fi

# --- values the chart must refuse ---------------------------------------------------------
DEF="$CHART/ci/default-values.yaml"
refuse "schema refuses a writable root filesystem" "readOnlyRootFilesystem" \
  "$HELM" template x "$CHART" -f "$DEF" --set containerSecurityContext.readOnlyRootFilesystem=false
refuse "schema refuses privilege escalation" "allowPrivilegeEscalation" \
  "$HELM" template x "$CHART" -f "$DEF" --set containerSecurityContext.allowPrivilegeEscalation=true
refuse "schema refuses added capabilities" "capabilities/add" \
  "$HELM" template x "$CHART" -f "$DEF" --set-json 'containerSecurityContext.capabilities.add=["NET_ADMIN"]'
refuse "schema refuses running as root" "runAsNonRoot|runAsUser" \
  "$HELM" template x "$CHART" -f "$DEF" --set podSecurityContext.runAsUser=0
refuse "the node's Docker socket is refused" "sandbox/docker/host" \
  "$HELM" template x "$CHART" -f "$DEF" --set sandbox.docker.host=unix:///var/run/docker.sock
refuse "HPA and KEDA never both scale the etl-agent" "etlAgent/autoscaling" \
  "$HELM" template x "$CHART" -f "$DEF" --set etlAgent.autoscaling.hpa.enabled=true --set etlAgent.autoscaling.keda.enabled=true
refuse "a secret value in a ConfigMap variable is refused" "AOETL_REDIS_PASSWORD" \
  "$HELM" template x "$CHART" -f "$DEF" --set gateway.config.AOETL_REDIS_PASSWORD=hunter2
refuse "a mistyped value is refused" "confg" \
  "$HELM" template x "$CHART" -f "$DEF" --set gateway.confg.x=1
refuse "approle auth needs role ids" "roleIds" \
  "$HELM" template x "$CHART" -f "$DEF" --set vault.auth.method=approle

# Tenant scope (issue 13, finding 3): on by default (no tenant listed: no host allowed), each listed tenant gets
# its own Vault policy naming exactly its roles, and the etl-agent's policy names no database role.
tenancy_default() {
  local out="$WORK/tenancy-default.yaml"
  "$HELM" template x "$CHART" -f "$DEF" >"$out" || return 1
  [ "$(grep -c 'AOETL_TENANT_DB_HOSTS: none' "$out")" = 2 ] && grep -q 'AOETL_VAULT_TENANT_TOKEN_ROLE: aoetl-tenant' "$out" \
    && ! grep -q 'path "database/creds/' "$out"
}
tenancy_listed() {
  local out="$WORK/tenancy-listed.yaml"
  "$HELM" template x "$CHART" -f "$DEF" --set-json 'tenancy={"dbHosts":{"acme":["db1.internal:5432"],"globex":["db2.internal"]}}' >"$out" || return 1
  grep -q 'AOETL_TENANT_DB_HOSTS: acme=db1.internal:5432;globex=db2.internal' "$out" \
    && grep -q 'path "database/creds/globex-warehouse-writer"' "$out" && grep -q 'vault policy write aoetl-tenant-acme tenant-policy-acme.hcl' "$out"
}
check "tenant scope on by default: no host allowed until tenants are listed; no database role in the etl-agent's policy" tenancy_default
check "tenancy.dbHosts renders the allow-list and one Vault policy per tenant" tenancy_listed
refuse "a tenant name that cannot be a Vault policy name is refused" "Acme Corp" \
  "$HELM" template x "$CHART" -f "$DEF" --set-json 'tenancy={"dbHosts":{"Acme Corp":["db"]}}'

# --- prerequisites are checked, not assumed ----------------------------------------------
KEDA_VALUES="$CHART/ci/metrics-and-keda-values.yaml"
SANDBOX_VALUES="$CHART/ci/kubernetes-sandbox-values.yaml"
refuse "prerequisites: metrics and KEDA without their CRDs fail with one message naming both APIs" \
  "prerequisites missing in the cluster: metrics.enabled needs the Prometheus Operator CRDs .*API monitoring.coreos.com/v1; etlAgent.autoscaling.keda.enabled needs KEDA .*API keda.sh/v1alpha1\. Install them first" \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$KEDA_VALUES"
refuse "prerequisites: KEDA alone missing is named alone" \
  "prerequisites missing in the cluster: etlAgent.autoscaling.keda.enabled needs KEDA \(ScaledObject, TriggerAuthentication\), API keda.sh/v1alpha1\. Install" \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$KEDA_VALUES" --api-versions monitoring.coreos.com/v1
refuse "prerequisites: cert-manager certificates without cert-manager fail" \
  "prerequisites missing in the cluster: certManager.enabled needs cert-manager \(Certificate, Issuer\), API cert-manager.io/v1\. Install" \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$SANDBOX_VALUES"
check "prerequisites: the kubernetes-sandbox scenario renders once cert-manager's API is served" \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$SANDBOX_VALUES" --api-versions cert-manager.io/v1
dashboard_namespace() { # dashboard_namespace EXPECTED_NS [helm args]: the dashboard ConfigMap's namespace, and a Namespace object only on request
  local expected="$1"; shift
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$KEDA_VALUES" "${API_ARGS[@]}" "$@" \
    --show-only templates/grafana-dashboard.yaml >"$WORK/dashboard.yaml" || return 1
  grep -E '^(kind|  name|  namespace):' "$WORK/dashboard.yaml"
  [ "$(sed -n 's/^  namespace: //p' "$WORK/dashboard.yaml")" = "$expected" ] || return 1
  if [ "$expected" = "$NAMESPACE" ]; then ! grep -q '^kind: Namespace' "$WORK/dashboard.yaml"
  else grep -A3 '^kind: Namespace' "$WORK/dashboard.yaml" | grep -qx "  name: $expected"; fi
}
check "Grafana dashboard: in the release namespace by default, no Namespace object" dashboard_namespace "$NAMESPACE"
check "Grafana dashboard: a named namespace is created only on request (createNamespace)" \
  dashboard_namespace grafana --set metrics.grafanaDashboard.namespace=grafana --set metrics.grafanaDashboard.createNamespace=true

# --- alerts and dashboard use only metrics the code emits ----------------------------------
if [ -s "$WORK/metrics-and-keda.yaml" ]; then
  check "[metrics-and-keda] every aoetl_* series of the PrometheusRule and the dashboard is registered by the code" \
    "$PY" "$HERE/check_chart.py" metrics-emitted "$WORK/metrics-and-keda.yaml" "$ROOT/services" "$ROOT/packages"
  { cat "$WORK/metrics-and-keda.yaml"; printf -- '---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec:\n  groups:\n    - name: x\n      rules:\n        - alert: X\n          expr: increase(aoetl_never_emitted_total[15m]) > 0\n'; } >"$WORK/broken.yaml"
  refuse "self-test: an alert on a metric nothing emits is caught" "aoetl_never_emitted_total is used by the PrometheusRule or the dashboard but no code registers it" \
    "$PY" "$HERE/check_chart.py" metrics-emitted "$WORK/broken.yaml" "$ROOT/services" "$ROOT/packages"
else
  not_ok "[metrics-and-keda] rendered output for the metrics check"
fi

# --- the contract test bites (mutated copies of _config.tpl) ------------------------------
MUT_CHART="$WORK/mut-chart"
contract_mutated() { # contract_mutated SED_EXPR: render the default scenario through a mutated _config.tpl
  rm -rf "$MUT_CHART" && cp -r "$CHART" "$MUT_CHART" &&
    sed -i -e "$1" "$MUT_CHART/templates/_config.tpl" &&
    ! cmp -s "$CHART/templates/_config.tpl" "$MUT_CHART/templates/_config.tpl" &&
    "$HELM" template "$RELEASE" "$MUT_CHART" --namespace "$NAMESPACE" -f "$DEF" >"$WORK/mut-contract.yaml" &&
    contract "$WORK/mut-contract.yaml"
}
refuse "mutation: a setting added to _config.tpl that no code reads breaks the contract" \
  "AOETL_SETTING_NO_CODE_READS \(from configMap/[a-z-]+\) is not declared by" \
  contract_mutated 's|^  "AOETL_HTTP_HOST" "0.0.0.0"$|&\n  "AOETL_SETTING_NO_CODE_READS" "on"|'
refuse "mutation: a required setting dropped from _config.tpl breaks the contract" \
  "refuses the rendered config: AOETL_REDIS_URL: is required" \
  contract_mutated '/"AOETL_REDIS_URL"/d'
refuse "mutation: a Docker host without its client key breaks the contract (the etl-agent's start-up rule)" \
  "refuses the rendered config: invalid configuration: AOETL_DOCKER_HOST=tcp://sandbox-docker.example.com:2376 needs AOETL_DOCKER_KEY_FILE" \
  contract_mutated '/"AOETL_DOCKER_KEY_FILE"/d'
refuse "mutation: a rendered value the schema refuses breaks the contract" \
  "refuses the rendered config: AOETL_METRICS_PORT" \
  contract_mutated 's|"AOETL_METRICS_PORT" (toString $c.containerPorts.metrics)|"AOETL_METRICS_PORT" "not-a-port"|'

# --- the least-privilege check bites (mutated copies of the helpers) -------------------------
privileges_mutated() { # privileges_mutated FILE SED_EXPR
  rm -rf "$MUT_CHART" && cp -r "$CHART" "$MUT_CHART" &&
    sed -i -e "$2" "$MUT_CHART/templates/$1" &&
    ! cmp -s "$CHART/templates/$1" "$MUT_CHART/templates/$1" &&
    "$HELM" template "$RELEASE" "$MUT_CHART" --namespace "$NAMESPACE" -f "$DEF" >"$WORK/mut-privileges.yaml" &&
    "$PY" "$HERE/check_chart.py" least-privilege "$WORK/mut-privileges.yaml" "$WORK/facts.json"
}
refuse "mutation: a Vault token for the orchestrator (whose config has no Vault) is an extra" \
  "volume vault-token at /var/run/secrets/aoetl/vault is read by no setting of OrchestratorConfig" \
  privileges_mutated _helpers.tpl 's|{{- if eq .key "etlAgent" -}}true{{- end -}}|{{- if has .key (list "orchestrator" "etlAgent") -}}true{{- end -}}|'
refuse "mutation: egress to the control database for the etl-agent is an extra" \
  "NetworkPolicy/aoetl-to-postgres: etl-agent may reach postgres, but its config does not read it" \
  privileges_mutated networkpolicy.yaml 's|"name" "to-postgres" "names" (concat (list "agent-gateway" "orchestrator" "migrations")|"name" "to-postgres" "names" (concat (list "agent-gateway" "orchestrator" "migrations" "etl-agent")|'
refuse "mutation: a Secret file no setting reads is an extra" \
  "secret file extra-secret \(key extra\) is read by no secret of" \
  privileges_mutated _pod.tpl 's|{{- $items := list (dict "key" $v.secretKeys.redisPassword "path" "redis-password") -}}|{{- $items := list (dict "key" $v.secretKeys.redisPassword "path" "redis-password") (dict "key" "extra" "path" "extra-secret") -}}|'

# --- NetworkPolicies proven by analysis ---------------------------------------------------
# The connectivity list of the release's workloads (and of the sandbox namespace), from np-guard's
# netpol-analyzer over the rendered chart plus fixtures/ (stand-ins for kube-dns, the ingress
# controller, Prometheus, Redis, PostgreSQL, Vault, strangers and a quarantined agent).
connectivity() { # connectivity DIR -> sorted lines touching aoetl/aoetl-* or aoetl-sandbox/*
  "$NETPOL" list --dirpath "$1" --quiet 2>"$WORK/netpol.err" \
    | awk -F ' : ' '{ split($1, e, " => "); if (e[1] ~ /^(aoetl\/aoetl-|aoetl-sandbox\/)/ || e[2] ~ /^(aoetl\/aoetl-|aoetl-sandbox\/)/) print }' \
    | LC_ALL=C sort
  [ "${PIPESTATUS[0]}" -eq 0 ]
}
analysis_dir() { # analysis_DIR NAME RENDERED [extra fixture...] -> prints dir
  local d="$WORK/np-$1"; rm -rf "$d"; mkdir -p "$d"
  cp "$2" "$d/chart.yaml"; cp "$HERE/fixtures/cluster.yaml" "$d/"
  shift 2
  for f in "$@"; do cp "$f" "$d/"; done
  echo "$d"
}
compare_expected() { # compare_expected ACTUAL EXPECTED_FILE
  local expected="$WORK/expected.txt"
  grep -vE '^(#|$)' "$2" | LC_ALL=C sort >"$expected"
  if [ "${UPDATE_EXPECTED:-}" = 1 ]; then
    { sed -n '/^#/p' "$2" 2>/dev/null; cat "$1"; } >"$2.new" && mv "$2.new" "$2"
    echo "rewrote $2"
  fi
  diff -u "$expected" "$1" && echo "$(wc -l <"$1") connectivity line(s) equal $(basename "$2")"
}

declare -A MATRIX_EXPECTED=(
  [default]="$HERE/expected-connectivity.txt"
  [kubernetes-sandbox]="$HERE/expected-connectivity-kubernetes-sandbox.txt"
)
declare -A MATRIX_FIXTURES=(
  [default]=""
  [kubernetes-sandbox]="$HERE/fixtures/sandbox.yaml"
)
for name in default kubernetes-sandbox; do
  rendered="$WORK/$name.yaml"
  [ -s "$rendered" ] || { not_ok "[$name] rendered output for the analysis"; continue; }
  # shellcheck disable=SC2086
  dir="$(analysis_dir "$name" "$rendered" ${MATRIX_FIXTURES[$name]})"
  if connectivity "$dir" >"$WORK/$name.conn"; then
    check "[$name] netpol-analyzer connectivity equals $(basename "${MATRIX_EXPECTED[$name]}")" \
      compare_expected "$WORK/$name.conn" "${MATRIX_EXPECTED[$name]}"
  else
    not_ok "[$name] netpol-analyzer ran" "$WORK/netpol.err"
  fi
done

# Mutation tests: a deliberately broken policy set must change the analyzer's answer, and in
# the way the break implies (the leak line must appear).
mutation() { # mutation NAME BASE_SCENARIO EXPECT_REGEX (mutated rendered file in $WORK/mutated.yaml)
  local name="$1" base="$2" expect="$3"
  local dir
  # shellcheck disable=SC2086  # an empty fixture list must vanish, not become ""
  dir="$(analysis_dir "mut" "$WORK/mutated.yaml" ${MATRIX_FIXTURES[$base]})"
  local out="$WORK/mutated.conn"
  if ! connectivity "$dir" >"$out"; then not_ok "mutation [$name]: analyzer ran" "$WORK/netpol.err"; return; fi
  if cmp -s "$out" "$WORK/$base.conn"; then
    not_ok "mutation [$name] changes the connectivity (it did not)"
  elif ! grep -Eq -- "$expect" "$out"; then
    diff "$WORK/$base.conn" "$out" >"$WORK/mut.diff"
    not_ok "mutation [$name] shows the leak /$expect/" "$WORK/mut.diff"
  else
    ok "mutation [$name] detected: $(diff "$WORK/$base.conn" "$out" | grep -c '^[<>]') line(s) differ, e.g. $(grep -E -- "$expect" "$out" | head -n 1)"
  fi
}
if [ -s "$WORK/default.conn" ]; then
  "$PY" "$HERE/check_chart.py" mutate "$WORK/default.yaml" "$WORK/mutated.yaml" "drop-policy:$RELEASE-default-deny" >/dev/null &&
    mutation "default-deny removed" default '^other/stranger\[Pod\] => aoetl/aoetl-test-gateway-readyz\[Pod\] : All Connections$'
  "$PY" "$HERE/check_chart.py" mutate "$WORK/default.yaml" "$WORK/mutated.yaml" drop-quarantine-exclusion >/dev/null &&
    mutation "quarantine no longer cuts a pod off" default '^aoetl/aoetl-etl-agent-quarantined\[Pod\] => aoetl/redis\[Pod\] : TCP 6390$'
  render "$DEF" "$WORK/mutated.yaml" --set-json 'etlAgent.networkPolicy.extraEgress=[{}]' &&
    mutation "etl-agent egress widened to everything (values knob)" default '^aoetl/aoetl-etl-agent\[Deployment\] => other/stranger\[Pod\] : All Connections$'
  render "$DEF" "$WORK/mutated.yaml" --set networkPolicy.allowExternal=true &&
    mutation "gateway opened to every source (allowExternal)" default '^other/stranger\[Pod\] => aoetl/aoetl-agent-gateway\[Deployment\] : TCP 8080$'
  render "$DEF" "$WORK/mutated.yaml" --set networkPolicy.dns.namespaceSelector.matchLabels=null --set networkPolicy.dns.podSelector.matchLabels=null &&
    mutation "DNS widened from kube-dns to port 53 of every pod" default '^aoetl/aoetl-monitor\[Deployment\] => other/stranger\[Pod\] : TCP 53,UDP 53$'
fi
if [ -s "$WORK/kubernetes-sandbox.conn" ]; then
  "$PY" "$HERE/check_chart.py" mutate "$WORK/kubernetes-sandbox.yaml" "$WORK/mutated.yaml" "drop-policy:$RELEASE-sandbox-deny-all" >/dev/null &&
    mutation "sandbox namespace no longer deny-all" kubernetes-sandbox '^aoetl-sandbox/aoetl-sandbox-run-example\[Pod\] => other/stranger\[Pod\] : All Connections$'
fi

# --- k8s/ bootstrap agrees with the chart ------------------------------------------------
check "k8s/: restricted PSA on aoetl and the sandbox namespace, gVisor RuntimeClass, sandbox admission policy" \
  "$PY" "$HERE/check_chart.py" k8s-bootstrap "$ROOT/k8s" "$CHART/values.yaml"

# --- helm test hook -----------------------------------------------------------------------
hook_present() {
  "$PY" - "$WORK/default.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pods = [d for d in docs if d["kind"] == "Pod" and (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
assert len(pods) == 1, f"expected one helm test pod, found {len(pods)}"
args = pods[0]["spec"]["containers"][0]["command"]
assert any(a.endswith("/readyz") for a in args), args
print(pods[0]["metadata"]["name"], args[-2:])
EOF
}
check "[default] helm test hook pod calls the gateway's /readyz" hook_present

# --- migrations Job -------------------------------------------------------------------------
migrations_job() { # migrations_job RENDERED EXPECTED_HOOK
  "$PY" - "$1" "$2" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
jobs = [d for d in docs if d["kind"] == "Job" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "migrations"]
assert len(jobs) == 1, f"expected one migrations Job, found {len(jobs)}"
job = jobs[0]
ann = job["metadata"]["annotations"]
assert ann["helm.sh/hook"] == sys.argv[2], ann
assert "hook-succeeded" in ann["helm.sh/hook-delete-policy"] and "hook-failed" not in ann["helm.sh/hook-delete-policy"], ann
assert 0 <= job["spec"]["backoffLimit"] <= 3 and job["spec"]["activeDeadlineSeconds"] > 0, job["spec"]
pod = job["spec"]["template"]["spec"]
assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
c = pod["containers"][0]
# The same runner and tool as the local stack (docker/migrate.mjs -> node-pg-migrate), in the orchestrator image.
assert c["command"] == ["node", "/app/migrate.mjs"], c["command"]
assert "/orchestrator" in c["image"], c["image"]
env = {e["name"]: e.get("value") for e in c["env"]}
assert env["AOETL_DATABASE_URL"].startswith("postgres://aoetl_owner@"), env
assert "sslmode=verify-full" in env["AOETL_DATABASE_URL"], env
assert env["AOETL_DATABASE_PASSWORD_FILE"] == "/etc/aoetl/secrets/database-password", env
assert not any("secretKeyRef" in (e.get("valueFrom") or {}) for e in c["env"]), "secrets are files, never env"
print(job["metadata"]["name"], ann["helm.sh/hook"], "backoffLimit", job["spec"]["backoffLimit"], env["AOETL_DATABASE_URL"])
EOF
}
check "[default] migrations Job: pre-install,pre-upgrade hook, node /app/migrate.mjs as the owner role, bounded backoff" \
  migrations_job "$WORK/default.yaml" "pre-install,pre-upgrade"
check "[kubernetes-sandbox] migrations Job: post-install,pre-upgrade while cert-manager has yet to issue the CA" \
  migrations_job "$WORK/kubernetes-sandbox.yaml" "post-install,pre-upgrade"
check "[external-redis-and-postgres] migrations Job: pre-install,pre-upgrade with the managed database's CA" \
  migrations_job "$WORK/external-redis-and-postgres.yaml" "pre-install,pre-upgrade"
no_job() { ! grep -q 'app.kubernetes.io/component: migrations' <("$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$DEF" --set migrations.enabled=false); }
check "migrations.enabled=false renders no Job" no_job
refuse "schema refuses an unbounded migrations backoff" "backoffLimit" \
  "$HELM" template x "$CHART" -f "$DEF" --set migrations.backoffLimit=100

finish
