#!/usr/bin/env bash
# The RDB verifier's figures (run by hand, not in CI): parse throughput (MB/s) and peak RSS
# of redis::rdb::verify on a generated ~1 GiB RDB 10 file, next to every redis-check-rdb
# the test bed has (Debian's 7.0 and the tool cache's builds) on the same file, each as
# its own process under /usr/bin/time. The file is generated once into the tool cache.
# Knobs: RDB_BENCH_MIB (default 1024), RDB_BENCH_FILE (see benches/rdb.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x /usr/bin/time ]]; then
  echo "rdb.sh: needs /usr/bin/time (Debian package: time)" >&2
  exit 1
fi
exec cargo bench -p terraform-provider-redis --bench rdb
