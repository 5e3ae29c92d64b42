/*
 * bench/workloads/remote_node_down.c - node_down: failure-detection
 * latency between nodes (issue 13, "Nodes II"): a far process dies with
 * SIGKILL, how long until a monitor on a proxy to one of its actors
 * handles the DOWN (troupe/node.h, "Failure detection").
 *
 * K rounds (--kills K). A round:
 *   1. the far process starts (troupe-bench node_down --role far ...: node
 *      "far", actor "target" registered; remote.h's far protocol) - a new
 *      one each round, so each round meets a new incarnation of "far";
 *   2. this node ("near", one for the whole run) waits for it
 *      (trp_node_wait_peer), asks "target" once through a fresh proxy
 *      (the answer says the actor is there and the stream runs both ways)
 *      and waits until it sees the new incarnation up (trp_node_peer_up);
 *   3. the watcher actor monitors the proxy (trp_monitor);
 *   4. --traffic 1: a thread sends one message to the proxy every
 *      --interval_us (default 1000) from 50 ms before the kill until the
 *      DOWN (--traffic 0: nothing flows, only heartbeats);
 *   5. the clock is read and the far process gets SIGKILL;
 *   6. the watcher reads the clock first thing in the behaviour that gets
 *      the DOWN: latency = that reading - the kill's.
 * What to expect: with nothing flowing, near learns of the death only
 * from missing heartbeats: heartbeat_misses (4) intervals of far's (250
 * ms) without a beat, ~1.0-1.06 s after the last beat. With traffic, the
 * first frame after the server dropped far's subscription gets NATS's
 * "no responders", which takes the peer down at once: ~the send interval
 * plus a round trip to the server.
 *
 * Node events: a node monitor (trp_node_monitor_nodes) counts the down
 * events by reason: down_heartbeat=, down_no_responders=, down_other=
 * (goodbye, restarted) on the line.
 *
 * Timing: seconds= is the whole run (K restarts of the far process
 * included); rate= is kills per second of that, not a property of failure
 * detection: read p50_ns=, p99_ns=, max_ns= (bench_hist, at most 6.25 %
 * above the true value) and mean_ns=.
 *
 * NODE_DOWN_VERBOSE=1 in the environment prints each round's latency and
 * the node down events so far on stderr.
 *
 * Check: exactly one DOWN per kill, for that round's monitor (its ref),
 * from the proxy (actor id) and with reason TRP_STOP_NOCONNECTION; none
 * before its kill; none twice (after the last round the run waits 2 s
 * more - eight heartbeat intervals - for a late duplicate); each ping
 * answered; the near node saw exactly K peer downs; no send of the
 * traffic thread failed before its round's kill.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sem_timedwait's clock, kill */
#endif

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "remote.h"

enum {
	MSG_PING = 1, /* ask to "target": empty answer */
	MSG_DATA = 2, /* traffic: a uint64_t sequence number */
	MSG_DOWN = 3, /* the watcher's DOWN: trp_down_t */
	MSG_NODE = 4, /* node events: trp_node_event_t */
};

enum {
	P_KILLS,
	P_TRAFFIC,
	P_INTERVAL,
};

static const struct bench_param nd_params[] = {
	[P_KILLS] = { "kills", "far processes killed (K), one per round", 20, 1,
		      10000 },
	[P_TRAFFIC] = { "traffic",
			"1: messages flow to the far actor when it dies; 0: "
			"none (heartbeats alone)",
			0, 0, 1 },
	[P_INTERVAL] = { "interval_us",
			 "--traffic 1: one message every this many us", 1000,
			 10, 1000000 },
};

#define READY_MS 15000
#define STOP_MS 5000
#define NODE_STOP_NS 2000000000ll
#define DOWN_WAIT_S 10	  /* a round's DOWN, at most */
#define LATE_WAIT_MS 2000 /* after the last round: a duplicate DOWN? */
#define PRE_KILL_MS 50	  /* traffic flows this long before the kill */

/* The watcher's state: written by its behaviour, read by the main thread
 * under the lock (or after the semaphore, which orders it). */
struct watcher {
	pthread_mutex_t lock;
	trp_ref_t ref;	   /* the round's monitor; 0: none armed */
	uint64_t proxy_id; /* the round's proxy */
	uint64_t down_ns;  /* the round's DOWN, when handled */
	uint64_t downs;	   /* DOWNs that matched an armed round */
	uint64_t bad;	   /* unknown ref, second DOWN, wrong reason/id */
	int32_t last_reason;
	/* node events by reason */
	uint64_t node_up, down_hb, down_nr, down_other;
	sem_t got; /* one post per matching DOWN */
};

