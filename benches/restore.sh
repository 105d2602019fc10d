#!/usr/bin/env bash
# Restore throughput (a benchmark, run by hand, nothing asserted): `restore_from` of a
# dataset of RESTORE_MIB MiB (default 1024: random, incompressible string values of
# RESTORE_VALUE_BYTES bytes, default 1000) against `redis-cli --pipe` ingest of the same
# keys as SET commands, both into one deployment on the test bed through the API server's
# port-forward (kubectl port-forward for redis-cli; the provider's own kube-rs
# port-forward for the restore). Figures, printed as they come:
#   - pipe: seconds of `redis-cli --pipe` (the keys then flushed);
#   - restore: seconds of the load (pipelined RESTORE, from the provider's log), of reading
#     and verifying the file before it (sha256 + RDB structure and CRC64), of the whole
#     `terraform apply`, and the provider's peak RSS during it (sampled every 0.2 s);
#   - ratio = pipe seconds / load seconds (the goal is >= 0.8), and the same for the
#     read + verify + load.
# The dump is written by a real redis-server (the test bed's Redis 7.2 build) fed the same
# SET commands and SAVEd. Needs the test bed up and the release build of the provider
# (built here, unless RESTORE_PROVIDER names a provider binary). Knobs: RESTORE_MIB,
# RESTORE_VALUE_BYTES, RESTORE_PROVIDER, TERRAFORM, CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
unset TF_LOG TF_LOG_PATH TF_LOG_PROVIDER TF_REATTACH_PROVIDERS TF_CLI_ARGS

mib=${RESTORE_MIB:-1024}
value_bytes=${RESTORE_VALUE_BYTES:-1000}
keys=$((mib * 1024 * 1024 / value_bytes))
terraform=${TERRAFORM:-/usr/local/bin/terraform}
tools=$HOME/.cache/terraform-provider-redis/tools
redis_dir=$tools/redis-$(sed -n 's/^REDIS_72_VERSION=//p' acceptance-tests/testbed/versions.env)
kubectl=$tools/kubernetes-$(sed -n 's/^K8S_VERSION=//p' acceptance-tests/testbed/versions.env)/kubectl
kubeconfig=$(acceptance-tests/testbed/testbed env 2>/dev/null | sed -n 's/^KUBECONFIG=//p' | tr -d "\"'")
ns=restore-bench

say() { echo "restore.sh: $*" >&2; }
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

k get --raw /readyz >/dev/null || { say "the test bed is not up"; exit 1; }
[[ -x $redis_dir/redis-server ]] || { say "no $redis_dir: run acceptance-tests/testbed/testbed build"; exit 1; }

ours=${RESTORE_PROVIDER:-}
if [[ -z $ours ]]; then
  ours=$(cargo build --release -p terraform-provider-redis --bin terraform-provider-redis \
    --message-format=json-render-diagnostics |
    grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)
fi
[[ -x $ours ]] || { say "cargo reported no provider executable"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $work/main.tf ]]; then
    (cd "$work" && "$terraform" destroy -auto-approve -input=false -no-color >/dev/null 2>&1) ||
      say "destroy failed"
  fi
  k delete namespace "$ns" --timeout=180s >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the dataset, and its dump written by a real server ----------------------------------
