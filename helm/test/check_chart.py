#!/usr/bin/env python3
"""Checks on the rendered aoetl chart (used by helm/test/run.sh; needs PyYAML).

  check_chart.py pod-security RENDERED.yaml   restricted Pod Security fields on every pod template,
                                              service-account tokens only where the API is used
  check_chart.py rbac RENDERED.yaml           RBAC is the minimal set the issue allows
  check_chart.py values-docs VALUES.yaml      every value has a `## @param <path>` line and vice versa
  check_chart.py mutate IN.yaml OUT.yaml OP   write a deliberately broken copy of the rendered output
        OP = drop-policy:<name> | drop-quarantine-exclusion
  check_chart.py ignores RENDERED.yaml        list "kind/name check" for every kube-score/ignore annotation
  check_chart.py metrics-emitted RENDERED.yaml SRC_DIR...   every aoetl_* series the PrometheusRule and
                                              the dashboard ConfigMap use is a metric the code registers
  check_chart.py least-privilege RENDERED.yaml FACTS.json   what each service gets (mounted Secrets and
                                              files, Vault policy/role/token, API token and RBAC, egress
                                              flows) is derived from what its config schema reads
                                              (FACTS.json = node config-contract.mjs --facts); extras fail
  check_chart.py container-env RENDERED.yaml  JSON: the environment each service container gets (ConfigMaps
                                              by envFrom, env values, fieldRef/secretKeyRef by reference),
                                              read by config-contract.mjs
  check_chart.py k8s-bootstrap K8S_DIR VALUES.yaml   k8s/ agrees with the chart: PSA restricted on both
                                              namespaces, the gVisor RuntimeClass, the sandbox admission policy

Exit status 0 = all good; 1 = findings (printed one per line).
"""
import glob
import json
import os
import re
import sys

import yaml

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
RELEASE_UID = 65532


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("kind")]


def pod_spec(doc):
    kind = doc["kind"]
    if kind == "Pod":
        return doc.get("spec", {})
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc):
    if doc["kind"] == "Pod":
        return doc["metadata"].get("labels", {})
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def effective(container_sc, pod_sc, key):
    if key in container_sc:
        return container_sc[key]
    return pod_sc.get(key)


def check_pod_security(docs):
    problems, checked = [], 0
    driver = None
    for d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-etl-agent"):
            driver = d.get("data", {}).get("AOETL_SANDBOX_DRIVER")
    api_users = set()
    for d in docs:
        if d["kind"] == "RoleBinding":
            for s in d.get("subjects", []):
                api_users.add(s["name"])
    for d in docs:
        if d["kind"] not in POD_KINDS:
            continue
        checked += 1
        where = f'{d["kind"]}/{d["metadata"]["name"]}'
        spec = pod_spec(d)
        psc = spec.get("securityContext") or {}
        component = pod_labels(d).get("app.kubernetes.io/component", "")

        def bad(msg):
            problems.append(f"{where}: {msg}")

        for host in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
            if host == "hostUsers":
                continue
            if spec.get(host):
                bad(f"{host} must not be set")
        if psc.get("runAsNonRoot") is not True:
            bad("pod securityContext.runAsNonRoot must be true")
        if psc.get("runAsUser") != RELEASE_UID:
            bad(f"pod securityContext.runAsUser must be {RELEASE_UID}, got {psc.get('runAsUser')}")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            bad("pod securityContext.seccompProfile.type must be RuntimeDefault")
        for v in spec.get("volumes", []):
            types = set(v) - {"name"}
            if not types <= RESTRICTED_VOLUME_TYPES:
                bad(f"volume {v['name']} uses {sorted(types - RESTRICTED_VOLUME_TYPES)}, not allowed by the restricted profile")
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        containers = spec.get("initContainers", []) + spec.get("containers", [])
        if not containers:
            bad("no containers")
        for c in containers:
            cw = f"container {c['name']}"
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                bad(f"{cw}: allowPrivilegeEscalation must be false")
            if sc.get("privileged"):
                bad(f"{cw}: privileged must not be true")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                bad(f"{cw}: capabilities.drop must contain ALL")
            if caps.get("add"):
                bad(f"{cw}: capabilities.add must be empty, got {caps['add']}")
            if sc.get("readOnlyRootFilesystem") is not True:
                bad(f"{cw}: readOnlyRootFilesystem must be true")
            if effective(sc, psc, "runAsNonRoot") is not True:
                bad(f"{cw}: runAsNonRoot must be true")
            uid = effective(sc, psc, "runAsUser")
            if uid in (None, 0):
                bad(f"{cw}: runAsUser must be set and non-zero")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                bad(f"{cw}: seccompProfile must be RuntimeDefault or Localhost")
            for p in c.get("ports", []):
                if p.get("hostPort"):
                    bad(f"{cw}: hostPort must not be set")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if mounts.get("/tmp") not in tmp_volumes:
                bad(f"{cw}: /tmp must be an emptyDir (the root filesystem is read-only)")
            res = c.get("resources") or {}
            for kind_ in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind_) or {}):
                        bad(f"{cw}: resources.{kind_}.{r} must be set")
        # Service-account tokens only where the Kubernetes API is used.
        token = spec.get("automountServiceAccountToken")
        sa = spec.get("serviceAccountName", "default")
        may_use_api = component == "etl-agent" and driver == "kubernetes" and sa in api_users
        if token is None:
            bad("automountServiceAccountToken must be set explicitly")
        elif token and not may_use_api:
            bad(f"automountServiceAccountToken is true for component {component!r}, which does not use the Kubernetes API")
        elif not token and component == "etl-agent" and driver == "kubernetes":
            bad("the etl-agent needs its API token with the kubernetes sandbox driver")
    for d in docs:
        if d["kind"] == "ServiceAccount":
            comp = d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            auto = d.get("automountServiceAccountToken")
            allowed = comp == "etl-agent" and driver == "kubernetes"
            if auto is None or (auto and not allowed):
                problems.append(f"ServiceAccount/{d['metadata']['name']}: automountServiceAccountToken must be false (got {auto})")
    if checked == 0:
        problems.append("no pod template found in the rendered output")
    return problems, checked