static void watcher_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	uint64_t now = bench_now_ns();
	struct watcher *w = state;

	(void)self;
	pthread_mutex_lock(&w->lock);
	if (msg->type == MSG_NODE && msg->size == sizeof(trp_node_event_t)) {
		trp_node_event_t ev;

		memcpy(&ev, msg->data, sizeof(ev));
		if (ev.up)
			w->node_up++;
		else if (ev.reason == TRP_NODE_DOWN_HEARTBEAT)
			w->down_hb++;
		else if (ev.reason == TRP_NODE_DOWN_NO_RESPONDERS)
			w->down_nr++;
		else
			w->down_other++;
		pthread_mutex_unlock(&w->lock);
		return;
	}
	if (msg->type == MSG_DOWN && msg->size == sizeof(trp_down_t)) {
		trp_down_t dn;

		memcpy(&dn, msg->data, sizeof(dn));
		w->last_reason = dn.reason;
		if (w->ref != 0 && dn.ref == w->ref &&
		    dn.actor_id == w->proxy_id &&
		    dn.reason == TRP_STOP_NOCONNECTION) {
			w->ref = 0; /* a second one is bad */
			w->down_ns = now;
			w->downs++;
			pthread_mutex_unlock(&w->lock);
			sem_post(&w->got);
			return;
		}
	}
	w->bad++;
	pthread_mutex_unlock(&w->lock);
}

/* --traffic 1: sends MSG_DATA to the proxy every interval until told to
 * stop. Sends after the kill may fail (the proxy is killed once its node
 * is down: TRP_EDEAD); one before it counts as failed. */
struct traffic {
	trp_actor_t *proxy;
	uint64_t interval_ns;
	_Atomic int stop;
	_Atomic uint64_t kill_ns; /* 0 until the kill */
	uint64_t sent, failed_before_kill;
	int first_rc;
};

