/*
 * bench/workloads/restart.c - fail, restart, next message (issue 11,
 * "Benchmark"; troupe/supervisor.h).
 *
 * A supervisor (one_for_one, intensity 10000 per 1 ms: it would trip only
 * above 10^7 restarts per second) has one permanent child. The child's start hook announces the new child
 * to a driver actor (READY, carrying a reference to itself). The driver
 * answers every READY with WORK(i), which the new child processes, then
 * POISON(i), on which the child calls trp_actor_fail(): it stops, the
 * supervisor restarts it, and the next child's READY starts round i + 1.
 * After N poisons, the last child gets a final WORK(N + 1). rate= counts
 * restarts per second; messages= counts every message sent while timed
 * (the supervisor's own included).
 *
 * The driver learns of the new child from the child itself rather than
 * from trp_supervisor_child() or a name: the supervisor may not have
 * recorded the new handle (or registered its name) yet when the child's
 * first turn runs, and polling would measure the poll loop. The Erlang
 * peer (bench/peers/erlang) does the same: the child sends {ready, self()}
 * from its start.
 *
 * Each child has a fresh state block copied from the spec (state_size > 0),
 * as a supervised child normally has; the counters all children share live
 * in one context, reached through it.
 *
 * Timing: from the GO to the driver (the first child is started and has
 * announced itself before) to the return of trp_runtime_wait_idle().
 *
 * Check: the supervisor restarted the child N times and saw N stops
 * (trp_supervisor_get_stats); N messages were dead-lettered, all with
 * TRP_DEAD_FAILED, none for another reason; the children processed WORK
 * 1..N+1 in order and received POISON 1..N in order; the driver got N + 1
 * READYs; no call failed; the runtime's counters balance (sent ==
 * processed + dead_lettered, nothing rejected).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_GO = 1,
	MSG_READY,  /* payload: trp_actor_t *, a reference for the driver */
	MSG_WORK,   /* payload: uint64_t sequence number, 1..N+1 */
	MSG_POISON, /* payload: uint64_t sequence number, 1..N */
};

/* The child's trp_actor_fail() code. */
#define POISON_CODE 42

enum {
	P_N
};

static const struct bench_param restart_params[] = {
	[P_N] = { "n", "restarts (N)", 200000, 1, 1000000000 },
};

/*
 * Shared by every child and the driver. The children run one after the
 * other (a child starts after its predecessor stopped, through the
 * supervisor), so their counters need no atomicity for correctness; they
 * are relaxed atomics anyway, so that a runtime bug letting two children
 * run at once shows as a failed check, not as a data race.
 */
struct restart_ctx {
	trp_actor_t *driver; /* set before the supervisor starts */
	/* relaxed: counts and sequence checks, read after quiescence */
	alignas(64) _Atomic(uint64_t) work_seen;
	_Atomic(uint64_t) poison_seen;
	_Atomic(uint64_t) bad;	  /* out of order, wrong type or size */
	_Atomic(uint64_t) failed; /* troupe calls that failed */
};

/* A child's own state: copied from the spec at every start. */
struct child_state {
	struct restart_ctx *ctx;
	uint64_t handled; /* messages this child got (1 WORK, 1 POISON) */
};

struct driver {
	alignas(64) struct restart_ctx *ctx;
	uint64_t n;
	uint64_t poisons_sent; /* rounds started */
	uint64_t readys;
	uint64_t failed;
	bool go;
	trp_actor_t *pending; /* first child, announced before the GO */
};

