# Certificates and kubeconfigs of the test cluster (sourced by cluster.sh; needs lib.sh).
# One throw-away CA per cluster (made at `up`, removed at `down`); EC P-256 keys; 30 days.
# Each component gets its own identity: least privilege through the Node authorizer and RBAC's
# bootstrap roles (system:kube-controller-manager, system:kube-scheduler, system:node-proxier, ...).

pki_issue() { # name CN O kind(client|server|both) [subjectAltName]
  local name="$1" cn="$2" o="$3" kind="$4" san="${5:-}" ext usage subj="/CN=$2"
  [ -s "$PKI/$name.crt" ] && return 0
  [ -n "$o" ] && subj="/O=$o$subj"
  case "$kind" in
    client) usage=clientAuth ;;
    server) usage=serverAuth ;;
    both) usage=serverAuth,clientAuth ;;
  esac
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [ -n "$san" ] && ext+="
subjectAltName=$san"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.crt" 2>/dev/null \
    || cluster_die "issuing the $name certificate failed"
  rm -f "$PKI/$name.csr"
  chmod 600 "$PKI/$name.key"
}

pki_kubeconfig() { # name (certificate $name.crt/.key)
  cat >"$PKI/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: aoetl
    cluster:
      certificate-authority: $PKI/ca.crt
      server: https://$CLUSTER_NODE_IP:6443
users:
  - name: $1
    user:
      client-certificate: $PKI/$1.crt
      client-key: $PKI/$1.key
contexts:
  - name: aoetl
    context: {cluster: aoetl, user: $1}
current-context: aoetl
EOF
  chmod 600 "$PKI/$1.kubeconfig"
}

pki_make() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  if [ ! -s "$PKI/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=aoetl test cluster CA" -days 30 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$PKI/ca.crt" 2>/dev/null || cluster_die "creating the cluster CA failed"
    chmod 600 "$PKI/ca.key"
  fi
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    chmod 600 "$PKI/sa.key"
  fi
  local svc_ip="${CLUSTER_SERVICE_CIDR%%/*}"; svc_ip="${svc_ip%.*}.1"
  pki_issue apiserver kube-apiserver "" server \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,IP:$svc_ip,IP:$CLUSTER_NODE_IP,IP:127.0.0.1"
  pki_issue apiserver-kubelet-client kube-apiserver-kubelet-client "" client
  pki_issue kubelet-server "$CLUSTER_NODE_NAME" "" server "DNS:$CLUSTER_NODE_NAME,IP:$CLUSTER_NODE_IP"
  pki_issue admin aoetl-cluster-admin system:masters client
  pki_issue kubelet "system:node:$CLUSTER_NODE_NAME" system:nodes client
  pki_issue controller-manager system:kube-controller-manager "" client
  pki_issue scheduler system:kube-scheduler "" client
  pki_issue kube-proxy system:kube-proxy "" client
  pki_issue coredns system:coredns "" client
  local k
  for k in admin kubelet controller-manager scheduler kube-proxy coredns; do pki_kubeconfig "$k"; done
}
