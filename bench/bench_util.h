/*
 * bench/bench_util.h - small helpers shared by troupe-bench and its
 * workloads: the clock, memory use, the runtime's conservation check.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef TROUPE_BENCH_UTIL_H
#define TROUPE_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <troupe/troupe.h>

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t bench_now_ns(void);

/*
 * Peak resident set size of this process so far, in KiB (ru_maxrss, the
 * figure /usr/bin/time -v reports): anonymous memory *and* the pages of the
 * program and its libraries that the process touched.
 *
 * With TROUPE_BENCH_RSS=1 in the environment, the first call also arranges
 * for the process to write, at exit, where its resident memory is to
 * stderr: peak/now/anon/file totals from /proc/self/status, then KiB per
 * file and per large anonymous mapping from /proc/self/smaps ("rss: "
 * lines; docs/profiling.md shows how to read them). Reading them costs a
 * few pages itself, so "now" may exceed the last peak_rss_kb= a little.
 */
uint64_t bench_peak_rss_kb(void);

/*
 * Parses a decimal unsigned integer that fills all of @s (no sign, no
 * spaces, no overflow). Returns true and sets *out on success.
 */
bool bench_parse_u64(const char *s, uint64_t *out);

struct bench_result;

/*
 * Checks the runtime's counters after trp_runtime_wait_idle(): sent ==
 * @expect, processed == @expect, nothing dead-lettered or rejected. Prints
 * what is wrong to stderr, prefixed by @workload. Returns true if all hold.
 * Also copies the workers' parks and steals into @out (the line's parks=
 * and steals= fields: how often workers ran dry).
 */
bool bench_check_stats(trp_runtime_t *rt, const char *workload, uint64_t expect,
		       struct bench_result *out);

/*
 * Allocates @n zeroed elements of @size bytes (a multiple of 64) on 64-byte
 * boundaries, so per-actor states on different workers share no cache line.
 * Returns NULL on overflow or out of memory; free() the result.
 */
void *bench_alloc_lines(size_t n, size_t size);

/*
 * A log-linear latency histogram (HdrHistogram's layout, reduced): values
 * below 2^BENCH_HIST_SUB_BITS have one bucket each; above, every power of
 * two is split into 2^BENCH_HIST_SUB_BITS equal buckets, so a bucket is
 * at most 1/16 (6.25%) of its values wide whatever the magnitude, and a
 * record is a shift, a clz and an increment (no allocation, no search).
 * Percentiles are read as the upper bound of the bucket holding the rank:
 * never below the true value, at most 6.25% above it.
 *
 * Threads: one writer; read after the writer is done (the caller orders
 * it, e.g. by quiescence).
 */
#define BENCH_HIST_SUB_BITS 4
#define BENCH_HIST_BUCKETS                                                     \
	((64 - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

/* Adds one value (nanoseconds, say). */
void bench_hist_record(struct bench_hist *h, uint64_t v);

/*
 * The value at quantile @q (0 < q <= 1): the upper bound of the bucket
 * holding the ceil(q * count)-th smallest value, capped at the largest
 * value recorded. 0 when nothing was recorded.
 */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

#endif /* TROUPE_BENCH_UTIL_H */
