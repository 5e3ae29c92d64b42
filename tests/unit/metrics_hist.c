/*
 * tests/unit/metrics_hist.c - core/metrics.h: the log2 bucket of a
 * duration, recording, the merge of several single-writer histograms on
 * read, the per-actor high-water mark, and a reader racing a writer (every
 * read is whole and monotone: run under TSan by the tsan preset).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "metrics.h"

static void test_buckets(void **unused)
{
	(void)unused;
	assert_int_equal(trp__hist_bucket(0), 0);
	assert_int_equal(trp__hist_bucket(1), 1);
	assert_int_equal(trp__hist_bucket(2), 2);
	assert_int_equal(trp__hist_bucket(3), 2);
	assert_int_equal(trp__hist_bucket(4), 3);
	assert_int_equal(trp__hist_bucket(1023), 10);
	assert_int_equal(trp__hist_bucket(1024), 11);
	assert_int_equal(trp__hist_bucket((1ull << 30) - 1), 30);
	assert_int_equal(trp__hist_bucket(1ull << 30), TRP_HIST_BUCKETS - 1);
	assert_int_equal(trp__hist_bucket(UINT64_MAX), TRP_HIST_BUCKETS - 1);
	/* every value is below its bucket's upper bound and at or above the
	 * one before */
	for (uint64_t v = 0; v < 5000; v += 7) {
		unsigned b = trp__hist_bucket(v);
		assert_true(v < trp_hist_upper_ns(b));
		if (b > 0)
			assert_true(v >= trp_hist_upper_ns(b - 1));
	}
}

static void test_merge(void **unused)
{
	(void)unused;
	static struct trp__hist h[3]; /* zeroed: as in a worker */
	uint64_t want[TRP_HIST_BUCKETS] = { 0 }, sum = 0, n = 0;
	for (int i = 0; i < 3; i++)
		for (uint64_t v = (uint64_t)i; v < 100000; v = v * 3 + 1) {
			trp__hist_record(&h[i], v);
			want[trp__hist_bucket(v)]++;
			sum += v;
			n++;
		}
	trp_histogram_t out;
	memset(&out, 0, sizeof out);
	for (int i = 0; i < 3; i++)
		trp__hist_read(&h[i], &out);
	assert_int_equal(out.count, n);
	assert_int_equal(out.sum_ns, sum);
	assert_memory_equal(out.bucket, want, sizeof want);
	/* reading adds: a second read of one doubles its share */
	trp_histogram_t one;
	memset(&one, 0, sizeof one);
	trp__hist_read(&h[0], &one);
	trp__hist_read(&h[0], &one);
	trp_histogram_t once;
	memset(&once, 0, sizeof once);
	trp__hist_read(&h[0], &once);
	assert_int_equal(one.count, 2 * once.count);
	assert_int_equal(one.sum_ns, 2 * once.sum_ns);
}

static void test_hwm(void **unused)
{
	(void)unused;
	static struct trp__actor_metrics m;
	trp__actor_metrics_backlog(&m, 5);
	trp__actor_metrics_backlog(&m, 3);
	assert_int_equal(atomic_load(&m.hwm), 5);
	trp__actor_metrics_backlog(&m, 9);
	assert_int_equal(atomic_load(&m.hwm), 9);
}

/* A writer records N values of 8 ns while a reader reads. */
#define N 200000
static struct trp__hist raced;
static atomic_int writer_done;

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++)
		trp__hist_record(&raced, 8);
	atomic_store(&writer_done, 1);
	return NULL;
}

static void test_reader_races_writer(void **unused)
{
	(void)unused;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, NULL), 0);
	uint64_t last = 0;
	int reads = 0;
	while (!atomic_load(&writer_done) || reads == 0) {
		trp_histogram_t h;
		memset(&h, 0, sizeof h);
		trp__hist_read(&raced, &h);
		/* whole words: every count is some count the writer wrote */
		assert_true(h.count >= last && h.count <= N);
		assert_int_equal(h.count, h.bucket[trp__hist_bucket(8)]);
		assert_true(h.sum_ns % 8 == 0 && h.sum_ns <= 8ull * N);
		last = h.count;
		reads++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	trp_histogram_t h;
	memset(&h, 0, sizeof h);
	trp__hist_read(&raced, &h);
	assert_int_equal(h.count, N);
	assert_int_equal(h.sum_ns, 8ull * N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_hwm),
		cmocka_unit_test(test_reader_races_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
