/*
 * bench/bench_util.c - see bench_util.h.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, getrusage */
#endif

#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_peak_rss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_maxrss; /* KiB on Linux */
}

bool bench_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false; /* strtoull would accept "-1", " 1", "+1" */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT64_MAX)
		return false;
	*out = (uint64_t)v;
	return true;
}

bool bench_check_stats(trp_runtime_t *rt, const char *workload, uint64_t expect)
{
	trp_stats_t st;
	int rc = trp_runtime_stats(rt, &st);

	if (rc != 0) {
		fprintf(stderr, "%s: trp_runtime_stats: %s\n", workload,
			trp_strerror(rc));
		return false;
	}
	if (st.sent == expect && st.processed == expect &&
	    st.dead_lettered == 0 && st.rejected == 0)
		return true;
	fprintf(stderr,
		"%s: runtime stats: sent=%llu processed=%llu (both should be "
		"%llu) dead_lettered=%llu rejected=%llu (should be 0)\n",
		workload, (unsigned long long)st.sent,
		(unsigned long long)st.processed, (unsigned long long)expect,
		(unsigned long long)st.dead_lettered,
		(unsigned long long)st.rejected);
	return false;
}

void *bench_alloc_lines(size_t n, size_t size)
{
	void *p;

	if (n == 0)
		n = 1; /* aligned_alloc(64, 0) may return NULL */
	if (n > SIZE_MAX / size)
		return NULL;
	p = aligned_alloc(64, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

/* Bucket of @v: see struct bench_hist. */
static unsigned hist_index(uint64_t v)
{
	unsigned e, sub;

	if (v < (1u << BENCH_HIST_SUB_BITS))
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	sub = (unsigned)(v >> (e - BENCH_HIST_SUB_BITS)) &
	      ((1u << BENCH_HIST_SUB_BITS) - 1);
	return ((e - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS) + sub;
}

/* Largest value that falls into bucket @i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned e, sub;
	uint64_t width;

	if (i < (1u << BENCH_HIST_SUB_BITS))
		return i;
	e = (i >> BENCH_HIST_SUB_BITS) + BENCH_HIST_SUB_BITS - 1;
	sub = i & ((1u << BENCH_HIST_SUB_BITS) - 1);
	width = (uint64_t)1 << (e - BENCH_HIST_SUB_BITS);
	/* The bucket starts at 2^e + sub * width; the last one ends at
	 * UINT64_MAX without overflowing. */
	return ((uint64_t)1 << e) + (uint64_t)sub * width + (width - 1);
}

void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t up = hist_upper(i);

			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
