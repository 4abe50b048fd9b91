#!/usr/bin/env bash
# The cluster stage of `make test`: a real single-node Kubernetes (deploy/cluster) brought up, used,
# and torn down. Prints one "ok -"/"not ok -" line per check and ends with "N passed, N failed".
# The cluster is torn down at the end whatever happened (set AOETL_CLUSTER_KEEP=1 to keep it).
#
# What it proves:
#   - the cluster comes up inside its own network namespace; a second `up` is harmless;
#   - pods run under Pod Security "restricted", reach each other through a Service (kube-proxy,
#     iptables mode) by its DNS name (CoreDNS);
#   - the namespaces of k8s/namespaces.yaml refuse a non-restricted pod; the sandbox
#     ValidatingAdmissionPolicy refuses a sandbox pod without the gvisor RuntimeClass or with a
#     service-account token, and admits a compliant one;
#   - the chart's ServiceAccounts have exactly the permissions the code needs (kubectl auth can-i
#     --as=system:serviceaccount:..., against the matrix below);
#   - a pod that never becomes Ready fails the wait with its events and logs printed;
#   - no packet left the namespace: the reject counter of its egress firewall is 0 (IPv4 and IPv6);
#   - `down` leaves nothing behind (processes, mounts, namespaces, interfaces, cgroups, host
#     iptables chains, host sysctls): cluster.sh down checks it and fails otherwise.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLUSTER="$ROOT/deploy/cluster/cluster.sh"
. "$ROOT/deploy/cluster/lib.sh"

passed=0
failed=0
WORK="$(mktemp -d)"
T0=$SECONDS

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
  failed=$((failed + 1))
  echo "not ok - $1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then sed -e 's/^/    /' "$2" | tail -n 60; fi
}
check() { # NAME CMD...: passes when CMD exits 0; its output is shown only on failure
  local name="$1"; shift
  local log="$WORK/log.$passed.$failed"
  if "$@" >"$log" 2>&1; then ok "$name"; else not_ok "$name" "$log"; fi
}
refuse() { # NAME PATTERN CMD...: passes when CMD fails and its output matches PATTERN
  local name="$1" pattern="$2"; shift 2
  local log="$WORK/log.$passed.$failed"
  if "$@" >"$log" 2>&1; then not_ok "$name (was accepted)" "$log"
  elif grep -Eq -- "$pattern" "$log"; then ok "$name"
  else not_ok "$name (failed for another reason)" "$log"; fi
}
k() { bash "$CLUSTER" kubectl "$@"; }

teardown() {
  if [ "${AOETL_CLUSTER_KEEP:-0}" = 1 ]; then echo "# AOETL_CLUSTER_KEEP=1: the cluster stays up"; return; fi
  local t=$SECONDS
  check "cluster down leaves nothing behind (processes, mounts, netns, interfaces, cgroups, iptables, sysctls)" bash "$CLUSTER" down
  echo "# cluster down: $((SECONDS - t)) s"
}
finish() {
  teardown
  rm -rf "$WORK"
  echo "# cluster stage: $((SECONDS - T0)) s in all"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
trap 'echo "# interrupted"; finish' INT TERM

# wait_ready NS SELECTOR SECONDS: every pod matching SELECTOR Ready; else print events, describe, logs.
wait_ready() {
  local ns="$1" sel="$2" secs="$3"
  if k -n "$ns" wait --for=condition=Ready pod -l "$sel" --timeout="${secs}s"; then return 0; fi
  echo "pods -l $sel in $ns not Ready after ${secs}s; events, pods and logs follow"
  k -n "$ns" get events --sort-by=.lastTimestamp 2>&1 | tail -n 30
  k -n "$ns" describe pod -l "$sel" 2>&1 | tail -n 40
  k -n "$ns" logs -l "$sel" --all-containers --tail=30 --prefix 2>&1
  return 1
}

# --- the cluster -----------------------------------------------------------------------------
t=$SECONDS
if ! bash "$CLUSTER" up >"$WORK/up.log" 2>&1; then
  not_ok "cluster up (deploy/cluster/cluster.sh up)" "$WORK/up.log"
  finish
fi
ok "cluster up: node Ready, CoreDNS answers through the kube-dns Service ($((SECONDS - t)) s, build included)"
t=$SECONDS
check "a second cluster up is harmless" bash -c "bash '$CLUSTER' up 2>&1 | grep -q 'already up'"
check "cluster status: every component running" bash "$CLUSTER" status
# (Checked without sending anything: a packet to the node IP from the host would be routed out.)
check "the host has none of the cluster's interfaces or addresses" \
  bash -c "! ip -o addr | grep -qw '$CLUSTER_NODE_IP' && ! ip link show cni0 >/dev/null 2>&1 && ! ip link show '$CLUSTER_NODE_IF' >/dev/null 2>&1"

# --- workloads: restricted pods, a Service by DNS name, kube-proxy ----------------------------
PROBE_IMAGE=aoetl/cluster-probe:busybox
bash "$CLUSTER" image-from-file "$PROBE_IMAGE" /bin/busybox /busybox >"$WORK/img.log" 2>&1 \
  || not_ok "import the probe image (Debian's static busybox)" "$WORK/img.log"
restricted_ctx='{"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}'
container_ctx='{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}'
k apply -f - >"$WORK/web.log" 2>&1 <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: probe
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: probe}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      securityContext: $restricted_ctx
      containers:
        - name: web
          image: $PROBE_IMAGE
          imagePullPolicy: Never
          command: [/busybox, sh, -c, "echo hello-from-the-cluster > /tmp/index.html && exec /busybox httpd -f -p 8080 -h /tmp"]
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
          securityContext: $container_ctx
          resources: {limits: {cpu: 100m, memory: 32Mi}}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {sizeLimit: 1Mi}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: probe}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
