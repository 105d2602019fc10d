# Sourced by the benchmark scripts that drive terraform against the test bed
# (benches/backup.sh, benches/restore.sh): after `bench_setup <name>
# <namespace>`, the caller has $root (cwd), $terraform, $redis_dir (the bed's Redis 7.2
# tools), $kubeconfig, $work (a temporary directory with dev_overrides for the release
# provider $ours, TF_CLI_CONFIG_FILE exported), `say`, `k` (kubectl on the bed),
# `free_port`, and an EXIT trap that kills the pids in $pids, destroys $work/main.tf and
# deletes the namespace.

bench_setup() {
  bench_name=$1
  ns=$2
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
  unset TF_LOG TF_LOG_PATH TF_LOG_PROVIDER TF_REATTACH_PROVIDERS TF_CLI_ARGS
  terraform=${TERRAFORM:-/usr/local/bin/terraform}
  local tools=$HOME/.cache/terraform-provider-redis/tools
  redis_dir=$tools/redis-$(sed -n 's/^REDIS_72_VERSION=//p' acceptance-tests/testbed/versions.env)
  kubectl=$tools/kubernetes-$(sed -n 's/^K8S_VERSION=//p' acceptance-tests/testbed/versions.env)/kubectl
  kubeconfig=$(acceptance-tests/testbed/testbed env 2>/dev/null | sed -n 's/^KUBECONFIG=//p' | tr -d "\"'")
  k get --raw /readyz >/dev/null || { say "the test bed is not up"; exit 1; }
  [[ -x $redis_dir/redis-cli ]] || { say "no $redis_dir: run acceptance-tests/testbed/testbed build"; exit 1; }
  ours=${PROVIDER_BINARY:-}
  if [[ -z $ours ]]; then
    ours=$(cargo build --release -p terraform-provider-redis --bin terraform-provider-redis \
      --message-format=json-render-diagnostics |
      grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)
  fi
  [[ -x $ours ]] || { say "cargo reported no provider executable"; exit 1; }
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
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
}

say() { echo "$bench_name: $*" >&2; }
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $work/main.tf ]]; then
    (cd "$work" && "$terraform" destroy -auto-approve -input=false -no-color >/dev/null 2>&1) ||
      say "destroy failed"
  fi
  k delete namespace "$ns" --timeout=180s >/dev/null 2>&1 || true
  rm -rf "$work"
}

# Samples the peak RSS (KiB) of the processes matching $1 into $2 every 0.2 s; prints
# the sampler's pid.
rss_sampler() {
  (
    while :; do
      for p in $(pgrep -f "$1" || true); do
        awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true
      done
      sleep 0.2
    done
  ) >"$2" &
  echo $!
}

# Seconds between the first provider log lines containing $2 and $3 in the log $1.
log_span() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys, datetime
path, first, last = sys.argv[1:4]
stamps = {}
for line in open(path, errors="replace"):
    for key in (first, last):
        if key in line and key not in stamps:
            stamps[key] = datetime.datetime.fromisoformat(re.match(r"(\S+)", line).group(1).replace("Z", "+00:00"))
print((stamps[last] - stamps[first]).total_seconds())
PY
}
