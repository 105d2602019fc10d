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

source "$(dirname "${BASH_SOURCE[0]}")/common/terraform.sh"
mib=${RESTORE_MIB:-1024}
value_bytes=${RESTORE_VALUE_BYTES:-1000}
keys=$((mib * 1024 * 1024 / value_bytes))
PROVIDER_BINARY=${RESTORE_PROVIDER:-${PROVIDER_BINARY:-}}
bench_setup restore.sh restore-bench
[[ -x $redis_dir/redis-server ]] || { say "no $redis_dir/redis-server: run acceptance-tests/testbed/testbed build"; exit 1; }

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
sampler=$(rss_sampler "$work/plugins/terraform-provider-redis" "$work/rss")
pids+=("$sampler")
t0=$(date +%s.%N)
TF_LOG_PROVIDER=INFO TF_LOG_PATH=$work/tf.log apply
t1=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -n 1)
whole=$(echo "$t1 - $t0" | bc -l)
restored=$(cli dbsize)
# Durations from the provider's log lines' timestamps.
verify=$(log_span "$work/tf.log" "restore: reading the file" "restore: loading")
load=$(log_span "$work/tf.log" "restore: loading" "restore: loaded")
printf 'restore: read + verify %.1f s, load %.1f s, whole apply %.1f s, %s keys, provider peak RSS %d MiB\n' \
  "$verify" "$load" "$whole" "$restored" $((peak / 1024))
printf 'ratio (pipe / load): %.2f; (pipe / read + verify + load): %.2f\n' \
  "$(echo "$pipe / $load" | bc -l)" "$(echo "$pipe / ($verify + $load)" | bc -l)"