check "a restricted Deployment becomes Ready" wait_ready probe app=web 90
# The client resolves the Service with busybox's own resolver (its wget would use glibc's NSS, which a
# static busybox cannot load) and speaks HTTP with nc to the address it got.
k apply -f - >"$WORK/client.log" 2>&1 <<EOF
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: probe}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: $restricted_ctx
  containers:
    - name: client
      image: $PROBE_IMAGE
      imagePullPolicy: Never
      command: [/busybox, sh, -c, "ip=\$(/busybox nslookup web.probe.svc.$CLUSTER_DOMAIN | /busybox awk '/^Address: /{a=\$2} END{print a}') && echo service=\$ip && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /busybox nc -w 5 \$ip 80"]
      securityContext: $container_ctx
      resources: {limits: {cpu: 100m, memory: 32Mi}}
EOF
client_result() {
  k -n probe wait --for=jsonpath='{.status.phase}'=Succeeded pod/client --timeout=60s || { k -n probe describe pod client; }
  k -n probe logs client
}
check "a pod reaches another through a Service by its DNS name (CoreDNS + kube-proxy iptables + the bridge)" \
  bash -c "$(declare -f k client_result); CLUSTER='$CLUSTER'; client_result | tee /dev/stderr | grep -q '^hello-from-the-cluster' && client_result | grep -q '^service=10\.96\.'"

# A pod that never becomes Ready: the wait fails and prints its events (here: the image is absent
# and may not be pulled).
k -n probe run never-ready --image=aoetl/absent:1 --image-pull-policy=Never \
  --overrides="{\"spec\": {\"automountServiceAccountToken\": false, \"securityContext\": $restricted_ctx, \"containers\": [{\"name\": \"never-ready\", \"image\": \"aoetl/absent:1\", \"imagePullPolicy\": \"Never\", \"securityContext\": $container_ctx}]}}" \
  -l app=never-ready >/dev/null 2>&1
refuse "a pod that never becomes Ready fails the wait, with its events printed" "ErrImageNeverPull" wait_ready probe app=never-ready 10

# --- admission: Pod Security restricted, the sandbox ValidatingAdmissionPolicy ----------------
# (Applied twice at most: the ServiceAccount controller may create the namespace's "default"
# ServiceAccount between kubectl's read and its create, which then reports AlreadyExists.)
apply_k8s() { k apply -f "$ROOT/k8s/namespaces.yaml" -f "$ROOT/k8s/sandbox-admission-policy.yaml"; }
check "k8s/namespaces.yaml and sandbox-admission-policy.yaml apply" bash -c "$(declare -f k apply_k8s); CLUSTER='$CLUSTER' ROOT='$ROOT'; apply_k8s || { sleep 1; apply_k8s; }"
check "k8s/runtimeclass-gvisor.yaml is valid (server dry run)" k apply --dry-run=server -f "$ROOT/k8s/runtimeclass-gvisor.yaml"
# No gVisor in this cluster: Debian ships runsc without its containerd shim, and runsc through
# containerd's runc shim starts pods but never reports their exit nor stops them (tried: the pods
# stay Running, deletes hang). So the RuntimeClass named gvisor maps to runc HERE ONLY, so that the
# admission policy's pin and the driver run for real; the isolation under test is runc's.
echo "# RuntimeClass gvisor -> handler runc in the test cluster (no gVisor shim; see deploy/cluster/README.md)"
check "the test cluster's RuntimeClass gvisor (handler runc: a stand-in) applies" k apply -f - <<EOF
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor, labels: {aoetl.io/test-stand-in: "true"}}
handler: runc
EOF
refuse "Pod Security restricted refuses a root pod in namespace aoetl" "violates PodSecurity \"restricted" \
  k -n aoetl run root-pod --image="$PROBE_IMAGE" --image-pull-policy=Never --dry-run=server
