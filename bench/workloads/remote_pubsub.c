/*
 * bench/workloads/remote_pubsub.c - remote_pubsub: one bridged exchange
 * across three nodes, each its own process (issue 13, "Nodes II").
 *
 * Nodes: "near" (this process) and "far1", "far2" (troupe-bench
 * remote_pubsub --role far --far_index 1|2 ...: started by this process,
 * the far protocol of remote_util.h), one nats-server (unless --nats).
 * Every node bridges the exchange "pubsub" (trp_node_bridge) and attaches
 * S subscriber actors to it (--subscribers S, default 100 per node). A
 * publisher actor on near publishes the integers 1..M (--m, default 10^5),
 * one trp_exchange_publish() per integer, CHUNK per turn (then it messages
 * itself to go on, as bench/workloads/pubsub.c does with --per_call 1).
 * Each publish reaches near's S subscribers directly and, through the
 * bridge, far1's and far2's: 3*S*M deliveries (messages=, and what rate=
 * counts per second).
 *
 * Timing: from the publisher's first turn to the moment the last
 * subscriber on any node got integer M: each node records when each of
 * its subscribers got its last one (CLOCK_MONOTONIC, one clock for every
 * process of a machine, remote.h); the far nodes report their latest on
 * their last line (done_ns=).
 *
 * Beside it, measured in the same run just before: the single-node rate,
 * troupe-bench pubsub with the same S and M and one publish per integer
 * (--per_call 1): local_rate= (deliveries/s in one process, S*M of them)
 * and ratio= (rate / local_rate).
 *
 * Check: every subscriber on every node got exactly M integers, in order
 * (1, 2, ..., M: each one the previous plus one); the publisher's
 * publishes all returned 0; no loss between nodes: near's xsent == M and
 * xlost == 0, each far node's xreceived == M and xlost == 0 (the line's
 * xsent=, xreceived= (the two far nodes' sum), xlost= (all three)); the
 * single-node run passed its own check. A far node whose subscribers stop
 * making progress for 10 s reports what they got (the check fails).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "remote.h"

#define EXCHANGE "pubsub"
#define CHUNK 100u
#define NFAR 2
#define READY_MS 15000
#define STOP_MS 120000 /* a far node waits for its subscribers first */
#define NODE_STOP_NS 2000000000ll
#define STALL_S 10

enum {
	MSG_INT = 1, /* int64_t n */
	MSG_GO = 2,
};

enum {
	P_SUBSCRIBERS,
	P_M,
	P_FAR_INDEX,
};

static const struct bench_param rps_params[] = {
	[P_SUBSCRIBERS] = { "subscribers",
			    "subscriber actors per node (S), on each of 3 "
			    "nodes",
			    100, 1, 100000 },
	[P_M] = { "m", "integers published (M), one publish each", 100000, 1,
		  1000000000 },
	[P_FAR_INDEX] = { "far_index",
			  "internal: which far node a --role far process is "
			  "(set by the measuring side)",
			  0, 0, NFAR },
};

struct subscriber {
	alignas(64) uint64_t count;
	uint64_t next;	  /* the integer expected next (from 1) */
	uint64_t bad;	  /* out of order, wrong type or size */
	uint64_t done_ns; /* when it got M */
	/* relaxed: progress for the waiting thread; the final values are
	 * read after the node's counters stop moving and the runtime is
	 * idle. */
	_Atomic uint64_t progress;
	uint64_t m;
};

struct publisher {
	alignas(64) trp_exchange_t *ex;
	uint64_t next, m;
	uint64_t failed;
};

static void subscriber_behavior(trp_actor_t *self, void *state,
				const trp_msg_t *msg)
{
	struct subscriber *s = state;
	int64_t n;

	(void)self;
	if (msg->type != MSG_INT || msg->size != sizeof(n)) {
		s->bad++;
		return;
	}
	memcpy(&n, msg->data, sizeof(n));
	if ((uint64_t)n != s->next)
		s->bad++;
	s->next = (uint64_t)n + 1;
	s->count++;
	if (s->count == s->m)
		s->done_ns = bench_now_ns();
	atomic_store_explicit(&s->progress, s->count, memory_order_release);
}

