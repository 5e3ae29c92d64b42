#!/usr/bin/env bash
# tests/fuzz/run.sh - a long libFuzzer run of the frame decoder
# (tests/fuzz/node_wire_fuzz.c over core/node_wire.c), by hand.
#
# Usage: tests/fuzz/run.sh [seconds]      (default 600; 0: until Ctrl-C)
# Environment:
#   CLANG      the compiler (default: clang, else clang-14)
#   FUZZ_DIR   scratch directory (default: <source>/build/fuzz-node_wire)
#   FUZZ_JOBS  parallel fuzzing processes (default 1; > 1 uses -fork)
#
# Builds the target with clang (-fsanitize=fuzzer,address,undefined; it
# needs only core/node_wire.c and core/alloc.c) into FUZZ_DIR and fuzzes
# with the committed corpus as seeds. libFuzzer writes new inputs to the
# first corpus directory only, FUZZ_DIR/new: the source tree is never
# written. Findings land in FUZZ_DIR/artifacts/ (crash-*, leak-*,
# timeout-*, oom-*); the script then exits non-zero.
#
# A finding, step by step:
#   1. Reproduce: FUZZ_DIR/node_wire_fuzzer FUZZ_DIR/artifacts/crash-...
#      or, under gcc's sanitizers and gdb, the replay driver of the asan
#      preset: build/asan/tests/fuzz/fuzz_replay_node_wire <file>
#   2. Minimize:
#        FUZZ_DIR/node_wire_fuzzer -minimize_crash=1 -runs=200000 \
#                -exact_artifact_path=/tmp/min <crash file>
#   3. Fix the codec, and add a unit test for it (tests/unit/node_wire.c:
#      the rule, not the file) that fails before the fix (STYLE.md).
#   4. Keep the input: cp /tmp/min tests/fuzz/corpus/node_wire/crash-<what>
#      and check that ctest -R fuzz.node_wire.replay passes.
#
# Growing the corpus with what a run found (only inputs that add coverage
# are copied; names are their SHA-1; keep the corpus small, it is
# committed):
#   FUZZ_DIR/node_wire_fuzzer -merge=1 tests/fuzz/corpus/node_wire \
#           FUZZ_DIR/new
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
secs=${1:-600}
if [[ ! $secs =~ ^[0-9]+$ ]]; then
	echo "usage: $0 [seconds]" >&2
	exit 2
fi
clang=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [[ -z $clang ]]; then
	echo "run.sh: no clang (set CLANG)" >&2
	exit 2
fi
scratch=${FUZZ_DIR:-$root/build/fuzz-node_wire}
jobs=${FUZZ_JOBS:-1}
corpus=$root/tests/fuzz/corpus/node_wire

mkdir -p "$scratch/new" "$scratch/artifacts"
fuzzer=$scratch/node_wire_fuzzer
"$clang" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Wshadow -Werror \
	-I"$root/include" -I"$root/core" \
	"$root/core/node_wire.c" "$root/core/alloc.c" \
	"$root/tests/fuzz/node_wire_fuzz.c" -o "$fuzzer"

args=(
	-max_total_time="$secs"
	-rss_limit_mb=1024
	-timeout=10
	# Larger than any seed: a few frames of many items.
	-max_len=16384
	-print_final_stats=1
	-artifact_prefix="$scratch/artifacts/"
)
if ((jobs > 1)); then
	args+=(-fork="$jobs")
fi
cd "$scratch"
echo "run.sh: $fuzzer, ${secs}s, new inputs in $scratch/new" >&2
exec "$fuzzer" "${args[@]}" "$scratch/new" "$corpus"
