#!/usr/bin/env bash
# A local Kubernetes control plane with tke-apiserver aggregated into it, all on 127.0.0.1:
# etcd, kube-apiserver, kube-controller-manager (built from the Go modules of hack/kube by
# build.sh) and tke-apiserver, registered with the APIService objects of hack/deploy.
#
#   hack/kube/up.sh DIR      # then: export KUBECONFIG=DIR/kube.kubeconfig; kubectl get projects
#   hack/kube/down.sh DIR    # stops everything up.sh started
#
# DIR receives the PKI (pki/), the data of etcd and tke-apiserver, logs/*.log, pids, and:
#   kube.kubeconfig   kube-apiserver, as kubernetes-admin (system:masters)
#   tke.kubeconfig    tke-apiserver directly, as its bootstrap admin
#   env               KUBE_SERVER KUBE_CA_FILE KUBE_TOKEN (cluster-admin service account, to import
#                     this cluster as a member cluster) TKE_SERVER TKE_CA_FILE TKE_TOKEN, and the
#                     two kubeconfig paths; one KEY='value' a line, for `source DIR/env`.
# A DIR from an earlier run is reused (PKI, etcd and tke data); ports are chosen afresh.
#
# Environment:
#   TKE_DATABASE_URL   PostgreSQL for tke-apiserver (default: its embedded one in DIR/tke/postgres)
#   TKE_KUBE_CACHE     where build.sh keeps the binaries
#   TKE_UP_TIMEOUT     seconds to wait for each component (default 180)
#   TKE_UP_ONLY=kube   etcd and kube-apiserver alone (RBAC, no webhooks to tke-apiserver), for
#                      measuring kube-apiserver itself (hack/bench): no tke-apiserver, no
#                      kube-controller-manager, no registration. DIR/env then holds KUBE_SERVER,
#                      KUBE_CA_FILE, KUBE_KUBECONFIG and ETCD_SERVER (etcd's plain-HTTP client URL).
#   TKE_UP_ETCD_FSYNC=1  etcd syncs its log to disk as in production (default: --unsafe-no-fsync)
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/hack/kube"
die() { echo "hack/kube/up.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: hack/kube/up.sh DIR"
for tool in openssl setsid kubectl node curl base64; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not installed"
done
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
case "$dir" in *"'"*|*" "*) die "DIR must not contain spaces or quotes: $dir" ;; esac
timeout_s="${TKE_UP_TIMEOUT:-180}"
only="${TKE_UP_ONLY:-}"
case "$only" in ""|kube) ;; *) die "TKE_UP_ONLY must be empty or kube, not $only" ;; esac
cd "$repo"

if [ -s "$dir/pids" ]; then
  while read -r _ pgid; do
    if kill -0 -- "-$pgid" 2>/dev/null; then die "$dir is in use by a running control plane (process group $pgid); run hack/kube/down.sh $dir first"; fi
  done < "$dir/pids"
  rm -f "$dir/pids"
fi

bin="$("$here/build.sh")" || die "building etcd, kube-apiserver and kube-controller-manager failed (see the messages above)"
for b in etcd kube-apiserver kube-controller-manager; do [ -x "$bin/$b" ] || die "build.sh did not produce $bin/$b"; done

pki="$dir/pki" logs="$dir/logs" tkedata="$dir/tke"
mkdir -p "$pki" "$logs" "$tkedata" "$dir/etcd"
chmod 700 "$dir" "$pki" "$tkedata" "$dir/etcd"

# Anything that fails from here on leaves nothing running behind.
started=0
cleanup_on_error() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$started" -eq 1 ]; then
    echo "hack/kube/up.sh: failed; stopping what was started. Logs are in $logs:" >&2
    for f in "$logs"/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
    "$here/down.sh" "$dir" >&2 || true
  fi
}
trap cleanup_on_error EXIT

# ---------------------------------------------------------------------------------------------
# PKI, made once per DIR.

