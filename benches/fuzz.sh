#!/usr/bin/env bash
# The long fuzz run of the msgpack/JSON value codecs, the RESP reader and the RDB parser (a few million
# inputs; run by hand, not in CI): prints inputs per second and peak allocations, or the
# failing input and how to reproduce it. The knobs are at the top of benches/fuzz.rs
# (FUZZ_SECONDS per target, default 60; FUZZ_SEED; FUZZ_TARGETS; FUZZ_CASE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo bench -p terraform-provider-redis --bench fuzz