def check_rbac(docs):
    problems = []
    driver, sandbox_ns = None, None
    for d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-etl-agent"):
            driver = d["data"].get("AOETL_SANDBOX_DRIVER")
            sandbox_ns = d["data"].get("AOETL_SANDBOX_NAMESPACE")
    allowed = {
        # (component, namespace) -> {resource: verbs}
        ("etl-agent", sandbox_ns): {"pods": {"create", "get", "list", "delete"}, "pods/attach": {"create", "get"}},
    }
    seen = set()
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in ("ClusterRole", "ClusterRoleBinding"):
            problems.append(f"{kind}/{name}: no cluster-wide RBAC is allowed")
        if kind != "Role":
            continue
        comp = d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        ns = d["metadata"]["namespace"]
        key = (comp, ns)
        if comp == "etl-agent" and driver != "kubernetes":
            problems.append(f"Role/{name}: the etl-agent gets a Role only with the kubernetes sandbox driver")
        if key not in allowed:
            problems.append(f"Role/{name}: component {comp} may not have a Role in namespace {ns}")
            continue
        seen.add(key)
        for rule in d.get("rules", []):
            if rule.get("apiGroups") != [""]:
                problems.append(f"Role/{name}: only the core API group is allowed, got {rule.get('apiGroups')}")
            for res in rule.get("resources", []):
                verbs = set(rule.get("verbs", []))
                if "*" in verbs or res == "*" or res not in allowed[key] or not verbs <= allowed[key][res]:
                    problems.append(f"Role/{name}: {res} {sorted(verbs)} exceeds {sorted(allowed[key].get(res, set()))}")
    if driver == "kubernetes" and ("etl-agent", sandbox_ns) not in seen:
        problems.append("the kubernetes sandbox driver needs the etl-agent Role in the sandbox namespace")
    return problems


def flatten(values, prefix=""):
    """Leaf paths of values.yaml; an empty map/list, a list, or a scalar is a leaf."""
    out = []
    if isinstance(values, dict) and values:
        for k, v in values.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else k)
    else:
        out.append(prefix)
    return out


def check_values_docs(path):
    text = open(path, encoding="utf-8").read()
    values = yaml.safe_load(text)
    documented = set(re.findall(r"^\s*## @param (\S+)", text, re.M))
    leaves = set(flatten(values))

    def covered(leaf):
        if leaf in documented:
            return True
        # A map documented as a whole (a label selector, say) covers its contents, provided none
        # of its descendants is documented separately.
        parts = leaf.split(".")
        for i in range(len(parts) - 1, 0, -1):
            anc = ".".join(parts[:i])
            if anc in documented:
                return not any(d.startswith(anc + ".") for d in documented)
        return False

    problems = [f"value {p} has no '## @param {p}' line" for p in sorted(leaves) if not covered(p)]
    # A @param may document a map as a whole (e.g. a selector); it must name an existing path.
    for p in sorted(documented):
        node = values
        for part in p.split("."):
            if not isinstance(node, dict) or part not in node:
                problems.append(f"'## @param {p}' names no value")
                break
            node = node[part]
    return problems, len(leaves)


