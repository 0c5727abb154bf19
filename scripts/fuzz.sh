#!/usr/bin/env bash
# Coverage-guided fuzzing of every loader of outside input (tests/fuzz: checkpoints, configs,
# HDF5 records and results) with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (clang
# from Debian), time-boxed: FUZZ_SECONDS per target (default 30). Starts from the committed corpus
# (tests/fuzz/corpus); new inputs go to build-fuzz/corpus, findings to build-fuzz/findings and make
# the script fail, naming the reproducer. The ordinary test suite replays the committed corpus.
# usage: scripts/fuzz.sh [TARGET...]   (targets: safetensors config_json record torch_save
#        sentencepiece_model; default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/apt_install.sh" clang-14 libclang-rt-14-dev

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config_json record torch_save sentencepiece_model)
build="$root/build-fuzz"
if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMECHLENS_FUZZ=ON -DMECHLENS_SANITIZER="fuzzer-no-link,address,undefined" -DMECHLENS_BUILD_BENCH=OFF \
    "${launcher[@]}" >&2
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >&2

# LibTorch and HDF5 are not instrumented; their allocations are not tracked (no leak check).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:detect_odr_violation=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
seconds=${FUZZ_SECONDS:-30}
status=0
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target" findings="$build/findings/$target"
  mkdir -p "$corpus" "$findings"
  echo "fuzz: $target for ${seconds}s" >&2
  if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" \
      "$root/tests/fuzz/corpus/$target" 2>"$build/fuzz_$target.log"; then
    echo "fuzz: $target FOUND A FAILURE; reproducer in $findings/, log $build/fuzz_$target.log:" >&2
    grep -E "ERROR|SUMMARY|terminate|what\(\)" "$build/fuzz_$target.log" | head -5 >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/fuzz_$target.log" |
      sed "s/^/fuzz: $target /" >&2
  fi
done
exit $status