static void count(_Atomic(uint64_t) *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void child_start(trp_actor_t *self, void *state)
{
	struct child_state *cs = state;
	trp_actor_t *me = trp_actor_retain(self);

	/* The driver owns this reference from here (it releases it). */
	if (trp_send(cs->ctx->driver, MSG_READY, &me, sizeof(me)) != 0) {
		trp_actor_release(me);
		count(&cs->ctx->failed);
	}
}

static void child_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct child_state *cs = state;
	struct restart_ctx *ctx = cs->ctx;
	uint64_t seq;

	cs->handled++;
	if (msg->size != sizeof(seq)) {
		count(&ctx->bad);
		return;
	}
	memcpy(&seq, msg->data, sizeof(seq));
	switch (msg->type) {
	case MSG_WORK:
		/* The first and only message of this child but a POISON. */
		if (cs->handled != 1 ||
		    seq != atomic_load_explicit(&ctx->work_seen,
						memory_order_relaxed) +
				    1)
			count(&ctx->bad);
		count(&ctx->work_seen);
		break;
	case MSG_POISON:
		if (cs->handled != 2 ||
		    seq != atomic_load_explicit(&ctx->poison_seen,
						memory_order_relaxed) +
				    1)
			count(&ctx->bad);
		count(&ctx->poison_seen);
		if (trp_actor_fail(self, POISON_CODE) != 0)
			count(&ctx->failed);
		break;
	default:
		count(&ctx->bad);
	}
}

/* One round with @child (the driver's reference, released here). */
static void drive(struct driver *d, trp_actor_t *child)
{
	uint64_t seq = d->poisons_sent + 1;

	if (trp_send(child, MSG_WORK, &seq, sizeof(seq)) != 0)
		d->failed++;
	if (d->poisons_sent < d->n) {
		if (trp_send(child, MSG_POISON, &seq, sizeof(seq)) != 0)
			d->failed++;
		d->poisons_sent++;
	}
	trp_actor_release(child);
}

static void driver_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct driver *d = state;
	trp_actor_t *child;

	(void)self;
	if (msg->type == MSG_GO) {
		d->go = true;
		if (d->pending != NULL) {
			child = d->pending;
			d->pending = NULL;
			drive(d, child);
		}
		return;
	}
	if (msg->type != MSG_READY || msg->size != sizeof(child)) {
		d->failed++;
		return;
	}
	memcpy(&child, msg->data, sizeof(child));
	d->readys++;
	if (!d->go) {
		if (d->pending != NULL) { /* two first children */
			d->failed++;
			trp_actor_release(d->pending);
		}
		d->pending = child;
		return;
	}
	drive(d, child);
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "restart: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool restart_check(trp_runtime_t *rt, trp_actor_t *sup,
			  const struct driver *d, struct restart_ctx *ctx,
			  uint64_t n, struct bench_result *out)
{
	uint64_t work =
		atomic_load_explicit(&ctx->work_seen, memory_order_relaxed);
	uint64_t poison =
		atomic_load_explicit(&ctx->poison_seen, memory_order_relaxed);
	uint64_t bad = atomic_load_explicit(&ctx->bad, memory_order_relaxed);
	uint64_t failed =
		atomic_load_explicit(&ctx->failed, memory_order_relaxed);
	trp_supervisor_stats_t ss;
	trp_stats_t st;
	bool ok = true;
	int rc;

	if (work != n + 1 || poison != n || bad != 0 || failed != 0 ||
	    d->poisons_sent != n || d->readys != n + 1 || d->failed != 0 ||
	    d->pending != NULL) {
		fprintf(stderr,
			"restart: children processed %llu WORK (want %llu) "
			"and %llu POISON (want %llu), %llu bad, %llu failed "
			"calls; driver sent %llu POISON, got %llu READY (want "
			"%llu), %llu failed\n",
			(unsigned long long)work, (unsigned long long)(n + 1),
			(unsigned long long)poison, (unsigned long long)n,
			(unsigned long long)bad, (unsigned long long)failed,
			(unsigned long long)d->poisons_sent,
			(unsigned long long)d->readys,
			(unsigned long long)(n + 1),
			(unsigned long long)d->failed);
		ok = false;
	}
	rc = trp_supervisor_get_stats(sup, &ss);
	if (rc != 0) {
		report("trp_supervisor_get_stats", rc);
		return false;
	}
	if (ss.restarts != n || ss.stops != n) {
		fprintf(stderr,
			"restart: supervisor restarts=%llu stops=%llu (want "
			"%llu each)\n",
			(unsigned long long)ss.restarts,
			(unsigned long long)ss.stops, (unsigned long long)n);
		ok = false;
	}
	rc = trp_runtime_stats(rt, &st);
	if (rc != 0) {
		report("trp_runtime_stats", rc);
		return false;
	}
	out->parks = st.parks;
	out->steals = st.steals;
	if (st.dead_by_reason[TRP_DEAD_FAILED] != n || st.dead_lettered != n ||
	    st.rejected != 0 || st.sent != st.processed + st.dead_lettered) {
		fprintf(stderr,
			"restart: runtime dead letters %llu failed (want "
			"%llu), %llu in all (want %llu); sent=%llu "
			"processed=%llu (sent should be processed + dead "
			"letters) rejected=%llu\n",
			(unsigned long long)st.dead_by_reason[TRP_DEAD_FAILED],
			(unsigned long long)n,
			(unsigned long long)st.dead_lettered,
			(unsigned long long)n, (unsigned long long)st.sent,
			(unsigned long long)st.processed,
			(unsigned long long)st.rejected);
		ok = false;
	}
	return ok;
}