sandbox_pod() { # sandbox pod manifest; $1 = extra JSON merged into .spec
  python3 - "$1" "$PROBE_IMAGE" <<'PY'
import json, sys
extra, image = json.loads(sys.argv[1]), sys.argv[2]
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sandbox-probe", "namespace": "aoetl-sandbox"},
  "spec": {"runtimeClassName": "gvisor", "automountServiceAccountToken": False, "enableServiceLinks": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "sandbox", "image": image, "imagePullPolicy": "Never", "command": ["/busybox", "true"],
      "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
      "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}}]}}
pod["spec"].update(extra)
pod["spec"] = {k: v for k, v in pod["spec"].items() if v is not None}
print(json.dumps(pod))
PY
}
# Wait until the policy is loaded (the API server compiles it asynchronously).
for _ in $(seq 1 20); do
  sandbox_pod '{"runtimeClassName": null}' | k create --dry-run=server -f - 2>&1 | grep -q gvisor && break
  sleep 1
done
check "a compliant sandbox pod is admitted (server dry run)" bash -c "$(declare -f sandbox_pod k); CLUSTER='$CLUSTER' PROBE_IMAGE='$PROBE_IMAGE'; sandbox_pod '{}' | k create --dry-run=server -f -"
refuse "the sandbox policy refuses a pod without the gvisor RuntimeClass" "must use runtimeClassName gvisor" \
  bash -c "$(declare -f sandbox_pod k); CLUSTER='$CLUSTER' PROBE_IMAGE='$PROBE_IMAGE'; sandbox_pod '{\"runtimeClassName\": null}' | k create --dry-run=server -f -"
refuse "the sandbox policy refuses a pod that mounts a service-account token" "automountServiceAccountToken: false" \
  bash -c "$(declare -f sandbox_pod k); CLUSTER='$CLUSTER' PROBE_IMAGE='$PROBE_IMAGE'; sandbox_pod '{\"automountServiceAccountToken\": true}' | k create --dry-run=server -f -"

# --- RBAC: each ServiceAccount of the chart has exactly the permissions the code needs ---------
# The matrix (docs/operations/helm.md "RBAC, all of it"): only the etl-agent, only in the sandbox
# namespace, only what packages/sandbox/src/kubernetes-driver.ts calls (createNamespacedPod,
# readNamespacedPod, deleteNamespacedPod, listNamespacedPod for the reaper, the attach websocket).
rbac_list() { # NS SUBJECT: the rules the subject has in NS, one normalised line each
  k auth can-i --list -n "$1" --as="$2" --no-headers 2>/dev/null | awk '{$1=$1; print}' | sort
}
rbac_matrix() {
  local sa ns got want baseline bad=0
  for ns in aoetl-sandbox aoetl kube-system default; do
    # What every authenticated account has (self reviews, discovery): an account with no binding at all.
    baseline="$(rbac_list "$ns" system:serviceaccount:aoetl:aoetl-no-such-account)"
    for sa in agent-gateway orchestrator etl-agent monitor; do
      got="$(rbac_list "$ns" "system:serviceaccount:aoetl:aoetl-$sa" | comm -23 - <(echo "$baseline"))"
      want=""
      if [ "$sa" = etl-agent ] && [ "$ns" = aoetl-sandbox ]; then
        want="$(printf '%s\n' 'pods [] [] [create get list delete]' 'pods/attach [] [] [create get]' | sort)"
      fi
      if [ "$got" != "$want" ]; then
        echo "aoetl-$sa in $ns: has [${got//$'\n'/; }], the matrix says [${want//$'\n'/; }]"; bad=1
      fi
    done
  done
  # The same through single questions, subresources included.
  local q
  for q in "yes create pods -n aoetl-sandbox" "yes create pods --subresource=attach -n aoetl-sandbox" \
           "no create pods --subresource=exec -n aoetl-sandbox" "no get pods --subresource=log -n aoetl-sandbox" \
           "no create pods -n aoetl" "no get secrets -n aoetl-sandbox" "no list nodes"; do
    # shellcheck disable=SC2086
    got="$(k auth can-i ${q#* } --as=system:serviceaccount:aoetl:aoetl-etl-agent 2>/dev/null)"
    [ "$got" = "${q%% *}" ] || { echo "aoetl-etl-agent can-i ${q#* }: '$got', the matrix says '${q%% *}'"; bad=1; }
  done
  return "$bad"
}
if BIN="$(bash "$ROOT/deploy/tools/install-helm-tools.sh" 2>"$WORK/helm-tools.log" | tail -n 1)" && [ -x "$BIN/helm" ]; then
  HELM="$BIN/helm"
  if "$HELM" template aoetl "$ROOT/helm/aoetl" -n aoetl -f "$ROOT/helm/aoetl/ci/kubernetes-sandbox-values.yaml" \
       --set 'prerequisites.assumeApiVersions={cert-manager.io/v1}' \
       --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$WORK/rbac.yaml" 2>"$WORK/rbac.err"; then
    check "the chart's ServiceAccounts, Role and RoleBinding apply (sandbox.driver=kubernetes)" k apply -f "$WORK/rbac.yaml"
    check "RBAC per ServiceAccount equals the declared matrix (kubectl auth can-i --as=system:serviceaccount:aoetl:...)" rbac_matrix
  else
    not_ok "helm template of the chart's RBAC" "$WORK/rbac.err"
  fi
else
  not_ok "install helm (deploy/tools/install-helm-tools.sh)" "$WORK/helm-tools.log"
fi

# --- the sandbox driver: one hardened pod per chunk, through the real attach API ---------------
# The sandbox image from the local Docker engine, imported into containerd.
if timeout 10 docker info >/dev/null 2>&1; then
  t=$SECONDS
  if bash "$ROOT/deploy/cluster/images.sh" import sandbox >"$WORK/images.out" 2>"$WORK/images.log"; then
    ok "the sandbox image imported into the cluster's containerd ($((SECONDS - t)) s)"
    SANDBOX_IMAGE="$(grep '^aoetl/sandbox-python:' "$WORK/images.out" | tail -n 1)"
    token="$(k -n aoetl create token aoetl-etl-agent --duration=20m 2>"$WORK/token.log")" \
      || not_ok "a token of the etl-agent ServiceAccount" "$WORK/token.log"
    cat >"$WORK/agent.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: aoetl, cluster: {certificate-authority: $PKI/ca.crt, server: "https://$CLUSTER_NODE_IP:6443"}}]
users: [{name: etl-agent, user: {token: "$token"}}]
contexts: [{name: aoetl, context: {cluster: aoetl, user: etl-agent}}]
current-context: aoetl
EOF
    chmod 600 "$WORK/agent.kubeconfig"
    check "the Kubernetes sandbox driver runs transforms in hardened pods through the real attach API, as the chart's etl-agent" \
      bash "$CLUSTER" exec env AOETL_CLUSTER_AGENT_KUBECONFIG="$WORK/agent.kubeconfig" AOETL_CLUSTER_SANDBOX_IMAGE="$SANDBOX_IMAGE" \
        AOETL_CLUSTER_RUNTIME_CLASS=gvisor bash -c "cd '$ROOT' && pnpm exec jest --ci --selectProjects cluster --runInBand"
  else
    not_ok "build and import the sandbox image (deploy/cluster/images.sh import sandbox)" "$WORK/images.log"
  fi
else
  not_ok "the Docker engine answers (needed to build the images; deploy/local/docker.sh start)"
fi

# --- no packet left the namespace --------------------------------------------------------------
rejects="$(bash "$CLUSTER" egress-rejects 2>&1)"
if [ "$rejects" = "0 0" ]; then
  ok "no packet left the cluster's namespace: egress reject counters (IPv4 IPv6) are $rejects"
else
  echo "$rejects" >"$WORK/rejects"
  bash "$CLUSTER" exec iptables -L "$CLUSTER_EGRESS_CHAIN" -n -v -x >>"$WORK/rejects" 2>&1
  not_ok "no packet left the cluster's namespace: egress reject counters (IPv4 IPv6) are $rejects" "$WORK/rejects"
fi

finish
