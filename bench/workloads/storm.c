/*
 * bench/workloads/storm.c - the message storm (shared/WORKLOADS.md, storm).
 *
 * The seed's ActorScheduler program scaled up: K counter actors and two
 * shared sinks registered as "say_hello" and "say_hi". A counter receiving
 * n > 0 sends n to each sink and n - 1 to itself; at n == 0 it sends
 * nothing. Every counter starts with N, so the run moves K*(3N+1) messages,
 * 2*K*N of them into the two sinks' mailboxes (fan-in from every counter).
 *
 * Timing: from the first send of N (after spawning everything and letting
 * the start hooks finish) to the return of trp_runtime_wait_idle().
 *
 * Check: each sink got K*N messages summing to K*N*(N+1)/2; the counters
 * processed K*(N+1); no send failed; the runtime's counters agree (sent ==
 * processed == K*(3N+1), nothing dead-lettered or rejected).
 *
 * State: counters and sinks keep their state in arrays this file owns
 * (spawned with state_size 0) so the check can read them after the runtime
 * is idle; quiescence orders every behaviour's writes before that read.
 * Each state is padded to its own cache line: counters run on both workers,
 * and a shared line would turn every increment into a transfer.
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

static const struct bench_param storm_params[] = {
	[P_COUNTERS] = { "counters", "counter actors (K)", 1000, 1, 10000000 },
	[P_N] = { "n", "value each counter starts from (N)", 10000, 0,
		  1000000000 },
};

struct sink {
	alignas(64) uint64_t count;
	uint64_t sum; /* mod 2^64, like the expected value */
	uint64_t bad; /* messages of the wrong type or size */
};

struct counter {
	alignas(64) trp_actor_t *hello; /* looked up once, in the start hook */
	trp_actor_t *hi;
	uint64_t processed;
	uint64_t failed; /* failed sends or lookups, bad messages */
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

static void counter_start(trp_actor_t *self, void *state)
{
	struct counter *c = state;
	trp_runtime_t *rt = trp_actor_runtime(self);

	if (trp_lookup(rt, "say_hello", &c->hello) != 0) {
		c->hello = NULL;
		c->failed++;
	}
	if (trp_lookup(rt, "say_hi", &c->hi) != 0) {
		c->hi = NULL;
		c->failed++;
	}
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
		return; /* stops sending; the actor stays, idle */
	/* A send that fails accepted nothing: count it, the check fails. */
	if (trp_send(c->hello, MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
	if (trp_send(c->hi, MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
	n--;
	if (trp_send(self, MSG_INT, &n, sizeof(n)) != 0)
		c->failed++;
}

static void counter_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct counter *c = state;

	(void)self;
	(void)why;
	if (c->hello != NULL)
		trp_actor_release(c->hello);
	if (c->hi != NULL)
		trp_actor_release(c->hi);
	c->hello = c->hi = NULL;
}

/* Allocates @n zeroed, 64-byte aligned elements of @size (a multiple of 64). */
static void *alloc_lines(size_t n, size_t size)
{
	void *p;

	if (n > SIZE_MAX / size)
		return NULL;
	p = aligned_alloc(64, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "storm: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static int spawn_sink(trp_runtime_t *rt, const char *name, struct sink *s)
{
	trp_actor_def_t def = { .behavior = sink_behavior };
	trp_actor_t *a;
	int rc;

	rc = trp_actor_spawn(rt, &def, s, &a);
	if (rc != 0)
		return report("spawn sink", rc);
	rc = trp_register(rt, name, a);
	trp_actor_release(a); /* the name reaches it; it runs without handles */
	if (rc != 0)
		return report("trp_register", rc);
	return 0;
}

/* Compares the sinks and counters with what K and N imply. */
static bool storm_check(const struct sink *sinks, const struct counter *ctrs,
			uint64_t k, uint64_t n)
{
	static const char *const names[] = { "say_hello", "say_hi" };
	uint64_t want_count = k * n;
	uint64_t want_sum =
		(n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2)) * k;
	uint64_t processed = 0, failed = 0;
	bool ok = true;

	for (int i = 0; i < 2; i++) {
		if (sinks[i].count == want_count && sinks[i].sum == want_sum &&
		    sinks[i].bad == 0)
			continue;
		fprintf(stderr,
			"storm: sink %s: count=%llu (want %llu) sum=%llu "
			"(want %llu) bad=%llu\n",
			names[i], (unsigned long long)sinks[i].count,
			(unsigned long long)want_count,
			(unsigned long long)sinks[i].sum,
			(unsigned long long)want_sum,
			(unsigned long long)sinks[i].bad);
		ok = false;
	}
	for (uint64_t i = 0; i < k; i++) {
		processed += ctrs[i].processed;
		failed += ctrs[i].failed;
	}
	if (processed != k * (n + 1) || failed != 0) {
		fprintf(stderr,
			"storm: counters processed %llu (want %llu), %llu "
			"failed sends/lookups/messages\n",
			(unsigned long long)processed,
			(unsigned long long)(k * (n + 1)),
			(unsigned long long)failed);
		ok = false;
	}
	return ok;
}

static int storm_run(const trp_config_t *cfg, const uint64_t *values,
		     size_t mode, struct bench_result *out)
{
	uint64_t k = values[P_COUNTERS], n = values[P_N];
	trp_actor_def_t def = { .behavior = counter_behavior,
				.start = counter_start,
				.stop = counter_stop };
	struct sink *sinks = alloc_lines(2, sizeof(struct sink));
	struct counter *ctrs = alloc_lines(k, sizeof(struct counter));
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

	if ((rc = spawn_sink(rt, "say_hello", &sinks[0])) != 0 ||
	    (rc = spawn_sink(rt, "say_hi", &sinks[1])) != 0)
		goto done;
	for (; spawned < k; spawned++) {
		rc = trp_actor_spawn(rt, &def, &ctrs[spawned],
				     &handles[spawned]);
		if (rc != 0) {
			report("spawn counter", rc);
			goto done;
		}
	}
	/* Let the start hooks' lookups finish outside the measurement. */
	rc = trp_runtime_wait_idle(rt, -1);
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
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
	out->ok = storm_check(sinks, ctrs, k, n);
	/* Evaluated separately so both report what they found. */
	if (!bench_check_stats(rt, "storm", out->messages, out))
		out->ok = false;
done:
	for (uint64_t i = 0; i < spawned; i++)
		trp_actor_release(handles[i]);
	if (rt != NULL) {
		/* Stops every actor: the counters' stop hooks release their
		 * sink handles here, so ctrs must outlive this call. */
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(handles);
	free(ctrs);
	free(sinks);
	return rc;
}

const struct bench_workload bench_storm = {
	.name = "storm",
	.summary = "K counters and two shared named sinks (fan-in); "
		   "K*(3N+1) messages",
	.params = storm_params,
	.nparams = sizeof(storm_params) / sizeof(storm_params[0]),
	.run = storm_run,
};
