/*
 * bench/workloads/ask.c - request/reply round trips (troupe/future.h).
 *
 * Two modes, one output line each (mode=outside, then mode=actor):
 *
 * outside: the main thread, outside the runtime, asks the server actor
 *   (trp_ask) and blocks on the future (trp_future_wait), OUTSIDE times;
 *   the server answers with trp_reply. Measures the wake-up of a parked
 *   thread by a worker plus the send to an idle actor.
 * actor: an asker actor asks the server, sets trp_future_then(f, self,
 *   MSG_REPLY) and releases the future; the reply arrives as a message,
 *   and the asker asks again from that behaviour, N times. No thread
 *   blocks: this is the actor-to-actor round trip of issue 5 (the target
 *   is >= 2x the plain ping-pong of the peers measured here).
 *
 * rate= counts round trips per second. Latency: p50_ns=, p99_ns=,
 * p999_ns= (and max_ns=) of the round trip from a log-linear histogram
 * (bench_hist), one clock read per round trip (the reading that ends one
 * round trip starts the next).
 *
 * Check: every reply carries the request's sequence number plus one and
 * arrives with status 0, in order; round trips == N (OUTSIDE); the
 * histogram holds one sample per round trip; the runtime's counters agree
 * (bench_check_stats: outside, N requests; actor, N requests plus N
 * continuation messages plus the start message).
 *
 * outside and actor are the workload's two modes (struct bench_workload):
 * troupe-bench prints one line per mode, troupe-microbench runs each as a
 * benchmark of its own (workload/ask/outside, workload/ask/actor).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_REQ = 1,
	MSG_START,
	MSG_REPLY,
};

enum {
	P_N,
	P_OUTSIDE,
};

enum {
	MODE_OUTSIDE, /* first: the CLI prints its line first */
	MODE_ACTOR,
};

static const struct bench_param ask_params[] = {
	[P_N] = { "n", "actor-to-actor round trips (N)", 1000000, 1,
		  10000000000ull },
	[P_OUTSIDE] = { "outside", "round trips from an outside thread", 100000,
			1, 10000000000ull },
};

struct asker {
	alignas(64) trp_actor_t *server; /* reference owned by run() */
	uint64_t n;			 /* round trips to make */
	uint64_t seq;			 /* asks made */
	uint64_t done;			 /* replies checked */
	uint64_t failed;		 /* failed calls, bad replies */
	uint64_t sent_ns;		 /* when the ask in flight left */
	struct bench_hist *hist;
};

struct server {
	alignas(64) uint64_t seen;
	uint64_t failed;
};

/* Replies seq + 1 to a request carrying seq. */
static void server_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct server *s = state;
	uint64_t v;

	(void)self;
	if (msg->type != MSG_REQ || msg->size != sizeof(v)) {
		s->failed++;
		return;
	}
	memcpy(&v, msg->data, sizeof(v));
	s->seen++;
	v++;
	if (trp_reply(msg, &v, sizeof(v)) != 0)
		s->failed++;
}

static void ask_next(trp_actor_t *self, struct asker *a, uint64_t now)
{
	trp_future_t *f = NULL;
	uint64_t v = ++a->seq;

	a->sent_ns = now;
	if (trp_ask(a->server, MSG_REQ, &v, sizeof(v), &f) != 0) {
		a->failed++;
		return;
	}
	if (trp_future_then(f, self, MSG_REPLY) != 0)
		a->failed++;
	trp_future_release(f);
}

static void asker_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct asker *a = state;
	uint64_t now = bench_now_ns();
	uint64_t v;

	if (msg->type == MSG_START) {
		ask_next(self, a, now);
		return;
	}
	if (msg->type != MSG_REPLY || msg->status != 0 ||
	    msg->size != sizeof(v)) {
		a->failed++;
		return;
	}
	memcpy(&v, msg->data, sizeof(v));
	if (v != a->seq + 1)
		a->failed++;
	a->done++;
	bench_hist_record(a->hist, now - a->sent_ns);
	if (a->done < a->n)
		ask_next(self, a, now);
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "ask: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static void latency_fields(char *buf, size_t size, const char *mode,
			   const struct bench_hist *h)
{
	snprintf(buf, size,
		 "mode=%s p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 mode, (unsigned long long)bench_hist_quantile(h, 0.50),
		 (unsigned long long)bench_hist_quantile(h, 0.99),
		 (unsigned long long)bench_hist_quantile(h, 0.999),
		 (unsigned long long)h->max);
}

/* Mode outside: OUTSIDE asks from this thread, each waited for. */
static int run_outside(const trp_config_t *cfg, uint64_t n,
		       struct bench_hist *hist, struct bench_result *out)
{
	trp_actor_def_t sdef = { .behavior = server_behavior };
	struct server *srv = bench_alloc_lines(1, sizeof(struct server));
	trp_runtime_t *rt = NULL;
	trp_actor_t *server = NULL;
	uint64_t failed = 0, t0, t1, now;
	int rc;

