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

render() { # render SCENARIO_FILE OUT [extra helm args...]
  local values="$1" out="$2"; shift 2
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" -f "$values" "$@" >"$out"
}

# --- values documentation ----------------------------------------------------------------
check "every value in values.yaml is documented with ## @param" "$PY" "$HERE/check_chart.py" values-docs "$CHART/values.yaml"

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
  "$HELM" template "$RELEASE" "$NOTES_CHART" --namespace "$NAMESPACE" --show-only templates/zz-notes-render.yaml "$@" \
    | sed -n 's/^    //p'
}

check "chart defaults (no values file) render" "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE"
notes_warn() { notes_render --set nameOverride= >"$WORK/notes.txt" && cat "$WORK/notes.txt" && grep -q "WARNING: oidc.networkPolicy" "$WORK/notes.txt"; }
check "chart defaults: NOTES.txt renders and warns about the flows still to configure" notes_warn
scenarios=()
for values in "$CHART"/ci/*-values.yaml "$ROOT/k8s/example/values.yaml"; do
  name="$(basename "$values" -values.yaml)"
  [ "$values" = "$ROOT/k8s/example/values.yaml" ] && name="k8s-example"
  scenarios+=("$name")
  rendered="$WORK/$name.yaml"
  check "[$name] helm lint --strict" "$HELM" lint --strict "$CHART" --namespace "$NAMESPACE" -f "$values"
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

finish