ca() { # name CN
  [ -s "$pki/$1.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$pki/$1.key" -out "$pki/$1.crt" 2>/dev/null
}
cert() { # ca name subject extensions
  [ -s "$pki/$2.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "$3" -keyout "$pki/$2.key" -out "$pki/$2.csr" 2>/dev/null
  printf '%b\n' "$4" > "$pki/$2.ext"
  openssl x509 -req -in "$pki/$2.csr" -CA "$pki/$1.crt" -CAkey "$pki/$1.key" -CAcreateserial -days 825 \
    -extfile "$pki/$2.ext" -out "$pki/$2.crt" 2>/dev/null
  rm -f "$pki/$2.csr" "$pki/$2.ext"
}
client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
server='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth'

ca ca kubernetes-ca
ca front-proxy-ca front-proxy-ca
ca tke-ca tke-apiserver-ca
cert ca apiserver /CN=kube-apiserver "$server\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert ca admin "/O=system:masters/CN=kubernetes-admin" "$client"
cert ca controller-manager /CN=system:kube-controller-manager "$client"
cert front-proxy-ca front-proxy-client /CN=front-proxy-client "$client"
# kube-apiserver's aggregator checks the name of the APIService's Service, whatever address it dials.
cert tke-ca tke-apiserver /CN=tke-apiserver "$server\nsubjectAltName=DNS:tke-apiserver.tke.svc,DNS:tke-apiserver.tke,DNS:tke-apiserver,DNS:localhost,IP:127.0.0.1"
if [ ! -s "$pki/sa.key" ]; then
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
# tke-apiserver serves its certificate with the CA after it, so its admin.kubeconfig carries the CA.
cat "$pki/tke-apiserver.crt" "$pki/tke-ca.crt" > "$pki/tke-apiserver-chain.crt"
chmod 600 "$pki"/*.key

# The bootstrap admin token of tke-apiserver is made here, not at its first start, so that
# kube-apiserver's webhook configuration can carry it before tke-apiserver runs.
if [ ! -s "$tkedata/admin.token" ]; then
  (umask 077; openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n' > "$tkedata/admin.token")
fi
tke_token="$(cat "$tkedata/admin.token")"

# ---------------------------------------------------------------------------------------------
# Ports and configuration files.

read -r etcd_port etcd_peer_port kube_port tke_port < <(node -e '
  const net = require("node:net");
  // All listeners stay open until every port is known, so the four are distinct.
  const servers = [0, 1, 2, 3].map(() => net.createServer());
  Promise.all(servers.map(s => new Promise(r => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
    .then(ports => { console.log(ports.join(" ")); servers.forEach(s => s.close()); });
')
kube_url="https://127.0.0.1:$kube_port"
tke_url="https://127.0.0.1:$tke_port"

b64() { base64 -w0 < "$1"; }
kubeconfig() { # file server ca-file user-yaml(indented 4)
  (umask 077; cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $2
      certificate-authority-data: $(b64 "$3")
users:
  - name: user
    user:
$4
contexts:
  - name: default
    context:
      cluster: cluster
      user: user
current-context: default
EOF
  )
}
cert_user() { printf '      client-certificate-data: %s\n      client-key-data: %s' "$(b64 "$pki/$1.crt")" "$(b64 "$pki/$1.key")"; }

kubeconfig "$dir/kube.kubeconfig" "$kube_url" "$pki/ca.crt" "$(cert_user admin)"
kubeconfig "$dir/controller-manager.kubeconfig" "$kube_url" "$pki/ca.crt" "$(cert_user controller-manager)"
# kube-apiserver calls tke-apiserver's TokenReview (TKE API keys and OIDC tokens work against the
# cluster) and SubjectAccessReview (TKE users are authorized by TKE policies), as a member cluster does.
kubeconfig "$dir/webhook-authn.kubeconfig" "$tke_url/apis/authentication.k8s.io/v1/tokenreviews" "$pki/tke-ca.crt" "      token: $tke_token"
kubeconfig "$dir/webhook-authz.kubeconfig" "$tke_url/apis/authorization.k8s.io/v1/subjectaccessreviews" "$pki/tke-ca.crt" "      token: $tke_token"
# tke-apiserver asks kube-apiserver about kube users as the ServiceAccount of hack/deploy/01-rbac.yaml
# (system:auth-delegator); its token is written once kube-apiserver can issue it, and re-read on use.
kubeconfig "$dir/tke-authorization.kubeconfig" "$kube_url" "$pki/ca.crt" "      tokenFile: $tkedata/kube-apiserver.token"

cat > "$dir/authorization-config.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
  - type: Node
    name: node
  - type: RBAC
    name: rbac
  # Only TKE users (they carry their tenant from tke-apiserver's TokenReview) are asked about
  # there: kube users are RBAC's alone, and system components never wait on tke-apiserver.
  - type: Webhook
    name: tke-apiserver
    webhook:
      timeout: 10s
      subjectAccessReviewVersion: v1
      matchConditionSubjectAccessReviewVersion: v1
      failurePolicy: Deny
      authorizedTTL: 30s
      # Short, so that a policy bound in TKE takes effect at once on this laptop cluster.
      unauthorizedTTL: 1s
      connectionInfo:
        type: KubeConfigFile
        kubeConfigFile: $dir/webhook-authz.kubeconfig
      matchConditions:
        - expression: "has(request.extra) && 'tenantid' in request.extra"
EOF

# ---------------------------------------------------------------------------------------------
# Processes: each in its own session and process group (setsid), recorded in DIR/pids.

start() { # name command...
  local name="$1"; shift
  setsid "$@" > "$logs/$name.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$name $pid" >> "$dir/pids"
  started=1
}
wait_until() { # what command...
  local what="$1"; shift
  local deadline=$(( $(date +%s) + timeout_s ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then die "timed out after ${timeout_s}s waiting for $what"; fi
    check_alive
    sleep 0.5
  done
}
check_alive() {
  local name pid
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || die "$name exited; tail of $logs/$name.log:
$(tail -n 30 "$logs/$name.log")"
  done < "$dir/pids"
}
kc() { kubectl --kubeconfig "$dir/kube.kubeconfig" "$@"; }

: > "$dir/pids"
# A throwaway local cluster: an fsync per write buys nothing and costs the tests time; a benchmark
# against a database that does sync turns it back on.
etcd_sync=(--unsafe-no-fsync)
[ "${TKE_UP_ETCD_FSYNC:-}" = 1 ] && etcd_sync=()
start etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" --log-level warn \
  "${etcd_sync[@]}"
wait_until "etcd" curl -fsS "http://127.0.0.1:$etcd_port/health"

if [ "$only" != kube ]; then
  tke_db=()
  [ -n "${TKE_DATABASE_URL:-}" ] && tke_db=(--database-url "$TKE_DATABASE_URL")
  start tke-apiserver node cmd/tke-apiserver/bin.js --data-dir "$tkedata" \
    --bind-address 127.0.0.1 --secure-port "$tke_port" "${tke_db[@]}" \
    --tls-cert-file "$pki/tke-apiserver-chain.crt" --tls-private-key-file "$pki/tke-apiserver.key" \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --authorization-kubeconfig "$dir/tke-authorization.kubeconfig"
  # TKE users reach the cluster two ways, as member clusters trust TKE: their API keys through the
  # token webhook, and ID tokens of tke-apiserver's OIDC issuer (as TKE does with dex), whose
  # users are prefixed oidc: so one can tell which way a user came in.
  kube_auth=(--authorization-config "$dir/authorization-config.yaml"
    --authentication-token-webhook-config-file "$dir/webhook-authn.kubeconfig"
    --authentication-token-webhook-version v1 --authentication-token-webhook-cache-ttl 10s
    --oidc-issuer-url "$tke_url/oidc" --oidc-client-id kubernetes --oidc-ca-file "$pki/tke-ca.crt"
    --oidc-username-claim name --oidc-username-prefix oidc: --oidc-groups-claim groups --oidc-groups-prefix oidc:)
else
  # Nothing to ask about TKE users when there is no tke-apiserver.
  kube_auth=(--authorization-mode Node,RBAC)
fi

start kube-apiserver "$bin/kube-apiserver" \
  --bind-address 127.0.0.1 --secure-port "$kube_port" --advertise-address 127.0.0.1 \
  --endpoint-reconciler-type none \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --service-cluster-ip-range 10.96.0.0/12 \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  "${kube_auth[@]}" \
  --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
  --enable-aggregator-routing=false \
  --profiling=false --v 1

[ "$only" = kube ] || wait_until "tke-apiserver (https://127.0.0.1:$tke_port/readyz)" curl -fsS --cacert "$pki/tke-ca.crt" "$tke_url/readyz"
wait_until "kube-apiserver ($kube_url/readyz)" kc get --raw /readyz

if [ "$only" = kube ]; then
  (umask 077; cat > "$dir/env" <<EOF
KUBE_SERVER='$kube_url'
KUBE_CA_FILE='$pki/ca.crt'
KUBE_KUBECONFIG='$dir/kube.kubeconfig'
ETCD_SERVER='http://127.0.0.1:$etcd_port'
EOF
  )
  check_alive
  trap - EXIT
  echo "hack/kube/up.sh: etcd http://127.0.0.1:$etcd_port and kube-apiserver $kube_url (no tke-apiserver). Stop them with: hack/kube/down.sh $dir"
  exit 0
fi

start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$dir/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$dir/controller-manager.kubeconfig" --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --controllers '*' --use-service-account-credentials \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --v 1

# ---------------------------------------------------------------------------------------------
# Registration, as hack/deploy/README.md describes it for a real cluster.

kc apply -f "$repo/hack/deploy/00-namespace.yaml" -f "$repo/hack/deploy/01-rbac.yaml" >/dev/null
(umask 077; kc -n tke create token tke-apiserver --duration 8760h > "$tkedata/kube-apiserver.token.tmp")
mv "$tkedata/kube-apiserver.token.tmp" "$tkedata/kube-apiserver.token"

# No Pods here: the Service names tke-apiserver on this host. An Endpoints or EndpointSlice address
# may not be a loopback address (validation refuses 127.0.0.0/8), so the Service is an ExternalName
# for 127.0.0.1, which kube-apiserver dials as is (--enable-aggregator-routing=false), at the port
# the APIService names.
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: tke-apiserver
  namespace: tke
  labels:
    app.kubernetes.io/name: tke-apiserver
spec:
  type: ExternalName
  externalName: 127.0.0.1
EOF
sed -e "s|caBundle: \"\".*|caBundle: $(b64 "$pki/tke-ca.crt")|" -e "s|^\(    port:\) 443\$|\1 $tke_port|" \
  "$repo/hack/deploy/05-apiservices.yaml" | kc apply -f - >/dev/null
apiservices=(v1.platform.tkestack.io v1.business.tkestack.io v1.auth.tkestack.io v1.registry.tkestack.io)
wait_until "the APIServices to be Available (kubectl get apiservices)" \
  kc wait --for=condition=Available --timeout=5s "${apiservices[@]/#/apiservice/}"

# A cluster-admin ServiceAccount with a long-lived token: what TKE needs to import this cluster.
# Its token is filled in by kube-controller-manager, which shows that it works.
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata:
  name: tke-member-import
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: tke-member-import
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: tke-member-import
    namespace: kube-system
---
apiVersion: v1
kind: Secret
metadata:
  name: tke-member-import-token
  namespace: kube-system
  annotations:
    kubernetes.io/service-account.name: tke-member-import
type: kubernetes.io/service-account-token
EOF
member_token() { kc -n kube-system get secret tke-member-import-token -o 'jsonpath={.data.token}' | grep -q .; }
wait_until "kube-controller-manager to issue the member-import token" member_token
kube_token="$(kc -n kube-system get secret tke-member-import-token -o 'jsonpath={.data.token}' | base64 -d)"

kubeconfig "$dir/tke.kubeconfig" "$tke_url" "$pki/tke-ca.crt" "      token: $tke_token"
# The OAuth client the cluster's --oidc-client-id names: ID tokens for it are this cluster's.
kubectl --kubeconfig "$dir/tke.kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: auth.tkestack.io/v1
kind: Client
metadata:
  name: kubernetes
spec:
  id: kubernetes
  name: hack/kube control plane
  public: true
EOF
(umask 077; cat > "$dir/env" <<EOF
KUBE_SERVER='$kube_url'
KUBE_CA_FILE='$pki/ca.crt'
KUBE_TOKEN='$kube_token'
KUBE_KUBECONFIG='$dir/kube.kubeconfig'
TKE_SERVER='$tke_url'
TKE_CA_FILE='$pki/tke-ca.crt'
TKE_TOKEN='$tke_token'
TKE_KUBECONFIG='$dir/tke.kubeconfig'
EOF
)
check_alive
trap - EXIT
cat <<EOF
hack/kube/up.sh: kube-apiserver $kube_url with tke-apiserver $tke_url aggregated.
  export KUBECONFIG=$dir/kube.kubeconfig
  kubectl get apiservices | grep tkestack; kubectl get projects,clusters
Stop it with: hack/kube/down.sh $dir
EOF
