/*
 * bench/workloads/blocked_wake.c - how long a runnable actor waits behind a
 * behaviour that blocks (issue 14).
 *
 * Each round: the main thread waits until the runtime is idle (every
 * worker parked), lets it sleep for a while (0-3 ms, varying, so rounds
 * meet the parked workers in different phases), then sends to actor A.
 * A's behaviour reads the clock, sends it to actor B (B lands alone on
 * A's worker's own run queue, so nobody is woken for it) and then blocks
 * for BLOCK_US microseconds (nanosleep), as a behaviour calling a slow
 * library might. B records its start delay: now minus A's clock reading.
 * Without help B would wait until A's behaviour returns (BLOCK_US), or
 * until a parked worker happens to look; an idle worker should take it.
 *
 * Output: rate= counts rounds per second (meaningless but for the format);
 * p50_ns=, p99_ns=, max_ns= of B's start delay (bench_hist). Check: A and
 * B each ran ROUNDS times, the histogram holds ROUNDS samples, every
 * delay was recorded once, the counters agree (2 * ROUNDS messages).
 * Needs at least 2 workers (with 1, B must wait by design: reported, and
 * the check fails).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	P_ROUNDS,
	P_BLOCK_US,
};

static const struct bench_param blocked_params[] = {
	[P_ROUNDS] = { "rounds", "rounds (A blocks once, B waits once)", 300, 1,
		       1000000 },
	[P_BLOCK_US] = { "block_us", "how long A's behaviour blocks (us)",
			 10000, 1, 10000000 },
};

struct shared {
	alignas(64) trp_actor_t *b; /* reference owned by run() */
	uint64_t block_us;
	uint64_t a_runs; /* A's worker only: one A at a time */
	uint64_t b_runs; /* B's worker only */
	uint64_t failed;
	struct bench_hist *hist; /* written by B only */
};

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void a_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct shared *s = state;
	uint64_t now = bench_now_ns();

	(void)self;
	(void)msg;
	s->a_runs++;
	if (trp_send(s->b, 1, &now, sizeof(now)) != 0)
		s->failed++;
	sleep_ns(s->block_us * 1000u);
}

static void b_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct shared *s = state;
	uint64_t now = bench_now_ns(), sent;

	(void)self;
	if (msg->size != sizeof(sent)) {
		s->failed++;
		return;
	}
	memcpy(&sent, msg->data, sizeof(sent));
	s->b_runs++;
	bench_hist_record(s->hist, now - sent);
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "blocked_wake: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static int blocked_run(const trp_config_t *cfg, const uint64_t *values,
		       size_t mode, struct bench_result *out)
{
	uint64_t rounds = values[P_ROUNDS];
	trp_actor_def_t adef = { .behavior = a_behavior };
	trp_actor_def_t bdef = { .behavior = b_behavior };
	struct shared *s = bench_alloc_lines(1, sizeof(struct shared));
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	trp_runtime_t *rt = NULL;
	trp_actor_t *a = NULL;
	uint64_t t0, t1, rng = 0x9e3779b97f4a7c15ull;
	int rc;

	(void)mode;
	memset(out, 0, sizeof(*out));
	if (s == NULL || hist == NULL) {
		free(s);
		free(hist);
		return report("allocating state", TRP_ENOMEM);
	}
	s->block_us = values[P_BLOCK_US];
	s->hist = hist;
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		free(s);
		free(hist);
		return report("trp_runtime_create", rc);
	}
	out->workers = trp_runtime_workers(rt);
	rc = trp_actor_spawn(rt, &bdef, s, &s->b);
	if (rc != 0) {
		s->b = NULL;
		report("spawn B", rc);
		goto done;
	}
	rc = trp_actor_spawn(rt, &adef, s, &a);
	if (rc != 0) {
		report("spawn A", rc);
		goto done;
	}
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < rounds; i++) {
		rc = trp_runtime_wait_idle(rt, -1);
		if (rc != 0) {
			report("trp_runtime_wait_idle", rc);
			goto done;
		}
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		sleep_ns(rng % 3000000u);
		rc = trp_send(a, 0, NULL, 0);
		if (rc != 0) {
			report("send to A", rc);
			goto done;
		}
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	out->messages = 2 * rounds;
	out->items = rounds;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = s->a_runs == rounds && s->b_runs == rounds &&
		  s->failed == 0 && hist->count == rounds && out->workers >= 2;
	if (!out->ok)
		fprintf(stderr,
			"blocked_wake: A ran %llu, B ran %llu (want %llu), "
			"%llu failures, %u workers (want >= 2)\n",
			(unsigned long long)s->a_runs,
			(unsigned long long)s->b_runs,
			(unsigned long long)rounds,
			(unsigned long long)s->failed, out->workers);
	if (!bench_check_stats(rt, "blocked_wake", out->messages, out))
		out->ok = false;
	snprintf(out->extra, sizeof(out->extra),
		 "p50_ns=%llu p99_ns=%llu max_ns=%llu",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)hist->max);
done:
	if (a != NULL)
		trp_actor_release(a);
	if (s->b != NULL)
		trp_actor_release(s->b);
	{
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(s);
	free(hist);
	return rc;
}

const struct bench_workload bench_blocked_wake = {
	.name = "blocked_wake",
	.summary = "start delay of an actor queued behind a behaviour that "
		   "blocks (p50/p99/max)",
	.params = blocked_params,
	.nparams = sizeof(blocked_params) / sizeof(blocked_params[0]),
	.run = blocked_run,
};
