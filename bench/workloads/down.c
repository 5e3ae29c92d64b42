/*
 * bench/workloads/down.c - DOWN latency: a target stops, its watcher hears
 * of it (issue 11, "Benchmark"; troupe/monitor.h).
 *
 * A watcher actor runs N rounds. A round: the watcher spawns a target,
 * monitors it (trp_monitor) and sends it STOP; the target reads the clock
 * and calls trp_actor_stop(); the runtime stops it and sends the DOWN; the
 * watcher reads the clock when its behaviour gets the DOWN and starts the
 * next round. With --inflight K (default 1) K rounds run at once (each
 * DOWN starts one more), which measures throughput under some load rather
 * than the latency of one DOWN alone.
 *
 * Latency: from the target's clock reading, just before trp_actor_stop()
 * (the stop takes effect when its behaviour returns), to the watcher's,
 * first thing in the behaviour that got the DOWN (CLOCK_MONOTONIC on both
 * sides). The target writes its reading into the round's slot in the
 * watcher's state; the watcher reads it after the DOWN, which the stop
 * orders after the write. p50_ns=, p99_ns=, p999_ns= (and max_ns=) come from
 * a log-linear histogram (bench_hist: a percentile is at most 6.25 % above
 * the true value); rate= counts DOWNs per second, each round including
 * the spawn, the monitor and the STOP. The Erlang peer
 * (bench/peers/erlang) does the same rounds with spawn_monitor/1.
 *
 * Timing: from the GO to the watcher to the return of
 * trp_runtime_wait_idle().
 *
 * Check: every DOWN carries the ref of a monitor the watcher placed and
 * has not heard from yet (so each monitor's DOWN arrived exactly once:
 * a duplicate or an unknown ref is counted bad), the target's id, reason
 * TRP_STOP_NORMAL and code 0; N DOWNs in all, one sample each; no call
 * failed; the runtime's counters agree (sent == processed == 2N + 1: the
 * GO, N STOPs, N DOWNs; nothing dead-lettered or rejected; N + 1 actors
 * spawned, N stopped).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_GO = 1,
	MSG_STOP,
	MSG_DOWN, /* payload: trp_down_t */
};

enum {
	P_N,
	P_INFLIGHT,
};

static const struct bench_param down_params[] = {
	[P_N] = { "n", "DOWNs (N): targets stopped and heard of", 1000000, 1,
		  10000000000ull },
	[P_INFLIGHT] = { "inflight", "rounds at once (K)", 1, 1, 1024 },
};

/*
 * One round in progress. The watcher writes ref and target_id before it
 * sends STOP; the target writes stop_ns after it gets STOP; the watcher
 * reads stop_ns after the DOWN. So no two threads touch a slot at once.
 */
struct slot {
	alignas(64) uint64_t stop_ns; /* the target's clock reading; 0: none */
	trp_ref_t ref;		      /* 0: free */
	uint64_t target_id;
};

struct watcher {
	alignas(64) struct slot *slots;
	uint64_t inflight;
	uint64_t n;
	uint64_t started; /* rounds started */
	uint64_t downs;	  /* DOWNs that matched a round */
	uint64_t bad;	  /* DOWNs with a wrong ref, id, reason or code */
	uint64_t failed;  /* troupe calls that failed */
	struct bench_hist *hist;
};

static void target_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	uint64_t *stop_ns = state; /* the slot's */

	if (msg->type != MSG_STOP) {
		*stop_ns = 0; /* the watcher counts it bad */
	} else {
		*stop_ns = bench_now_ns();
	}
	if (trp_actor_stop(self) != 0)
		*stop_ns = 0;
}

static void start_round(trp_actor_t *self, struct watcher *w, struct slot *s)
{
	trp_actor_def_t def = { .behavior = target_behavior };
	trp_actor_t *t;

	s->stop_ns = 0;
	if (trp_actor_spawn(trp_actor_runtime(self), &def, &s->stop_ns, &t) !=
	    0) {
		w->failed++;
		return;
	}
	w->started++;
	s->target_id = trp_actor_id(t);
	if (trp_monitor(self, t, MSG_DOWN, &s->ref) != 0) {
		s->ref = 0;
		w->failed++;
	}
	if (trp_send(t, MSG_STOP, NULL, 0) != 0)
		w->failed++;
	trp_actor_release(t);
}