static void publisher_behavior(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	struct publisher *p = state;
	uint64_t end = p->next + CHUNK - 1;

	(void)msg;
	if (end > p->m)
		end = p->m;
	for (; p->next <= end; p->next++) {
		int64_t v = (int64_t)p->next;

		if (trp_exchange_publish(p->ex, MSG_INT, &v, sizeof(v)) != 0)
			p->failed++;
	}
	if (p->next <= p->m && trp_send(self, MSG_GO, NULL, 0) != 0)
		p->failed++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "remote_pubsub: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

/* One node's side: runtime, node, bridged exchange, S subscribers. */
struct side {
	trp_runtime_t *rt;
	trp_node_t *node;
	trp_exchange_t *ex;
	struct subscriber *subs;
	uint64_t s, m;
};

static int side_up(struct side *sd, const trp_config_t *cfg, const char *url,
		   const char *cluster, const char *name, uint64_t s,
		   uint64_t m)
{
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = subscriber_behavior };
	const char *servers[1] = { url };
	int rc;

	memset(sd, 0, sizeof(*sd));
	sd->s = s;
	sd->m = m;
	sd->subs = bench_alloc_lines(s, sizeof(struct subscriber));
	if (sd->subs == NULL)
		return report("allocating subscribers", TRP_ENOMEM);
	rc = trp_runtime_create(cfg, &sd->rt);
	if (rc != 0) {
		sd->rt = NULL;
		return report("trp_runtime_create", rc);
	}
	ncfg.cluster = cluster;
	ncfg.name = name;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	rc = trp_node_start(sd->rt, &ncfg, &sd->node);
	if (rc != 0) {
		sd->node = NULL;
		return report("trp_node_start", rc);
	}
	rc = trp_node_bridge(sd->node, EXCHANGE);
	if (rc != 0)
		return report("trp_node_bridge", rc);
	rc = trp_exchange_get(sd->rt, EXCHANGE, &sd->ex);
	if (rc != 0) {
		sd->ex = NULL;
		return report("trp_exchange_get", rc);
	}
	for (uint64_t i = 0; i < s; i++) {
		trp_actor_t *a;

		sd->subs[i].next = 1;
		sd->subs[i].m = m;
		rc = trp_actor_spawn(sd->rt, &def, &sd->subs[i], &a);
		if (rc != 0)
			return report("spawn subscriber", rc);
		rc = trp_exchange_attach(sd->ex, trp_sink_actor(a), NULL);
		trp_actor_release(a);
		if (rc != 0)
			return report("trp_exchange_attach", rc);
	}
	return 0;
}

/* Waits until every subscriber of @sd got M, or none moved for STALL_S
 * seconds. True if all got M. */
