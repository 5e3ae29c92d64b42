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

bool bench_check_stats(trp_runtime_t *rt, const char *workload,
		       uint64_t expect)
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
