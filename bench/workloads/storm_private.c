/*
 * bench/workloads/storm_private.c - the storm without fan-in
 * (shared/WORKLOADS.md, storm_private).
 *
 * The storm's rules with every counter owning its two sinks: 3K actors. A
 * counter receiving n > 0 sends n to each of its sinks and n - 1 to itself;
 * at n == 0 it sends nothing. Every counter starts with N: K*(3N+1)
 * messages, as in the storm, but no mailbox has more than one sender
 * besides the main thread, so this shows the runtime without the
 * contention of two shared sinks (compare its rate with the storm's).
 *
 * The sinks are handed to their counter directly (no names: 2K names would
 * measure the name table's setup, and the storm covers lookups).
 *
 * Timing: from the first send of N (after spawning everything) to the
 * return of trp_runtime_wait_idle().
 *
 * Check: every sink got N messages summing to N(N+1)/2; the counters
 * processed K*(N+1); no send failed; the runtime's counters agree (sent ==
 * processed == K*(3N+1), nothing dead-lettered or rejected).
 *
 * State: in arrays this file owns (spawned with state_size 0), one cache
 * line each, read after the runtime is idle.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_INT = 1
}; /* payload: int64_t n, 8 bytes */

enum {
	P_COUNTERS,
	P_N
};

static const struct bench_param storm_private_params[] = {
	[P_COUNTERS] = { "counters", "counter actors (K), each with 2 sinks",
			 1000, 1, 10000000 },
	[P_N] = { "n", "value each counter starts from (N)", 10000, 0,
		  1000000000 },
};

struct sink {
	alignas(64) uint64_t count;
	uint64_t sum; /* mod 2^64, like the expected value */
	uint64_t bad; /* messages of the wrong type or size */
};

struct counter {
	alignas(64) trp_actor_t *sink[2]; /* references owned by run() */
	uint64_t processed;
	uint64_t failed; /* failed sends, bad messages */
};

static bool read_n(const trp_msg_t *msg, int64_t *n)
{
	if (msg->type != MSG_INT || msg->size != sizeof(*n))
		return false;
	memcpy(n, msg->data, sizeof(*n));
	return true;
}

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct sink *s = state;
	int64_t n;

	(void)self;
	if (!read_n(msg, &n)) {
		s->bad++;
		return;
	}
	s->count++;
	s->sum += (uint64_t)n;
}

static void counter_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct counter *c = state;
	int64_t n;

	c->processed++;
	if (!read_n(msg, &n)) {
		c->failed++;
		return;
	}
	if (n == 0)
		return;
	if (trp_send(c->sink[0], MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
	if (trp_send(c->sink[1], MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
	n--;
	if (trp_send(self, MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "storm_private: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool storm_private_check(const struct sink *sinks,
				const struct counter *ctrs, uint64_t k,
				uint64_t n)
{
	uint64_t want_sum = n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2);
	uint64_t processed = 0, failed = 0, wrong = 0;
	bool ok = true;

	for (uint64_t i = 0; i < 2 * k; i++) {
		if (sinks[i].count == n && sinks[i].sum == want_sum &&
		    sinks[i].bad == 0)
			continue;
		if (wrong++ < 5)
			fprintf(stderr,
				"storm_private: sink %llu of counter %llu: "
				"count=%llu (want %llu) sum=%llu (want %llu) "
				"bad=%llu\n",
				(unsigned long long)(i % 2),
				(unsigned long long)(i / 2),
				(unsigned long long)sinks[i].count,
				(unsigned long long)n,
				(unsigned long long)sinks[i].sum,
				(unsigned long long)want_sum,
				(unsigned long long)sinks[i].bad);
		ok = false;
	}
	if (wrong > 5)
		fprintf(stderr, "storm_private: ... %llu sinks wrong\n",
			(unsigned long long)wrong);
	for (uint64_t i = 0; i < k; i++) {
		processed += ctrs[i].processed;
		failed += ctrs[i].failed;
	}
	if (processed != k * (n + 1) || failed != 0) {
		fprintf(stderr,
			"storm_private: counters processed %llu (want %llu), "
			"%llu failed sends/messages\n",
			(unsigned long long)processed,
			(unsigned long long)(k * (n + 1)),
			(unsigned long long)failed);
		ok = false;
	}
	return ok;
}

static int storm_private_run(const trp_config_t *cfg, const uint64_t *values,
			     size_t mode, struct bench_result *out)
{
	uint64_t k = values[P_COUNTERS], n = values[P_N];
	trp_actor_def_t cdef = { .behavior = counter_behavior };
	trp_actor_def_t sdef = { .behavior = sink_behavior };
	struct sink *sinks = bench_alloc_lines(2 * k, sizeof(struct sink));
	struct counter *ctrs = bench_alloc_lines(k, sizeof(struct counter));
	trp_actor_t **handles = calloc(k, sizeof(*handles));
	trp_runtime_t *rt = NULL;
	int64_t start = (int64_t)n;
	uint64_t t0, t1, spawned = 0;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (sinks == NULL || ctrs == NULL || handles == NULL) {
		rc = report("allocating state", TRP_ENOMEM);
		goto done;
	}
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		rt = NULL;
		goto done;
	}
	out->workers = trp_runtime_workers(rt);

	for (; spawned < k; spawned++) {
		struct counter *c = &ctrs[spawned];

		for (int j = 0; j < 2; j++) {
			rc = trp_actor_spawn(rt, &sdef, &sinks[2 * spawned + j],
					     &c->sink[j]);
			if (rc != 0) {
				c->sink[j] = NULL;
				report("spawn sink", rc);
				goto done;
			}
		}
		rc = trp_actor_spawn(rt, &cdef, c, &handles[spawned]);
		if (rc != 0) {
			report("spawn counter", rc);
			goto done;
		}
	}

	t0 = bench_now_ns();
	for (uint64_t i = 0; i < k; i++) {
		rc = trp_send(handles[i], MSG_INT, &start, sizeof(start));
		if (rc != 0) {
			report("send N to a counter", rc);
			goto done;
		}
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = k * (3 * n + 1);
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = storm_private_check(sinks, ctrs, k, n);
	if (!bench_check_stats(rt, "storm_private", out->messages, out))
		out->ok = false;
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	/* Handles stay valid after the runtime is gone (runtime.h). The
	 * counter of a failed iteration may hold sinks without a handle. */
	for (uint64_t i = 0; ctrs != NULL && i < k && i <= spawned; i++) {
		for (int j = 0; j < 2; j++) {
			if (ctrs[i].sink[j] != NULL)
				trp_actor_release(ctrs[i].sink[j]);
		}
		if (handles != NULL && handles[i] != NULL)
			trp_actor_release(handles[i]);
	}
	free(handles);
	free(ctrs);
	free(sinks);
	return rc;
}

const struct bench_workload bench_storm_private = {
	.name = "storm_private",
	.summary = "the storm with two private sinks per counter (3K actors, "
		   "no fan-in); K*(3N+1) messages",
	.params = storm_private_params,
	.nparams =
		sizeof(storm_private_params) / sizeof(storm_private_params[0]),
	.run = storm_private_run,
};
