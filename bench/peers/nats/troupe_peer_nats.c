/*
 * bench/peers/nats/troupe_peer_nats.c - troupe-peer-nats: troupe-bench's
 * remote workloads (bench/workloads/remote_*.c) written directly on the
 * NATS C client (nats.c 3.4): one NATS message per message, every
 * connection with natsOptions_SetSendAsap (a publish is written to the
 * socket at once instead of waiting ~1 ms for the flusher thread; shared
 * FACTS.md §6). The baseline troupe's nodes add their framing, batching
 * and delivery to.
 *
 *   troupe-peer-nats WORKLOAD [--PARAM VALUE]... [--workers W] [--runs R]
 *                    [--nats URL]
 *
 * Same CLI shape, parameter names, defaults and output line as
 * troupe-bench, with runtime=nats:
 *
 *   workload=remote_pingpong runtime=nats messages=40000 seconds=4.6
 *   rate=4340 check=ok workers=2 p=20000 p50_ns=223000 ... peak_rss_kb=..
 *
 * (one line; wrapped here). --workers is accepted and printed for the
 * same command lines, but changes nothing: the client's threads are fixed
 * (a reader per connection, a delivery thread per asynchronous
 * subscription). A run whose check fails prints its details and a
 * check=FAILED line (no rate) on stderr and exits 1. Bad options: usage,
 * exit 2.
 *
 * Two processes, as troupe-bench's remote workloads: each run starts a
 * nats-server on a free loopback port (unless --nats URL) and this program
 * again as the far process (--role far --nats URL --subject PREFIX, hidden
 * options), which subscribes, flushes (the server has its subscriptions)
 * and says ready; bench/remote_util.h has the protocol. All subjects are
 * under PREFIX = bench.<pid>x<run>, unique per run.
 *
 * remote_pingpong: the far process echoes every message on PREFIX.ping to
 *   its reply subject (an asynchronous subscription). This process
 *   publishes a ball (seq, stamp) to PREFIX.ping with reply subject
 *   PREFIX.pong and waits for it on a synchronous subscription to
 *   PREFIX.pong (natsSubscription_NextMsg): one in flight, WARMUP + P
 *   round trips, the first WARMUP not measured. Latency per round trip
 *   (p50_ns=...). Check: the balls come back in order, P + WARMUP of them,
 *   and the far process echoed as many.
 * remote_fanin: --producers threads each publish (producer, n) for
 *   n = 1..M to PREFIX.data, one message each, then a "fin" message with
 *   reply subject PREFIX.r. (--asap 0: without SendAsap, the client's
 *   flusher batching the writes, one flush after the fin; nats only.) The far process counts on one asynchronous
 *   subscription (the client's default pending limits: 65536 messages,
 *   64 MiB; beyond them it DROPS messages as a slow consumer and says so
 *   to the error handler) and answers each fin with its counters,
 *   including natsSubscription_GetDropped. It reads the clock when its
 *   count reaches the total; both processes share CLOCK_MONOTONIC, so the
 *   interval runs from the first publish to that reading, as troupe's.
 *   No silent loss: if a fin is not answered within 10 s (it may have been
 *   dropped too), this process asks on PREFIX.ctl for the same counters;
 *   dropped= and slow_consumer= go on the line either way. Check: count
 *   P*M, sum P*M(M+1)/2, per-producer order, nothing dropped.
 * remote_ask: the far process answers (corr, v) on PREFIX.ask with
 *   (corr, v + 1) to the reply subject. This process keeps --inflight K
 *   requests in flight with its own correlation ids over one synchronous
 *   reply subscription (PREFIX.ans), N in all (after WARMUP one at a
 *   time). Check: every answer's corr is the oldest in flight (one
 *   ordered path) and its value is v + 1; N answers.
 *
 * Build (bench/compare does; not part of CMake):
 *   gcc -O2 -I bench -o build/peers/troupe-peer-nats \
 *     bench/peers/nats/troupe_peer_nats.c bench/remote_util.c \
 *     $(pkg-config --cflags --libs libnats) -pthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nats/nats.h>

#include "remote_util.h"

#define WARMUP 100u
#define STALL_MS 10000
#define MAX_PRODUCERS 64u
#define MAX_INFLIGHT 1024u
#define MAX_PARAMS 4

/* --- the histogram of bench/bench_util.h, ported ---------------------------- */

