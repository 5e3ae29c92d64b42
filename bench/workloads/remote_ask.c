/*
 * bench/workloads/remote_ask.c - request/reply to an actor on another
 * node, K requests in flight from one asker (remote.h for the two
 * processes).
 *
 * Actor "echo" on node far answers a request carrying v with v + 1
 * (trp_reply). The asker on node near keeps K (--inflight, default 64)
 * asks in flight through echo's proxy, N (--n) in all, each carrying its
 * sequence number 1..N. Two modes, one line each:
 *
 * outside: the main thread, outside the runtime, holds K futures in a
 *   ring; it waits for the oldest (trp_future_wait), checks it, and asks
 *   again in its slot.
 * actor: an asker actor asks with trp_future_then(f, self, MSG_REPLY);
 *   each reply, a message, is checked against the oldest ask in its ring
 *   (the far node answers in order and the answers come back in one
 *   ordered stream) and a new ask takes its place. No thread blocks.
 *
 * Before timing, each mode makes WARMUP asks one at a time (the streams'
 * first frames, the far node's path back). rate= counts round trips per
 * second from the first measured ask to the last answer. Latency: p50_ns=,
 * p99_ns=, p999_ns=, max_ns= of each ask's send-to-answer time (with K in
 * flight this includes the time behind the others).
 *
 * Check: every answer has status 0 and carries its ask's value + 1; N
 * answers (plus WARMUP); echo answered N + WARMUP requests (its count on
 * the far node's last line); the node counters show no loss and each
 * side received what the other sent (remote_end). A lost request or
 * answer would never complete: waits give up after 10 s.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "remote.h"

#define WARMUP 100u
#define STALL_S 10u
#define MAX_INFLIGHT 1024u

enum {
	MSG_REQ = 1,
	MSG_START,
	MSG_REPLY,
};

enum {
	P_N,
	P_INFLIGHT,
};

enum {
	MODE_OUTSIDE,
	MODE_ACTOR,
};

static const struct bench_param rask_params[] = {
	[P_N] = { "n", "measured asks (N)", 200000, 1, 10000000000ull },
	[P_INFLIGHT] = { "inflight", "asks in flight (K)", 64, 1,
			 MAX_INFLIGHT },
};

struct echo {
	alignas(64) uint64_t seen;
	uint64_t failed;
};

static void echo_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct echo *e = state;
	uint64_t v;

	(void)self;
	if (msg->type != MSG_REQ || msg->size != sizeof(v)) {
		e->failed++;
		return;
	}
	memcpy(&v, msg->data, sizeof(v));
	e->seen++;
	v++;
	if (trp_reply(msg, &v, sizeof(v)) != 0)
		e->failed++;
}

/* --- far node ------------------------------------------------------------ */

static int far_setup(trp_runtime_t *rt, trp_node_t *node, void *ctx)
{
	(void)node;
	return remote_spawn_named(rt, "echo", echo_behavior, ctx, NULL);
}

static void far_report(void *ctx, char *buf, size_t size)
{
	struct echo *e = ctx;

	snprintf(buf, size, "echo_seen=%llu echo_failed=%llu",
		 (unsigned long long)e->seen, (unsigned long long)e->failed);
}

static int rask_far(const trp_config_t *cfg, const uint64_t *values,
		    const struct bench_remote_args *ra)
{
	struct echo *e = bench_alloc_lines(1, sizeof(struct echo));
	int rc;

	(void)values;
	if (e == NULL)
		return TRP_ENOMEM;
	rc = remote_far_main(cfg, ra, "remote_ask", far_setup, far_report, e);
	free(e);
	return rc;
}

/* --- measuring side ------------------------------------------------------ */

/* What both modes count. */
struct tally {
	uint64_t done;	 /* measured answers checked */
	uint64_t failed; /* failed asks, bad or missing answers */
	struct bench_hist *hist;
};

