#!/usr/bin/env bash
# The quickstart: builds the provider, installs it for Terraform (and OpenTofu) from a
# local filesystem mirror, and applies examples/quickstart to a cluster: the one
# $KUBECONFIG names when it is set, otherwise the local test bed, brought up first.
#
#   ./quickstart.sh            apply (again: converges; safe to re-run)
#   ./quickstart.sh destroy    remove what it applied
#   TOOL=tofu ./quickstart.sh  the same with OpenTofu
#
#   ./quickstart.sh stack dev|prod [destroy]
#                              examples/stacks' environment applied (or destroyed) with
#                              Terragrunt (`run --all`), the CLI being TOOL's
set -euo pipefail

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
mode="${1:-apply}"
case "$mode" in
apply | destroy) ;;
stack)
  env="${2:-}"
  action="${3:-apply}"
  case "$env/$action" in
  dev/apply | dev/destroy | prod/apply | prod/destroy) ;;
  *) usage ;;
  esac
  ;;
*) usage ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-redis}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export CHECKPOINT_DISABLE=1
version=0.1.0
work="$cache/quickstart"
step() { printf '\n==> %s\n' "$*" >&2; }

if [ -n "${KUBECONFIG:-}" ] && [ -f "${KUBECONFIG%%:*}" ]; then
  kubeconfig="${KUBECONFIG%%:*}"
  step "using your cluster: $kubeconfig"
else
  step "no KUBECONFIG set: using the local test bed"
  "$root/acceptance-tests/testbed/install-packages"
  "$root/acceptance-tests/testbed/testbed" build
  "$root/acceptance-tests/testbed/testbed" up
  kubeconfig="$("$root/acceptance-tests/testbed/testbed" env | sed -n 's/^KUBECONFIG=//p')"
fi
eval "$("$root/acceptance-tests/testbed/testbed" env | grep -E '^(TERRAFORM|TOFU|TERRAGRUNT)=')"
case "${TOOL:-terraform}" in
terraform) tool="${TERRAFORM:-/usr/local/bin/terraform}" ;;
tofu) tool="${TOFU:?tofu is not built: run acceptance-tests/testbed/testbed build}" ;;
*) echo "TOOL must be terraform or tofu" >&2 && exit 2 ;;
esac

step "building the provider"
(cd "$root" && cargo build -p terraform-provider-redis --quiet)

step "installing it into a filesystem mirror"
mirror="$work/mirror"
for host in registry.terraform.io registry.opentofu.org; do
  dir="$mirror/$host/redis-k8s/redis/$version/linux_amd64"
  mkdir -p "$dir"
  cp "$CARGO_TARGET_DIR/debug/terraform-provider-redis" "$dir/terraform-provider-redis_v$version"
done
cat >"$work/cli.tfrc" <<CONF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/redis-k8s/*", "registry.opentofu.org/redis-k8s/*"]
  }
  direct {
    exclude = ["registry.terraform.io/redis-k8s/*", "registry.opentofu.org/redis-k8s/*"]
  }
}
CONF
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"

if [ "$mode" = stack ]; then
  terragrunt="${TERRAGRUNT:-$(command -v terragrunt || true)}"
  [ -x "$terragrunt" ] || {
    echo "no terragrunt: run acceptance-tests/testbed/testbed build, or put terragrunt on PATH" >&2
    exit 1
  }
  # A copy of examples/stacks per CLI (each keeps its own Terragrunt cache and state).
  stacks="$work/stacks-$(basename "$tool")"
  mkdir -p "$stacks"
  (cd "$root/examples/stacks" &&
    tar --exclude=.terragrunt-stack --exclude=.terragrunt-cache --exclude=.state -cf - .) |
    (cd "$stacks" && tar -xf -)
  export KUBECONFIG="$kubeconfig"
  # The snapshots taken at apply: a directory on this machine unless you name a store.
  export REDIS_STACK_BACKUP_DESTINATION="${REDIS_STACK_BACKUP_DESTINATION:-file://$work/backups/$env}"
  mkdir -p "$work/backups/$env"
  cd "$stacks/live/$env"
  step "terragrunt run --all $action ($env, $(basename "$tool"))"
  "$terragrunt" run --all --non-interactive --tf-path "$tool" -- "$action" -auto-approve -input=false
  [ "$action" = destroy ] && exit 0
  step "done"
  cat <<MSG
The $env environment of examples/stacks runs in $kubeconfig; its state is under
$stacks/.state. Plan it with:
  cd $stacks/live/$env && KUBECONFIG=$kubeconfig TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE \\
    $terragrunt run --all --tf-path $tool -- plan
Remove it with: ./quickstart.sh stack $env destroy
MSG
  exit 0
fi

mkdir -p "$work/config"
cp "$root/examples/quickstart/main.tf" "$work/config/main.tf"
cd "$work/config"
export TF_VAR_kubeconfig="$kubeconfig"

step "$(basename "$tool") init"
# A rebuilt provider has a new checksum: -upgrade refreshes the lock file.
"$tool" init -input=false -upgrade >/dev/null
if [ "$mode" = destroy ]; then
  step "$(basename "$tool") destroy"
  "$tool" destroy -auto-approve -input=false
  exit 0
fi
step "$(basename "$tool") apply"
"$tool" apply -auto-approve -input=false
step "done"
cat <<MSG
Redis runs in namespace redis-quickstart of $kubeconfig.
Its password is in the Secret named by the password_secret output; the state is in
$work/config. Re-run to converge, or run: ./quickstart.sh destroy
MSG