#define HIST_SUB_BITS 4
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
	uint64_t count, max;
	uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	unsigned e, sub;

	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (e - HIST_SUB_BITS)) &
	      ((1u << HIST_SUB_BITS) - 1);
	return ((e - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + sub;
}

static uint64_t hist_upper(unsigned i)
{
	unsigned e, sub;
	uint64_t width;

	if (i < (1u << HIST_SUB_BITS))
		return i;
	e = (i >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
	sub = i & ((1u << HIST_SUB_BITS) - 1);
	width = (uint64_t)1 << (e - HIST_SUB_BITS);
	return ((uint64_t)1 << e) + (uint64_t)sub * width + (width - 1);
}

static void hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t up = hist_upper(i);

			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}

static void hist_fields(char *buf, size_t size, const struct hist *h)
{
	snprintf(buf, size, "p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 (unsigned long long)hist_quantile(h, 0.50),
		 (unsigned long long)hist_quantile(h, 0.99),
		 (unsigned long long)hist_quantile(h, 0.999),
		 (unsigned long long)h->max);
}

/* --- common ---------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct param {
	const char *name, *help;
	uint64_t def, min, max;
};

struct result {
	uint64_t messages, items;
	double seconds;
	bool ok;
	char extra[256];
};

/* One process's side of a run. */
struct ctx {
	const uint64_t *values;
	const char *url;
	char prefix[64];
	bool asap; /* natsOptions_SetSendAsap (all but remote_fanin --asap 0) */
	natsConnection *nc;
};

struct workload {
	const char *name;
	const struct param *params;
	size_t nparams;
	/* measuring side: the far process is up and subscribed */
	void (*run)(struct ctx *c, struct result *r);
	/* far process: subscribe (before ready); report after stop */
	natsStatus (*far_setup)(struct ctx *c);
	void (*far_report)(struct ctx *c, char *buf, size_t size);
};

static void subj(char *buf, size_t size, const struct ctx *c, const char *last)
{
	snprintf(buf, size, "%s.%s", c->prefix, last);
}

static bool nats_ok(natsStatus s, const char *what)
{
	if (s == NATS_OK)
		return true;
	fprintf(stderr, "troupe-peer-nats: %s: %s (%s)\n", what,
		natsStatus_GetText(s), nats_GetLastError(NULL));
	return false;
}

/* Slow-consumer (and other asynchronous) errors of a connection. */
static _Atomic uint64_t async_errors;
static _Atomic uint64_t slow_consumer_errors;

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
		     void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	/* relaxed: counters read after the run, past a join or a reply. */
	if (err == NATS_SLOW_CONSUMER)
		atomic_fetch_add_explicit(&slow_consumer_errors, 1,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&async_errors, 1,
					  memory_order_relaxed);
}

static natsStatus peer_connect(const char *url, bool asap, natsConnection **nc)
{
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);

	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, url);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(opts, asap);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, on_error, NULL);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, opts);
	natsOptions_Destroy(opts);
	return s;
}

/* --- remote_pingpong --------------------------------------------------------- */

enum {
	PP_P
};
static const struct param pp_params[] = {
	[PP_P] = { "p", "measured round trips (P)", 20000, 1, 1000000000ull },
};

struct ball {
	uint64_t seq, sent_ns;
};

static _Atomic uint64_t far_seen, far_bad; /* far process's counters */

static void pp_on_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		       void *closure)
{
	static uint64_t expect = 1; /* the subscription's one thread */
	struct ball b;

	(void)sub;
	(void)closure;
	if (natsMsg_GetDataLength(msg) != sizeof(b)) {
		atomic_fetch_add_explicit(&far_bad, 1, memory_order_relaxed);
	} else {
		memcpy(&b, natsMsg_GetData(msg), sizeof(b));
		if (b.seq != expect++)
			atomic_fetch_add_explicit(&far_bad, 1,
						  memory_order_relaxed);
		if (natsConnection_Publish(nc, natsMsg_GetReply(msg), &b,
					   sizeof(b)) != NATS_OK)
			atomic_fetch_add_explicit(&far_bad, 1,
						  memory_order_relaxed);
	}
	/* relaxed: read by the report, after the parent said stop. */
	atomic_fetch_add_explicit(&far_seen, 1, memory_order_relaxed);
	natsMsg_Destroy(msg);
}