def mutate(src, dst, op):
    docs = load(src)
    out = []
    changed = 0
    if op.startswith("drop-policy:"):
        target = op.split(":", 1)[1]
        for d in docs:
            if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == target:
                changed += 1
                continue
            out.append(d)
    elif op == "drop-quarantine-exclusion":
        # What a careless edit would do: allow policies stop excluding quarantined pods and the
        # quarantine policy is gone.
        for d in docs:
            if d["kind"] == "NetworkPolicy":
                if d["metadata"]["name"].endswith("-quarantine"):
                    changed += 1
                    continue
                sel = d["spec"].get("podSelector") or {}
                exprs = sel.get("matchExpressions") or []
                kept = [e for e in exprs if not e["key"].endswith("quarantine")]
                if len(kept) != len(exprs):
                    changed += 1
                    sel["matchExpressions"] = kept
            out.append(d)
    else:
        raise SystemExit(f"unknown mutation {op}")
    if not changed:
        raise SystemExit(f"mutation {op} changed nothing")
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(out, f, sort_keys=False)
    print(f"mutation {op}: {changed} change(s)")


def ignores(docs):
    rows = []
    for d in docs:
        ann = (d.get("metadata") or {}).get("annotations") or {}
        for check in filter(None, (ann.get("kube-score/ignore") or "").split(",")):
            rows.append(f'{d["kind"]}/{d["metadata"]["name"]} {check.strip()}')
    return rows


def check_k8s_bootstrap(k8s_dir, values_path):
    values = yaml.safe_load(open(values_path, encoding="utf-8"))
    sandbox_ns = values["sandbox"]["kubernetes"]["namespace"]
    runtime_class = values["sandbox"]["kubernetes"]["runtimeClassName"]
    docs = []
    for f in sorted(glob.glob(os.path.join(k8s_dir, "*.yaml"))):
        docs += load(f)
    problems = []
    namespaces = {d["metadata"]["name"]: d["metadata"].get("labels", {}) for d in docs if d["kind"] == "Namespace"}
    for ns in ("aoetl", sandbox_ns):
        labels = namespaces.get(ns)
        if labels is None:
            problems.append(f"namespace {ns} is missing")
            continue
        for mode in ("enforce", "audit", "warn"):
            if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
                problems.append(f"namespace {ns}: pod-security.kubernetes.io/{mode} must be restricted")
    rcs = [d for d in docs if d["kind"] == "RuntimeClass" and d["metadata"]["name"] == runtime_class]
    if not rcs or rcs[0].get("handler") != "runsc":
        problems.append(f"RuntimeClass {runtime_class} with handler runsc is missing")
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    if not any(
        (b["spec"].get("matchResources", {}).get("namespaceSelector", {}).get("matchLabels", {}) or {}).get(
            "kubernetes.io/metadata.name") == sandbox_ns for b in bindings):
        problems.append(f"no ValidatingAdmissionPolicyBinding for namespace {sandbox_ns}")
    policies = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    if not any(f"'{runtime_class}'" in json.dumps(p) for p in policies):
        problems.append(f"the sandbox admission policy does not pin runtimeClassName {runtime_class}")
    return problems


