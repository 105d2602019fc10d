#!/usr/bin/env bash
# Backup throughput (a benchmark, run by hand, nothing asserted): `redis_backup` of a
# dataset of BACKUP_MIB MiB (default 1024: random, incompressible string values of
# BACKUP_VALUE_BYTES bytes, default 1000) against `redis-cli --rdb` of the same server,
# both through the API server's port-forward (kubectl port-forward for redis-cli, the
# provider's own kube-rs port-forward for the backup), both as the deployment's `backup`
# user, one after the other in one run. Figures, printed as they come:
#   - rdb: seconds of `redis-cli --rdb` and the file's size;
#   - backup: seconds from the provider's "taking a snapshot" to "backup taken" (SYNC,
#     streaming, verifying, hashing, writing the file and its manifest), of the whole
#     `terraform apply`, and the provider's peak RSS during it (sampled every 0.2 s);
#   - ratio = rdb seconds / backup seconds (the goal is >= 0.9) and peak RSS (goal <= 50 MiB).
# The deployment sets repl-diskless-sync-delay 0 so that both measure the transfer, not
# Redis's wait for more replicas (5 s by default, which either path would wait alike).
# Needs the test bed up; builds the release provider (or takes PROVIDER_BINARY). Knobs:
# BACKUP_MIB, BACKUP_VALUE_BYTES, BACKUP_COMPRESSION (none|zstd), TERRAFORM, CARGO_TARGET_DIR.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common/terraform.sh"
mib=${BACKUP_MIB:-1024}
value_bytes=${BACKUP_VALUE_BYTES:-1000}
compression=${BACKUP_COMPRESSION:-none}
keys=$((mib * 1024 * 1024 / value_bytes))
bench_setup backup.sh backup-bench
mkdir -p "$work/backups"

config() { # extra resources, or nothing
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
  config = {
    save       = ""
    appendonly = false
    extra      = { "repl-diskless-sync-delay" = "0" }
  }
  timeouts {
    create = "30m"
    update = "30m"
  }
}
$1
HCL
}
apply() { (cd "$work" && "$terraform" apply -auto-approve -input=false -no-color >"$work/apply.out" 2>&1) ||
  { cat "$work/apply.out" >&2; exit 1; }; }
config ""
apply

# --- the dataset, through kubectl port-forward -------------------------------------------
password=$(k -n "$ns" get secret bench-auth -o jsonpath='{.data.password}' | base64 -d)
backup_pw=$(k -n "$ns" get secret bench-internal -o jsonpath='{.data.backup-password}' | base64 -d)
fwd=$(free_port)
k -n "$ns" port-forward pod/bench-0 "$fwd:6379" >/dev/null 2>&1 &
pids+=($!)
cli() { "$redis_dir/redis-cli" -p "$fwd" -a "$password" --no-auth-warning "$@"; }
for _ in $(seq 100); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done
say "loading $keys keys of $value_bytes-byte values ($mib MiB)"
python3 - "$keys" "$value_bytes" <<'PY' | cli --pipe >/dev/null
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
for i in range(n):
    key = b"key:%d" % i
    value = os.urandom(size // 2).hex().encode()
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
PY
echo "dataset: $(cli dbsize) keys, used_memory $(cli info memory | sed -n 's/^used_memory_human://p' | tr -d '\r')"

# --- redis-cli --rdb through kubectl port-forward, as the backup user --------------------
t0=$(date +%s.%N)
"$redis_dir/redis-cli" -p "$fwd" --user backup --pass "$backup_pw" --no-auth-warning \
  --rdb "$work/cli.rdb" >/dev/null 2>&1
t1=$(date +%s.%N)
rdb=$(echo "$t1 - $t0" | bc -l)
size=$(stat -c %s "$work/cli.rdb")
printf 'rdb: redis-cli --rdb %.1f s, %d MiB (%.0f MiB/s)\n' "$rdb" $((size / 1048576)) \
  "$(echo "$size / 1048576 / $rdb" | bc -l)"
rm -f "$work/cli.rdb"

# --- redis_backup ------------------------------------------------------------------------
config "resource \"redis_backup\" \"bench\" {
  deployment_id = redis_deployment.bench.id
  destination   = \"file://$work/backups\"
  compression   = \"$compression\"
  source        = \"primary\"
}"
sampler=$(rss_sampler "$work/plugins/terraform-provider-redis" "$work/rss")
pids+=($sampler)
t0=$(date +%s.%N)
TF_LOG_PROVIDER=INFO TF_LOG_PATH=$work/tf.log apply
t1=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -n 1)
whole=$(echo "$t1 - $t0" | bc -l)
take=$(log_span "$work/tf.log" "taking a snapshot" "backup taken")
stored=$(find "$work/backups" -name '*.rdb*' ! -name '*.json' -printf '%s\n' | head -n 1)
printf 'backup: %.1f s (%.0f MiB/s of RDB), whole apply %.1f s, object %d MiB (%s), provider peak RSS %d MiB\n' \
  "$take" "$(echo "$size / 1048576 / $take" | bc -l)" "$whole" $((stored / 1048576)) "$compression" $((peak / 1024))
printf 'ratio (redis-cli --rdb / backup): %.2f\n' "$(echo "$rdb / $take" | bc -l)"