static bool side_wait(struct side *sd)
{
	uint64_t last = UINT64_MAX;
	unsigned still = 0;

	for (;;) {
		uint64_t sum = 0, done = 0;

		for (uint64_t i = 0; i < sd->s; i++) {
			/* ORDER: pairs with the subscriber's release:
			 * its state is read below once it reached M. */
			uint64_t c = atomic_load_explicit(&sd->subs[i].progress,
							  memory_order_acquire);

			sum += c;
			done += c >= sd->m;
		}
		if (done == sd->s)
			return true;
		if (sum != last) {
			last = sum;
			still = 0;
		} else if (++still >= STALL_S * 100) {
			return false;
		}
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
}

/* Checks @sd's subscribers: *wrong gets how many are not exactly 1..M;
 * returns the latest done_ns. */
static uint64_t side_check(const struct side *sd, const char *who,
			   uint64_t *wrong)
{
	uint64_t latest = 0;

	*wrong = 0;
	for (uint64_t i = 0; i < sd->s; i++) {
		const struct subscriber *s = &sd->subs[i];

		if (s->count != sd->m || s->bad != 0 || s->next != sd->m + 1) {
			if ((*wrong)++ < 3)
				fprintf(stderr,
					"remote_pubsub: %s subscriber %llu: "
					"count=%llu (want %llu) out of order "
					"or bad=%llu\n",
					who, (unsigned long long)i,
					(unsigned long long)s->count,
					(unsigned long long)sd->m,
					(unsigned long long)s->bad);
			continue;
		}
		if (s->done_ns > latest)
			latest = s->done_ns;
	}
	return latest;
}

static int side_down(struct side *sd)
{
	int rc = 0;

	if (sd->node != NULL) {
		int src = trp_node_stop(sd->node, NODE_STOP_NS);

		if (src != 0)
			rc = report("trp_node_stop", src);
		sd->node = NULL;
	}
	if (sd->ex != NULL)
		trp_exchange_release(sd->ex);
	sd->ex = NULL;
	if (sd->rt != NULL) {
		int drc = trp_runtime_destroy(sd->rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
		sd->rt = NULL;
	}
	free(sd->subs);
	sd->subs = NULL;
	return rc;
}

/* --- far nodes ----------------------------------------------------------- */

static int rps_far(const trp_config_t *cfg, const uint64_t *values,
		   const struct bench_remote_args *ra)
{
	struct side sd;
	trp_node_stats_t st;
	char name[32];
	uint64_t wrong = 0, done_ns;
	bool all;
	int rc;

	if (ra->nats == NULL || ra->cluster == NULL ||
	    values[P_FAR_INDEX] == 0) {
		fprintf(stderr, "remote_pubsub: --role far needs --nats, "
				"--cluster and --far_index\n");
		return TRP_EINVAL;
	}
	snprintf(name, sizeof(name), "far%u", (unsigned)values[P_FAR_INDEX]);
	rc = side_up(&sd, cfg, ra->nats, ra->cluster, name,
		     values[P_SUBSCRIBERS], values[P_M]);
	if (rc != 0) {
		side_down(&sd);
		return rc;
	}
	bench_far_ready();
	bench_far_wait_parent();
	/* The publisher is done; our subscribers may still be busy. */
	all = side_wait(&sd);
	(void)trp_runtime_wait_idle(sd.rt, 5000000000ll);
	memset(&st, 0, sizeof(st));
	trp_node_stats(sd.node, &st);
	done_ns = side_check(&sd, name, &wrong);
	printf("sent=0 received=0 lost=0 xreceived=%llu xlost=%llu "
	       "wrong=%llu all=%d done_ns=%llu slow_consumer_frames=%llu\n",
	       (unsigned long long)st.xreceived, (unsigned long long)st.xlost,
	       (unsigned long long)wrong, all ? 1 : 0,
	       (unsigned long long)done_ns,
	       (unsigned long long)st.slow_consumer_frames);
	fflush(stdout);
	return side_down(&sd);
}

/* --- measuring side ------------------------------------------------------ */

static void push(char **argv, size_t *n, char (*store)[96], const char *a)
{
	snprintf(store[*n], sizeof(store[*n]), "%s", a);
	argv[*n] = store[*n];
	(*n)++;
}

static int start_far(struct bench_far *far, int index, const char *url,
		     const char *cluster, const trp_config_t *cfg,
		     const uint64_t *values)
{
	char store[16][96];
	char *argv[17];
	char num[32];
	size_t n = 0;

	push(argv, &n, store, "troupe-bench");
	push(argv, &n, store, "remote_pubsub");
	push(argv, &n, store, "--role");
	push(argv, &n, store, "far");
	push(argv, &n, store, "--nats");
	push(argv, &n, store, url);
	push(argv, &n, store, "--cluster");
	push(argv, &n, store, cluster);
	push(argv, &n, store, "--workers");
	snprintf(num, sizeof(num), "%u", (unsigned)cfg->workers);
	push(argv, &n, store, num);
	push(argv, &n, store, "--subscribers");
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)values[P_SUBSCRIBERS]);
	push(argv, &n, store, num);
	push(argv, &n, store, "--m");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)values[P_M]);
	push(argv, &n, store, num);
	push(argv, &n, store, "--far_index");
	snprintf(num, sizeof(num), "%d", index);
	push(argv, &n, store, num);
	argv[n] = NULL;
	return bench_far_start(far, argv, READY_MS);
}

