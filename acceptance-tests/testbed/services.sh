# Services the test bed offers tests beside the cluster (sourced by `testbed`):
#
#   an S3-compatible object store (SeaweedFS: `weed server -s3`) on 127.0.0.1 only,
#   with credentials made once per test bed home and printed by `testbed env`
#   (pods reach it through the runtime's relay, objectstore.py);
#   a Google Cloud Storage emulator (fake-gcs-server) and an Azure Blob Storage emulator
#   (Azurite's Blob service, its account key made once per test bed home), each on
#   127.0.0.1 only with one bucket (container) made at start, for gs:// and az:// backups;
#   the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule), on demand;
#   promtool, terragrunt and redis_exporter on the paths `testbed env` prints.
#
# Uses testbed's variables and helpers (tools, home, pki, logs, run, data, start,
# stop, is_running, wait_for, kubectl, log, die).

seaweedfs_bin="$tools/seaweedfs-$SEAWEEDFS_VERSION"
promtool_bin="$tools/promtool-$PROMETHEUS_VERSION"
monitoring_crds="$tools/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"
exporter_bin="$tools/redis_exporter-$REDIS_EXPORTER_VERSION"
gcs_bin="$tools/fake-gcs-server-$FAKE_GCS_SERVER_VERSION"
azurite_bin="$tools/azurite-$AZURITE_VERSION"

# The object store's ports (HTTP; each gRPC port is the HTTP port - 10000), loopback only,
# all below the kernel's ephemeral range (32768+), where an outgoing connection could hold one.
S3_PORT=${TESTBED_S3_PORT:-28333}
S3_MASTER_PORT=${TESTBED_S3_MASTER_PORT:-29333}
S3_VOLUME_PORT=${TESTBED_S3_VOLUME_PORT:-28080}
S3_FILER_PORT=${TESTBED_S3_FILER_PORT:-28888}
S3_REGION=us-east-1
S3_BUCKET=testbed
GCS_PORT=${TESTBED_GCS_PORT:-28443}
GCS_BUCKET=testbed
AZURE_PORT=${TESTBED_AZURE_PORT:-28100}
AZURE_ACCOUNT=testbed
AZURE_CONTAINER=testbed

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

# --- Google Cloud Storage (fake-gcs-server). It takes no credentials: the provider reaches
# it with backup_store.gcs { endpoint, skip_signature }.

gcs_bucket() { # gcs_bucket NAME: creates it; an existing one is fine
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H 'Content-Type: application/json' \
    --data "{\"name\":\"$1\"}" "http://127.0.0.1:$GCS_PORT/storage/v1/b")"
  case "$code" in 200 | 409) return 0 ;; *) return 1 ;; esac
}

start_gcs() {
  if [ ! -f "$gcs_bin/.complete" ]; then
    log "warning: the GCS emulator is not built ($gcs_bin); run 'testbed build fake-gcs-server', then 'testbed up'"
    return 0
  fi
  mkdir -p "$data/gcs"
  start gcs "$gcs_bin/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$GCS_PORT" \
    -public-host "127.0.0.1:$GCS_PORT" -external-url "http://127.0.0.1:$GCS_PORT" \
    -backend filesystem -filesystem-root "$data/gcs" -log-level warn
  local deadline=$((SECONDS + 60))
  until gcs_bucket "$GCS_BUCKET"; do
    is_running gcs || die "the GCS emulator exited while starting (see $logs/gcs.log)"
    [ $SECONDS -lt $deadline ] || die "GCS emulator not ready after 60s; see $logs/gcs.log"
    sleep 0.3
  done
}

gcs_env() {
  [ -f "$gcs_bin/.complete" ] || return 0
  printf 'TESTBED_GCS_ENDPOINT=http://127.0.0.1:%s\nTESTBED_GCS_BUCKET=%s\n' "$GCS_PORT" "$GCS_BUCKET"
}

# --- Azure Blob Storage (Azurite's Blob service): one account whose key is made once
# (kept with the PKI).

