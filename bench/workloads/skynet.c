/*
 * bench/workloads/skynet.c - the 1M-actor tree (shared/WORKLOADS.md,
 * skynet).
 *
 * The root spawns FANOUT (10) children, each of those 10, ... down to
 * FANOUT^D leaves (D = 6: 1,000,000 leaves, 1,111,111 actors). Each actor
 * covers a range [num, num + size) of leaf ordinals: a leaf (size 1) sends
 * num to its parent and stops; an inner actor spawns its children from its
 * start hook, sums the FANOUT replies, sends the sum to its parent and
 * stops. The root stores its total for the check. rate= counts actors per
 * second; messages= the replies (every actor but the root sends one).
 *
 * State: every actor owns its state (state_size > 0, copied at spawn:
 * parent, range, running sum). A child holds a reference to its parent,
 * taken by the parent at spawn and dropped once its reply is sent (or by
 * the stop hook if the runtime shuts down first). Nothing else holds a
 * handle, so each actor is freed when it stops.
 *
 * Timing: includes spawning: from spawning the root to the return of
 * trp_runtime_wait_idle().
 *
 * Check: the root's total is L(L-1)/2 for L leaves (499999500000 for D =
 * 6); no spawn or send failed; the runtime's counters agree (sent ==
 * processed == actors - 1, nothing dead-lettered or rejected, every actor
 * spawned and stopped).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

#define FANOUT 10u

enum {
	MSG_SUM = 1
}; /* payload: uint64_t partial sum */

enum {
	P_DEPTH
};

static const struct bench_param skynet_params[] = {
	[P_DEPTH] = { "depth", "levels below the root (10^depth leaves)", 6, 0,
		      8 },
};

/* Shared by every actor: written by the root once, or counted. */
struct skynet_ctx {
	uint64_t total; /* the root's sum; read after quiescence */
	/* relaxed: counts, read after quiescence, which orders them */
	_Atomic(uint64_t) done; /* the root finished */
	_Atomic(uint64_t) failed;
};

struct node {
	struct skynet_ctx *ctx;
	trp_actor_t *parent; /* reference held until the reply is sent;
				NULL for the root */
	uint64_t num, size;  /* leaf ordinals [num, num + size) */
	uint64_t sum;
	uint32_t replies;
};

static void fail(struct skynet_ctx *ctx)
{
	atomic_fetch_add_explicit(&ctx->failed, 1, memory_order_relaxed);
}

/* Sends @sum up (or stores it, at the root) and stops. */
static void finish(trp_actor_t *self, struct node *nd, uint64_t sum)
{
	if (nd->parent == NULL) {
		nd->ctx->total = sum;
		atomic_fetch_add_explicit(&nd->ctx->done, 1,
					  memory_order_relaxed);
	} else {
		if (trp_send(nd->parent, MSG_SUM, &sum, sizeof(sum)) != 0)
			fail(nd->ctx);
		trp_actor_release(nd->parent);
		nd->parent = NULL;
	}
	if (trp_actor_stop(self) != 0)
		fail(nd->ctx);
}

static void node_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg);
static void node_start(trp_actor_t *self, void *state);
static void node_stop(trp_actor_t *self, void *state, trp_stop_reason_t why);

/* Every actor of the tree, the root included. */
static const trp_actor_def_t node_def = { .behavior = node_behavior,
					  .start = node_start,
					  .stop = node_stop,
					  .state_size = sizeof(struct node) };

static void node_start(trp_actor_t *self, void *state)
{
	struct node *nd = state;
	trp_runtime_t *rt = trp_actor_runtime(self);
	uint64_t step = nd->size / FANOUT;

	if (nd->size == 1) {
		finish(self, nd, nd->num);
		return;
	}
	for (unsigned i = 0; i < FANOUT; i++) {
		struct node child = { .ctx = nd->ctx,
				      .parent = trp_actor_retain(self),
				      .num = nd->num + i * step,
				      .size = step };

		/* The state is copied before spawn returns. */
		if (trp_actor_spawn(rt, &node_def, &child, NULL) != 0) {
			trp_actor_release(child.parent);
			fail(nd->ctx);
		}
	}
}