static natsSubscription *far_sub, *far_sub2;

static natsStatus pp_far_setup(struct ctx *c)
{
	char s[96];

	subj(s, sizeof(s), c, "ping");
	return natsConnection_Subscribe(&far_sub, c->nc, s, pp_on_ping, NULL);
}

static void far_counts_report(struct ctx *c, char *buf, size_t size)
{
	(void)c;
	snprintf(buf, size, "far_seen=%llu far_bad=%llu",
		 (unsigned long long)atomic_load(&far_seen),
		 (unsigned long long)atomic_load(&far_bad));
}

static void pp_run(struct ctx *c, struct result *r)
{
	uint64_t p = c->values[PP_P], total = WARMUP + p, t0 = 0, t1 = 0;
	uint64_t seen = 0, bad = 0;
	struct hist *h = calloc(1, sizeof(*h));
	natsSubscription *sub = NULL;
	char ping[96], pong[96];

	subj(ping, sizeof(ping), c, "ping");
	subj(pong, sizeof(pong), c, "pong");
	if (h == NULL ||
	    !nats_ok(natsConnection_SubscribeSync(&sub, c->nc, pong),
		     "subscribe") ||
	    !nats_ok(natsConnection_Flush(c->nc), "flush"))
		goto done;
	for (uint64_t i = 1; i <= total; i++) {
		struct ball b = { i, now_ns() };
		natsMsg *m = NULL;
		natsStatus s;
		uint64_t now;

		if (i == WARMUP + 1)
			t0 = b.sent_ns;
		s = natsConnection_PublishRequest(c->nc, ping, pong, &b,
						  sizeof(b));
		if (s == NATS_OK)
			s = natsSubscription_NextMsg(&m, sub, STALL_MS);
		now = now_ns();
		if (!nats_ok(s, "round trip"))
			break;
		seen++;
		if (natsMsg_GetDataLength(m) != sizeof(b) ||
		    memcmp(natsMsg_GetData(m), &b, sizeof(b)) != 0)
			bad++;
		natsMsg_Destroy(m);
		if (i > WARMUP)
			hist_record(h, now - b.sent_ns);
		t1 = now;
	}
	r->messages = 2 * p;
	r->items = p;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->ok = seen == total && bad == 0 && h->count == p;
	if (!r->ok)
		fprintf(stderr,
			"remote_pingpong: %llu balls back (want %llu), %llu "
			"bad, %llu samples\n",
			(unsigned long long)seen, (unsigned long long)total,
			(unsigned long long)bad, (unsigned long long)h->count);
	hist_fields(r->extra, sizeof(r->extra), h);
done:
	if (sub != NULL)
		natsSubscription_Destroy(sub);
	free(h);
}

/* --- remote_fanin ------------------------------------------------------------ */

enum {
	FI_M,
	FI_PRODUCERS,
	FI_ASAP
};
static const struct param fi_params[] = {
	[FI_M] = { "m", "integers each producer sends (M)", 1000000, 1,
		   10000000000ull },
	[FI_PRODUCERS] = { "producers", "publishing threads", 1, 1,
			   MAX_PRODUCERS },
	[FI_ASAP] = { "asap",
		      "1: publish with SendAsap (a write per message); 0: "
		      "the client's buffering, one flush at the end "
		      "(nats only)",
		      1, 0, 1 },
};

struct item {
	uint64_t producer, n;
};

