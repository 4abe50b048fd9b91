#!/usr/bin/env bash
# A single-node Kubernetes cluster for the tests, inside its own network and mount namespaces.
#   cluster.sh up       build (cached) if needed, then start etcd, the control plane, kube-proxy (iptables),
#                       CoreDNS, containerd and the kubelet; waits for the node and DNS. A second `up` of a
#                       healthy cluster does nothing; a half-started one is torn down and started again.
#   cluster.sh down     stop everything and remove it; then checks that nothing is left behind (processes,
#                       mounts, namespaces, interfaces, cgroups, host iptables chains, host sysctls) and
#                       exits non-zero naming what is.
#   cluster.sh status   health of each component; exit 0 only when the node is Ready and DNS answers.
#   cluster.sh kubectl ARGS...   kubectl as the cluster admin, run inside the network namespace
#   cluster.sh exec CMD...       a command inside the network namespace (helm, node, curl ...)
#   cluster.sh ctr ARGS...       containerd's ctr, namespace k8s.io
#   cluster.sh egress-rejects    packets the namespace's firewall rejected for outside destinations (v4 v6)
#   cluster.sh image-from-file IMAGE FILE ENTRYPOINT   a one-file image (e.g. a static busybox) into containerd
#   cluster.sh env      shell assignments for tests (KUBECONFIG, the netns name, the binaries)
#
# What the host keeps as it was: its iptables (every rule is made inside the namespace), its sysctls
# (the kubelet's kernel tunables are written to files bound over /proc/sys inside the mount namespace;
# kube-proxy's conntrack settings are left alone) and its cgroups (every pod is under /aoetl-cluster,
# removed at `down`). Prerequisites (installed if missing): Debian's containerd, runc,
# containernetworking-plugins, iptables, conntrack, openssl, busybox-static (the test probe image).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
. "$HERE/pki.sh"

LOGS="$CLUSTER_STATE/logs"
PIDS="$CLUSTER_STATE/pids"
CFG="$CLUSTER_STATE/config"
SNAPSHOT="$CLUSTER_ROOT/.state/cluster-host-before"   # host state taken at `up`, compared at `down`
PAUSE_IMAGE="aoetl/pause:$K8S_VERSION"
# The kubelet's kernel tunables (pkg/kubelet/cm setupKernelTunables): written inside the mount namespace only.
KUBELET_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
# Host sysctls that a node could change: compared before `up` and after `down`.
HOST_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established)
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy coredns kubelet)

ensure_packages() {
  local missing=() p
  for p in containerd runc containernetworking-plugins iptables conntrack openssl busybox-static; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  cluster_log "installing ${missing[*]}"
  mkdir -p "$CACHE_DIR/logs"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
      --no-install-recommends "${missing[@]}"; } >>"$CACHE_DIR/logs/cluster-apt.log" 2>&1 \
    || cluster_die "apt-get install ${missing[*]} failed; read $CACHE_DIR/logs/cluster-apt.log"
}

host_snapshot() { # what the host looks like, for the comparison at `down`
  local s
  for s in "${HOST_SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s" 2>/dev/null || echo absent)"; done
  echo "iptables-chains: $(iptables-save 2>/dev/null | grep -c '^:' || true)"
  echo "ip6tables-chains: $(ip6tables-save 2>/dev/null | grep -c '^:' || true)"
}

pid_of() { # pid of a running component we started, or nothing
  local f="$PIDS/$1" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # It must be inside the cluster's network namespace (so never an unrelated process reusing the pid).
  [ "$(stat -Lc %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -Lc %i "/run/netns/$CLUSTER_NETNS" 2>/dev/null)" ] || return 1
  echo "$pid"
}

start() { # name binary args...: start a component in the cluster's namespaces, unless already running
  local name="$1"; shift
  pid_of "$name" >/dev/null && return 0
  setsid nsenter --net="/run/netns/$CLUSTER_NETNS" --mount="$MNTNS" -- "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name"
}

