/*
 * bench/workloads/remote.c - the remote workloads' table and the two
 * processes' scaffolding (remote.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sem_timedwait's clock */
#endif

#include "remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"

const struct bench_workload *const bench_remote_workloads[] = {
	&bench_remote_pingpong, &bench_remote_fanin, &bench_remote_ask,
	&bench_remote_pubsub,	&bench_node_down,
};
const size_t bench_nremote_workloads =
	sizeof(bench_remote_workloads) / sizeof(bench_remote_workloads[0]);

/* How long the far node may take to say ready, and to stop. */
#define FAR_READY_MS 15000
#define FAR_STOP_MS 15000
/* How long a node waits for its goodbyes to be acknowledged. */
#define NODE_STOP_NS 2000000000ll

static int report(const char *workload, const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s\n", workload, what, trp_strerror(rc));
	return rc;
}

static int node_start(trp_runtime_t *rt, const char *url, const char *cluster,
		      const char *name, uint32_t window, trp_node_t **out)
{
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	const char *servers[1] = { url };

	ncfg.cluster = cluster;
	ncfg.name = name;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	ncfg.credit_window = window;
	return trp_node_start(rt, &ncfg, out);
}

/* The workload's "window" parameter (flow control: the node's
 * credit_window; 0 the default, 4294967295 TRP_NODE_CREDIT_OFF), or 0. */
static uint32_t window_of(const struct bench_workload *w,
			  const uint64_t *values)
{
	for (size_t i = 0; i < w->nparams; i++)
		if (strcmp(w->params[i].name, "window") == 0)
			return (uint32_t)values[i];
	return 0;
}

static uint64_t lost_sum(const trp_node_stats_t *st)
{
	uint64_t n = 0;

	for (int i = 0; i < TRP_LOSS_CAUSES; i++)
		n += st->lost[i];
	return n;
}

/* Adds "--name value" to argv at *n (the strings are owned by @store). */
static void push_arg(char **argv, size_t *n, char (*store)[48], const char *a)
{
	snprintf(store[*n], sizeof(store[*n]), "%s", a);
	argv[*n] = store[*n];
	(*n)++;
}

int remote_begin(struct remote_run *r, const struct bench_workload *w,
		 const trp_config_t *cfg, const uint64_t *values,
		 const struct bench_remote_args *ra, struct bench_result *out)
{
	/* name, --role far, --nats, --cluster, --workers, --batch, params */
	enum {
		MAX_ARGS = 12 + 2 * BENCH_MAX_PARAMS + 1
	};
	char store[MAX_ARGS][48];
	char *argv[MAX_ARGS + 1];
	char url_arg[sizeof(r->url)];
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->w = w;
	r->far.pid = 0;
	if (ra->nats != NULL) {
		snprintf(r->url, sizeof(r->url), "%s", ra->nats);
	} else {
		if (bench_nats_server_start(&r->server) != 0)
			return TRP_ESYSTEM;
		snprintf(r->url, sizeof(r->url), "%s", r->server.url);
	}
	bench_unique_token(r->cluster, sizeof(r->cluster), "bench");

	push_arg(argv, &n, store, "troupe-bench");
	push_arg(argv, &n, store, w->name);
	push_arg(argv, &n, store, "--role");
	push_arg(argv, &n, store, "far");
	push_arg(argv, &n, store, "--nats");
	snprintf(url_arg, sizeof(url_arg), "%s", r->url);
	argv[n++] = url_arg; /* may be longer than a store slot */
	push_arg(argv, &n, store, "--cluster");
	push_arg(argv, &n, store, r->cluster);
	push_arg(argv, &n, store, "--workers");
	snprintf(store[n], sizeof(store[n]), "%u", (unsigned)cfg->workers);
	argv[n] = store[n];
	n++;
	if (cfg->batch != TRP_DEFAULT_BATCH) {
		push_arg(argv, &n, store, "--batch");
		snprintf(store[n], sizeof(store[n]), "%u",
			 (unsigned)cfg->batch);
		argv[n] = store[n];
		n++;
	}
	for (size_t j = 0; j < w->nparams; j++) {
		snprintf(store[n], sizeof(store[n]), "--%s", w->params[j].name);
		argv[n] = store[n];
		n++;
		snprintf(store[n], sizeof(store[n]), "%llu",
			 (unsigned long long)values[j]);
		argv[n] = store[n];
		n++;
	}
	argv[n] = NULL;
	/* The far process starts before this one opens any socket: it
	 * inherits none (a NATS connection kept open by a child would hide
	 * our close from the server). */
	if (bench_far_start(&r->far, argv, FAR_READY_MS) != 0) {
		rc = TRP_ESYSTEM;
		goto fail;
	}
	rc = trp_runtime_create(cfg, &r->rt);
	if (rc != 0) {
		r->rt = NULL;
		report(w->name, "trp_runtime_create", rc);
		goto fail;
	}
	out->workers = trp_runtime_workers(r->rt);
	rc = node_start(r->rt, r->url, r->cluster, REMOTE_NEAR,
			window_of(w, values), &r->node);
	if (rc != 0) {
		r->node = NULL;
		report(w->name, "trp_node_start", rc);
		goto fail;
	}
	/* far said ready, so this is one ping; but a message to a node not
	 * there yet would be lost (no responders): ask, as node.h says. */
	rc = trp_node_wait_peer(r->node, REMOTE_FAR, FAR_READY_MS * 1000000ll);
	if (rc != 0) {
		report(w->name, "trp_node_wait_peer", rc);
		goto fail;
	}
	return 0;
fail:
	if (r->node != NULL)
		trp_node_stop(r->node, NODE_STOP_NS);
	r->node = NULL;
	if (r->rt != NULL)
		trp_runtime_destroy(r->rt);
	r->rt = NULL;
	if (r->far.pid > 0)
		bench_far_stop(&r->far, NULL, 0, FAR_STOP_MS);
	bench_nats_server_stop(&r->server);
	return rc;
}

