#!/usr/bin/env bash
# The chaos soak at a larger size (the suite runs it at 10,000 jobs): throwaway RabbitMQ and
# Redis, kills, restarts and stalls while the jobs stream through the three worker processes,
# then the figures (jobs, distinct articles, raw repeats, dead letters by reason, peak RSS).
# Usage: ops/soak.sh [JOBS]   (default 50000)
# COPYDESK_SOAK_MAX_UNMARKED=32 runs the dedup worker as deployed by default (up to the prefetch
# of events out but not yet marked) instead of the strict 1; COPYDESK_SOAK_LOGS=<dir> keeps the
# workers' logs (with RUST_LOG, e.g. info,copydesk_dedup=debug).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
COPYDESK_SOAK_JOBS="${1:-50000}" cargo nextest run -p integration-tests --no-capture -E 'test(/chaos_soak/)'