wait_for() { # description seconds command...: retry until the command succeeds
  local what="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

fail_with_logs() { # print the last lines of every component log, then fail
  local f
  for f in "$LOGS"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
  cluster_die "$*"
}

make_namespaces() {
  mkdir -p "$CLUSTER_STATE/ns" "$LOGS" "$PIDS" "$CFG" "$CLUSTER_STATE/varlog" "$CLUSTER_STATE/sysctl"
  # The mount namespace is pinned by a bind mount, which must sit on a private mount.
  if ! findmnt -rno TARGET "$CLUSTER_STATE/ns" >/dev/null 2>&1; then
    mount --bind "$CLUSTER_STATE/ns" "$CLUSTER_STATE/ns"
    mount --make-private "$CLUSTER_STATE/ns"
  fi
  if ! netns_exists; then
    [ -d /run/netns ] || touch "$CLUSTER_ROOT/.state/cluster-made-run-netns"
    ip netns add "$CLUSTER_NETNS"
  fi
  if ! mntns_exists; then
    local k f sysctl_binds=""
    for k in "${KUBELET_SYSCTLS[@]}"; do
      f="$CLUSTER_STATE/sysctl/${k//\//.}"
      cat "/proc/sys/$k" >"$f"
      sysctl_binds+="mount --bind '$f' '/proc/sys/$k'; "
    done
    touch "$MNTNS"
    # Inside: a private tmpfs on /run (CNI's netns handles, containerd's and runc's state, the shim
    # sockets, the iptables lock), the cluster's own /var/log (kubelet's /var/log/pods and
    # /var/log/containers), and the kubelet's kernel tunables on plain files.
    unshare --mount="$MNTNS" --propagation slave -- sh -ec "
      mount -t tmpfs -o mode=0755,size=512m aoetl-cluster-run /run
      mkdir -p /run/netns $RUN_IN
      mount --bind '$CLUSTER_STATE/varlog' /var/log
      $sysctl_binds
    " || cluster_die "creating the mount namespace failed"
  fi
  # Network: loopback, the node IP on a veth whose peer stays inside, a default route that leads nowhere.
  if ! in_netns ip link show "$CLUSTER_NODE_IF" >/dev/null 2>&1; then
    in_netns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_netns ip link set lo up
    in_netns ip link add "$CLUSTER_NODE_IF" type veth peer name "$CLUSTER_NODE_IF-peer"
    in_netns ip addr add "$CLUSTER_NODE_IP/${CLUSTER_NODE_CIDR#*/}" dev "$CLUSTER_NODE_IF"
    in_netns ip link set "$CLUSTER_NODE_IF-peer" up
    in_netns ip link set "$CLUSTER_NODE_IF" up
    in_netns ip route add default via "$CLUSTER_NODE_GW" dev "$CLUSTER_NODE_IF"
    in_netns sysctl -qw net.ipv4.ip_forward=1
  fi
  egress_firewall
}

# Every destination outside the cluster's own subnets is rejected, and counted, for locally made and
# forwarded packets alike (after kube-proxy's DNAT, so a Service address is already a pod or node address).
egress_firewall() {
  local ipt=(in_cluster iptables -w) ip6t=(in_cluster ip6tables -w) c
  if ! "${ipt[@]}" -L "$CLUSTER_EGRESS_CHAIN" -n >/dev/null 2>&1; then
    "${ipt[@]}" -N "$CLUSTER_EGRESS_CHAIN"
    # 224.0.0.0/24 and ff02::/16 (link-local multicast: IGMP reports, IPv6 router solicitations and MLD
    # from the pods' interfaces) and fe80::/10 never cross a router: they are not outside destinations.
    for c in 127.0.0.0/8 "$CLUSTER_NODE_CIDR" "$CLUSTER_POD_CIDR" "$CLUSTER_SERVICE_CIDR" 224.0.0.0/24; do
      "${ipt[@]}" -A "$CLUSTER_EGRESS_CHAIN" -d "$c" -j RETURN
    done
    "${ipt[@]}" -A "$CLUSTER_EGRESS_CHAIN" -m comment --comment "aoetl: outside the cluster" -j REJECT --reject-with icmp-net-prohibited
    "${ip6t[@]}" -N "$CLUSTER_EGRESS_CHAIN"
    for c in ::1/128 fe80::/10 ff02::/16; do "${ip6t[@]}" -A "$CLUSTER_EGRESS_CHAIN" -d "$c" -j RETURN; done
    "${ip6t[@]}" -A "$CLUSTER_EGRESS_CHAIN" -m comment --comment "aoetl: outside the cluster" -j REJECT
    "${ipt[@]}" -A FORWARD -i cni0 -j ACCEPT
    "${ipt[@]}" -A FORWARD -o cni0 -j ACCEPT
  fi
  # First in OUTPUT and FORWARD, ahead of kube-proxy's jumps (re-run after kube-proxy started).
  local tool
  for tool in iptables ip6tables; do
    for c in OUTPUT FORWARD; do
      while in_cluster "$tool" -w -D "$c" -j "$CLUSTER_EGRESS_CHAIN" 2>/dev/null; do :; done
      in_cluster "$tool" -w -I "$c" 1 -j "$CLUSTER_EGRESS_CHAIN"
    done
  done
}

egress_rejects() { # packets rejected by the last rule of the chain, IPv4 then IPv6
  local v4 v6
  v4="$(in_cluster iptables -w -L "$CLUSTER_EGRESS_CHAIN" -n -v -x | awk '/REJECT/ {print $1}')"
  v6="$(in_cluster ip6tables -w -L "$CLUSTER_EGRESS_CHAIN" -n -v -x | awk '/REJECT/ {print $1}')"
  echo "${v4:-missing} ${v6:-missing}"
}

make_cgroups() { # the kubelet's cgroupRoot, in every v1 hierarchy
  local d
  for d in /sys/fs/cgroup/*/; do
    [ -f "$d/cgroup.procs" ] || continue
    mkdir -p "$d$CLUSTER_CGROUP"
    if [ -f "$d/cpuset.cpus" ] && [ -z "$(cat "$d$CLUSTER_CGROUP/cpuset.cpus")" ]; then
      cat "$d/cpuset.cpus" >"$d$CLUSTER_CGROUP/cpuset.cpus"
      cat "$d/cpuset.mems" >"$d$CLUSTER_CGROUP/cpuset.mems"
    fi
  done
}

write_configs() {
  mkdir -p "$CLUSTER_STATE/containerd" "$CLUSTER_STATE/cni/net.d" "$CLUSTER_STATE/kubelet" "$CLUSTER_STATE/etcd"
  cat >"$CFG/containerd.toml" <<EOF
version = 2
root = "$CLUSTER_STATE/containerd"
state = "$RUN_IN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$RUN_IN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN_IN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_STATE/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_STATE/containerd-opt"
EOF
  cat >"$CLUSTER_STATE/cni/net.d/10-aoetl.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "aoetl",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$CLUSTER_STATE/cni/ipam",
        "ranges": [[{"subnet": "$CLUSTER_POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  printf 'search %s\nnameserver %s\n' "svc.$CLUSTER_DOMAIN" "$CLUSTER_DNS_IP" >"$CFG/resolv.conf"
  cat >"$CFG/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $CLUSTER_NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$CLUSTER_CGROUP
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $CFG/resolv.conf
podLogsDir: /var/log/pods
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
serializeImagePulls: false
maxPods: 60
rotateCertificates: false
serverTLSBootstrap: false
EOF
  cat >"$CFG/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $CLUSTER_NODE_NAME
mode: iptables
clusterCIDR: $CLUSTER_POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$CLUSTER_NODE_CIDR]
oomScoreAdj: 0
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
EOF
  cat >"$CFG/Corefile" <<EOF
.:53 {
    bind $CLUSTER_NODE_IP
    errors
    health 127.0.0.1:8081
    ready 127.0.0.1:8181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $PKI/coredns.kubeconfig aoetl
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF
}

# A docker-archive tar of a one-file image, made without an engine (the pause container).
import_file_image() { # image file-in-image entrypoint
  local ref="$1" src="$2" entry="$3" tmp layer_sha cfg_sha diff
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/root"
  install -m 0755 "$src" "$tmp/root/$(basename "$entry")"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$tmp/root" -cf "$tmp/layer.tar" .
  layer_sha="$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
  mv "$tmp/layer.tar" "$tmp/$layer_sha.tar"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["%s"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"aoetl deploy/cluster"}]}' \
    "$entry" "$layer_sha" >"$tmp/config.json"
  cfg_sha="$(sha256sum "$tmp/config.json" | cut -d' ' -f1)"
  mv "$tmp/config.json" "$tmp/$cfg_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s.tar"]}]' "$cfg_sha" "$ref" "$layer_sha" >"$tmp/manifest.json"
  tar -C "$tmp" -cf "$tmp/image.tar" manifest.json "$cfg_sha.json" "$layer_sha.tar"
  in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$tmp/image.tar" >>"$LOGS/images.log" 2>&1 \
    || { rm -rf "$tmp"; fail_with_logs "importing $ref into containerd failed"; }
  rm -rf "$tmp"
}

apply_system_objects() {
  kctl apply -f - >>"$LOGS/system-objects.log" 2>&1 <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "aoetl:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "aoetl:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "aoetl:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
# The API server's client certificate towards the kubelet (logs, exec, attach, port-forward).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "aoetl:apiserver-kubelet-client"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kubelet-api-admin"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}]
---
# CoreDNS runs on the node (a process in the cluster's namespace, not a pod): the kube-dns Service
# points at it through a manually managed EndpointSlice, so pods reach it through kube-proxy.
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: aoetl-cluster}
addressType: IPv4
endpoints:
  - addresses: [$CLUSTER_NODE_IP]
    conditions: {ready: true}
ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

node_ready() {
  [ "$(kctl get node "$CLUSTER_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

healthy() { # all components running, node Ready, DNS resolving the API service
  local c
  for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null || return 1; done
  node_ready || return 1
  dig_kubernetes
}

dig_kubernetes() { # a raw DNS query for kubernetes.default.svc.<domain> A, over UDP to the kube-dns Service
  in_netns python3 - "$CLUSTER_DNS_IP" "kubernetes.default.svc.$CLUSTER_DOMAIN" <<'PY'
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(q, (server, 53)); r, _ = s.recvfrom(512)
ident, flags, qd, an = struct.unpack(">HHHH", r[:8])
sys.exit(0 if ident == 0x4242 and flags & 0xF == 0 and an > 0 else 1)
PY
}

cmd_up() {
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || cluster_die "needs root (network and mount namespaces, cgroups)"
  if netns_exists && healthy; then cluster_log "already up (node $CLUSTER_NODE_NAME Ready)"; return 0; fi
  if netns_exists || [ -d "$CLUSTER_STATE" ]; then
    cluster_log "a previous cluster is half there: tearing it down first"
    cmd_down
  fi
  ensure_packages
  bash "$HERE/build.sh" all
  mkdir -p "$CLUSTER_ROOT/.state"
  host_snapshot >"$SNAPSHOT"
  make_namespaces
  make_cgroups
  pki_make
  write_configs

  start containerd containerd --config "$CFG/containerd.toml"
  wait_for containerd 30 in_cluster ctr --address "$CONTAINERD_SOCK" version || fail_with_logs "containerd did not start"
  import_file_image "$PAUSE_IMAGE" "$PAUSE_BIN/pause" /pause

  start etcd "$ETCD_BIN/etcd" --name aoetl --data-dir "$CLUSTER_STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster aoetl=http://127.0.0.1:2380 --log-level warn
  start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$CLUSTER_NODE_IP" --advertise-address="$CLUSTER_NODE_IP" --secure-port=6443 \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=false --profiling=false --anonymous-auth=false --enable-priority-and-fairness=false \
    --event-ttl=30m
  wait_for kube-apiserver 90 kctl get --raw /readyz || fail_with_logs "the API server did not become ready in 90 s"
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" --cluster-cidr="$CLUSTER_POD_CIDR" --profiling=false
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  # kube-proxy before any workload: Service addresses are translated in the namespace, never routed.
  start kube-proxy "$K8S_BIN/kube-proxy" --config="$CFG/kube-proxy.yaml"
  wait_for kube-proxy 60 in_netns curl -fsS http://127.0.0.1:10256/livez || fail_with_logs "kube-proxy did not become healthy"
  egress_firewall
  apply_system_objects || fail_with_logs "applying the CoreDNS RBAC and the kube-dns Service failed"
  start coredns "$COREDNS_BIN/coredns" -conf "$CFG/Corefile"
  start kubelet "$K8S_BIN/kubelet" --config="$CFG/kubelet.yaml" --kubeconfig="$PKI/kubelet.kubeconfig" \
    --hostname-override="$CLUSTER_NODE_NAME" --node-ip="$CLUSTER_NODE_IP" --root-dir="$CLUSTER_STATE/kubelet"
  wait_for node 120 node_ready \
    || { kctl describe node "$CLUSTER_NODE_NAME" >&2 || true; fail_with_logs "the node did not become Ready in 120 s"; }
  wait_for dns 60 dig_kubernetes || fail_with_logs "CoreDNS does not answer through the kube-dns Service"
  egress_firewall
  cluster_log "up in $((SECONDS - t0)) s: node $CLUSTER_NODE_NAME Ready, DNS answers; kubectl: $0 kubectl ..."
}

kill_all() { # every process of the cluster: pods (by cgroup), then everything in the network namespace
  local pids round
  for round in 1 2 3 4 5 6 7 8 9 10; do
    pids="$( { find /sys/fs/cgroup/*/"$CLUSTER_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null || true
      netns_exists && ip netns pids "$CLUSTER_NETNS" 2>/dev/null || true; } | sort -u)"
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    if [ "$round" -le 3 ]; then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 1
  done
  cluster_log "processes still alive after SIGKILL: $pids"
}

