/*
 * bench/workloads/pubsub.c - the exchange (shared/WORKLOADS.md, pubsub).
 *
 * One named exchange ("pubsub") with S subscriber actors; a publisher actor
 * publishes the integers 1..M, CHUNK of them per turn, then messages itself
 * to go on (so it runs on the workers like every other actor and leaves
 * room for the subscribers between chunks). Every integer is delivered as
 * its own message to each subscriber: S*M deliveries (messages= and rate=
 * count those). By default the publisher hands each turn's CHUNK integers
 * to one trp_exchange_publish_n call (each subscriber gets them packed
 * together, enqueued with one atomic operation); --per_call 1 publishes
 * them one trp_exchange_publish call each, --per_call K K at a time.
 *
 * --outside 1: the publisher is not an actor but the calling (outside)
 * thread, publishing 1..M in one loop, --per_call at a time; no turns, so
 * every publish is its own entry into the runtime (the seeds' exc.send
 * from a plain thread). The queues are unbounded: the subscribers may fall
 * behind (peak_rss_kb shows by how much).
 *
 * Timing: from the publisher's first message (after spawning and attaching
 * everything) to the return of trp_runtime_wait_idle(); --outside 1: from
 * the first publish to the return of trp_runtime_wait_idle().
 *
 * Check: every subscriber got M messages summing to M(M+1)/2; the
 * publisher's publishes all returned 0; the exchange's stats show M
 * publishes, S*M deliveries to the subscribers and no drops; the runtime's
 * counters agree (sent == processed == S*M plus the publisher's own turn
 * messages, nothing dead-lettered or rejected).
 *
 * --churn 1: an outside thread attaches and detaches a callback sink in a
 * loop for the whole measured interval (each attach/detach copies the
 * subscriber array and waits for a grace period). Its deliveries are not
 * part of the check (they are subtracted from the exchange's delivered
 * count, exactly: the callback counts them). The line then adds
 * churn_ops= (attach+detach pairs); --churn_pause_us P sleeps P us between
 * pairs, to tell the cost of the churn itself (copies, grace periods, the
 * publisher re-reading each new array) from the CPU the churn thread takes
 * on a small machine. Run with and without to compare the
 * publish cost: publish_ns= is the mean publishing time per integer (S
 * deliveries), measured around each chunk by the publisher.
 *
 * State: subscribers and the publisher keep their state in memory this
 * file owns (spawned with state_size 0), read after the runtime is idle.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#endif

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_INT = 1,
	MSG_GO = 2
}; /* MSG_INT payload: int64_t n */

/* Publishes per turn. 100 x S deliveries in flight per chunk: with 1000,
 * peak RSS was 2-3x higher (17 vs 7 MiB at S=100) and the rate no better,
 * the subscribers' messages going cold in cache before they ran. */
#define CHUNK 100u

enum {
	P_SUBSCRIBERS,
	P_M,
	P_CHURN,
	P_CHURN_PAUSE,
	P_PER_CALL,
	P_OUTSIDE
};

static const struct bench_param pubsub_params[] = {
	[P_SUBSCRIBERS] = { "subscribers", "subscriber actors (S)", 100, 1,
			    100000 },
	[P_M] = { "m", "integers published (M)", 100000, 1, 1000000000 },
	[P_CHURN] = { "churn",
		      "1: attach/detach a callback sink in a loop meanwhile", 0,
		      0, 1 },
	[P_CHURN_PAUSE] = { "churn_pause_us",
			    "with --churn 1: sleep between attach/detach "
			    "pairs (0 = none)",
			    0, 0, 1000000 },
	[P_PER_CALL] = { "per_call",
			 "integers per publish call: 1 = trp_exchange_publish, "
			 "more = trp_exchange_publish_n",
			 CHUNK, 1, CHUNK },
	[P_OUTSIDE] = { "outside",
			"1: publish from the calling thread, not an actor", 0,
			0, 1 },
};

struct subscriber {
	alignas(64) uint64_t count;
	uint64_t sum; /* mod 2^64, like the expected value */
	uint64_t bad; /* messages of the wrong type or size */
};

struct publisher {
	alignas(64) trp_exchange_t *ex;
	uint64_t next, m;
	uint64_t per_call; /* integers per publish call */
	uint64_t turns;
	uint64_t failed; /* publishes or sends that returned an error */
	uint64_t publish_ns;
};

struct churn {
	trp_exchange_t *ex;
	_Atomic(int) stop;
	_Atomic(uint64_t) delivered; /* deliveries to the churn sink */
	uint64_t ops;		     /* attach+detach pairs */
	uint64_t pause_us;	     /* sleep between pairs */
	int rc;			     /* first error */
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
	s->count++;
	s->sum += (uint64_t)n;
}

