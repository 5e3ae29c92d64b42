/*
 * bench/workloads/spawn.c - actor creation (shared/WORKLOADS.md, spawn).
 *
 * A spawner actor creates N short-lived actors, CHUNK (1000) per turn, then
 * messages itself to go on (so spawning runs on the workers and the
 * children get turns in between, as in fanin). Each child is sent its
 * ordinal i (0..N-1), sends i to one collector actor and stops itself.
 * rate= counts actors per second; messages= counts the 2N messages of the
 * children (to them and from them).
 *
 * The children share one read-only context (spawned with state_size 0 and
 * the context as state), so the run measures the runtime's own cost per
 * actor (handle, mailbox, scheduling, stop) and not a state allocation.
 *
 * Timing: includes spawning: from the GO to the spawner to the return of
 * trp_runtime_wait_idle() (after every child stopped).
 *
 * Check: the collector got N replies summing to N(N-1)/2; no spawn or send
 * failed; the runtime's counters agree (sent == processed == 2N plus the
 * spawner's GO messages, nothing dead-lettered or rejected, N + 2 actors
 * spawned, N stopped).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

#define CHUNK 1000u

enum {
	MSG_GO = 1,
	MSG_INT = 2 /* payload: uint64_t ordinal */
};

enum {
	P_N
};

static const struct bench_param spawn_params[] = {
	[P_N] = { "n", "actors to create (N)", 1000000, 1, 1000000000 },
};

/* What every child reads: set before the first GO, never written after. */
struct child_ctx {
	trp_actor_t *collector;
	/* relaxed: a count of failures, read after quiescence */
	_Atomic(uint64_t) failed;
};

struct collector {
	alignas(64) uint64_t count;
	uint64_t sum;
	uint64_t bad;
};

struct spawner {
	alignas(64) struct child_ctx *ctx;
	uint64_t next, n;
	uint64_t turns;
	uint64_t failed;
};

static void child_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct child_ctx *ctx = state;

	if (msg->type != MSG_INT || msg->size != sizeof(uint64_t) ||
	    trp_send(ctx->collector, MSG_INT, msg->data, msg->size) != 0 ||
	    trp_actor_stop(self) != 0)
		atomic_fetch_add_explicit(&ctx->failed, 1,
					  memory_order_relaxed);
}

static void collector_behavior(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	struct collector *c = state;
	uint64_t n;

	(void)self;
	if (msg->type != MSG_INT || msg->size != sizeof(n)) {
		c->bad++;
		return;
	}
	memcpy(&n, msg->data, sizeof(n));
	c->count++;
	c->sum += n;
}

static void spawner_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct spawner *s = state;
	trp_actor_def_t def = { .behavior = child_behavior };
	uint64_t end = s->next + CHUNK;

	(void)msg;
	s->turns++;
	if (end > s->n)
		end = s->n;
	for (; s->next < end; s->next++) {
		trp_actor_t *child;

		if (trp_actor_spawn(trp_actor_runtime(self), &def, s->ctx,
				    &child) != 0) {
			s->failed++;
			continue;
		}
		if (trp_send(child, MSG_INT, &s->next, sizeof(s->next)) != 0)
			s->failed++;
		trp_actor_release(child);
	}
	if (s->next < s->n && trp_send(self, MSG_GO, NULL, 0) != 0)
		s->failed++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "spawn: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool spawn_check(trp_runtime_t *rt, const struct collector *c,
			const struct spawner *s, struct child_ctx *ctx,
			uint64_t n)
{
	/* 0 + 1 + ... + (n - 1) */
	uint64_t want_sum = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
	uint64_t child_failed =
		atomic_load_explicit(&ctx->failed, memory_order_relaxed);
	trp_stats_t st;
	bool ok = true;
	int rc;

	if (c->count != n || c->sum != want_sum || c->bad != 0) {
		fprintf(stderr,
			"spawn: collector count=%llu (want %llu) sum=%llu "
			"(want %llu) bad=%llu\n",
			(unsigned long long)c->count, (unsigned long long)n,
			(unsigned long long)c->sum,
			(unsigned long long)want_sum,
			(unsigned long long)c->bad);
		ok = false;
	}
	if (s->next != n || s->failed != 0 || child_failed != 0) {
		fprintf(stderr,
			"spawn: spawner reached %llu of %llu, %llu failed "
			"spawns/sends, %llu failed in children\n",
			(unsigned long long)s->next, (unsigned long long)n,
			(unsigned long long)s->failed,
			(unsigned long long)child_failed);
		ok = false;
	}
	rc = trp_runtime_stats(rt, &st);
	if (rc != 0) {
		report("trp_runtime_stats", rc);
		return false;
	}
	if (st.spawned != n + 2 || st.stopped != n) {
		fprintf(stderr,
			"spawn: runtime spawned %llu actors (want %llu), "
			"stopped %llu (want %llu)\n",
			(unsigned long long)st.spawned,
			(unsigned long long)(n + 2),
			(unsigned long long)st.stopped, (unsigned long long)n);
		ok = false;
	}
	return ok;
}

static int spawn_run(const trp_config_t *cfg, const uint64_t *values,
		     size_t mode, struct bench_result *out)
{
	uint64_t n = values[P_N];
	trp_actor_def_t cdef = { .behavior = collector_behavior };
	trp_actor_def_t sdef = { .behavior = spawner_behavior };
	struct collector *coll = bench_alloc_lines(1, sizeof(struct collector));
	struct spawner *sp = bench_alloc_lines(1, sizeof(struct spawner));
	struct child_ctx ctx = { NULL, 0 };
	trp_actor_t *spawner = NULL;
	trp_runtime_t *rt = NULL;
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (coll == NULL || sp == NULL) {
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
	rc = trp_actor_spawn(rt, &cdef, coll, &ctx.collector);
	if (rc != 0) {
		ctx.collector = NULL;
		report("spawn the collector", rc);
		goto done;
	}
	sp->ctx = &ctx;
	sp->n = n;
	rc = trp_actor_spawn(rt, &sdef, sp, &spawner);
	if (rc != 0) {
		spawner = NULL;
		report("spawn the spawner", rc);
		goto done;
	}

	t0 = bench_now_ns();
	rc = trp_send(spawner, MSG_GO, NULL, 0);
	if (rc != 0) {
		report("send GO to the spawner", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = 2 * n;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = spawn_check(rt, coll, sp, &ctx, n);
	if (!bench_check_stats(rt, "spawn", out->messages + sp->turns, out))
		out->ok = false;
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (spawner != NULL)
		trp_actor_release(spawner);
	if (ctx.collector != NULL)
		trp_actor_release(ctx.collector);
	free(sp);
	free(coll);
	return rc;
}

const struct bench_workload bench_spawn = {
	.name = "spawn",
	.summary = "a spawner actor creates N actors; each gets one message, "
		   "replies to a collector and stops; actors per second",
	.params = spawn_params,
	.nparams = sizeof(spawn_params) / sizeof(spawn_params[0]),
	.run = spawn_run,
};