/* The far process's sink (one subscription: one thread runs it). */
struct sink_stats {
	uint64_t count, sum, bad, done_ns, dropped, slow_consumer;
};
static struct sink_stats sink;
static uint64_t sink_total, sink_producers, sink_next[MAX_PRODUCERS];
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static void sink_answer(natsConnection *nc, natsMsg *msg)
{
	struct sink_stats st;
	int64_t dropped = 0;

	natsSubscription_GetDropped(far_sub, &dropped);
	pthread_mutex_lock(&sink_lock);
	sink.dropped = (uint64_t)dropped;
	sink.slow_consumer = atomic_load(&slow_consumer_errors);
	st = sink;
	pthread_mutex_unlock(&sink_lock);
	if (natsMsg_GetReply(msg) != NULL)
		natsConnection_Publish(nc, natsMsg_GetReply(msg), &st,
				       sizeof(st));
}

static void fi_on_data(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		       void *closure)
{
	struct item it;

	(void)sub;
	(void)closure;
	if (natsMsg_GetDataLength(msg) != sizeof(it)) {
		/* "fin": answer with the counters */
		sink_answer(nc, msg);
		natsMsg_Destroy(msg);
		return;
	}
	memcpy(&it, natsMsg_GetData(msg), sizeof(it));
	/* The lock is uncontended (the subscription's one thread, and the
	 * ctl subscription's answers): it makes the answer consistent. */
	pthread_mutex_lock(&sink_lock);
	if (it.producer >= sink_producers) {
		sink.bad++;
	} else {
		/* a gap (a drop) counts once; the order check resumes after
		 * it, as troupe's fanin consumer does */
		if (it.n != sink_next[it.producer])
			sink.bad++;
		sink_next[it.producer] = it.n + 1;
	}
	sink.sum += it.n;
	if (++sink.count == sink_total)
		sink.done_ns = now_ns();
	pthread_mutex_unlock(&sink_lock);
	natsMsg_Destroy(msg);
}

static void fi_on_ctl(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		      void *closure)
{
	(void)sub;
	(void)closure;
	sink_answer(nc, msg);
	natsMsg_Destroy(msg);
}

static natsStatus fi_far_setup(struct ctx *c)
{
	char s[96];
	natsStatus st;

	sink_producers = c->values[FI_PRODUCERS];
	sink_total = c->values[FI_M] * sink_producers;
	for (uint64_t i = 0; i < sink_producers; i++)
		sink_next[i] = 1;
	subj(s, sizeof(s), c, "data");
	st = natsConnection_Subscribe(&far_sub, c->nc, s, fi_on_data, NULL);
	if (st != NATS_OK)
		return st;
	subj(s, sizeof(s), c, "ctl");
	return natsConnection_Subscribe(&far_sub2, c->nc, s, fi_on_ctl, NULL);
}

static void fi_far_report(struct ctx *c, char *buf, size_t size)
{
	int64_t dropped = 0;

	(void)c;
	natsSubscription_GetDropped(far_sub, &dropped);
	pthread_mutex_lock(&sink_lock);
	snprintf(buf, size,
		 "sink_count=%llu sink_sum=%llu sink_bad=%llu dropped=%lld",
		 (unsigned long long)sink.count, (unsigned long long)sink.sum,
		 (unsigned long long)sink.bad, (long long)dropped);
	pthread_mutex_unlock(&sink_lock);
}

struct producer {
	pthread_t thread;
	struct ctx *c;
	uint64_t index, m, sent, failed;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	char data[96], fin[96], reply[96];

	subj(data, sizeof(data), p->c, "data");
	subj(reply, sizeof(reply), p->c, "r");
	for (uint64_t n = 1; n <= p->m; n++) {
		struct item it = { p->index, n };

		if (natsConnection_Publish(p->c->nc, data, &it, sizeof(it)) !=
		    NATS_OK)
			p->failed++;
		else
			p->sent++;
	}
	snprintf(fin, sizeof(fin), "fin");
	if (natsConnection_PublishRequest(p->c->nc, data, reply, fin, 3) !=
	    NATS_OK)
		p->failed++;
	/* Without SendAsap the tail waits in the client's buffer. */
	if (!p->c->asap && natsConnection_Flush(p->c->nc) != NATS_OK)
		p->failed++;
	return NULL;
}