static void *traffic_main(void *arg)
{
	struct traffic *t = arg;
	uint64_t seq = 0;

	/* relaxed: a stop request; the results are published by the join. */
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		struct timespec ts = { 0, (long)t->interval_ns };
		int rc;

		seq++;
		rc = trp_send(t->proxy, MSG_DATA, &seq, sizeof(seq));
		if (rc == 0) {
			t->sent++;
		} else if (atomic_load_explicit(&t->kill_ns,
						memory_order_relaxed) == 0) {
			/* relaxed: the kill's time is ours to compare
			 * with; a send racing the kill is either. */
			if (t->failed_before_kill++ == 0)
				t->first_rc = rc;
		}
		if (t->interval_ns >= 1000000000ull) {
			ts.tv_sec = (time_t)(t->interval_ns / 1000000000ull);
			ts.tv_nsec = (long)(t->interval_ns % 1000000000ull);
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* --- far node ------------------------------------------------------------ */

struct target {
	alignas(64) uint64_t data;
};

static void target_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct target *t = state;

	(void)self;
	if (msg->type == MSG_PING)
		(void)trp_reply(msg, NULL, 0);
	else
		t->data++;
}

static int far_setup(trp_runtime_t *rt, trp_node_t *node, void *ctx)
{
	(void)node;
	return remote_spawn_named(rt, "target", target_behavior, ctx, NULL);
}

static void far_report(void *ctx, char *buf, size_t size)
{
	struct target *t = ctx;

	snprintf(buf, size, "target_data=%llu", (unsigned long long)t->data);
}

static int nd_far(const trp_config_t *cfg, const uint64_t *values,
		  const struct bench_remote_args *ra)
{
	struct target *t = bench_alloc_lines(1, sizeof(struct target));
	int rc;

	(void)values;
	if (t == NULL)
		return TRP_ENOMEM;
	rc = remote_far_main(cfg, ra, "node_down", far_setup, far_report, t);
	free(t);
	return rc;
}

/* --- measuring side ------------------------------------------------------ */

static int report(const char *what, int rc)
{
	fprintf(stderr, "node_down: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

/* Adds "--name value" style arguments (owned by @store). */
static void push(char **argv, size_t *n, char (*store)[96], const char *a)
{
	snprintf(store[*n], sizeof(store[*n]), "%s", a);
	argv[*n] = store[*n];
	(*n)++;
}

static int start_far(struct bench_far *far, const char *url,
		     const char *cluster, const trp_config_t *cfg)
{
	char store[12][96];
	char *argv[13];
	size_t n = 0;
	char workers[16];

	snprintf(workers, sizeof(workers), "%u", (unsigned)cfg->workers);
	push(argv, &n, store, "troupe-bench");
	push(argv, &n, store, "node_down");
	push(argv, &n, store, "--role");
	push(argv, &n, store, "far");
	push(argv, &n, store, "--nats");
	push(argv, &n, store, url);
	push(argv, &n, store, "--cluster");
	push(argv, &n, store, cluster);
	push(argv, &n, store, "--workers");
	push(argv, &n, store, workers);
	argv[n] = NULL;
	return bench_far_start(far, argv, READY_MS);
}

static bool sem_wait_s(sem_t *s, unsigned secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	while (sem_timedwait(s, &ts) != 0) {
		if (errno != EINTR)
			return false;
	}
	return true;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Asks the far target and waits for its answer (bounded). */
static int ping(trp_actor_t *proxy)
{
	trp_future_t *f;
	int rc = trp_ask(proxy, MSG_PING, NULL, 0, &f);

	if (rc != 0)
		return rc;
	rc = trp_future_wait(f, READY_MS * 1000000ll, NULL);
	trp_future_release(f);
	return rc;
}

/* Waits until near sees "far" up with an incarnation other than @old
 * (bounded): the round's peer, up, so that its death is a down event. */
static int wait_new_incarnation(trp_node_t *node, uint64_t old, uint64_t *inc)
{
	for (int i = 0; i < READY_MS / 5; i++) {
		if (trp_node_peer_up(node, REMOTE_FAR, inc) == 1 && *inc != old)
			return 0;
		sleep_ms(5);
	}
	return TRP_ETIMEDOUT;
}

/* One round: steps 1-6 of the comment at the top. Returns 0 or an error
 * (reported); *lat_ns gets the latency when the DOWN came. */
static int one_round(trp_runtime_t *rt, trp_node_t *node, trp_actor_t *watcher,
		     struct watcher *w, const trp_config_t *cfg,
		     const char *url, const char *cluster, bool traffic,
		     uint64_t interval_us, uint64_t *old_inc,
		     struct traffic *tr_total, uint64_t *lat_ns, bool *got)
{
	struct bench_far far;
	struct traffic tr;
	pthread_t th;
	bool th_started = false;
	trp_actor_t *proxy = NULL;
	trp_ref_t ref = 0;
	uint64_t kill_ns;
	int rc;

	(void)rt;
	*got = false;
	memset(&tr, 0, sizeof(tr));
	if (start_far(&far, url, cluster, cfg) != 0)
		return TRP_ESYSTEM;
	rc = trp_node_wait_peer(node, REMOTE_FAR, READY_MS * 1000000ll);
	if (rc != 0) {
		report("trp_node_wait_peer", rc);
		goto out;
	}
	rc = trp_node_proxy(node, REMOTE_FAR, "target", &proxy);
	if (rc != 0) {
		proxy = NULL;
		report("trp_node_proxy", rc);
		goto out;
	}
	rc = ping(proxy);
	if (rc != 0) {
		report("ping to the far target", rc);
		goto out;
	}
	rc = wait_new_incarnation(node, *old_inc, old_inc);
	if (rc != 0) {
		report("waiting for the new far incarnation to be up", rc);
		goto out;
	}
	pthread_mutex_lock(&w->lock);
	rc = trp_monitor(watcher, proxy, MSG_DOWN, &ref);
	if (rc == 0) {
		w->ref = ref;
		w->proxy_id = trp_actor_id(proxy);
		w->down_ns = 0;
	}
	pthread_mutex_unlock(&w->lock);
	if (rc != 0) {
		report("trp_monitor", rc);
		goto out;
	}
	/* A monitor of a proxy tells the far node (a remote monitor, its
	 * frame sent by the outbound thread): ask again, behind it in the
	 * one ordered stream, so that no frame of ours is still on its way
	 * when the far process dies (one would find no responders and take
	 * the peer down at once, even with --traffic 0). */
	rc = ping(proxy);
	if (rc != 0) {
		report("ping after trp_monitor", rc);
		goto out;
	}
	if (traffic) {
		tr.proxy = proxy;
		tr.interval_ns = interval_us * 1000;
		if (pthread_create(&th, NULL, traffic_main, &tr) != 0) {
			rc = report("starting the traffic thread", TRP_ESYSTEM);
			goto out;
		}
		th_started = true;
		sleep_ms(PRE_KILL_MS);
	}
	kill_ns = bench_now_ns();
	/* relaxed: the traffic thread only tells sends before from after. */
	atomic_store_explicit(&tr.kill_ns, kill_ns, memory_order_relaxed);
	if (kill(far.pid, SIGKILL) != 0) {
		rc = report("kill", TRP_ESYSTEM);
		goto out;
	}
	if (sem_wait_s(&w->got, DOWN_WAIT_S)) {
		pthread_mutex_lock(&w->lock);
		*lat_ns = w->down_ns - kill_ns;
		*got = w->down_ns >= kill_ns;
		pthread_mutex_unlock(&w->lock);
		if (!*got)
			fprintf(stderr,
				"node_down: the DOWN came before the kill (the "
				"far node was seen down while alive: a starved "
				"process missing its heartbeats?)\n");
	} else {
		pthread_mutex_lock(&w->lock);
		fprintf(stderr,
			"node_down: no DOWN within %d s of the kill (last "
			"DOWN reason %d, bad %llu)\n",
			DOWN_WAIT_S, (int)w->last_reason,
			(unsigned long long)w->bad);
		w->ref = 0;
		pthread_mutex_unlock(&w->lock);
	}
out:
	if (th_started) {
		atomic_store_explicit(&tr.stop, 1, memory_order_relaxed);
		pthread_join(th, NULL);
		tr_total->sent += tr.sent;
		if (tr.failed_before_kill != 0 &&
		    tr_total->failed_before_kill++ == 0)
			tr_total->first_rc = tr.first_rc;
	}
	if (proxy != NULL)
		trp_actor_release(proxy);
	/* Killed, or never got that far: close its pipes and reap it. */
	if (far.pid > 0) {
		kill(far.pid, SIGKILL);
		bench_far_stop(&far, NULL, 0, STOP_MS);
	}
	return rc;
}

static int nd_run(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		  const struct bench_remote_args *ra, struct bench_result *out)
{
	uint64_t kills = values[P_KILLS], lat_sum = 0, old_inc = 0;
	bool traffic = values[P_TRAFFIC] != 0;
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	struct watcher *w = calloc(1, sizeof(struct watcher));
	struct bench_nats_server server;
	struct traffic tr_total;
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = watcher_behavior };
	trp_runtime_t *rt = NULL;
	trp_node_t *node = NULL;
	trp_actor_t *watcher = NULL;
	trp_node_stats_t st;
	char url[96], cluster[TRP_NODE_TOKEN_MAX + 1];
	const char *servers[1] = { url };
	uint64_t t0, t1, k = 0;
	int rc = 0;

	(void)mode;
	memset(out, 0, sizeof(*out));
	memset(&server, 0, sizeof(server));
	memset(&tr_total, 0, sizeof(tr_total));
	memset(&st, 0, sizeof(st));
	if (hist == NULL || w == NULL) {
		free(hist);
		free(w);
		return report("allocating", TRP_ENOMEM);
	}
	pthread_mutex_init(&w->lock, NULL);
	sem_init(&w->got, 0, 0);
	if (ra->nats != NULL) {
		snprintf(url, sizeof(url), "%s", ra->nats);
	} else {
		if (bench_nats_server_start(&server) != 0) {
			rc = TRP_ESYSTEM;
			goto done;
		}
		snprintf(url, sizeof(url), "%s", server.url);
	}
	bench_unique_token(cluster, sizeof(cluster), "nd");

	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		rt = NULL;
		report("trp_runtime_create", rc);
		goto done;
	}
	out->workers = trp_runtime_workers(rt);
	ncfg.cluster = cluster;
	ncfg.name = REMOTE_NEAR;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	rc = trp_node_start(rt, &ncfg, &node);
	if (rc != 0) {
		node = NULL;
		report("trp_node_start", rc);
		goto done;
	}
	rc = trp_actor_spawn(rt, &def, w, &watcher);
	if (rc != 0) {
		watcher = NULL;
		report("spawn the watcher", rc);
		goto done;
	}
	rc = trp_node_monitor_nodes(node, watcher, MSG_NODE);
	if (rc != 0) {
		report("trp_node_monitor_nodes", rc);
		goto done;
	}

	t0 = bench_now_ns();
	for (k = 0; k < kills; k++) {
		uint64_t lat = 0;
		bool got = false;

		rc = one_round(rt, node, watcher, w, cfg, url, cluster, traffic,
			       values[P_INTERVAL], &old_inc, &tr_total, &lat,
			       &got);
		if (rc != 0 || !got)
			break;
		bench_hist_record(hist, lat);
		if (getenv("NODE_DOWN_VERBOSE") != NULL)
			fprintf(stderr,
				"node_down: round %llu: %llu ns (heartbeat %llu, no_responders %llu)\n",
				(unsigned long long)k, (unsigned long long)lat,
				(unsigned long long)w->down_hb,
				(unsigned long long)w->down_nr);
		lat_sum += lat;
	}
	t1 = bench_now_ns();
	/* A duplicate DOWN, or a late one, would come within a few
	 * heartbeat intervals. */
	sleep_ms(LATE_WAIT_MS);
	trp_node_stats(node, &st);

	out->messages = kills;
	out->items = kills;
	out->seconds = (double)(t1 - t0) / 1e9;
	pthread_mutex_lock(&w->lock);
	out->ok = rc == 0 && k == kills && w->downs == kills && w->bad == 0 &&
		  hist->count == kills && st.peer_downs == kills &&
		  tr_total.failed_before_kill == 0;
	if (!out->ok)
		fprintf(stderr,
			"node_down: %llu of %llu rounds done, %llu DOWNs "
			"(want one per kill, reason %d), %llu bad (unknown, "
			"twice, wrong reason or id; last reason %d), "
			"peer_downs %llu (want %llu), %llu rounds with a "
			"failed send before the kill (first: %s)\n",
			(unsigned long long)k, (unsigned long long)kills,
			(unsigned long long)w->downs, TRP_STOP_NOCONNECTION,
			(unsigned long long)w->bad, (int)w->last_reason,
			(unsigned long long)st.peer_downs,
			(unsigned long long)kills,
			(unsigned long long)tr_total.failed_before_kill,
			tr_total.first_rc != 0 ?
				trp_strerror(tr_total.first_rc) :
				"none");
	snprintf(out->extra, sizeof(out->extra),
		 "p50_ns=%llu p99_ns=%llu max_ns=%llu mean_ns=%llu "
		 "downs=%llu bad=%llu down_heartbeat=%llu "
		 "down_no_responders=%llu down_other=%llu traffic_sent=%llu "
		 "peer_downs=%llu",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)hist->max,
		 (unsigned long long)(hist->count ? lat_sum / hist->count : 0),
		 (unsigned long long)w->downs, (unsigned long long)w->bad,
		 (unsigned long long)w->down_hb, (unsigned long long)w->down_nr,
		 (unsigned long long)w->down_other,
		 (unsigned long long)tr_total.sent,
		 (unsigned long long)st.peer_downs);
	pthread_mutex_unlock(&w->lock);
	rc = 0;
done:
	if (node != NULL) {
		int src = trp_node_stop(node, NODE_STOP_NS);

		if (src != 0 && rc == 0)
			rc = report("trp_node_stop", src);
	}
	if (watcher != NULL)
		trp_actor_release(watcher);
	if (rt != NULL) {
		trp_stats_t rst;
		int drc;

		if (trp_runtime_stats(rt, &rst) == 0) {
			out->parks = rst.parks;
			out->steals = rst.steals;
		}
		drc = trp_runtime_destroy(rt);
		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	bench_nats_server_stop(&server);
	sem_destroy(&w->got);
	pthread_mutex_destroy(&w->lock);
	free(w);
	free(hist);
	return rc;
}

const struct bench_workload bench_node_down = {
	.name = "node_down",
	.summary = "a far process with a monitored actor is killed (SIGKILL) "
		   "K times; kill-to-DOWN latency percentiles (--traffic 0: "
		   "heartbeats alone, 1: messages flowing to it)",
	.params = nd_params,
	.nparams = sizeof(nd_params) / sizeof(nd_params[0]),
	.run_remote = nd_run,
	.run_far = nd_far,
};
