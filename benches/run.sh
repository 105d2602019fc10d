#!/usr/bin/env bash
# Prints the provider's figures (a benchmark, not a test): start -> handshake line (with
# and without AutoMTLS, CPU time and RSS by then: benches/startup.rs), GetProviderSchema
# latency over AutoMTLS, RSS, and `terraform plan` of 10 deployments.
# Builds the release binary first and measures exactly that build. Honours
# CARGO_TARGET_DIR and the BENCH_* knobs documented at the top of benches/provider.rs;
# extra arguments go to the bench.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CHECKPOINT_DISABLE=1
unset TF_LOG TF_LOG_PATH TF_LOG_PROVIDER TF_REATTACH_PROVIDERS TF_CLI_ARGS TF_CLI_ARGS_plan

exe=$(cargo build --release -p terraform-provider-redis --bin terraform-provider-redis \
  --message-format=json-render-diagnostics |
  grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d '"' -f 4)
if [[ ! -x "$exe" ]]; then
  echo "run.sh: cargo reported no provider executable" >&2
  exit 1
fi
# `cargo bench` builds the binary again with the bench's dev-dependency features and puts
# it at the same path; measure a copy of the release build instead.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
cp "$exe" "$bin_dir/terraform-provider-redis"
PROVIDER_BINARY="$bin_dir/terraform-provider-redis" \
  cargo bench -p terraform-provider-redis --bench startup --bench provider -- "$@"
