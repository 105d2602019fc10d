#!/usr/bin/env bash
# How long a warm `terragrunt run --all plan` over examples/stacks' dev and prod takes,
# and how it splits between Terragrunt, the CLI and the provider. Prints figures; asserts
# nothing about them.
#
#   benches/stack-plan.sh              tofu, 3 warm plans
#   TOOL=terraform RUNS=5 benches/stack-plan.sh
#   DETAIL=1 benches/stack-plan.sh     also each CLI run's time and its provider's
#
# Needs the test bed up and the debug provider built. It applies both environments into
# namespaces stack-bench-dev and stack-bench-prod, plans RUNS times, and destroys them.
# Every CLI run goes through a wrapper that records its start and end and writes the
# CLI's debug log, where the provider's start ("plugin started: ... pid=N") and exit
# ("plugin process exited: ... id=N") give each provider process's lifetime.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-redis}"
target="${CARGO_TARGET_DIR:-$cache/cargo-target}"
eval "$("$root/acceptance-tests/testbed/testbed" env | sed 's/^/export /')"
case "${TOOL:-tofu}" in
terraform) tf="$TERRAFORM" ;;
tofu) tf="$TOFU" ;;
*) echo "TOOL must be terraform or tofu" >&2 && exit 2 ;;
esac
runs="${RUNS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for host in registry.terraform.io registry.opentofu.org; do
  dir="$work/mirror/$host/redis-k8s/redis/0.1.0/linux_amd64"
  mkdir -p "$dir"
  ln "$target/debug/terraform-provider-redis" "$dir/terraform-provider-redis_v0.1.0" 2>/dev/null ||
    cp "$target/debug/terraform-provider-redis" "$dir/terraform-provider-redis_v0.1.0"
done
cat >"$work/cli.tfrc" <<CONF
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.terraform.io/redis-k8s/*", "registry.opentofu.org/redis-k8s/*"]
  }
  direct {
    exclude = ["registry.terraform.io/redis-k8s/*", "registry.opentofu.org/redis-k8s/*"]
  }
}
CONF
cat >"$work/cli-wrapper" <<WRAP
#!/usr/bin/env bash
# start end pid args..., one line per CLI run; the CLI's debug log per run.
start=\$(date +%s.%N)
TF_LOG=debug TF_LOG_PATH="$work/logs/\$\$.log" "$tf" "\$@"
status=\$?
echo "\$start \$(date +%s.%N) \$\$ \$*" >>"$work/logs/calls"
exit \$status
WRAP
chmod +x "$work/cli-wrapper"

mkdir -p "$work/stacks" "$work/logs" "$work/backups"
(cd "$root/examples/stacks" &&
  tar --exclude=.terragrunt-stack --exclude=.terragrunt-cache --exclude=.state -cf - .) |
  (cd "$work/stacks" && tar -xf -)
sed -i 's/"grill-stats-dev"/"stack-bench-dev"/' "$work/stacks/live/dev/terragrunt.stack.hcl"
sed -i 's/"grill-stats-prod"/"stack-bench-prod"/' "$work/stacks/live/prod/terragrunt.stack.hcl"
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TG_NO_COLOR=true
export REDIS_STACK_BACKUP_DESTINATION="file://$work/backups"
tg() { (cd "$work/stacks/live" && "$TERRAGRUNT" run --all --non-interactive --tf-path "$@"); }

echo "applying dev and prod ($(basename "$tf"))" >&2
tg "$tf" -- apply -auto-approve >"$work/apply.log" 2>&1 || {
  tail -40 "$work/apply.log" >&2
  exit 1
}
tg "$tf" -- plan >/dev/null 2>&1 # warm: generated units, caches, plugins installed

echo "warm plans, plain (no logging):"
for i in $(seq 1 "$runs"); do
  t0=$(date +%s.%N)
  tg "$tf" -- plan -detailed-exitcode >"$work/plan.log" 2>&1 || [ $? -eq 2 ]
  t1=$(date +%s.%N)
  python3 -c "import sys; print(f'{sys.argv[1]:<4} {float(sys.argv[3]) - float(sys.argv[2]):8.2f}s')" "$i" "$t0" "$t1"
done
echo "warm plans, each CLI run timed and logging at debug (slower):"
printf '%-4s %9s %12s %12s %12s %12s %6s\n' run wall "cli(crit)" "cli(sum)" "prov(sum)" "tg(own)" calls
for i in $(seq 1 "$runs"); do
  rm -f "$work/logs/"*
  t0=$(date +%s.%N)
  tg "$work/cli-wrapper" -- plan -detailed-exitcode >"$work/plan.log" 2>&1 || [ $? -eq 2 ]
  t1=$(date +%s.%N)
  python3 - "$work/logs" "$t0" "$t1" "$i" <<'PY'
import datetime, os, re, sys
logs, t0, t1, run = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
calls = [l.split(None, 3) for l in open(os.path.join(logs, "calls"))]
spans = sorted((float(s), float(e)) for s, e, *_ in calls)
cli_sum = sum(e - s for s, e in spans)
# Wall time covered by at least one CLI run (the CLI on the critical path).
covered, end = 0.0, 0.0
for s, e in spans:
    if e > end:
        covered += e - max(s, end)
        end = e
stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)([+-]\d\d:?\d\d|Z)")
def when(line):
    m = stamp.match(line)
    if not m:
        return None
    text = m.group(1) + ("+00:00" if m.group(2) == "Z" else m.group(2))
    return datetime.datetime.fromisoformat(text).timestamp()
provider = 0.0
detail = []
for start, end, pid, args in calls:
    before = provider
    started = {}
    for line in open(os.path.join(logs, pid + ".log"), errors="replace"):
        if "terraform-provider-redis" not in line:
            continue
        m = re.search(r"plugin started: .* pid=(\d+)", line)
        if m:
            started[m.group(1)] = when(line)
        m = re.search(r"plugin process exited: .* id=(\d+)", line)
        if m and m.group(1) in started:
            provider += when(line) - started.pop(m.group(1))
    detail.append(f"       {float(end) - float(start):6.2f}s cli, {provider - before:5.2f}s provider: "
                  f"{args.split(' -')[0].strip()}")
print(f"{run:<4} {t1 - t0:8.2f}s {covered:11.2f}s {cli_sum:11.2f}s {provider:11.2f}s "
      f"{(t1 - t0) - covered:11.2f}s {len(calls):6d}")
if os.environ.get("DETAIL"):
    print("\n".join(detail))
PY
done
cat <<'NOTE'
wall: the whole run; cli(crit): wall time during which at least one CLI run was going;
cli(sum): all CLI runs' durations added (units run in parallel); prov(sum): the provider
processes' lifetimes inside them; tg(own): wall minus cli(crit), Terragrunt alone
(parsing, stack generation, dependency outputs' bookkeeping, scheduling).
NOTE

echo "destroying" >&2
tg "$tf" -- destroy -auto-approve >"$work/destroy.log" 2>&1 || tail -40 "$work/destroy.log" >&2
