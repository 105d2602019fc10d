# Services the test bed offers tests beside the cluster (sourced by `testbed`):
#
#   an S3-compatible object store (SeaweedFS: `weed server -s3`) on 127.0.0.1 only,
#   with credentials made once per test bed home and printed by `testbed env`
#   (pods reach it through the runtime's relay, objectstore.py);
#   the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule), on demand;
#   promtool, terragrunt and redis_exporter on the paths `testbed env` prints.
#
# Uses testbed's variables and helpers (tools, home, pki, logs, run, data, start,
# stop, is_running, wait_for, kubectl, log, die).

seaweedfs_bin="$tools/seaweedfs-$SEAWEEDFS_VERSION"
promtool_bin="$tools/promtool-$PROMETHEUS_VERSION"
monitoring_crds="$tools/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"
exporter_bin="$tools/redis_exporter-$REDIS_EXPORTER_VERSION"

# The object store's ports (HTTP; each gRPC port is the HTTP port - 10000), loopback only,
# all below the kernel's ephemeral range (32768+), where an outgoing connection could hold one.
S3_PORT=${TESTBED_S3_PORT:-28333}
S3_MASTER_PORT=${TESTBED_S3_MASTER_PORT:-29333}
S3_VOLUME_PORT=${TESTBED_S3_VOLUME_PORT:-28080}
S3_FILER_PORT=${TESTBED_S3_FILER_PORT:-28888}
S3_REGION=us-east-1
S3_BUCKET=testbed

# s3_credentials: one identity with every S3 action, made once (kept with the PKI).
s3_credentials() {
  [ -f "$pki/s3.env" ] && return 0
  local secret
  secret="$(openssl rand -hex 20)"
  printf 'S3_ACCESS_KEY=testbed-%s\nS3_SECRET_KEY=%s\n' "$(openssl rand -hex 4)" "$secret" >"$pki/s3.env"
  chmod 600 "$pki/s3.env"
}

s3_key() { sed -n "s/^$1=//p" "$pki/s3.env"; }

s3_identities() {
  cat >"$run/s3-identities.json" <<EOF
{
  "identities": [
    {
      "name": "testbed",
      "credentials": [{"accessKey": "$(s3_key S3_ACCESS_KEY)", "secretKey": "$(s3_key S3_SECRET_KEY)"}],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
  chmod 600 "$run/s3-identities.json"
}

# s3_request METHOD PATH: one request signed with the bed's keys (curl's SigV4).
s3_request() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$(s3_key S3_ACCESS_KEY):$(s3_key S3_SECRET_KEY)" \
    "http://127.0.0.1:$S3_PORT$2"
}

# s3_bucket NAME: CreateBucket; an existing bucket of ours is fine.
s3_bucket() {
  local code
  code="$(s3_request PUT "/$1")"
  case "$code" in
  200 | 409) return 0 ;;
  *)
    log "creating bucket $1: HTTP $code"
    return 1
    ;;
  esac
}

start_object_store() {
  if [ ! -f "$seaweedfs_bin/.complete" ]; then
    log "warning: the object store is not built ($seaweedfs_bin); run 'testbed build seaweedfs', then 'testbed up'"
    return 0
  fi
  s3_credentials
  s3_identities
  mkdir -p "$data/s3"
  # SeaweedFS keeps relative files in its working folder: start it in its data folder.
  (cd "$data/s3" && start s3 "$seaweedfs_bin/weed" server \
    -ip 127.0.0.1 -ip.bind 127.0.0.1 -dir "$data/s3" \
    -master.port "$S3_MASTER_PORT" -master.port.grpc $((S3_MASTER_PORT - 10000)) \
    -master.volumeSizeLimitMB 64 -master.peers none \
    -volume.port "$S3_VOLUME_PORT" -volume.port.grpc $((S3_VOLUME_PORT - 10000)) -volume.max 64 \
    -filer.port "$S3_FILER_PORT" -filer.port.grpc $((S3_FILER_PORT - 10000)) \
    -filer.localSocket "$run/s3-filer.sock" \
    -s3 -s3.port "$S3_PORT" -s3.port.grpc $((S3_PORT - 10000)) \
    -s3.port.iceberg 0 -s3.port.lance 0 -s3.iam=false -s3.autoCreateBucket=false \
    -s3.localSocket "$run/s3.sock" -s3.config "$run/s3-identities.json")
  # Ends at once when the store exits at start (e.g. a port taken), quoting why.
  local deadline=$((SECONDS + 120))
  until s3_bucket "$S3_BUCKET" >/dev/null 2>&1; do
    is_running s3 || die "the object store exited while starting: $(grep -E '^F[0-9]' "$logs/s3.log" | tail -n 1) (see $logs/s3.log)"
    [ $SECONDS -lt $deadline ] || die "object store not ready after 120s; see $logs/s3.log"
    sleep 0.3
  done
}

# Pods reach the store at the first address of their range (runtime.py, objectstore.py).
s3_pod_address() {
  python3 -c "import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))" "$RUNTIME_POD_CIDR"
}

s3_env() {
  [ -f "$pki/s3.env" ] || return 0
  cat <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
AWS_ACCESS_KEY_ID=$(s3_key S3_ACCESS_KEY)
AWS_SECRET_ACCESS_KEY=$(s3_key S3_SECRET_KEY)
AWS_REGION=$S3_REGION
AWS_ALLOW_HTTP=true
TESTBED_S3_BUCKET=$S3_BUCKET
TESTBED_S3_POD_ENDPOINT=http://$(s3_pod_address):$S3_PORT
EOF
}

services_env() {
  local promtool="" crds="" exporter=""
  [ -f "$promtool_bin/.complete" ] && promtool="$promtool_bin/promtool"
  [ -f "$monitoring_crds/.complete" ] && crds="$monitoring_crds"
  [ -f "$exporter_bin/.complete" ] && exporter="$exporter_bin/redis_exporter"
  cat <<EOF
PROMTOOL=$promtool
REDIS_EXPORTER=$exporter
TESTBED_MONITORING_CRDS=$crds
EOF
  s3_env
}

# testbed bucket NAME...: creates buckets in the object store.
cmd_bucket() {
  [ $# -gt 0 ] || die "usage: testbed bucket NAME..."
  is_running s3 || die "the object store is not running (testbed up)"
  local b
  for b in "$@"; do
    s3_bucket "$b" || die "bucket $b not created"
    echo "$b"
  done
}

crd_established() {
  [ "$(kubectl get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ]
}

# testbed crds monitoring [--remove]: the Prometheus Operator's ServiceMonitor and
# PrometheusRule CRDs, installed (and Established) or removed on demand.
cmd_crds() {
  [ "${1:-}" = monitoring ] || die "usage: testbed crds monitoring [--remove]"
  [ -f "$monitoring_crds/.complete" ] || "$here/build-tools.sh" monitoring-crds
  if [ "${2:-}" = --remove ]; then
    kubectl delete --ignore-not-found --wait=true -f "$monitoring_crds" >/dev/null
    log "monitoring CRDs removed"
    return 0
  fi
  kubectl apply --server-side --force-conflicts -f "$monitoring_crds" >/dev/null
  # (`kubectl wait` fails outright while a new CRD has no conditions yet.)
  local crd
  for crd in servicemonitors prometheusrules; do
    wait_for "CRD $crd established" 60 crd_established "$crd.monitoring.coreos.com"
  done
  log "monitoring CRDs established ($PROMETHEUS_OPERATOR_VERSION)"
}
