#!/usr/bin/env bash
# tests/models/check.sh - model-check troupe's concurrency protocols with spin.
#
# For every tests/models/*.pml: spin -a, gcc -O2 -DSAFETY, ./pan (exhaustive
# safety search: assertions + invalid end states). A model named
# *_broken.pml is a deliberately broken variant and must be REJECTED (with
# the kind of error listed in expected_error below); every other model must
# VERIFY (errors: 0 and a complete search: no "max search depth too small",
# no out-of-memory). Prints "PASS <model>" or "FAIL <model>" per model on
# stdout (details of failures go to stderr) and exits non-zero if any model
# failed. Needs only spin, gcc and coreutils; no network. Runs from any cwd;
# everything is built in a temporary directory that is removed on exit.
#
# Usage: tests/models/check.sh [model ...]   (names without .pml; default all)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

for tool in spin gcc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "check.sh: '$tool' not found (apt-get install spin gcc)" >&2
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/troupe-models.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM

# Per-model build and search flags (all models are safety-only today).
cflags_for() {
	case "$1" in
	*) echo "-O2 -DSAFETY" ;;
	esac
}
panflags_for() {
	# -m: max search depth; the deepest model needs < 1000, and a search
	# that hits the limit is reported as incomplete (FAIL), never as PASS.
	case "$1" in
	*) echo "-m10000" ;;
	esac
}
# The error a broken variant must be rejected with (a pan output pattern).
expected_error() {
	case "$1" in
	park*_broken) echo "invalid end state" ;;
	# a lost wake-up: the quiescence check finds mail never handled
	port_wake*_broken) echo "assertion violated" ;;
	*_broken) echo "assertion violated" ;;
	esac
}

# Runs one model in its own directory; prints PASS/FAIL; returns 0 on PASS.
check_model() {
	local name=$1 dir="$tmp/$1" reason="" errors expect
	mkdir -p "$dir"
	cp -- "$here"/*.pml "$dir"/ # models may #include a sibling
	# shellcheck disable=SC2046
	if ! (cd "$dir" && spin -a "$name.pml") >"$dir/build.log" 2>&1; then
		reason="spin -a failed"
	elif ! (cd "$dir" && gcc $(cflags_for "$name") -o pan pan.c) \
		>>"$dir/build.log" 2>&1; then
		reason="gcc failed"
	else
		# pan's exit status is not meaningful; parse its report.
		# shellcheck disable=SC2046
		(cd "$dir" && timeout 55 ./pan $(panflags_for "$name")) \
			>"$dir/pan.log" 2>&1 || true
		errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' \
			"$dir/pan.log" | tail -n 1)
		if [[ -z "$errors" ]]; then
			reason="pan did not finish"
		elif [[ "$name" == *_broken ]]; then
			expect=$(expected_error "$name")
			if [[ "$errors" -eq 0 ]]; then
				reason="broken variant was NOT rejected"
			elif ! grep -q "pan:1: $expect" "$dir/pan.log"; then
				reason="rejected, but not with '$expect'"
			fi
		else
			if [[ "$errors" -ne 0 ]]; then
				reason="verification failed"
			elif grep -q "max search depth too small" "$dir/pan.log"; then
				reason="search incomplete (depth limit)"
			elif grep -qi "out of memory" "$dir/pan.log"; then
				reason="search incomplete (memory)"
			fi
		fi
	fi
	if [[ -z "$reason" ]]; then
		echo "PASS $name"
		return 0
	fi
	echo "FAIL $name"
	{
		echo "--- $name: $reason"
		cat "$dir/build.log" "$dir/pan.log" 2>/dev/null | tail -n 40
		if [[ -f "$dir/$name.pml.trail" && "$name" != *_broken ]]; then
			echo "--- counterexample (spin -t -p), last lines:"
			(cd "$dir" && spin -t -p -g "$name.pml" 2>&1 | tail -n 60)
		fi
	} >&2
	return 1
}

models=()
if [[ $# -gt 0 ]]; then
	models=("$@")
else
	shopt -s nullglob
	for f in "$here"/*.pml; do
		models+=("$(basename -- "$f" .pml)")
	done
fi
if [[ ${#models[@]} -eq 0 ]]; then
	echo "check.sh: no models found in $here" >&2
	exit 2
fi

# Run up to $MODELS_JOBS models at once (default: number of CPUs), then
# report in a stable order.
jobs_max=${MODELS_JOBS:-$(nproc 2>/dev/null || echo 2)}
[[ "$jobs_max" =~ ^[1-9][0-9]*$ ]] || jobs_max=2
for m in "${models[@]}"; do
	if [[ ! -f "$here/$m.pml" ]]; then
		{ echo "FAIL $m"; } >"$tmp/$m.out"
		echo "--- $m: no such model $here/$m.pml" >"$tmp/$m.err"
		continue
	fi
	while [[ $(jobs -rp | wc -l) -ge $jobs_max ]]; do
		wait -n || true
	done
	check_model "$m" >"$tmp/$m.out" 2>"$tmp/$m.err" &
done
wait || true

status=0
for m in "${models[@]}"; do
	cat -- "$tmp/$m.err" >&2 2>/dev/null || true
	if [[ -s "$tmp/$m.out" ]]; then
		cat -- "$tmp/$m.out"
	else
		echo "FAIL $m"
	fi
	grep -qx "PASS $m" "$tmp/$m.out" 2>/dev/null || status=1
done
exit "$status"