/* One ask from this thread, waited for: the warm-up of both modes. */
static int warm_up(trp_actor_t *echo, struct tally *t)
{
	for (uint64_t i = 1; i <= WARMUP; i++) {
		trp_future_t *f = NULL;
		const trp_msg_t *reply = NULL;
		uint64_t v = i;
		int rc = trp_ask(echo, MSG_REQ, &v, sizeof(v), &f);

		if (rc != 0)
			return rc;
		rc = trp_future_wait(f, (int64_t)STALL_S * 1000000000ll,
				     &reply);
		if (rc != 0 || reply == NULL || reply->size != sizeof(v))
			t->failed++;
		else {
			memcpy(&v, reply->data, sizeof(v));
			if (v != i + 1)
				t->failed++;
		}
		trp_future_release(f);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Mode outside: K futures in a ring, the oldest waited for. */
static int run_outside(trp_actor_t *echo, uint64_t n, uint32_t k,
		       struct tally *t)
{
	trp_future_t **ring = calloc(k, sizeof(*ring));
	uint64_t *sent_ns = calloc(k, sizeof(*sent_ns));
	uint64_t next = 1; /* value of the next ask */
	int rc = 0;

	if (ring == NULL || sent_ns == NULL) {
		free(ring);
		free(sent_ns);
		return TRP_ENOMEM;
	}
	for (uint64_t i = 1; i <= n; i++) {
		/* Fill the ring up to K asks ahead of the answer awaited. */
		while (next <= n && next < i + k) {
			uint32_t slot = (uint32_t)((next - 1) % k);
			uint64_t v = next;

			sent_ns[slot] = bench_now_ns();
			rc = trp_ask(echo, MSG_REQ, &v, sizeof(v), &ring[slot]);
			if (rc != 0) {
				ring[slot] = NULL;
				goto done;
			}
			next++;
		}
		{
			uint32_t slot = (uint32_t)((i - 1) % k);
			const trp_msg_t *reply = NULL;
			uint64_t v;

			rc = trp_future_wait(ring[slot],
					     (int64_t)STALL_S * 1000000000ll,
					     &reply);
			bench_hist_record(t->hist,
					  bench_now_ns() - sent_ns[slot]);
			if (rc != 0 || reply == NULL ||
			    reply->size != sizeof(v)) {
				t->failed++;
			} else {
				memcpy(&v, reply->data, sizeof(v));
				if (v != i + 1)
					t->failed++;
				t->done++;
			}
			trp_future_release(ring[slot]);
			ring[slot] = NULL;
			if (rc != 0) {
				fprintf(stderr, "remote_ask: answer %llu: %s\n",
					(unsigned long long)i,
					trp_strerror(rc));
				goto done;
			}
		}
	}
done:
	for (uint32_t s = 0; s < k; s++) {
		if (ring[s] != NULL)
			trp_future_release(ring[s]);
	}
	free(ring);
	free(sent_ns);
	return rc;
}

struct asker {
	alignas(64) trp_actor_t *echo; /* proxy; reference owned by run() */
	uint64_t n, next, head; /* asks to make; next value; oldest awaited */
	uint32_t k;
	uint64_t *sent_ns; /* send time of each ask, by value - 1 */
	uint8_t *seen;	   /* answers seen, by value - 1 */
	struct tally *t;
	_Atomic uint64_t progress;
	sem_t done;
};

static void asker_ask(trp_actor_t *self, struct asker *a)
{
	trp_future_t *f = NULL;
	uint64_t v = a->next;

	a->sent_ns[v - 1] = bench_now_ns();
	a->next++;
	if (trp_ask(a->echo, MSG_REQ, &v, sizeof(v), &f) != 0) {
		a->t->failed++;
		return;
	}
	if (trp_future_then(f, self, MSG_REPLY) != 0)
		a->t->failed++;
	trp_future_release(f);
}

static void asker_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct asker *a = state;
	uint64_t v;

	if (msg->type == MSG_START) {
		while (a->next <= a->n && a->next <= a->k)
			asker_ask(self, a);
		return;
	}
	/* Answers may come out of order: an ask answered before its
	 * continuation was set (the asker's worker preempted between
	 * trp_ask and trp_future_then) is delivered at once by the asker's
	 * own turn, ahead of answers that reached its mailbox meanwhile.
	 * So each value must come back exactly once, in any order. */
	if (msg->type != MSG_REPLY || msg->status != 0 ||
	    msg->size != sizeof(v)) {
		a->t->failed++;
	} else {
		memcpy(&v, msg->data, sizeof(v));
		v--; /* the echo answers value + 1 */
		if (v < 1 || v > a->n || a->seen[v - 1]) {
			a->t->failed++;
		} else {
			a->seen[v - 1] = 1;
			bench_hist_record(a->t->hist,
					  bench_now_ns() - a->sent_ns[v - 1]);
		}
		a->t->done++;
	}
	a->head++;
	/* relaxed: a progress hint for the waiting thread. */
	atomic_store_explicit(&a->progress, a->head, memory_order_relaxed);
	if (a->head > a->n) {
		sem_post(&a->done); /* publishes the tally to the waiter */
		return;
	}
	if (a->next <= a->n)
		asker_ask(self, a);
}

/* Mode actor: one asker actor, K asks in flight through continuations. */
static int run_actor(trp_runtime_t *rt, trp_actor_t *echo, uint64_t n,
		     uint32_t k, struct tally *t)
{
	trp_actor_def_t adef = { .behavior = asker_behavior };
	struct asker *a = bench_alloc_lines(1, sizeof(struct asker));
	trp_actor_t *asker = NULL;
	int rc;

	if (a == NULL)
		return TRP_ENOMEM;
	a->sent_ns = calloc(n, sizeof(*a->sent_ns));
	a->seen = calloc(n, 1);
	if (a->sent_ns == NULL || a->seen == NULL) {
		free(a->sent_ns);
		free(a->seen);
		free(a);
		return TRP_ENOMEM;
	}
	a->echo = echo;
	a->n = n;
	a->k = k;
	a->next = a->head = 1;
	a->t = t;
	sem_init(&a->done, 0, 0);
	rc = trp_actor_spawn(rt, &adef, a, &asker);
	if (rc == 0)
		rc = trp_send(asker, MSG_START, NULL, 0);
	if (rc == 0 && !remote_wait(&a->done, &a->progress, STALL_S)) {
		fprintf(stderr,
			"remote_ask: no answer for %u s, at %llu of %llu\n",
			STALL_S, (unsigned long long)atomic_load(&a->progress),
			(unsigned long long)n);
		rc = TRP_ETIMEDOUT;
	}
	if (rc == 0)
		rc = trp_runtime_wait_idle(rt, 5000000000ll);
	if (asker != NULL)
		trp_actor_release(asker);
	/* a stays: a timed-out asker may still run until the runtime is
	 * destroyed (remote_end); its memory is lost then, once. */
	if (rc == 0) {
		sem_destroy(&a->done);
		free(a->sent_ns);
		free(a->seen);
		free(a);
	}
	return rc;
}

static int rask_run(const trp_config_t *cfg, const uint64_t *values,
		    size_t mode, const struct bench_remote_args *ra,
		    struct bench_result *out)
{
	uint64_t n = values[P_N], echo_seen = 0, echo_failed = 0, t0, t1;
	uint32_t k = (uint32_t)values[P_INFLIGHT];
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	struct tally t = { 0, 0, hist };
	trp_actor_t *echo = NULL;
	struct remote_run r;
	int rc, wrc;

	memset(out, 0, sizeof(*out));
	if (hist == NULL)
		return TRP_ENOMEM;
	rc = remote_begin(&r, &bench_remote_ask, cfg, values, ra, out);
	if (rc != 0) {
		free(hist);
		return rc;
	}
	rc = trp_node_proxy(r.node, REMOTE_FAR, "echo", &echo);
	if (rc != 0) {
		echo = NULL;
		fprintf(stderr, "remote_ask: trp_node_proxy: %s\n",
			trp_strerror(rc));
		goto end;
	}
	wrc = warm_up(echo, &t);
	if (wrc != 0 || t.failed != 0) {
		fprintf(stderr, "remote_ask: warm-up: %s, %llu bad answers\n",
			trp_strerror(wrc), (unsigned long long)t.failed);
		out->ok = false;
		goto end;
	}
	t0 = bench_now_ns();
	if (mode == MODE_OUTSIDE)
		wrc = run_outside(echo, n, k, &t);
	else
		wrc = run_actor(r.rt, echo, n, k, &t);
	t1 = bench_now_ns();
	out->messages = 2 * n;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = wrc == 0 && t.done == n && t.failed == 0 && hist->count == n;
	if (!out->ok)
		fprintf(stderr,
			"remote_ask: %s: %s; %llu answers (want %llu), %llu "
			"failed or bad, %llu samples\n",
			mode == MODE_OUTSIDE ? "outside" : "actor",
			trp_strerror(wrc), (unsigned long long)t.done,
			(unsigned long long)n, (unsigned long long)t.failed,
			(unsigned long long)hist->count);
	snprintf(out->extra, sizeof(out->extra),
		 "mode=%s p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 mode == MODE_OUTSIDE ? "outside" : "actor",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)bench_hist_quantile(hist, 0.999),
		 (unsigned long long)hist->max);
end : {
	int erc = remote_end(&r, out);

	if (rc == 0)
		rc = erc;
}
	if (!bench_line_u64(r.far_line, "echo_seen", &echo_seen) ||
	    !bench_line_u64(r.far_line, "echo_failed", &echo_failed) ||
	    echo_seen != n + WARMUP || echo_failed != 0) {
		fprintf(stderr,
			"remote_ask: echo answered %llu (want %llu), %llu "
			"failed\n",
			(unsigned long long)echo_seen,
			(unsigned long long)(n + WARMUP),
			(unsigned long long)echo_failed);
		out->ok = false;
	}
	if (echo != NULL)
		trp_actor_release(echo);
	free(hist);
	return rc;
}

static const char *const rask_modes[] = {
	[MODE_OUTSIDE] = "outside",
	[MODE_ACTOR] = "actor",
};

const struct bench_workload bench_remote_ask = {
	.name = "remote_ask",
	.summary = "one asker keeps K asks in flight to an echo actor on "
		   "another node (process) over NATS; from an outside thread "
		   "and from an actor, one line per mode, with latency "
		   "percentiles",
	.params = rask_params,
	.nparams = sizeof(rask_params) / sizeof(rask_params[0]),
	.modes = rask_modes,
	.nmodes = sizeof(rask_modes) / sizeof(rask_modes[0]),
	.run_remote = rask_run,
	.run_far = rask_far,
};