static void fi_run(struct ctx *c, struct result *r)
{
	uint64_t m = c->values[FI_M], np = c->values[FI_PRODUCERS], t0;
	uint64_t want_sum = m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
	uint64_t failed = 0, answers = 0;
	struct producer prods[MAX_PRODUCERS];
	struct sink_stats best = { 0 };
	natsSubscription *sub = NULL;
	char reply[96], ctl[96];
	bool asked_ctl = false;

	want_sum *= np;
	subj(reply, sizeof(reply), c, "r");
	subj(ctl, sizeof(ctl), c, "ctl");
	if (!nats_ok(natsConnection_SubscribeSync(&sub, c->nc, reply),
		     "subscribe") ||
	    !nats_ok(natsConnection_Flush(c->nc), "flush"))
		return;
	t0 = now_ns();
	for (uint64_t i = 0; i < np; i++) {
		prods[i] = (struct producer){ .c = c, .index = i, .m = m };
		pthread_create(&prods[i].thread, NULL, producer_main,
			       &prods[i]);
	}
	for (uint64_t i = 0; i < np; i++) {
		pthread_join(prods[i].thread, NULL);
		failed += prods[i].failed;
	}
	/* One answer per fin; a fin dropped as a slow consumer is never
	 * answered: after STALL_MS ask on ctl, which is not behind data. */
	while (answers < np) {
		natsMsg *msg = NULL;
		natsStatus s = natsSubscription_NextMsg(&msg, sub, STALL_MS);
		struct sink_stats st;

		if (s == NATS_TIMEOUT && !asked_ctl) {
			asked_ctl = true;
			fprintf(stderr,
				"remote_fanin: %llu of %llu fins unanswered "
				"after %d ms; asking on %s\n",
				(unsigned long long)(np - answers),
				(unsigned long long)np, STALL_MS, ctl);
			natsConnection_PublishRequest(c->nc, ctl, reply, "?",
						      1);
			continue;
		}
		if (!nats_ok(s, "waiting for the sink's answers"))
			break;
		if (natsMsg_GetDataLength(msg) == sizeof(st)) {
			memcpy(&st, natsMsg_GetData(msg), sizeof(st));
			if (st.count >= best.count)
				best = st;
		}
		natsMsg_Destroy(msg);
		answers++;
		if (asked_ctl)
			break; /* the ctl answer: the last word */
	}
	natsSubscription_Destroy(sub);
	r->messages = np * m;
	r->seconds = best.done_ns > t0 ? (double)(best.done_ns - t0) / 1e9 : 0;
	r->ok = answers == np && !asked_ctl && failed == 0 &&
		best.count == np * m && best.sum == want_sum && best.bad == 0 &&
		best.dropped == 0 && best.done_ns > t0;
	if (!r->ok)
		fprintf(stderr,
			"remote_fanin: sink count=%llu (want %llu) sum=%llu "
			"(want %llu) bad or out of order=%llu, dropped as a "
			"slow consumer=%llu (%llu slow-consumer errors), "
			"%llu publishes failed\n",
			(unsigned long long)best.count,
			(unsigned long long)(np * m),
			(unsigned long long)best.sum,
			(unsigned long long)want_sum,
			(unsigned long long)best.bad,
			(unsigned long long)best.dropped,
			(unsigned long long)best.slow_consumer,
			(unsigned long long)failed);
	snprintf(r->extra, sizeof(r->extra), "dropped=%llu slow_consumer=%llu",
		 (unsigned long long)best.dropped,
		 (unsigned long long)best.slow_consumer);
}

/* --- remote_ask -------------------------------------------------------------- */

enum {
	AK_N,
	AK_INFLIGHT
};
static const struct param ak_params[] = {
	[AK_N] = { "n", "measured asks (N)", 200000, 1, 10000000000ull },
	[AK_INFLIGHT] = { "inflight", "asks in flight (K)", 64, 1,
			  MAX_INFLIGHT },
};

struct req {
	uint64_t corr, v;
};