static int restart_run(const trp_config_t *cfg, const uint64_t *values,
		       size_t mode, struct bench_result *out)
{
	uint64_t n = values[P_N];
	trp_actor_def_t ddef = { .behavior = driver_behavior };
	struct restart_ctx *ctx = bench_alloc_lines(1, sizeof(*ctx));
	struct driver *d = bench_alloc_lines(1, sizeof(struct driver));
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	trp_child_spec_t child = { 0 };
	struct child_state init = { 0 };
	trp_actor_t *sup = NULL;
	trp_runtime_t *rt = NULL;
	trp_stats_t st0, st1;
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (ctx == NULL || d == NULL) {
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
	d->ctx = ctx;
	d->n = n;
	rc = trp_actor_spawn(rt, &ddef, d, &ctx->driver);
	if (rc != 0) {
		ctx->driver = NULL;
		report("spawn the driver", rc);
		goto done;
	}

	init.ctx = ctx;
	child.def.behavior = child_behavior;
	child.def.start = child_start;
	child.def.state_size = sizeof(struct child_state);
	child.arg = &init;
	child.restart = TRP_RESTART_PERMANENT;
	child.shutdown_ns = 0;
	spec.strategy = TRP_ONE_FOR_ONE;
	/*
	 * Never trips. troupe keeps the last `intensity` restart times in a
	 * ring (at most TRP_SUPERVISOR_MAX_INTENSITY): O(1) per restart, and
	 * 8 bytes each, so a short period serves better than a huge count.
	 */
	spec.intensity = 10000;
	spec.period_ns = 1000000;
	spec.children = &child;
	spec.nchildren = 1;
	rc = trp_supervisor_start(rt, &spec, &sup);
	if (rc != 0) {
		sup = NULL;
		report("trp_supervisor_start", rc);
		goto done;
	}
	/* The first child is up and its READY is with the driver. */
	rc = trp_runtime_wait_idle(rt, -1);
	if (rc == 0)
		rc = trp_runtime_stats(rt, &st0);
	if (rc != 0) {
		report("setting up", rc);
		goto done;
	}

	t0 = bench_now_ns();
	rc = trp_send(ctx->driver, MSG_GO, NULL, 0);
	if (rc != 0) {
		report("send GO", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc == 0)
		rc = trp_runtime_stats(rt, &st1);
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	out->messages = st1.sent - st0.sent;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = restart_check(rt, sup, d, ctx, n, out);
done:
	if (sup != NULL)
		trp_actor_release(sup);
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (ctx != NULL && ctx->driver != NULL)
		trp_actor_release(ctx->driver);
	if (d != NULL && d->pending != NULL) /* a run that never started */
		trp_actor_release(d->pending);
	free(d);
	free(ctx);
	return rc;
}

const struct bench_workload bench_restart = {
	.name = "restart",
	.summary = "a supervised child fails on a poison message and is "
		   "restarted; the new child processes the next message; "
		   "restarts per second",
	.params = restart_params,
	.nparams = sizeof(restart_params) / sizeof(restart_params[0]),
	.run = restart_run,
};
