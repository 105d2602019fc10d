#!/usr/bin/env bash
# The TN-99 failure table measured on the test bed (a benchmark, run by hand; nothing in
# it is asserted): a redis_deployment of three pods with AOF (appendfsync everysec) and
# its redis_sentinel (down_after_milliseconds = 5000), a client writing every ~20 ms
# through the primary the Sentinels name, and one fault at a time on the primary:
#   - pod crash: its Redis process killed (testbed fault kill-pod), the pod restarts it;
#   - pod deleted: kubectl delete pod, the StatefulSet re-creates it;
#   - node lost: testbed fault lose-node (processes stopped, node NotReady), restored once
#     writes resumed.
# Prints, per fault, the RTO (fault -> first acknowledged write after the first failed
# one), the acknowledged keys missing from the primary afterwards (RPO), and whether the
# Sentinels failed over or the pod came back in place. The scenario is
# acceptance-tests/tests/acceptance/sentinel_faults.rs (`failover_figures`, ignored by the
# suite). Needs the test bed up; builds the debug provider
# the acceptance harness uses. Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/terraform-provider-redis/cargo-target}
cargo build -q -p terraform-provider-redis
cargo test -q -p acceptance-tests --test acceptance \
  sentinel_faults::failover_figures -- --exact --ignored --nocapture 2>&1 |
  grep -E '^(\||FIGURE)'