METRIC_RE = re.compile(r"\baoetl_[a-z0-9_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metrics_emitted(docs, src_dirs):
    """Series names in the PrometheusRule and the dashboard that no metric of the code defines."""
    used = set()
    for d in docs:
        if d["kind"] == "PrometheusRule":
            used |= set(METRIC_RE.findall(json.dumps(d["spec"])))
        elif d["kind"] == "ConfigMap" and (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1":
            for text in (d.get("data") or {}).values():
                used |= set(METRIC_RE.findall(text))
    defined = set()
    for src in src_dirs:
        for path in glob.glob(os.path.join(src, "**", "*.ts"), recursive=True):
            if path.endswith(".test.ts"):
                continue
            text = open(path, encoding="utf-8").read()
            # prom-client metrics are declared with name: 'aoetl_...'
            defined |= set(re.findall(r"name:\s*['\"](aoetl_[a-z0-9_]+)['\"]", text))
    def base(name):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in defined:
                return name[: -len(suffix)]
        return name
    missing = sorted(n for n in used if base(n) not in defined)
    return used, defined, missing


SERVICE_COMPONENTS = ("agent-gateway", "orchestrator", "etl-agent", "monitor")


def container_env(docs):
    """[{workload, component, container, env: {KEY: {"source": ..., "value": str | None}}}] of every
    container of the four service Deployments. A Secret or ConfigMap whose keys the render does not
    show (envFrom secretRef, or a ConfigMap that is not in the render) is an error: the contract
    test must see every variable."""
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    out, problems = [], []
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        comp = (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
        if comp not in SERVICE_COMPONENTS:
            continue
        for c in pod_spec(d).get("containers", []):
            env, where = {}, f'Deployment/{d["metadata"]["name"]} container {c["name"]}'
            for src in c.get("envFrom") or []:
                prefix = src.get("prefix", "")
                if "configMapRef" in src:
                    name = src["configMapRef"]["name"]
                    if name not in config_maps:
                        problems.append(f"{where}: envFrom ConfigMap {name} is not part of the chart")
                        continue
                    for k, v in config_maps[name].items():
                        env[prefix + k] = {"source": f"configMap/{name}", "value": str(v)}
                else:
                    problems.append(f"{where}: envFrom {sorted(src)} hides its keys from the contract test; use files or env entries")
            for e in c.get("env") or []:
                vf = e.get("valueFrom")
                if vf is None:
                    env[e["name"]] = {"source": "env", "value": str(e.get("value", ""))}
                elif "secretKeyRef" in vf:
                    env[e["name"]] = {"source": f'secret/{vf["secretKeyRef"]["name"]}:{vf["secretKeyRef"]["key"]}', "value": None}
                else:
                    env[e["name"]] = {"source": "/".join(sorted(vf)), "value": None}
            out.append({"workload": d["metadata"]["name"], "component": comp, "container": c["name"], "env": env})
    found = {o["component"] for o in out}
    for comp in SERVICE_COMPONENTS:
        if comp not in found:
            problems.append(f"no Deployment of component {comp} in the rendered output")
    return out, problems


def netpol_components(policy):
    """Component names a NetworkPolicy of the release selects (None = every pod of the release)."""
    for e in (policy["spec"].get("podSelector") or {}).get("matchExpressions") or []:
        if e["key"] == "app.kubernetes.io/component" and e["operator"] == "In":
            return set(e["values"])
    return None


def check_least_privilege(docs, facts):
    """Extras only: a grant the service's own config gives no reason for."""
    problems = []
    envs, _ = container_env(docs)
    env_of = {e["component"]: e["env"] for e in envs}
    declared = {c: set(f["declared"]) for c, f in facts.items()}
    secrets = {c: set(f["secrets"]) for c, f in facts.items()}
    driver = ((env_of.get("etl-agent") or {}).get("AOETL_SANDBOX_DRIVER") or {}).get("value")
    # What each service's code reads, hence may be granted.
    needs = {
        "vault": {c for c in declared if "AOETL_VAULT_ADDR" in declared[c]},
        "postgres": {c for c in declared if "AOETL_DATABASE_URL" in declared[c]} | {"migrations"},
        "oidc": {c for c in declared if "AOETL_OIDC_ISSUER" in declared[c]},
        "redis": {c for c in declared if "AOETL_REDIS_URL" in declared[c]},
        "docker": {c for c in declared if "AOETL_DOCKER_HOST" in declared[c]},
        "kube-apiserver": {c for c in declared if "AOETL_SANDBOX_NAMESPACE" in declared[c] and driver == "kubernetes"},
    }
    flows = {"to-vault": "vault", "to-postgres": "postgres", "gateway-to-oidc": "oidc", "to-redis": "redis",
             "etl-agent-to-docker": "docker", "to-kube-apiserver": "kube-apiserver"}
    seen_flows = set()
    for d in docs:
        if d["kind"] != "NetworkPolicy":
            continue
        name = d["metadata"]["name"]
        for suffix, need in flows.items():
            if name.endswith("-" + suffix):
                seen_flows.add(suffix)
                comps = netpol_components(d)
                if comps is None:
                    problems.append(f"NetworkPolicy/{name}: opens {need} to every pod of the release")
                    continue
                for c in sorted(comps - needs[need]):
                    problems.append(f"NetworkPolicy/{name}: {c} may reach {need}, but its config does not read it")
    if "to-redis" not in seen_flows:
        problems.append("no to-redis NetworkPolicy found: the flow names changed, update check_least_privilege")
    # Vault: the setup ConfigMap's policies and roles.
    for d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-vault-setup"):
            for key in d.get("data") or {}:
                m = re.match(r"policy-(.+)\.hcl$", key)
                if m and m.group(1) not in needs["vault"]:
                    problems.append(f"ConfigMap/{d['metadata']['name']}: Vault policy for {m.group(1)}, whose config has no Vault")
    # Kubernetes API: tokens and RBAC.
    for d in docs:
        kind = d["kind"]
        comp = (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
        if kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding") and comp not in needs["kube-apiserver"]:
            problems.append(f"{kind}/{d['metadata']['name']}: {comp} gets Kubernetes API rights its config gives no reason for")
        if kind == "Deployment" and comp in declared:
            spec = pod_spec(d)
            if spec.get("automountServiceAccountToken") and comp not in needs["kube-apiserver"]:
                problems.append(f"Deployment/{d['metadata']['name']}: API token mounted, but {comp} does not use the Kubernetes API")
            # Mounted Secrets and files: every mount is named by a variable the service's schema declares,
            # and every file of the component Secret by the _FILE form of a secret of its schema.
            env = env_of.get(comp, {})
            values = [str(v["value"]) for k, v in env.items() if k in declared[comp] or k[:-5] in secrets[comp] and k.endswith("_FILE")]
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for c in spec.get("containers", []):
                for m in c.get("volumeMounts", []):
                    if m["mountPath"] == "/tmp":
                        continue
                    if not any(m["mountPath"].rstrip("/") + "/" in v for v in values):
                        problems.append(f"Deployment/{d['metadata']['name']}: volume {m['name']} at {m['mountPath']} is read by no setting of {facts[comp]['schema']}")
                    vol = volumes.get(m["name"], {})
                    if m["mountPath"] == "/etc/aoetl/secrets" and "secret" in vol:
                        for item in vol["secret"].get("items", []):
                            path = f"/etc/aoetl/secrets/{item['path']}"
                            readers = [k for k, v in env.items() if v["value"] == path and k.endswith("_FILE") and k[:-5] in secrets[comp]]
                            if not readers:
                                problems.append(f"Deployment/{d['metadata']['name']}: secret file {item['path']} (key {item['key']}) is read by no secret of {facts[comp]['schema']}")
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "pod-security":
        problems, n = check_pod_security(load(argv[2]))
        for p in problems:
            print(p)
        print(f"pod-security: {n} pod template(s), {len(problems)} problem(s)")
        return 1 if problems else 0
    if cmd == "rbac":
        problems = check_rbac(load(argv[2]))
        for p in problems:
            print(p)
        print(f"rbac: {len(problems)} problem(s)")
        return 1 if problems else 0
    if cmd == "values-docs":
        problems, n = check_values_docs(argv[2])
        for p in problems:
            print(p)
        print(f"values-docs: {n} value(s), {len(problems)} problem(s)")
        return 1 if problems else 0
    if cmd == "mutate":
        mutate(argv[2], argv[3], argv[4])
        return 0
    if cmd == "k8s-bootstrap":
        problems = check_k8s_bootstrap(argv[2], argv[3])
        for p in problems:
            print(p)
        print(f"k8s-bootstrap: {len(problems)} problem(s)")
        return 1 if problems else 0
    if cmd == "metrics-emitted":
        used, defined, missing = metrics_emitted(load(argv[2]), argv[3:])
        for m in missing:
            print(f"{m} is used by the PrometheusRule or the dashboard but no code registers it")
        print(f"metrics-emitted: {len(used)} series used, {len(defined)} metric(s) registered by the code, {len(missing)} missing")
        return 1 if missing or not used else 0
    if cmd == "least-privilege":
        problems = check_least_privilege(load(argv[2]), json.load(open(argv[3], encoding="utf-8")))
        for p in problems:
            print(p)
        print(f"least-privilege: {len(problems)} grant(s) beyond what the services' configs read")
        return 1 if problems else 0
    if cmd == "container-env":
        envs, problems = container_env(load(argv[2]))
        for p in problems:
            print(p, file=sys.stderr)
        print(json.dumps(envs, indent=1))
        return 1 if problems else 0
    if cmd == "ignores":
        for r in ignores(load(argv[2])):
            print(r)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
