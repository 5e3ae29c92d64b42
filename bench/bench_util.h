/*
 * bench/bench_util.h - small helpers shared by troupe-bench and its
 * workloads: the clock, memory use, the runtime's conservation check.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef TROUPE_BENCH_UTIL_H
#define TROUPE_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <troupe/troupe.h>

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t bench_now_ns(void);

/* Peak resident set size of this process so far, in KiB (ru_maxrss). */
uint64_t bench_peak_rss_kb(void);

/*
 * Parses a decimal unsigned integer that fills all of @s (no sign, no
 * spaces, no overflow). Returns true and sets *out on success.
 */
bool bench_parse_u64(const char *s, uint64_t *out);

/*
 * Checks the runtime's counters after trp_runtime_wait_idle(): sent ==
 * @expect, processed == @expect, nothing dead-lettered or rejected. Prints
 * what is wrong to stderr, prefixed by @workload. Returns true if all hold.
 */
bool bench_check_stats(trp_runtime_t *rt, const char *workload,
		       uint64_t expect);

#endif /* TROUPE_BENCH_UTIL_H */