int remote_end(struct remote_run *r, struct bench_result *out)
{
	trp_node_stats_t st;
	uint64_t far_sent = 0, far_received = 0, far_lost = 0;
	bool far_ok;
	size_t len;
	int rc = 0, frc;

	memset(&st, 0, sizeof(st));
	if (r->node != NULL) {
		/* the final counters: what the stop counts is in them */
		int src = trp_node_stop_ex(r->node, NODE_STOP_NS, &st);

		if (src != 0) {
			rc = report(r->w->name, "trp_node_stop_ex", src);
			out->ok = false;
		}
		r->node = NULL;
	}
	frc = bench_far_stop(&r->far, r->far_line, sizeof(r->far_line),
			     FAR_STOP_MS);
	far_ok = frc == 0 && bench_line_u64(r->far_line, "sent", &far_sent) &&
		 bench_line_u64(r->far_line, "received", &far_received) &&
		 bench_line_u64(r->far_line, "lost", &far_lost);
	if (!far_ok) {
		fprintf(stderr,
			"%s: the far node exited with %d; its report: \"%s\"\n",
			r->w->name, frc, r->far_line);
		out->ok = false;
		if (rc == 0)
			rc = TRP_ESYSTEM;
	}
	if (r->rt != NULL) {
		trp_stats_t rst;
		int drc;

		/* The line's parks= and steals= (bench_check_stats's). */
		if (trp_runtime_stats(r->rt, &rst) == 0) {
			out->parks = rst.parks;
			out->steals = rst.steals;
		}
		drc = trp_runtime_destroy(r->rt);

		if (drc != 0 && rc == 0)
			rc = report(r->w->name, "trp_runtime_destroy", drc);
		r->rt = NULL;
	}
	bench_nats_server_stop(&r->server);

	if (far_ok && (lost_sum(&st) != 0 || far_lost != 0 ||
		       st.sent != far_received || far_sent != st.received)) {
		fprintf(stderr,
			"%s: node counters: near sent=%llu received=%llu "
			"lost=%llu (gap %llu, no_responders %llu, unsent "
			"%llu, stale %llu, malformed %llu); far sent=%llu "
			"received=%llu lost=%llu (want: no loss, each side "
			"received what the other sent)\n",
			r->w->name, (unsigned long long)st.sent,
			(unsigned long long)st.received,
			(unsigned long long)lost_sum(&st),
			(unsigned long long)st.lost[TRP_LOSS_GAP],
			(unsigned long long)st.lost[TRP_LOSS_NO_RESPONDERS],
			(unsigned long long)st.lost[TRP_LOSS_UNSENT],
			(unsigned long long)st.lost[TRP_LOSS_STALE],
			(unsigned long long)st.lost[TRP_LOSS_MALFORMED],
			(unsigned long long)far_sent,
			(unsigned long long)far_received,
			(unsigned long long)far_lost);
		out->ok = false;
	}
	len = strlen(out->extra);
	snprintf(out->extra + len, sizeof(out->extra) - len,
		 "%sframes_out=%llu sent=%llu lost=%llu far_received=%llu "
		 "far_lost=%llu peer_downs=%llu",
		 len != 0 ? " " : "", (unsigned long long)st.frames_out,
		 (unsigned long long)st.sent, (unsigned long long)lost_sum(&st),
		 (unsigned long long)far_received, (unsigned long long)far_lost,
		 (unsigned long long)st.peer_downs);
	if (st.peer_downs != 0) {
		/* A peer seen down kills its proxies (TRP_STOP_NOCONNECTION):
		 * the sends after it fail, and the workload's check says so. */
		fprintf(stderr,
			"%s: the near node saw its peer go down %llu times "
			"during the run (peers_up=%llu at the end)\n",
			r->w->name, (unsigned long long)st.peer_downs,
			(unsigned long long)st.peers_up);
		out->ok = false;
	}
	return rc;
}

