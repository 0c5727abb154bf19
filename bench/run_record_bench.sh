#!/usr/bin/env bash
# Recording benchmarks: write throughput against a plain write, and peak memory for N = 1,000 vs 20,000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MECHLENS_BUILD_DIR:-$root/build}/bench/record_bench
MECHLENS_BUILD_TARGET=record_bench bash "$root/scripts/build.sh"
"$bin" throughput --examples 2000
echo
small=$("$bin" memory 1000)
large=$("$bin" memory 20000)
echo "$small"
echo "$large"
rss() { sed -E 's/.*peak_rss_mb=([0-9.]+).*/\1/' <<<"$1"; }
awk -v a="$(rss "$small")" -v b="$(rss "$large")" 'BEGIN { printf "peak memory ratio N=20000 / N=1000: %.2f\n", b / a }'