say "generating $keys SET commands of $value_bytes-byte values ($mib MiB)"
python3 - "$keys" "$value_bytes" "$work/data.resp" <<'PY'
import os, sys
n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "wb", buffering=1 << 20) as f:
    for i in range(n):
        key = b"key:%d" % i
        value = os.urandom(size // 2).hex().encode()
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
PY
port=$(free_port)
mkdir -p "$work/local"
"$redis_dir/redis-server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work/local" --daemonize no >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$redis_dir/redis-cli" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$redis_dir/redis-cli" -p "$port" --pipe <"$work/data.resp" >/dev/null
"$redis_dir/redis-cli" -p "$port" save >/dev/null
"$redis_dir/redis-cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true
dump=$work/local/dump.rdb
sha=$(sha256sum "$dump" | cut -c1-64)
echo "dataset: $keys keys, pipe file $(($(stat -c %s "$work/data.resp") / 1048576)) MiB, dump.rdb $(($(stat -c %s "$dump") / 1048576)) MiB"

# --- the deployment ----------------------------------------------------------------------
mkdir -p "$work/plugins"
ln -s "$ours" "$work/plugins/terraform-provider-redis"
cat >"$work/cli.tfrc" <<CONF
provider_installation {
  dev_overrides {
    "redis-k8s/redis" = "$work/plugins"
  }
  direct {}
}
CONF
export TF_CLI_CONFIG_FILE=$work/cli.tfrc
config() { # restore_from block or nothing
  cat >"$work/main.tf" <<HCL
terraform {
  required_providers {
    redis = { source = "redis-k8s/redis" }
  }
}
provider "redis" {
  kubernetes = { config_path = "$kubeconfig" }
}
resource "redis_deployment" "bench" {
  name             = "bench"
  namespace        = "$ns"
  create_namespace = true
  persistence      = { size = "$((mib * 3 / 1024 + 2))Gi" }
  config           = { save = "", appendonly = false }
  timeouts {
    create = "30m"
    update = "30m"
  }
$1
}
HCL
}
apply() { (cd "$work" && "$terraform" apply -auto-approve -input=false -no-color >"$work/apply.out" 2>&1) ||
  { cat "$work/apply.out" >&2; exit 1; }; }
config ""
apply

# --- redis-cli --pipe through kubectl port-forward ---------------------------------------
password=$(k -n "$ns" get secret bench-auth -o jsonpath='{.data.password}' | base64 -d)
fwd=$(free_port)
k -n "$ns" port-forward pod/bench-0 "$fwd:6379" >/dev/null 2>&1 &
pids+=($!)
cli() { "$redis_dir/redis-cli" -p "$fwd" -a "$password" --no-auth-warning "$@"; }
for _ in $(seq 100); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done
t0=$(date +%s.%N)
cli --pipe <"$work/data.resp" >/dev/null
t1=$(date +%s.%N)
pipe=$(echo "$t1 - $t0" | bc -l)
printf 'pipe: %.1f s (%s keys)\n' "$pipe" "$(cli dbsize)"
cli flushall >/dev/null

# --- restore_from ------------------------------------------------------------------------
config "  restore_from = {
    url    = \"file://$dump\"
    sha256 = \"$sha\"
  }"
peak=0
(
  while :; do
    for p in $(pgrep -f "$work/plugins/terraform-provider-redis" || true); do
      r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      echo "$r"
    done
    sleep 0.2
  done
) >"$work/rss" &
sampler=$!
pids+=($sampler)
t0=$(date +%s.%N)
TF_LOG_PROVIDER=INFO TF_LOG_PATH=$work/tf.log apply
t1=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -n 1)
whole=$(echo "$t1 - $t0" | bc -l)
restored=$(cli dbsize)
# Durations from the provider's log lines' timestamps.
read -r verify load < <(python3 - "$work/tf.log" <<'PY'
import re, sys, datetime
stamps = {}
for line in open(sys.argv[1], errors="replace"):
    for key in ("restore: reading the file", "restore: loading", "restore: loaded"):
        if key in line and key not in stamps:
            m = re.match(r"(\S+)", line)
            stamps[key] = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
r, a, b = (stamps[k] for k in ("restore: reading the file", "restore: loading", "restore: loaded"))
print((a - r).total_seconds(), (b - a).total_seconds())
PY
)
printf 'restore: read + verify %.1f s, load %.1f s, whole apply %.1f s, %s keys, provider peak RSS %d MiB\n' \
  "$verify" "$load" "$whole" "$restored" $((peak / 1024))
printf 'ratio (pipe / load): %.2f; (pipe / read + verify + load): %.2f\n' \
  "$(echo "$pipe / $load" | bc -l)" "$(echo "$pipe / ($verify + $load)" | bc -l)"