/* Publishes p->next..@end, p->per_call integers per call. */
static void publish_upto(struct publisher *p, uint64_t end)
{
	while (p->next <= end) {
		int64_t v[CHUNK];
		uint64_t k = 0;

		for (; k < p->per_call && p->next <= end; k++)
			v[k] = (int64_t)p->next++;
		if ((k == 1 ? trp_exchange_publish(p->ex, MSG_INT, v,
						   sizeof(v[0])) :
			      trp_exchange_publish_n(p->ex, MSG_INT, v,
						     sizeof(v[0]), k)) != 0)
			p->failed++;
	}
}

static void publisher_behavior(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	struct publisher *p = state;
	uint64_t end = p->next + CHUNK - 1, t0;

	(void)msg;
	if (end > p->m)
		end = p->m;
	p->turns++;
	t0 = bench_now_ns();
	publish_upto(p, end);
	p->publish_ns += bench_now_ns() - t0;
	if (p->next <= p->m && trp_send(self, MSG_GO, NULL, 0) != 0)
		p->failed++;
}

static void churn_callback(void *ctx, const trp_msg_t *msg)
{
	struct churn *c = ctx;

	(void)msg;
	/* relaxed: a count, read after the thread is joined and the
	 * runtime idle (the detach's grace period orders it). */
	atomic_fetch_add_explicit(&c->delivered, 1, memory_order_relaxed);
}

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	trp_sink_t sink = trp_sink_callback(churn_callback, c);

	/* relaxed: a stop request; the results are published by the
	 * join. */
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		trp_sub_t sub;
		int rc = trp_exchange_attach(c->ex, sink, &sub);

		if (rc == 0)
			rc = trp_exchange_detach(c->ex, sub);
		if (rc != 0) {
			c->rc = rc;
			break;
		}
		c->ops++;
		if (c->pause_us != 0) {
			struct timespec ts = { (time_t)(c->pause_us / 1000000),
					       (long)(c->pause_us % 1000000) *
						       1000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "pubsub: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

/* Allocates @n zeroed, 64-byte aligned elements of @size (a multiple of 64). */
static void *alloc_lines(size_t n, size_t size)
{
	void *p;

	if (n > SIZE_MAX / size)
		return NULL;
	p = aligned_alloc(64, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

static bool pubsub_check(trp_exchange_t *ex, const struct subscriber *subs,
			 const struct publisher *pub, uint64_t s, uint64_t m,
			 uint64_t churn_delivered)
{
	uint64_t want_sum = m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
	uint64_t wrong = 0;
	trp_exchange_stats_t st;
	bool ok = true;
	int rc;

	for (uint64_t i = 0; i < s; i++) {
		if (subs[i].count == m && subs[i].sum == want_sum &&
		    subs[i].bad == 0)
			continue;
		if (wrong++ < 5)
			fprintf(stderr,
				"pubsub: subscriber %llu: count=%llu (want "
				"%llu) sum=%llu (want %llu) bad=%llu\n",
				(unsigned long long)i,
				(unsigned long long)subs[i].count,
				(unsigned long long)m,
				(unsigned long long)subs[i].sum,
				(unsigned long long)want_sum,
				(unsigned long long)subs[i].bad);
		ok = false;
	}
	if (wrong > 5)
		fprintf(stderr, "pubsub: ... %llu subscribers wrong\n",
			(unsigned long long)wrong);
	if (pub->failed != 0 || pub->next != m + 1) {
		fprintf(stderr,
			"pubsub: publisher reached %llu of %llu, %llu failed "
			"publishes/sends\n",
			(unsigned long long)(pub->next - 1),
			(unsigned long long)m, (unsigned long long)pub->failed);
		ok = false;
	}
	rc = trp_exchange_stats(ex, &st);
	if (rc != 0) {
		report("trp_exchange_stats", rc);
		return false;
	}
	if (st.published != m || st.delivered != s * m + churn_delivered ||
	    st.dropped_full != 0 || st.dropped_dead != 0 ||
	    st.dropped_other != 0 || st.subscribers != s) {
		fprintf(stderr,
			"pubsub: exchange stats: published=%llu (want %llu) "
			"delivered=%llu (want %llu + %llu to the churn sink) "
			"dropped full=%llu dead=%llu other=%llu (want 0) "
			"subscribers=%u (want %llu)\n",
			(unsigned long long)st.published, (unsigned long long)m,
			(unsigned long long)st.delivered,
			(unsigned long long)(s * m),
			(unsigned long long)churn_delivered,
			(unsigned long long)st.dropped_full,
			(unsigned long long)st.dropped_dead,
			(unsigned long long)st.dropped_other,
			(unsigned)st.subscribers, (unsigned long long)s);
		ok = false;
	}
	return ok;
}

static int pubsub_run(const trp_config_t *cfg, const uint64_t *values,
		      size_t mode, struct bench_result *out)
{
	uint64_t s = values[P_SUBSCRIBERS], m = values[P_M];
	bool with_churn = values[P_CHURN] != 0;
	bool outside = values[P_OUTSIDE] != 0;
	trp_actor_def_t sub_def = { .behavior = subscriber_behavior };
	trp_actor_def_t pub_def = { .behavior = publisher_behavior };
	struct subscriber *subs = alloc_lines(s, sizeof(struct subscriber));
	struct publisher *pub = alloc_lines(1, sizeof(struct publisher));
	struct churn churn;
	trp_runtime_t *rt = NULL;
	trp_exchange_t *ex = NULL;
	trp_actor_t *pub_actor = NULL;
	pthread_t churn_thread;
	bool churning = false;
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	memset(&churn, 0, sizeof(churn));
	if (subs == NULL || pub == NULL) {
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
	rc = trp_exchange_get(rt, "pubsub", &ex);
	if (rc != 0) {
		report("trp_exchange_get", rc);
		ex = NULL;
		goto done;
	}
	for (uint64_t i = 0; i < s; i++) {
		trp_actor_t *a;

		rc = trp_actor_spawn(rt, &sub_def, &subs[i], &a);
		if (rc != 0) {
			report("spawn subscriber", rc);
			goto done;
		}
		/* The exchange keeps its own reference while attached. */
		rc = trp_exchange_attach(ex, trp_sink_actor(a), NULL);
		trp_actor_release(a);
		if (rc != 0) {
			report("trp_exchange_attach", rc);
			goto done;
		}
	}
	pub->ex = ex;
	pub->next = 1;
	pub->m = m;
	pub->per_call = values[P_PER_CALL];
	if (!outside) {
		rc = trp_actor_spawn(rt, &pub_def, pub, &pub_actor);
		if (rc != 0) {
			report("spawn publisher", rc);
			pub_actor = NULL;
			goto done;
		}
	}
	rc = trp_runtime_wait_idle(rt, -1);
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	if (with_churn) {
		churn.ex = ex;
		churn.pause_us = values[P_CHURN_PAUSE];
		if (pthread_create(&churn_thread, NULL, churn_main, &churn) !=
		    0) {
			rc = report("starting the churn thread", TRP_ESYSTEM);
			goto done;
		}
		churning = true;
	}

	t0 = bench_now_ns();
	if (outside) {
		publish_upto(pub, m);
		pub->publish_ns = bench_now_ns() - t0;
	} else {
		rc = trp_send(pub_actor, MSG_GO, NULL, 0);
		if (rc != 0) {
			report("send to the publisher", rc);
			goto done;
		}
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}
	if (churning) {
		/* relaxed: see churn_main. */
		atomic_store_explicit(&churn.stop, 1, memory_order_relaxed);
		pthread_join(churn_thread, NULL);
		churning = false;
		if (churn.rc != 0) {
			rc = report("churn attach/detach", churn.rc);
			goto done;
		}
	}

	out->messages = s * m;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = pubsub_check(ex, subs, pub, s, m,
			       atomic_load_explicit(&churn.delivered,
						    memory_order_relaxed));
	/* Each publisher turn is one message to itself (none from
	 * outside). */
	if (!bench_check_stats(rt, "pubsub", s * m + pub->turns, out))
		out->ok = false;
	if (with_churn)
		snprintf(out->extra, sizeof(out->extra),
			 "churn_ops=%llu publish_ns=%.0f",
			 (unsigned long long)churn.ops,
			 (double)pub->publish_ns / (double)m);
	else
		snprintf(out->extra, sizeof(out->extra), "publish_ns=%.0f",
			 (double)pub->publish_ns / (double)m);
done:
	if (churning) {
		atomic_store_explicit(&churn.stop, 1, memory_order_relaxed);
		pthread_join(churn_thread, NULL);
	}
	if (pub_actor != NULL)
		trp_actor_release(pub_actor);
	if (ex != NULL)
		trp_exchange_release(ex);
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	free(pub);
	free(subs);
	return rc;
}

const struct bench_workload bench_pubsub = {
	.name = "pubsub",
	.summary = "one named exchange, S subscriber actors, a publisher "
		   "actor publishing 1..M; S*M deliveries",
	.params = pubsub_params,
	.nparams = sizeof(pubsub_params) / sizeof(pubsub_params[0]),
	.run = pubsub_run,
};