static void ak_on_ask(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		      void *closure)
{
	struct req q;

	(void)sub;
	(void)closure;
	if (natsMsg_GetDataLength(msg) != sizeof(q)) {
		atomic_fetch_add_explicit(&far_bad, 1, memory_order_relaxed);
	} else {
		memcpy(&q, natsMsg_GetData(msg), sizeof(q));
		q.v++;
		if (natsConnection_Publish(nc, natsMsg_GetReply(msg), &q,
					   sizeof(q)) != NATS_OK)
			atomic_fetch_add_explicit(&far_bad, 1,
						  memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&far_seen, 1, memory_order_relaxed);
	natsMsg_Destroy(msg);
}

static natsStatus ak_far_setup(struct ctx *c)
{
	char s[96];

	subj(s, sizeof(s), c, "ask");
	return natsConnection_Subscribe(&far_sub, c->nc, s, ak_on_ask, NULL);
}

/* Publishes ask @corr (value corr * 3, any function of corr would do). */
static bool ak_send(struct ctx *c, const char *ask, const char *ans,
		    uint64_t corr)
{
	struct req q = { corr, corr * 3 };

	return natsConnection_PublishRequest(c->nc, ask, ans, &q, sizeof(q)) ==
	       NATS_OK;
}

/* Takes the next answer; true if it is @corr's, with the right value. */
static bool ak_take(natsSubscription *sub, uint64_t corr, natsStatus *s)
{
	natsMsg *m = NULL;
	struct req q;
	bool ok;

	*s = natsSubscription_NextMsg(&m, sub, STALL_MS);
	if (*s != NATS_OK)
		return false;
	ok = natsMsg_GetDataLength(m) == sizeof(q);
	if (ok) {
		memcpy(&q, natsMsg_GetData(m), sizeof(q));
		ok = q.corr == corr && q.v == corr * 3 + 1;
	}
	natsMsg_Destroy(m);
	return ok;
}

static void ak_run(struct ctx *c, struct result *r)
{
	uint64_t n = c->values[AK_N], k = c->values[AK_INFLIGHT];
	uint64_t next, done = 0, bad = 0, t0, t1, *sent_ns;
	struct hist *h = calloc(1, sizeof(*h));
	natsSubscription *sub = NULL;
	char ask[96], ans[96];
	natsStatus s = NATS_OK;

	sent_ns = calloc(k, sizeof(*sent_ns));
	subj(ask, sizeof(ask), c, "ask");
	subj(ans, sizeof(ans), c, "ans");
	if (h == NULL || sent_ns == NULL ||
	    !nats_ok(natsConnection_SubscribeSync(&sub, c->nc, ans),
		     "subscribe") ||
	    !nats_ok(natsConnection_Flush(c->nc), "flush"))
		goto done;
	/* Warm-up: corr ids above the measured ones, one at a time. */
	for (uint64_t i = 1; i <= WARMUP; i++) {
		if (!ak_send(c, ask, ans, n + i) || !ak_take(sub, n + i, &s))
			bad++;
		if (s != NATS_OK)
			break;
	}
	t0 = now_ns();
	next = 1;
	for (uint64_t i = 1; i <= n && s == NATS_OK && bad == 0; i++) {
		while (next <= n && next < i + k) {
			sent_ns[(next - 1) % k] = now_ns();
			if (!ak_send(c, ask, ans, next))
				bad++;
			next++;
		}
		if (!ak_take(sub, i, &s))
			bad++;
		else
			done++;
		hist_record(h, now_ns() - sent_ns[(i - 1) % k]);
	}
	t1 = now_ns();
	if (s != NATS_OK)
		nats_ok(s, "waiting for an answer");
	r->messages = 2 * n;
	r->items = n;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->ok = done == n && bad == 0 && h->count == n;
	if (!r->ok)
		fprintf(stderr,
			"remote_ask: %llu answers (want %llu), %llu bad or "
			"out of order\n",
			(unsigned long long)done, (unsigned long long)n,
			(unsigned long long)bad);
	hist_fields(r->extra, sizeof(r->extra), h);
done:
	if (sub != NULL)
		natsSubscription_Destroy(sub);
	free(sent_ns);
	free(h);
}

/* --- CLI --------------------------------------------------------------------- */

static const struct workload workloads[] = {
	{ "remote_pingpong", pp_params, 1, pp_run, pp_far_setup,
	  far_counts_report },
	{ "remote_fanin", fi_params, 3, fi_run, fi_far_setup, fi_far_report },
	{ "remote_ask", ak_params, 2, ak_run, ak_far_setup, far_counts_report },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: troupe-peer-nats WORKLOAD [options]\n\n"
		   "common options:\n"
		   "  --workers W   printed only (the client's threads are "
		   "fixed)\n"
		   "  --runs R      measured runs (default 1)\n"
		   "  --nats URL    a running nats-server (default: start one "
		   "per run)\n"
		   "  --help        this text\n");
	for (size_t i = 0; i < NWORKLOADS; i++) {
		fprintf(f, "\n%s:\n", workloads[i].name);
		for (size_t j = 0; j < workloads[i].nparams; j++) {
			const struct param *p = &workloads[i].params[j];

			fprintf(f, "  --%-11s %s (default %llu, %llu..%llu)\n",
				p->name, p->help, (unsigned long long)p->def,
				(unsigned long long)p->min,
				(unsigned long long)p->max);
		}
	}
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "troupe-peer-nats: %s '%s'\n\n", what,
		arg != NULL ? arg : "");
	usage(stderr);
	return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static uint64_t peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss : 0;
}