remove_cgroups() { # retried: a cgroup whose last task is still exiting cannot be removed yet
  local d try
  for try in $(seq 1 20); do
    for d in /sys/fs/cgroup/*/"$CLUSTER_CGROUP"; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    ls -d /sys/fs/cgroup/*/"$CLUSTER_CGROUP" >/dev/null 2>&1 || return 0
    [ "$try" = 5 ] && kill_all
    sleep 0.5
  done
}

cmd_down() {
  local t0=$SECONDS pid
  # The kubelet first (it would restart containers), then everything else.
  if pid="$(pid_of kubelet)"; then kill -TERM "$pid" 2>/dev/null || true; fi
  kill_all
  remove_cgroups
  # Mounts made inside the mount namespace die with it: unpin it, then the private bind that held it.
  if [ -e "$MNTNS" ]; then umount "$MNTNS" 2>/dev/null || true; fi
  if findmnt -rno TARGET "$CLUSTER_STATE/ns" >/dev/null 2>&1; then umount "$CLUSTER_STATE/ns" 2>/dev/null || true; fi
  if netns_exists; then ip netns del "$CLUSTER_NETNS"; fi
  if [ -f "$CLUSTER_ROOT/.state/cluster-made-run-netns" ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true
  fi
  rm -f "$CLUSTER_ROOT/.state/cluster-made-run-netns"
  if [ -d "$CLUSTER_STATE" ] && ! grep -qs " $CLUSTER_STATE" /proc/self/mountinfo; then rm -rf "$CLUSTER_STATE"; fi
  check_nothing_left
  cluster_log "down in $((SECONDS - t0)) s; nothing left behind"
}

check_nothing_left() {
  local left=() p comm
  netns_exists && left+=("network namespace $CLUSTER_NETNS")
  ls /sys/fs/cgroup/*/"$CLUSTER_CGROUP" >/dev/null 2>&1 && left+=("cgroups /sys/fs/cgroup/*/$CLUSTER_CGROUP")
  grep -qs "$CLUSTER_STATE" /proc/self/mountinfo && left+=("mounts under $CLUSTER_STATE")
  [ -d "$CLUSTER_STATE" ] && left+=("directory $CLUSTER_STATE")
  # Processes: a binary of the cluster's build, or one whose command line names the cluster's state
  # (containerd's config) or its containerd socket (the shims); another engine's containerd is neither.
  for p in /proc/[0-9]*; do
    comm="$(readlink "$p/exe" 2>/dev/null)" || continue
    if [[ "$comm" == "$CLUSTER_CACHE"/* ]] || grep -qsaF -e "$CLUSTER_STATE" -e "$RUN_IN/" "$p/cmdline"; then
      [ "${p#/proc/}" = "$$" ] || left+=("process ${p#/proc/} ($comm)")
    fi
  done
  ip link show cni0 >/dev/null 2>&1 && left+=("interface cni0 on the host")
  iptables-save 2>/dev/null | grep -qE "^:(KUBE-|CNI-|$CLUSTER_EGRESS_CHAIN)" && left+=("host iptables chains KUBE-/CNI-/$CLUSTER_EGRESS_CHAIN")
  if [ -f "$SNAPSHOT" ]; then
    local now; now="$(host_snapshot)"
    if [ "$now" != "$(cat "$SNAPSHOT")" ]; then
      left+=("host sysctls or iptables changed: $(diff <(cat "$SNAPSHOT") <(echo "$now") | grep '^[<>]' | tr '\n' ' ')")
    fi
  fi
  if [ "${#left[@]}" -gt 0 ]; then
    printf 'cluster: left behind: %s\n' "${left[@]}" >&2
    return 1
  fi
  rm -f "$SNAPSHOT"
}

cmd_status() {
  local c ok=0 pid
  for c in "${COMPONENTS[@]}"; do
    if pid="$(pid_of "$c" 2>/dev/null)"; then echo "$c: running (pid $pid)"; else echo "$c: not running"; ok=1; fi
  done
  if netns_exists; then
    echo "node: $(kctl get node "$CLUSTER_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo unknown) (Ready)"
    if dig_kubernetes 2>/dev/null; then echo "dns: answers"; else echo "dns: no answer"; ok=1; fi
    echo "egress rejects (v4 v6): $(egress_rejects)"
  else
    echo "network namespace $CLUSTER_NETNS: absent"; ok=1
  fi
  healthy || ok=1
  return "$ok"
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0   # sourced (tests): functions only
case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubectl) shift; kctl "$@" ;;
  exec) shift; in_netns "$@" ;;
  ctr) shift; in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@" ;;
  egress-rejects) egress_rejects ;;
  image-from-file) shift; [ "$#" = 3 ] || cluster_die "usage: $0 image-from-file IMAGE FILE ENTRYPOINT"; import_file_image "$@" ;;
  env)
    printf 'KUBECONFIG=%q\nAOETL_CLUSTER_NETNS=%q\nAOETL_CLUSTER_KUBECTL=%q\n' "$ADMIN_KUBECONFIG" "$CLUSTER_NETNS" "$K8S_BIN/kubectl" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
