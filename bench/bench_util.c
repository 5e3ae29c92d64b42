/*
 * bench/bench_util.c - see bench_util.h.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, getrusage */
#endif

#include "bench_util.h"
#include "workloads/workloads.h"

#include <errno.h>
#include <stdatomic.h>
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

/* One line of the breakdown: resident KiB of a file, or of anonymous
 * memory (a mapping of its own when large, else summed). */
struct rss_part {
	char name[160];
	uint64_t kb;
};

#define RSS_PARTS 64
#define RSS_ANON_OWN_KB 64 /* anonymous mappings listed on their own */

/* Adds @kb to the part named @name (a new one if there is room). */
static void rss_add(struct rss_part *parts, unsigned *n, const char *name,
		    uint64_t kb)
{
	for (unsigned i = 0; i < *n; i++) {
		if (strcmp(parts[i].name, name) == 0) {
			parts[i].kb += kb;
			return;
		}
	}
	if (*n == RSS_PARTS)
		return;
	snprintf(parts[*n].name, sizeof(parts[*n].name), "%s", name);
	parts[*n].kb = kb;
	(*n)++;
}

static int rss_part_cmp(const void *a, const void *b)
{
	const struct rss_part *x = a, *y = b;

	return x->kb < y->kb ? 1 : x->kb > y->kb ? -1 : 0;
}

/* Copies the "Name:  N kB" value of /proc/self/status, or 0. */
static uint64_t status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	unsigned long long v;

	if (p == NULL || sscanf(p + strlen(key), " %llu", &v) != 1)
		return 0;
	return (uint64_t)v;
}

/*
 * atexit handler behind TROUPE_BENCH_RSS: the resident memory of the
 * process, by file and by large anonymous mapping (/proc/self/smaps), on
 * stderr. Files count too: ru_maxrss (and /usr/bin/time) include the pages
 * of libraries the process touched, which for a small program is most of
 * it (see docs/profiling.md, "Where the memory goes").
 */
static void rss_breakdown(void)
{
	static struct rss_part parts[RSS_PARTS];
	static char status[8192];
	char line[512], name[160] = "";
	unsigned n = 0;
	size_t len;
	bool anon = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return;
	len = fread(status, 1, sizeof(status) - 1, f);
	status[len] = '\0';
	fclose(f);
	fprintf(stderr,
		"rss: KiB at exit: peak=%llu now=%llu anon=%llu file=%llu "
		"(peak: VmHWM, the figure of peak_rss_kb=)\n",
		(unsigned long long)status_kb(status, "VmHWM:"),
		(unsigned long long)status_kb(status, "VmRSS:"),
		(unsigned long long)status_kb(status, "RssAnon:"),
		(unsigned long long)status_kb(status, "RssFile:"));

	f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long lo, hi, kb;
		char path[160] = "";

		/* A mapping's header: "lo-hi perms offset dev inode [path]"
		 * (a field line never starts with "hex-hex"). */
		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %159s", &lo, &hi,
			   path) >= 2) {
			anon = path[0] == '\0';
			if (anon)
				snprintf(name, sizeof(name),
					 "anon %llx (%llu KiB mapped)", lo,
					 (hi - lo) / 1024);
			else
				snprintf(name, sizeof(name), "%s", path);
			continue;
		}
		if (sscanf(line, "Rss: %llu kB", &kb) != 1 || kb == 0)
			continue;
		if (anon && kb < RSS_ANON_OWN_KB)
			rss_add(parts, &n, "anon, smaller mappings", kb);
		else
			rss_add(parts, &n, name, kb);
	}
	fclose(f);
	qsort(parts, n, sizeof(parts[0]), rss_part_cmp);
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "rss: %6llu %s\n",
			(unsigned long long)parts[i].kb, parts[i].name);
}

uint64_t bench_peak_rss_kb(void)
{
	static atomic_flag registered = ATOMIC_FLAG_INIT;
	struct rusage ru;

	/* relaxed: registering once is all this guards. */
	if (!atomic_flag_test_and_set_explicit(&registered,
					       memory_order_relaxed)) {
		const char *e = getenv("TROUPE_BENCH_RSS");

		if (e != NULL && e[0] != '\0' && strcmp(e, "0") != 0)
			atexit(rss_breakdown);
	}
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

bool bench_check_stats(trp_runtime_t *rt, const char *workload, uint64_t expect,
		       struct bench_result *out)
{
	trp_stats_t st;
	int rc = trp_runtime_stats(rt, &st);

	if (rc != 0) {
		fprintf(stderr, "%s: trp_runtime_stats: %s\n", workload,
			trp_strerror(rc));
		return false;
	}
	out->parks = st.parks;
	out->steals = st.steals;
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
