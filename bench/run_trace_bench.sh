#!/usr/bin/env bash
# Circuit tracing: information-flow routes against one cached forward (3-layer logic model, and a
# GPT-2-small shape at 128 tokens), the batched knock-out grid against a loop of masked full forwards,
# and the peak memory of the streaming flow at 256 tokens (a process of its own).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=trace_bench bash "$root/scripts/build.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
"$build/bench/trace_bench" small
"$build/bench/trace_bench" gpt2 128
"$build/bench/trace_bench" memory 256
