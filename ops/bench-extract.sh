#!/usr/bin/env bash
# Extraction quality and speed, as recorded in BENCHMARKS.md. A benchmark, not a test: the
# figures depend on the machine and on what else runs on it (best of 5 runs is reported).
# Usage: ops/bench-extract.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release -p copydesk 2>/dev/null
bin=target/release/copydesk

for corpus in scrapinghub-aeb cwce-zh-dev; do
  "$bin" eval "../shared/corpus/$corpus"
done

pages=$(ls ../shared/corpus/scrapinghub-aeb/html | wc -l)
best=""
for _ in 1 2 3 4 5; do
  state=$(mktemp -d)
  /usr/bin/time -o "$state/time" -f "%U %S %M %e" "$bin" process ../shared/corpus/scrapinghub-aeb/html -j 1 --state "$state/db" >/dev/null 2>&1
  line=$(tail -1 "$state/time")
  rm -rf "$state"
  cpu=$(echo "$line" | awk '{print $1 + $2}')
  if [ -z "$best" ] || awk "BEGIN {exit !($cpu < $(echo "$best" | awk '{print $1 + $2}'))}"; then best=$line; fi
done
echo "$best" | awk -v n="$pages" '{cpu = $1 + $2; printf "copydesk process, %d AEB pages, one thread: %.2f CPU-s, %.0f pages per CPU-second, peak RSS %.1f MB, wall %.2f s\n", n, cpu, n / cpu, $3 / 1024, $4}'
