/*
 * bench/workloads/ring.c - the thread ring (shared/WORKLOADS.md, ring).
 *
 * R actors in a ring; actor i forwards to actor (i + 1) % R. The main
 * thread hands actor 0 a token carrying T; an actor receiving t > 0 sends
 * t - 1 to the next one (one hop), and the one receiving 0 stops the token.
 * T hops, T + 1 messages; rate= counts hops per second. Like pingpong, one
 * message is in flight at a time: this is the wake-up path across R
 * distinct actors (cold mailboxes, no batching).
 *
 * Timing: from the send of the token to the return of
 * trp_runtime_wait_idle().
 *
 * Check: the actors forwarded T hops in all, every token they saw was one
 * less than the previous (a counter shared by no one: the token's value
 * must equal T minus the hops made before it), exactly one actor saw 0 and
 * it is actor T % R; the runtime's counters agree (sent == processed ==
 * T + 1, nothing dead-lettered or rejected).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_TOKEN = 1
}; /* payload: uint64_t hops left */

enum {
	P_ACTORS,
	P_T
};

static const struct bench_param ring_params[] = {
	[P_ACTORS] = { "actors", "actors in the ring (R)", 1000, 1, 10000000 },
	[P_T] = { "t", "hops the token makes (T)", 10000000, 0,
		  100000000000ull },
};

struct node {
	alignas(64) trp_actor_t *next; /* reference owned by run() */
	uint64_t hops;		       /* tokens forwarded */
	uint64_t last;		       /* last token seen + 1; 0 = none */
	uint64_t zeros;		       /* tokens of 0 seen */
	uint64_t failed;	       /* failed sends, bad or disordered */
};

static void node_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct node *nd = state;
	uint64_t t;

	(void)self;
	if (msg->type != MSG_TOKEN || msg->size != sizeof(t)) {
		nd->failed++;
		return;
	}
	memcpy(&t, msg->data, sizeof(t));
	/* Each lap of the ring brings the token back R lower. */
	if (nd->last != 0 && t >= nd->last - 1)
		nd->failed++;
	nd->last = t + 1;
	if (t == 0) {
		nd->zeros++;
		return;
	}
	t--;
	if (trp_send(nd->next, MSG_TOKEN, &t, sizeof(t)) != 0)
		nd->failed++;
	else
		nd->hops++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "ring: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool ring_check(const struct node *nodes, uint64_t r, uint64_t t)
{
	uint64_t hops = 0, zeros = 0, failed = 0;

	for (uint64_t i = 0; i < r; i++) {
		hops += nodes[i].hops;
		zeros += nodes[i].zeros;
		failed += nodes[i].failed;
	}
	if (hops == t && zeros == 1 && nodes[t % r].zeros == 1 && failed == 0)
		return true;
	fprintf(stderr,
		"ring: hops=%llu (want %llu), token reached 0 %llu times "
		"(want once, at actor %llu: %llu), %llu failed sends or "
		"disordered tokens\n",
		(unsigned long long)hops, (unsigned long long)t,
		(unsigned long long)zeros, (unsigned long long)(t % r),
		(unsigned long long)nodes[t % r].zeros,
		(unsigned long long)failed);
	return false;
}

static int ring_run(const trp_config_t *cfg, const uint64_t *values,
		    size_t mode, struct bench_result *out)
{
	uint64_t r = values[P_ACTORS], t = values[P_T];
	trp_actor_def_t def = { .behavior = node_behavior };
	struct node *nodes = bench_alloc_lines(r, sizeof(struct node));
	trp_actor_t **handles = calloc(r, sizeof(*handles));
	trp_runtime_t *rt = NULL;
	uint64_t t0, t1, spawned = 0;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (nodes == NULL || handles == NULL) {
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
	for (; spawned < r; spawned++) {
		rc = trp_actor_spawn(rt, &def, &nodes[spawned],
				     &handles[spawned]);
		if (rc != 0) {
			report("spawn a ring actor", rc);
			goto done;
		}
	}
	/* Linked before the token's send, which publishes the links. */
	for (uint64_t i = 0; i < r; i++)
		nodes[i].next = handles[(i + 1) % r];

	t0 = bench_now_ns();
	rc = trp_send(handles[0], MSG_TOKEN, &t, sizeof(t));
	if (rc != 0) {
		report("send the token", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = t + 1;
	out->items = t;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = ring_check(nodes, r, t);
	if (!bench_check_stats(rt, "ring", out->messages, out))
		out->ok = false;
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	for (uint64_t i = 0; i < spawned; i++)
		trp_actor_release(handles[i]);
	free(handles);
	free(nodes);
	return rc;
}

const struct bench_workload bench_ring = {
	.name = "ring",
	.summary = "R actors pass one token T hops around a ring; hops per "
		   "second",
	.params = ring_params,
	.nparams = sizeof(ring_params) / sizeof(ring_params[0]),
	.run = ring_run,
};
