#!/usr/bin/env bash
# The quickstart: builds the provider, installs it for Terraform (and OpenTofu) from a
# local filesystem mirror, and applies examples/quickstart to a cluster: the one
# $KUBECONFIG names when it is set, otherwise the local test bed, brought up first.
#
#   ./quickstart.sh            apply (again: converges; safe to re-run)
#   ./quickstart.sh destroy    remove what it applied
#   TOOL=tofu ./quickstart.sh  the same with OpenTofu
set -euo pipefail

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
eval "$("$root/acceptance-tests/testbed/testbed" env | grep -E '^(TERRAFORM|TOFU)=')"
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
mkdir -p "$work/config"
cp "$root/examples/quickstart/main.tf" "$work/config/main.tf"
cd "$work/config"
export TF_VAR_kubeconfig="$kubeconfig"

step "$(basename "$tool") init"
# A rebuilt provider has a new checksum: -upgrade refreshes the lock file.
"$tool" init -input=false -upgrade >/dev/null
if [ "${1:-apply}" = destroy ]; then
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