azure_credentials() {
  [ -f "$pki/azure.env" ] && return 0
  printf 'AZURE_KEY=%s\n' "$(openssl rand -base64 32)" >"$pki/azure.env"
  chmod 600 "$pki/azure.env"
}

azure_key() { sed -n 's/^AZURE_KEY=//p' "$pki/azure.env"; }

# azure_request METHOD PATH QUERY HEADER...: one Shared Key signed Blob request with an
# empty body, path-style (the account is the URL's first segment); prints the HTTP status.
azure_request() {
  local method=$1 path=$2 query=$3
  shift 3
  local headers=("$@") date canon sts hexkey sig h args=()
  date="$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')"
  headers+=("x-ms-date:$date" "x-ms-version:2021-08-06")
  canon="/$AZURE_ACCOUNT/$AZURE_ACCOUNT$path"
  [ -n "$query" ] && canon+=$'\n'"$(printf '%s' "$query" | tr '&' '\n' | sed 's/=/:/' | LC_ALL=C sort)"
  # The verb, eleven empty standard headers (a Content-Length of 0 signs as empty), the
  # x-ms-* headers sorted, the resource.
  sts="$(printf '%s\n\n\n\n\n\n\n\n\n\n\n\n%s\n%s' "$method" "$(printf '%s\n' "${headers[@]}" | LC_ALL=C sort)" "$canon")"
  hexkey="$(azure_key | base64 -d | od -An -tx1 | tr -d ' \n')"
  sig="$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)"
  for h in "${headers[@]}"; do args+=(-H "$h"); done
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$method" "${args[@]}" -H 'Content-Length: 0' \
    -H "Authorization: SharedKey $AZURE_ACCOUNT:$sig" \
    "http://127.0.0.1:$AZURE_PORT/$AZURE_ACCOUNT$path${query:+?$query}"
}

# azure_container NAME: creates it with anonymous read access (tests read what the
# provider wrote without signing); an existing one is fine.
azure_container() {
  local code
  code="$(azure_request PUT "/$1" restype=container x-ms-blob-public-access:container)"
  case "$code" in 201 | 409) return 0 ;; *) return 1 ;; esac
}

start_azurite() {
  if [ ! -f "$azurite_bin/.complete" ]; then
    log "warning: the Azure emulator is not built ($azurite_bin); run 'testbed build azurite', then 'testbed up'"
    return 0
  fi
  command -v node >/dev/null || die "Node.js is needed to run Azurite"
  azure_credentials
  mkdir -p "$data/azure"
  # Telemetry off: nothing leaves the machine.
  AZURITE_ACCOUNTS="$AZURE_ACCOUNT:$(azure_key)" start azure "$azurite_bin/node_modules/.bin/azurite-blob" \
    --blobHost 127.0.0.1 --blobPort "$AZURE_PORT" --location "$data/azure" \
    --disableTelemetry --skipApiVersionCheck --silent
  local deadline=$((SECONDS + 60))
  until azure_container "$AZURE_CONTAINER" >/dev/null 2>&1; do
    is_running azure || die "the Azure emulator exited while starting (see $logs/azure.log)"
    [ $SECONDS -lt $deadline ] || die "Azure emulator not ready after 60s; see $logs/azure.log"
    sleep 0.3
  done
}

# The account's name and key under the standard variables the provider reads.
azure_env() {
  [ -f "$azurite_bin/.complete" ] && [ -f "$pki/azure.env" ] || return 0
  printf 'AZURE_STORAGE_ACCOUNT_NAME=%s\nAZURE_STORAGE_ACCOUNT_KEY=%s\n' "$AZURE_ACCOUNT" "$(azure_key)"
  printf 'TESTBED_AZURE_ENDPOINT=http://127.0.0.1:%s/%s\nTESTBED_AZURE_CONTAINER=%s\n' \
    "$AZURE_PORT" "$AZURE_ACCOUNT" "$AZURE_CONTAINER"
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
  gcs_env
  azure_env
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