/* The far process: subscribe, flush, ready, wait, report. */
static int far_main(const struct workload *w, struct ctx *c)
{
	char extra[256] = "";

	if (!nats_ok(peer_connect(c->url, true, &c->nc), "far: connect") ||
	    !nats_ok(w->far_setup(c), "far: subscribe") ||
	    !nats_ok(natsConnection_Flush(c->nc), "far: flush"))
		return 1;
	bench_far_ready();
	bench_far_wait_parent();
	w->far_report(c, extra, sizeof(extra));
	printf("%s async_errors=%llu\n", extra,
	       (unsigned long long)atomic_load(&async_errors));
	fflush(stdout);
	if (far_sub2 != NULL)
		natsSubscription_Destroy(far_sub2);
	if (far_sub != NULL)
		natsSubscription_Destroy(far_sub);
	natsConnection_Destroy(c->nc);
	return 0;
}

/* One measured run: server, far process, connection, workload, check. */
static bool run_once(const struct workload *w, const uint64_t *values,
		     const char *nats, uint64_t workers)
{
	struct bench_nats_server server = { 0 };
	struct bench_far far;
	struct result r = { 0 };
	struct ctx c = { .values = values };
	char token[48], url[96], far_line[512] = "",
				 *argv[8 + 2 * MAX_PARAMS + 1];
	char vals[MAX_PARAMS][24], names[MAX_PARAMS][24];
	size_t n = 0;
	uint64_t far_seen_n = 0;
	int frc;
	FILE *out;

	if (nats == NULL) {
		if (bench_nats_server_start(&server) != 0)
			return false;
		nats = server.url;
	}
	snprintf(url, sizeof(url), "%s", nats);
	c.url = url;
	bench_unique_token(token, sizeof(token), "bench.");
	snprintf(c.prefix, sizeof(c.prefix), "%s", token);
	argv[n++] = "troupe-peer-nats";
	argv[n++] = (char *)w->name;
	argv[n++] = "--role";
	argv[n++] = "far";
	argv[n++] = "--nats";
	argv[n++] = url;
	argv[n++] = "--subject";
	argv[n++] = c.prefix;
	for (size_t j = 0; j < w->nparams; j++) {
		snprintf(names[j], sizeof(names[j]), "--%s", w->params[j].name);
		snprintf(vals[j], sizeof(vals[j]), "%llu",
			 (unsigned long long)values[j]);
		argv[n++] = names[j];
		argv[n++] = vals[j];
	}
	argv[n] = NULL;
	/* Before we connect: the far process inherits no socket of ours. */
	if (bench_far_start(&far, argv, 15000) != 0) {
		bench_nats_server_stop(&server);
		return false;
	}
	c.asap = !(w->run == fi_run && values[FI_ASAP] == 0);
	if (nats_ok(peer_connect(url, c.asap, &c.nc), "connect"))
		w->run(&c, &r);
	frc = bench_far_stop(&far, far_line, sizeof(far_line), 15000);
	if (c.nc != NULL) {
		natsConnection_Destroy(c.nc);
		c.nc = NULL;
	}
	bench_nats_server_stop(&server);
	if (frc != 0) {
		fprintf(stderr, "%s: the far process exited with %d: \"%s\"\n",
			w->name, frc, far_line);
		r.ok = false;
	}
	if (bench_line_u64(far_line, "far_seen", &far_seen_n) &&
	    far_seen_n != r.items + WARMUP) {
		fprintf(stderr,
			"%s: the far process answered %llu (want "
			"%llu)\n",
			w->name, (unsigned long long)far_seen_n,
			(unsigned long long)(r.items + WARMUP));
		r.ok = false;
	}
	out = r.ok ? stdout : stderr;
	fprintf(out, "workload=%s runtime=nats messages=%llu seconds=%.6f",
		w->name, (unsigned long long)r.messages, r.seconds);
	if (r.ok)
		fprintf(out, " rate=%.0f check=ok",
			r.seconds > 0 ?
				(double)(r.items != 0 ? r.items : r.messages) /
					r.seconds :
				0.0);
	else
		fprintf(out, " check=FAILED");
	fprintf(out, " workers=%llu", (unsigned long long)workers);
	for (size_t j = 0; j < w->nparams; j++)
		fprintf(out, " %s=%llu", w->params[j].name,
			(unsigned long long)values[j]);
	if (r.extra[0] != '\0')
		fprintf(out, " %s", r.extra);
	fprintf(out, " peak_rss_kb=%llu\n", (unsigned long long)peak_rss_kb());
	fflush(out);
	return r.ok;
}

