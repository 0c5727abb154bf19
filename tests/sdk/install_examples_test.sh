#!/usr/bin/env bash
# The C++ SDK as a user meets it: `cmake --install` into a fresh prefix, docs/examples configured
# with find_package(mechlens) against that prefix only, built, and run on the shipped logic model.
# usage: install_examples_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -uo pipefail
build=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$source/tests/expect.sh"
ck="$source/data/checkpoints/logic_3l3h.safetensors"
prompt="8 31 1 41 1 31 12 41 25 31 4 41 3 31 13 41 13 28 4 31 15 41 34 3 37 41 8 37 41 25 37 41 35 39 15 41 40 42"

expect install 0 "mechlensConfig.cmake" -- cmake --install "$build" --prefix "$work/prefix"
[ -f "$work/prefix/include/mechlens/runtime/model.h" ] && [ -x "$work/prefix/bin/mechlens" ] && ok ||
  bad "install left out headers or the binary"
expect configure 0 "Build files have been written" -- cmake -S "$source/docs/examples" -B "$work/examples" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix"
expect build 0 "Linking CXX executable" -- cmake --build "$work/examples" -j 1
expect run-with-cache 0 "L2H2: last position attends most to position" -- "$work/examples/run_with_cache" "$ck" $prompt
expect ablate-head 0 "with L0H2 zeroed: prediction" -- "$work/examples/ablate_head" "$ck" 0 2 $prompt
expect dla 0 "L2H2 [+-][0-9]" -- "$work/examples/direct_logit_attribution" "$ck" $prompt
expect usage 2 "usage: " -- "$work/examples/ablate_head" "$ck"
echo "sdk: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