static void watcher_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	uint64_t now = bench_now_ns();
	struct watcher *w = state;
	struct slot *s = NULL;
	trp_down_t dn;

	if (msg->type == MSG_GO) {
		for (uint64_t i = 0; i < w->inflight && w->started < w->n; i++)
			start_round(self, w, &w->slots[i]);
		return;
	}
	if (msg->type != MSG_DOWN || msg->size != sizeof(dn)) {
		w->bad++;
		return;
	}
	memcpy(&dn, msg->data, sizeof(dn));
	for (uint64_t i = 0; i < w->inflight; i++) {
		if (dn.ref != 0 && w->slots[i].ref == dn.ref) {
			s = &w->slots[i];
			break;
		}
	}
	if (s == NULL) { /* unknown, or a second DOWN for one monitor */
		w->bad++;
		return;
	}
	if (dn.actor_id != s->target_id || dn.reason != TRP_STOP_NORMAL ||
	    dn.code != 0 || s->stop_ns == 0 || now < s->stop_ns)
		w->bad++;
	else
		bench_hist_record(w->hist, now - s->stop_ns);
	w->downs++;
	s->ref = 0;
	if (w->started < w->n)
		start_round(self, w, s);
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "down: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool down_check(trp_runtime_t *rt, const struct watcher *w, uint64_t n,
		       struct bench_result *out)
{
	trp_stats_t st;
	uint64_t open = 0;
	bool ok = true;
	int rc;

	for (uint64_t i = 0; i < w->inflight; i++)
		open += w->slots[i].ref != 0;
	if (w->started != n || w->downs != n || w->bad != 0 || w->failed != 0 ||
	    w->hist->count != n || open != 0) {
		fprintf(stderr,
			"down: %llu rounds started, %llu DOWNs (want %llu "
			"each), %llu bad DOWNs, %llu failed calls, %llu "
			"samples, %llu monitors never heard from\n",
			(unsigned long long)w->started,
			(unsigned long long)w->downs, (unsigned long long)n,
			(unsigned long long)w->bad,
			(unsigned long long)w->failed,
			(unsigned long long)w->hist->count,
			(unsigned long long)open);
		ok = false;
	}
	if (!bench_check_stats(rt, "down", 2 * n + 1, out))
		ok = false;
	rc = trp_runtime_stats(rt, &st);
	if (rc != 0) {
		report("trp_runtime_stats", rc);
		return false;
	}
	if (st.spawned != n + 1 || st.stopped != n) {
		fprintf(stderr,
			"down: runtime spawned %llu actors (want %llu), "
			"stopped %llu (want %llu)\n",
			(unsigned long long)st.spawned,
			(unsigned long long)(n + 1),
			(unsigned long long)st.stopped, (unsigned long long)n);
		ok = false;
	}
	return ok;
}

static int down_run(const trp_config_t *cfg, const uint64_t *values,
		    size_t mode, struct bench_result *out)
{
	uint64_t n = values[P_N], k = values[P_INFLIGHT];
	trp_actor_def_t wdef = { .behavior = watcher_behavior };
	struct watcher *w = bench_alloc_lines(1, sizeof(struct watcher));
	struct slot *slots = bench_alloc_lines(k, sizeof(struct slot));
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	trp_actor_t *watcher = NULL;
	trp_runtime_t *rt = NULL;
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (w == NULL || slots == NULL || hist == NULL) {
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
	w->slots = slots;
	w->inflight = k;
	w->n = n;
	w->hist = hist;
	rc = trp_actor_spawn(rt, &wdef, w, &watcher);
	if (rc != 0) {
		watcher = NULL;
		report("spawn the watcher", rc);
		goto done;
	}

	t0 = bench_now_ns();
	rc = trp_send(watcher, MSG_GO, NULL, 0);
	if (rc != 0) {
		report("send GO", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	out->messages = 2 * n + 1;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = down_check(rt, w, n, out);
	snprintf(out->extra, sizeof(out->extra),
		 "p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)bench_hist_quantile(hist, 0.999),
		 (unsigned long long)hist->max);
done:
	if (watcher != NULL)
		trp_actor_release(watcher);
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(hist);
	free(slots);
	free(w);
	return rc;
}

const struct bench_workload bench_down = {
	.name = "down",
	.summary = "a watcher monitors a target that stops; stop-to-DOWN "
		   "latency percentiles and DOWNs per second",
	.params = down_params,
	.nparams = sizeof(down_params) / sizeof(down_params[0]),
	.run = down_run,
};
