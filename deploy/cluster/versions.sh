# Pinned versions and cache locations of the single-node test cluster (sourced by deploy/cluster/*.sh).
# Binaries are cached outside the clone, keyed by version: $CLUSTER_CACHE/<component>-<version>/...
K8S_VERSION="${K8S_VERSION:-v1.34.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
KNP_VERSION="${KNP_VERSION:-v0.8.0}"
CACHE_DIR="${AOETL_CACHE_DIR:-$HOME/.cache/aoetl}"
CLUSTER_CACHE="$CACHE_DIR/cluster"
CLUSTER_LOGS="$CACHE_DIR/logs"
K8S_BIN="$CLUSTER_CACHE/kubernetes-$K8S_VERSION"
ETCD_BIN="$CLUSTER_CACHE/etcd-$ETCD_VERSION"
COREDNS_BIN="$CLUSTER_CACHE/coredns-$COREDNS_VERSION"
PAUSE_BIN="$CLUSTER_CACHE/pause-$K8S_VERSION"