int main(int argc, char **argv)
{
	const struct workload *w = NULL;
	uint64_t values[MAX_PARAMS], workers = 2, runs = 1;
	const char *nats = NULL, *role = NULL, *subject = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 2 || argv[1][0] == '-')
		return bad_usage("missing WORKLOAD", NULL);
	for (size_t i = 0; i < NWORKLOADS; i++) {
		if (strcmp(workloads[i].name, argv[1]) == 0)
			w = &workloads[i];
	}
	if (w == NULL)
		return bad_usage("unknown workload", argv[1]);
	for (size_t j = 0; j < w->nparams; j++)
		values[j] = w->params[j].def;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *val, *eq;
		char name[32];
		uint64_t v, *dst = NULL, min = 0, max = UINT64_MAX;
		const char **str = NULL;

		if (strncmp(arg, "--", 2) != 0)
			return bad_usage("unknown option", arg);
		eq = strchr(arg, '=');
		snprintf(name, sizeof(name), "%.*s",
			 (int)(eq != NULL ? (size_t)(eq - arg - 2) :
					    strlen(arg + 2)),
			 arg + 2);
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return bad_usage("missing value for", arg);
		if (strcmp(name, "nats") == 0)
			str = &nats;
		else if (strcmp(name, "role") == 0)
			str = &role;
		else if (strcmp(name, "subject") == 0)
			str = &subject;
		else if (strcmp(name, "workers") == 0)
			dst = &workers, max = 1024;
		else if (strcmp(name, "runs") == 0)
			dst = &runs, min = 1, max = 1000;
		for (size_t j = 0; dst == NULL && str == NULL && j < w->nparams;
		     j++) {
			if (strcmp(name, w->params[j].name) == 0) {
				dst = &values[j];
				min = w->params[j].min;
				max = w->params[j].max;
			}
		}
		if (str != NULL) {
			*str = val;
			continue;
		}
		if (dst == NULL)
			return bad_usage("unknown option", arg);
		if (!parse_u64(val, &v) || v < min || v > max)
			return bad_usage("not a number or out of range:", val);
		*dst = v;
	}
	if (role != NULL) {
		struct ctx c = { .values = values, .url = nats };

		if (strcmp(role, "far") != 0 || nats == NULL || subject == NULL)
			return bad_usage(
				"--role far needs --nats and --subject", role);
		snprintf(c.prefix, sizeof(c.prefix), "%s", subject);
		return far_main(w, &c);
	}
	for (uint64_t r = 0; r < runs; r++) {
		if (!run_once(w, values, nats, workers))
			return 1;
	}
	return 0;
}
