/*
 * bench/workloads/remote.h - what the remote workloads (remote_*.c: two
 * troupe nodes over one nats-server, each node its own process) share.
 *
 * One run of a remote workload, measuring side (remote_begin/remote_end):
 *   1. a nats-server on a free loopback port (unless --nats URL);
 *   2. the far node: troupe-bench WORKLOAD --role far --nats URL --cluster
 *      C --workers W and the workload's parameters, started before this
 *      process connects anything (so it inherits no socket of ours); it
 *      creates its runtime, starts node "far", registers its actors and
 *      says ready (remote_far_main);
 *   3. this process's runtime and node "near" (same cluster C, unique per
 *      run so that runs sharing a server never meet), which waits for far
 *      (trp_node_wait_peer);
 *   4. the workload (the caller), through proxies (trp_node_proxy);
 *   5. remote_end: near's node counters, near's node stops (its goodbye
 *      lets far count a gap at the end of the stream), far is told to
 *      stop and reports its node counters and the workload's own on one
 *      line, the runtime is destroyed, the server stopped. The check:
 *      no loss counted on either side, and each side received exactly
 *      what the other sent (trp_node_stats_t sent/received).
 * The line gets the near node's frames_out=, sent=, lost=, peer_downs=
 * and far's far_received= and far_lost= fields. A peer seen down during
 * the run (the nodes' heartbeats: 4 missed beats of 250 ms by default, a
 * second of starvation on a loaded machine) kills the proxies to it, so
 * the sends after it fail: the check fails and says so (peer_downs=).
 *
 * Clock: both processes run on one machine, where CLOCK_MONOTONIC
 * (bench_now_ns) is one clock for all processes, so a time the far node
 * takes can be compared with one taken here (remote_fanin does).
 *
 * Threads: the measuring side's calls are made by the thread that runs
 * the workload.
 */
#ifndef TROUPE_BENCH_REMOTE_H
#define TROUPE_BENCH_REMOTE_H

#include <semaphore.h>
#include <stdatomic.h>

#include <troupe/node.h>

#include "../remote_util.h"
#include "workloads.h"

#define REMOTE_NEAR "near"
#define REMOTE_FAR "far"

/* Every remote workload, in --help order. */
extern const struct bench_workload bench_remote_pingpong;
extern const struct bench_workload bench_remote_fanin;
extern const struct bench_workload bench_remote_ask;
extern const struct bench_workload bench_remote_pubsub;
extern const struct bench_workload bench_node_down;
extern const struct bench_workload *const bench_remote_workloads[];
extern const size_t bench_nremote_workloads;

/* The measuring side of one run. */
struct remote_run {
	const struct bench_workload *w;
	struct bench_nats_server server; /* pid 0: --nats, not ours */
	struct bench_far far;
	char url[96];
	char cluster[TRP_NODE_TOKEN_MAX + 1];
	trp_runtime_t *rt;
	trp_node_t *node;
	char far_line[512]; /* far's last line (remote_end) */
};

/*
 * Steps 1-3 above. On success *r holds the runtime and the node (out's
 * workers is set); on error everything started is stopped again and a
 * negative code is returned (reported on stderr).
 */
int remote_begin(struct remote_run *r, const struct bench_workload *w,
		 const trp_config_t *cfg, const uint64_t *values,
		 const struct bench_remote_args *ra, struct bench_result *out);

/*
 * Step 5: stops everything remote_begin started, appends the node fields
 * to out->extra and clears out->ok if a loss was counted or the counters
 * disagree. Afterwards r->far_line holds the far node's report (read the
 * workload's own keys with bench_line_u64). Returns 0 or the first error.
 */
int remote_end(struct remote_run *r, struct bench_result *out);

/*
 * The far node's life: runtime from @cfg, node "far" in ra->cluster at
 * ra->nats, then setup(rt, node, ctx) registers the workload's actors;
 * ready; wait for stop; runtime idle; then one line on stdout: the node's
 * counters and whatever report(ctx, buf, size) writes ("key=value ...").
 * Returns 0 or a negative code (reported on stderr).
 */
int remote_far_main(const trp_config_t *cfg, const struct bench_remote_args *ra,
		    const char *workload,
		    int (*setup)(trp_runtime_t *rt, trp_node_t *node,
				 void *ctx),
		    void (*report)(void *ctx, char *buf, size_t size),
		    void *ctx);

/* Spawns an actor with @behavior and @state and registers it as @name in
 * @rt (the names a node's peers reach). *out gets a handle (may be NULL). */
int remote_spawn_named(trp_runtime_t *rt, const char *name,
		       trp_behavior_fn behavior, void *state,
		       trp_actor_t **out);

/*
 * The measuring thread waits for the workload's end: sem_post(@done) by
 * an actor. A stream that lost a message would never end, so the wait
 * gives up when *@progress (a counter the actors bump, relaxed) has not
 * moved for @stall_s seconds. Returns true if @done was posted.
 */
bool remote_wait(sem_t *done, const _Atomic uint64_t *progress,
		 unsigned stall_s);

#endif /* TROUPE_BENCH_REMOTE_H */