static void node_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct node *nd = state;
	uint64_t v;

	if (msg->type != MSG_SUM || msg->size != sizeof(v)) {
		fail(nd->ctx);
		return;
	}
	memcpy(&v, msg->data, sizeof(v));
	nd->sum += v;
	if (++nd->replies == FANOUT)
		finish(self, nd, nd->sum);
}

/* Only at shutdown after a failure: drop the parent reference. */
static void node_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct node *nd = state;

	(void)self;
	(void)why;
	if (nd->parent != NULL) {
		trp_actor_release(nd->parent);
		nd->parent = NULL;
	}
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "skynet: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static int skynet_run(const trp_config_t *cfg, const uint64_t *values,
		      size_t mode, struct bench_result *out)
{
	uint64_t depth = values[P_DEPTH], leaves = 1, actors = 0;
	struct skynet_ctx ctx = { 0, 0, 0 };
	struct node root = { .ctx = &ctx };
	trp_runtime_t *rt = NULL;
	uint64_t t0, t1, want, failed;
	trp_stats_t st;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	for (uint64_t i = 0; i <= depth; i++) {
		actors += leaves;
		if (i < depth)
			leaves *= FANOUT;
	}
	root.size = leaves;
	want = leaves % 2 == 0 ? (leaves / 2) * (leaves - 1) :
				 leaves * ((leaves - 1) / 2);
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		return rc;
	}
	out->workers = trp_runtime_workers(rt);

	t0 = bench_now_ns();
	rc = trp_actor_spawn(rt, &node_def, &root, NULL);
	if (rc != 0) {
		report("spawn the root", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = actors - 1;
	out->items = actors;
	out->seconds = (double)(t1 - t0) / 1e9;
	failed = atomic_load_explicit(&ctx.failed, memory_order_relaxed);
	out->ok = true;
	if (atomic_load_explicit(&ctx.done, memory_order_relaxed) != 1 ||
	    ctx.total != want || failed != 0) {
		fprintf(stderr,
			"skynet: root %s, total=%llu (want %llu), %llu "
			"failed spawns/sends/stops\n",
			atomic_load_explicit(&ctx.done, memory_order_relaxed) ==
					1 ?
				"finished" :
				"did not finish",
			(unsigned long long)ctx.total, (unsigned long long)want,
			(unsigned long long)failed);
		out->ok = false;
	}
	rc = trp_runtime_stats(rt, &st);
	if (rc != 0) {
		report("trp_runtime_stats", rc);
		goto done;
	}
	if (st.spawned != actors || st.stopped != actors) {
		fprintf(stderr,
			"skynet: runtime spawned %llu and stopped %llu actors "
			"(want %llu each)\n",
			(unsigned long long)st.spawned,
			(unsigned long long)st.stopped,
			(unsigned long long)actors);
		out->ok = false;
	}
	if (!bench_check_stats(rt, "skynet", out->messages, out))
		out->ok = false;
	snprintf(out->extra, sizeof(out->extra), "actors=%llu total=%llu",
		 (unsigned long long)actors, (unsigned long long)ctx.total);
done : {
	int drc = trp_runtime_destroy(rt);

	if (drc != 0 && rc == 0)
		rc = report("trp_runtime_destroy", drc);
}
	return rc;
}

const struct bench_workload bench_skynet = {
	.name = "skynet",
	.summary = "a tree of 10^depth leaf actors (1,111,111 actors at depth "
		   "6) summing their ordinals; actors per second",
	.params = skynet_params,
	.nparams = sizeof(skynet_params) / sizeof(skynet_params[0]),
	.run = skynet_run,
};