/* The single-node pubsub of the same sizes, one publish per integer. */
static int local_pubsub(const trp_config_t *cfg, uint64_t s, uint64_t m,
			double *rate)
{
	uint64_t v[BENCH_MAX_PARAMS];
	struct bench_result res;
	int rc;

	for (size_t j = 0; j < bench_pubsub.nparams; j++) {
		const char *p = bench_pubsub.params[j].name;

		v[j] = bench_pubsub.params[j].def;
		if (strcmp(p, "subscribers") == 0)
			v[j] = s;
		else if (strcmp(p, "m") == 0)
			v[j] = m;
		else if (strcmp(p, "per_call") == 0)
			v[j] = 1;
		else if (strcmp(p, "churn") == 0)
			v[j] = 0;
	}
	memset(&res, 0, sizeof(res));
	rc = bench_pubsub.run(cfg, v, 0, &res);
	if (rc != 0)
		return rc;
	if (!res.ok || res.seconds <= 0) {
		fprintf(stderr, "remote_pubsub: the single-node pubsub run "
				"failed its check\n");
		return TRP_ESYSTEM;
	}
	*rate = (double)res.messages / res.seconds;
	return 0;
}

static int rps_run(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		   const struct bench_remote_args *ra, struct bench_result *out)
{
	uint64_t s = values[P_SUBSCRIBERS], m = values[P_M];
	struct publisher *pub = bench_alloc_lines(1, sizeof(struct publisher));
	trp_actor_def_t pub_def = { .behavior = publisher_behavior };
	struct bench_nats_server server;
	struct bench_far far[NFAR];
	struct side sd;
	trp_actor_t *pub_actor = NULL;
	trp_node_stats_t st;
	char url[96], cluster[TRP_NODE_TOKEN_MAX + 1];
	char line[NFAR][512];
	uint64_t xreceived = 0, xlost = 0, end_ns = 0, t0 = 0, wrong = 0;
	uint64_t slow = 0;
	double local_rate = 0;
	bool ok = true, near_all;
	int rc;

	(void)mode;
	memset(out, 0, sizeof(*out));
	memset(&server, 0, sizeof(server));
	memset(far, 0, sizeof(far));
	memset(&sd, 0, sizeof(sd));
	memset(line, 0, sizeof(line));
	if (pub == NULL)
		return report("allocating", TRP_ENOMEM);

	/* The single-node figure first, alone on the machine. */
	rc = local_pubsub(cfg, s, m, &local_rate);
	if (rc != 0) {
		free(pub);
		return rc;
	}

	if (ra->nats != NULL) {
		snprintf(url, sizeof(url), "%s", ra->nats);
	} else {
		if (bench_nats_server_start(&server) != 0) {
			free(pub);
			return TRP_ESYSTEM;
		}
		snprintf(url, sizeof(url), "%s", server.url);
	}
	bench_unique_token(cluster, sizeof(cluster), "rps");
	/* The far processes start before we open any socket. */
	for (int i = 0; i < NFAR; i++) {
		if (start_far(&far[i], i + 1, url, cluster, cfg, values) != 0) {
			rc = TRP_ESYSTEM;
			goto end;
		}
	}
	rc = side_up(&sd, cfg, url, cluster, REMOTE_NEAR, s, m);
	if (rc != 0)
		goto end;
	out->workers = trp_runtime_workers(sd.rt);
	for (int i = 0; i < NFAR; i++) {
		char name[32];

		snprintf(name, sizeof(name), "far%d", i + 1);
		/* Each far node bridged the exchange before it said ready;
		 * every node subscribes to all bridged streams at its
		 * start. */
		rc = trp_node_wait_peer(sd.node, name, READY_MS * 1000000ll);
		if (rc != 0) {
			report("trp_node_wait_peer", rc);
			goto end;
		}
	}
	pub->ex = sd.ex;
	pub->next = 1;
	pub->m = m;
	rc = trp_actor_spawn(sd.rt, &pub_def, pub, &pub_actor);
	if (rc != 0) {
		pub_actor = NULL;
		report("spawn publisher", rc);
		goto end;
	}
	t0 = bench_now_ns();
	rc = trp_send(pub_actor, MSG_GO, NULL, 0);
	if (rc != 0) {
		report("send to the publisher", rc);
		goto end;
	}
	near_all = side_wait(&sd);
	rc = trp_runtime_wait_idle(sd.rt, 30000000000ll);
	if (rc != 0)
		report("trp_runtime_wait_idle", rc);
	end_ns = side_check(&sd, "near", &wrong);
	if (!near_all || wrong != 0 || pub->failed != 0 || pub->next != m + 1) {
		fprintf(stderr,
			"remote_pubsub: near: %llu subscribers wrong, the "
			"publisher reached %llu of %llu with %llu failed "
			"publishes\n",
			(unsigned long long)wrong,
			(unsigned long long)(pub->next - 1),
			(unsigned long long)m, (unsigned long long)pub->failed);
		ok = false;
	}
	memset(&st, 0, sizeof(st));
	trp_node_stats(sd.node, &st);
	xlost += st.xlost;
	for (int i = 0; i < NFAR; i++) {
		uint64_t xr = 0, xl = 0, w = 1, all = 0, dn = 0, sc = 0;
		int frc = bench_far_stop(&far[i], line[i], sizeof(line[i]),
					 STOP_MS);

		if (frc != 0 || !bench_line_u64(line[i], "xreceived", &xr) ||
		    !bench_line_u64(line[i], "xlost", &xl) ||
		    !bench_line_u64(line[i], "wrong", &w) ||
		    !bench_line_u64(line[i], "all", &all) ||
		    !bench_line_u64(line[i], "done_ns", &dn)) {
			fprintf(stderr,
				"remote_pubsub: far%d exited with %d; its "
				"report: \"%s\"\n",
				i + 1, frc, line[i]);
			ok = false;
			continue;
		}
		bench_line_u64(line[i], "slow_consumer_frames", &sc);
		slow += sc;
		xreceived += xr;
		xlost += xl;
		if (w != 0 || all != 1 || xr != m || xl != 0) {
			fprintf(stderr,
				"remote_pubsub: far%d: %llu subscribers wrong, "
				"xreceived %llu (want %llu), xlost %llu\n",
				i + 1, (unsigned long long)w,
				(unsigned long long)xr, (unsigned long long)m,
				(unsigned long long)xl);
			ok = false;
		}
		if (dn > end_ns)
			end_ns = dn;
	}
	if (st.xsent != m || st.xlost != 0) {
		fprintf(stderr,
			"remote_pubsub: near: xsent %llu (want %llu) xlost "
			"%llu\n",
			(unsigned long long)st.xsent, (unsigned long long)m,
			(unsigned long long)st.xlost);
		ok = false;
	}
	out->messages = (1 + NFAR) * s * m;
	out->seconds = end_ns > t0 ? (double)(end_ns - t0) / 1e9 : 0;
	out->ok = ok && rc == 0 && out->seconds > 0;
	snprintf(out->extra, sizeof(out->extra),
		 "nodes=%d xsent=%llu xreceived=%llu xlost=%llu "
		 "frames_out=%llu slow_consumer_frames=%llu local_rate=%.0f "
		 "ratio=%.3f",
		 1 + NFAR, (unsigned long long)st.xsent,
		 (unsigned long long)xreceived, (unsigned long long)xlost,
		 (unsigned long long)st.frames_out, (unsigned long long)slow,
		 local_rate,
		 out->seconds > 0 && local_rate > 0 ?
			 (double)out->messages / out->seconds / local_rate :
			 0.0);
end:
	for (int i = 0; i < NFAR; i++) {
		if (far[i].pid > 0)
			bench_far_stop(&far[i], NULL, 0, STOP_MS);
	}
	if (pub_actor != NULL)
		trp_actor_release(pub_actor);
	if (sd.rt != NULL) {
		trp_stats_t rst;

		if (trp_runtime_stats(sd.rt, &rst) == 0) {
			out->parks = rst.parks;
			out->steals = rst.steals;
		}
	}
	{
		int drc = side_down(&sd);

		if (drc != 0 && rc == 0)
			rc = drc;
	}
	bench_nats_server_stop(&server);
	free(pub);
	return rc;
}

const struct bench_workload bench_remote_pubsub = {
	.name = "remote_pubsub",
	.summary = "one exchange bridged across 3 nodes (processes), S "
		   "subscribers on each, one publisher publishing 1..M; "
		   "3*S*M deliveries, beside the single-node pubsub rate",
	.params = rps_params,
	.nparams = sizeof(rps_params) / sizeof(rps_params[0]),
	.run_remote = rps_run,
	.run_far = rps_far,
};
