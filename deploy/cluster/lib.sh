# Shared settings of the single-node test cluster (sourced by deploy/cluster/*.sh).
# Everything of the cluster lives in one network namespace ($CLUSTER_NETNS) and one mount namespace
# (pinned at $CLUSTER_STATE/ns/mnt, a slave of the host's: host mounts are seen inside, nothing done
# inside propagates out). The addresses below exist only inside that network namespace, which has
# no interface to the host: no packet of the cluster can leave it.
CLUSTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$CLUSTER_ROOT/deploy/cluster/versions.sh"

CLUSTER_NETNS="${AOETL_CLUSTER_NETNS:-aoetl-cluster}"
CLUSTER_STATE="${AOETL_CLUSTER_DIR:-$CLUSTER_ROOT/.state/cluster}"
CLUSTER_NODE_NAME=aoetl-node
CLUSTER_NODE_IF=node0                 # veth inside the namespace carrying the node IP (its peer is also inside)
CLUSTER_NODE_IP=10.200.0.2
CLUSTER_NODE_CIDR=10.200.0.0/24
CLUSTER_NODE_GW=10.200.0.1            # nobody: the default route only exists so that a stray packet meets the reject rule
CLUSTER_POD_CIDR=10.244.0.0/16
CLUSTER_POD_SUBNET=10.244.0.0/24      # the node's pod range (bridge cni0, gateway .1)
CLUSTER_SERVICE_CIDR=10.96.0.0/16
CLUSTER_DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
CLUSTER_EGRESS_CHAIN=AOETL-EGRESS     # filter chain in the namespace: rejects (and counts) every other destination
CLUSTER_CGROUP=aoetl-cluster          # kubelet cgroupRoot: every pod cgroup lives under /<controller>/aoetl-cluster

PKI="$CLUSTER_STATE/pki"
MNTNS="$CLUSTER_STATE/ns/mnt"
RUN_IN="/run/aoetl-cluster"           # inside the mount namespace (a private tmpfs on /run there)
CONTAINERD_SOCK="$RUN_IN/containerd/containerd.sock"
ADMIN_KUBECONFIG="$PKI/admin.kubeconfig"

cluster_log() { echo "cluster: $*" >&2; }
cluster_die() { echo "cluster: $*" >&2; exit 1; }

netns_exists() { [ -e "/run/netns/$CLUSTER_NETNS" ] && ip netns list | grep -qw "^$CLUSTER_NETNS"; }
mntns_exists() { [ -e "$MNTNS" ] && findmnt -rno TARGET "$MNTNS" >/dev/null 2>&1; }

# Run a command inside the cluster's network and mount namespaces.
in_cluster() { nsenter --net="/run/netns/$CLUSTER_NETNS" --mount="$MNTNS" -- "$@"; }
# Run a command inside the cluster's network namespace only (host files, cluster addresses).
in_netns() { nsenter --net="/run/netns/$CLUSTER_NETNS" -- "$@"; }

kctl() { in_netns "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