	if (srv == NULL)
		return report("allocating state", TRP_ENOMEM);
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		free(srv);
		return report("trp_runtime_create", rc);
	}
	out->workers = trp_runtime_workers(rt);
	rc = trp_actor_spawn(rt, &sdef, srv, &server);
	if (rc != 0) {
		report("spawn server", rc);
		goto done;
	}
	t0 = now = bench_now_ns();
	for (uint64_t i = 1; i <= n; i++) {
		trp_future_t *f = NULL;
		const trp_msg_t *reply = NULL;
		uint64_t v = i, start = now;

		rc = trp_ask(server, MSG_REQ, &v, sizeof(v), &f);
		if (rc != 0) {
			report("trp_ask", rc);
			goto done;
		}
		rc = trp_future_wait(f, -1, &reply);
		now = bench_now_ns();
		if (rc != 0 || reply == NULL || reply->size != sizeof(v))
			failed++;
		else {
			memcpy(&v, reply->data, sizeof(v));
			if (v != i + 1)
				failed++;
		}
		trp_future_release(f);
		bench_hist_record(hist, now - start);
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	out->messages = n;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = failed == 0 && srv->failed == 0 && srv->seen == n &&
		  hist->count == n;
	if (!out->ok)
		fprintf(stderr,
			"ask: outside: %llu bad replies, server saw %llu "
			"(want %llu), %llu server failures\n",
			(unsigned long long)failed,
			(unsigned long long)srv->seen, (unsigned long long)n,
			(unsigned long long)srv->failed);
	if (!bench_check_stats(rt, "ask (outside)", n, out))
		out->ok = false;
	latency_fields(out->extra, sizeof(out->extra), "outside", hist);
done:
	if (server != NULL)
		trp_actor_release(server);
	{
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(srv);
	return rc;
}

/* Mode actor: one asker actor, N round trips through continuations. */
static int run_actor(const trp_config_t *cfg, uint64_t n,
		     struct bench_hist *hist, struct bench_result *out)
{
	trp_actor_def_t sdef = { .behavior = server_behavior };
	trp_actor_def_t adef = { .behavior = asker_behavior };
	struct server *srv = bench_alloc_lines(1, sizeof(struct server));
	struct asker *a = bench_alloc_lines(1, sizeof(struct asker));
	trp_runtime_t *rt = NULL;
	trp_actor_t *asker = NULL;
	uint64_t t0, t1;
	int rc;

	if (srv == NULL || a == NULL) {
		free(srv);
		free(a);
		return report("allocating state", TRP_ENOMEM);
	}
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		free(srv);
		free(a);
		return report("trp_runtime_create", rc);
	}
	out->workers = trp_runtime_workers(rt);
	a->n = n;
	a->hist = hist;
	rc = trp_actor_spawn(rt, &sdef, srv, &a->server);
	if (rc != 0) {
		a->server = NULL;
		report("spawn server", rc);
		goto done;
	}
	rc = trp_actor_spawn(rt, &adef, a, &asker);
	if (rc != 0) {
		report("spawn asker", rc);
		goto done;
	}
	t0 = bench_now_ns();
	rc = trp_send(asker, MSG_START, NULL, 0);
	if (rc != 0) {
		report("send start", rc);
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
	out->ok = a->done == n && a->failed == 0 && srv->seen == n &&
		  srv->failed == 0 && hist->count == n;
	if (!out->ok)
		fprintf(stderr,
			"ask: actor: %llu replies (want %llu), %llu asker "
			"failures, server saw %llu, %llu server failures\n",
			(unsigned long long)a->done, (unsigned long long)n,
			(unsigned long long)a->failed,
			(unsigned long long)srv->seen,
			(unsigned long long)srv->failed);
	if (!bench_check_stats(rt, "ask (actor)", out->messages, out))
		out->ok = false;
	latency_fields(out->extra, sizeof(out->extra), "actor", hist);
done:
	if (asker != NULL)
		trp_actor_release(asker);
	if (a->server != NULL)
		trp_actor_release(a->server);
	{
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(srv);
	free(a);
	return rc;
}

/* One mode per call, with a fresh histogram. */
static int ask_run(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		   struct bench_result *out)
{
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	int rc;

	memset(out, 0, sizeof(*out));
	if (hist == NULL)
		return report("allocating the histogram", TRP_ENOMEM);
	if (mode == MODE_OUTSIDE)
		rc = run_outside(cfg, values[P_OUTSIDE], hist, out);
	else
		rc = run_actor(cfg, values[P_N], hist, out);
	free(hist);
	return rc;
}

static const char *const ask_modes[] = {
	[MODE_OUTSIDE] = "outside",
	[MODE_ACTOR] = "actor",
};

const struct bench_workload bench_ask = {
	.name = "ask",
	.summary = "request/reply round trips: from an outside thread "
		   "(trp_future_wait) and actor to actor (trp_future_then); "
		   "one line per mode, with latency percentiles",
	.params = ask_params,
	.nparams = sizeof(ask_params) / sizeof(ask_params[0]),
	.modes = ask_modes,
	.nmodes = sizeof(ask_modes) / sizeof(ask_modes[0]),
	.run = ask_run,
};