int remote_spawn_named(trp_runtime_t *rt, const char *name,
		       trp_behavior_fn behavior, void *state, trp_actor_t **out)
{
	trp_actor_def_t def = { .behavior = behavior };
	trp_actor_t *a;
	int rc = trp_actor_spawn(rt, &def, state, &a);

	if (rc != 0)
		return rc;
	rc = trp_register(rt, name, a);
	if (rc != 0 || out == NULL)
		trp_actor_release(a);
	else
		*out = a;
	return rc;
}

int remote_far_main(const trp_config_t *cfg, const struct bench_remote_args *ra,
		    const char *workload,
		    int (*setup)(trp_runtime_t *rt, trp_node_t *node,
				 void *ctx),
		    void (*report_fn)(void *ctx, char *buf, size_t size),
		    void *ctx)
{
	trp_runtime_t *rt = NULL;
	trp_node_t *node = NULL;
	trp_node_stats_t st;
	char extra[256] = "";
	int rc;

	if (ra->nats == NULL || ra->cluster == NULL) {
		fprintf(stderr, "%s: --role far needs --nats and --cluster\n",
			workload);
		return TRP_EINVAL;
	}
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0)
		return report(workload, "far: trp_runtime_create", rc);
	rc = node_start(rt, ra->nats, ra->cluster, REMOTE_FAR, 0, &node);
	if (rc != 0) {
		report(workload, "far: trp_node_start", rc);
		goto done;
	}
	rc = setup(rt, node, ctx);
	if (rc != 0) {
		report(workload, "far: setting up its actors", rc);
		goto done;
	}
	bench_far_ready();
	bench_far_wait_parent();
	/* The measuring side has its answers and has stopped its node: what
	 * it sent has arrived (its goodbye was acknowledged). */
	rc = trp_runtime_wait_idle(rt, 5000000000ll);
	if (rc != 0)
		report(workload, "far: trp_runtime_wait_idle", rc);
	memset(&st, 0, sizeof(st));
	trp_node_stats(node, &st);
	if (report_fn != NULL)
		report_fn(ctx, extra, sizeof(extra));
	printf("sent=%llu received=%llu delivered=%llu undeliverable=%llu "
	       "lost=%llu frames_in=%llu frames_out=%llu "
	       "slow_consumer_frames=%llu%s%s\n",
	       (unsigned long long)st.sent, (unsigned long long)st.received,
	       (unsigned long long)st.delivered,
	       (unsigned long long)st.undeliverable,
	       (unsigned long long)lost_sum(&st),
	       (unsigned long long)st.frames_in,
	       (unsigned long long)st.frames_out,
	       (unsigned long long)st.slow_consumer_frames,
	       extra[0] != '\0' ? " " : "", extra);
	fflush(stdout);
done:
	if (node != NULL) {
		int src = trp_node_stop(node, NODE_STOP_NS);

		if (src != 0 && rc == 0)
			rc = report(workload, "far: trp_node_stop", src);
	}
	{
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report(workload, "far: trp_runtime_destroy", drc);
	}
	return rc;
}

bool remote_wait(sem_t *done, const _Atomic uint64_t *progress,
		 unsigned stall_s)
{
	/* relaxed: a progress hint only; the semaphore orders the results. */
	uint64_t last = atomic_load_explicit(progress, memory_order_relaxed);
	unsigned still = 0;

	for (;;) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (sem_timedwait(done, &ts) == 0)
			return true;
		if (errno != ETIMEDOUT && errno != EINTR)
			return false;
		now = atomic_load_explicit(progress, memory_order_relaxed);
		if (now != last) {
			last = now;
			still = 0;
		} else if (++still >= stall_s) {
			return false;
		}
	}
}
