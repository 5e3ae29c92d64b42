/*
 * tests/stress/rt_exchange_outside.c - what an outside thread's deliveries
 * to actor subscribers guarantee, whatever batching the runtime uses
 * underneath (written against per-thread "lanes", an open block per
 * (thread, subscriber) appended to by later publishes, tried and not kept:
 * BENCHMARKS.md, "Outside publishers"). Five phases, each with its own
 * runtime of 2 workers; some subscribers are slow (spin 1-5 us per
 * message) so backlogs build, the others are fast. Unbounded mailboxes
 * throughout.
 *
 * Every message carries (source, aux, seq): seq is one counter per source
 * over everything it emits on any route; aux is the source's publish
 * index (items of publish_n included) or, with bit 31, its index among the
 * source's direct sends to that subscriber.
 *
 * 1. Order across routes: 3 outside threads each publish to one exchange
 *    with 64 actor subscribers (every 8th slow) and, interleaved at
 *    random, trp_send to a
 *    random subscriber and trp_exchange_publish_n a few items. Checks, per
 *    (subscriber, source): seqs strictly rise (the routes of one thread
 *    stay in order with each other); publish indexes run 1, 2, 3 ... and
 *    direct indexes too (no loss, no duplicate, FIFO per route); at the
 *    end count == publishes + publish_n items + direct sends to it.
 * 2. Close from the publishing thread: an outside thread publishes to 16
 *    subscribers and closes 6 of them (3 slow, with a backlog) at random
 *    points, and keeps publishing. A closed one processes exactly the
 *    publishes that returned before close was called (seqs 1..k in
 *    order), nothing after (its count stops growing); a trp_send to it
 *    after the close gets TRP_EDEAD; the others get everything. The
 *    exchange balances: delivered == what the sinks processed, dropped_dead
 *    == 1 per victim closed before the last publish (the publish that
 *    finds it detaches it), delivered + dropped_dead == the deliveries
 *    attempted; runtime identity; no dead letters, but in the second
 *    round, where a publish racing another thread's close may go behind
 *    its marker (accepted, then a dead letter: counted both ways). There
 *    3 of the victims are closed by another thread (main) instead, each
 *    once the publisher has returned from its close point: it processes
 *    every publish that returned before the close, none that began
 *    after close returned (window counters as in rt_exchange_churn), in
 *    order; it is found dead by a publish at most once.
 * 3. Stop/kill while appends race: 2 outside threads publish; 4 anchors
 *    stay attached; a reaper thread keeps 12 mortal subscribers attached:
 *    some stop themselves (trp_actor_stop) after a random count, the
 *    others are killed (trp_actor_kill) by the reaper, half of them slow;
 *    a dead one is replaced. Checks: each sink's seqs per source are
 *    contiguous while it lives and start after its attach; a ttl sink
 *    that stopped itself processed exactly ttl; exchange delivered ==
 *    processed by the sinks + exchange messages dead-lettered (the hook);
 *    dropped_full == dropped_other == 0; dropped_dead <= deaths x 2
 *    publishers; anchors got every publish; runtime identity; no leak
 *    (asan), no hang (watchdog).
 * 4. Threads and runtimes that end: (a) rounds of 3 short-lived threads
 *    that publish a few thousand messages (some via publish_n) to 8
 *    subscribers and exit at once, with backlogs still queued: every
 *    subscriber gets every message of every thread, in order (asan/lsan:
 *    whatever a thread keeps per subscriber is released at its exit);
 *    (b) one long-lived thread runs 6 cycles: create a runtime, spawn and
 *    attach 8 subscribers, publish (and publish_n) M messages, then either
 *    wait until all is processed (each subscriber got exactly 1..M in
 *    order) or not (processed + dead-lettered == published, per-subscriber
 *    prefixes in order), release the actor handles and destroy the
 *    runtime; a publish to the old exchange handle after that returns an
 *    error and changes nothing. The next runtime's actors may reuse the
 *    addresses (counted and printed); no cycle's counts change after its
 *    destroy.
 * 5. The handoff: one outside thread publishes one message (or a burst
 *    of 2-4) to 4 fast subscribers, then mostly waits until all of them
 *    processed it, sometimes after a nap (workers park): a message must
 *    be processed without another publish behind it, whatever state its
 *    consumer was in (the watchdog trips otherwise); counts and order
 *    as above.
 *
 * Sizes (x TRP_STRESS_SCALE, at least about 0.3 x the base, so the
 * sanitizer runs at scale 0.1 stay meaningful): phase 1: 20000 ops per
 * thread; 2: 20000 publishes; 3: 30000 per publisher; 4: 3000 per
 * thread, 4000 per cycle; 5: 5000 publishes. No timing is asserted; the
 * times are printed.
 */
#include "rt_util.h"

#define NSRC_MAX 32u
#define DIRECT 0x80000000u
#define BACKLOG 100000u
#define LIMIT_S 240.0
#define NAP_US 100

enum {
	MSG_DATA = 1
};

/* ------------------------------------------------------- the sinks -- */

/* One subscriber's record: written by its turns only; read by others
 * after quiescence, after its stop hook (stopped, acquire), or (got)
 * at any time. */
struct rec {
	uint32_t idx;
	uint32_t slow_us;	/* 0: fast; else spin 1..slow_us us */
	uint32_t ttl;		/* stop itself after this many (0: never) */
	bool contiguous;	/* seqs must run without gaps */
	bool from_start;	/* publish index must begin at 1 */
	uint64_t pre[NSRC_MAX]; /* seqs <= pre[src] must not arrive */
	uint64_t first[NSRC_MAX];
	uint64_t last[NSRC_MAX];
	uint32_t last_pub[NSRC_MAX];
	uint32_t last_direct[NSRC_MAX];
	uint64_t count[NSRC_MAX];
	_Atomic(uint64_t) got;	   /* messages processed (one writer) */
	_Atomic(uint32_t) stopped; /* stop hook ran */
	trp_stop_reason_t why;	   /* valid once stopped */
};

static struct {
	_Atomic(uint64_t) pub_ops; /* progress: publishes and sends */
	_Atomic(uint64_t) rx;	   /* progress: messages processed */
	_Atomic(uint64_t) dead;	   /* MSG_DATA dead letters (this phase) */
	_Atomic(uint64_t) throttled;
} g;

static struct stress_watchdog wd;

static struct rec *rec_new(uint32_t idx, uint32_t slow_us)
{
	struct rec *r = calloc(1, sizeof *r);
	STRESS_CHECK(r != NULL, "out of memory");
	r->idx = idx;
	r->slow_us = slow_us;
	return r;
}

static void spin_us(uint64_t us)
{
	uint64_t end = stress_now_ns() + us * 1000u;
	while (stress_now_ns() < end)
		stress_cpu_relax();
}

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct rec *r = *(struct rec **)state;
	STRESS_CHECK(msg->type == MSG_DATA, "sink %u: message type %u", r->idx,
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	uint32_t s = p.sender;
	STRESS_CHECK(s < NSRC_MAX, "sink %u: source %u", r->idx, s);
	STRESS_CHECK(p.seq > r->pre[s],
		     "sink %u: source %u seq %" PRIu64
		     " was published before it was attached (%" PRIu64 ")",
		     r->idx, s, p.seq, r->pre[s]);
	if (r->count[s] == 0) {
		r->first[s] = p.seq;
	} else {
		STRESS_CHECK(p.seq > r->last[s],
			     "sink %u: source %u seq %" PRIu64 " after %" PRIu64
			     " (reordered or duplicated)",
			     r->idx, s, p.seq, r->last[s]);
		STRESS_CHECK(!r->contiguous || p.seq == r->last[s] + 1,
			     "sink %u: source %u seq %" PRIu64 " after %" PRIu64
			     " (lost)",
			     r->idx, s, p.seq, r->last[s]);
	}
	if (p.aux & DIRECT) {
		uint32_t d = p.aux & ~DIRECT;
		STRESS_CHECK(d == r->last_direct[s] + 1,
			     "sink %u: source %u direct send #%u after #%u "
			     "(seq %" PRIu64 ")",
			     r->idx, s, d, r->last_direct[s], p.seq);
		r->last_direct[s] = d;
	} else {
		STRESS_CHECK((r->last_pub[s] == 0 && !r->from_start) ||
				     p.aux == r->last_pub[s] + 1,
			     "sink %u: source %u publish #%u after #%u "
			     "(seq %" PRIu64 ")",
			     r->idx, s, p.aux, r->last_pub[s], p.seq);
		r->last_pub[s] = p.aux;
	}
	r->last[s] = p.seq;
	r->count[s]++;
	if (r->slow_us != 0)
		spin_us(1 + (p.seq * 0x9E3779B97F4A7C15u >> 40) % r->slow_us);
	uint64_t got = atomic_load_explicit(&r->got, memory_order_relaxed) + 1;
	/* ORDER: release: the record up to this message is complete for a
	 * thread that acquires got (phase 2's close check). */
	atomic_store_explicit(&r->got, got, memory_order_release);
	rt_add(&g.rx, 1);
	if (r->ttl != 0 && got == r->ttl)
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
}

static void sink_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct rec *r = *(struct rec **)state;
	(void)self;
	r->why = why;
	/* ORDER: release: the record is complete; readers acquire. */
	atomic_store_explicit(&r->stopped, 1, memory_order_release);
}

static trp_actor_t *sink_spawn(trp_runtime_t *rt, struct rec *r)
{
	trp_actor_t *a;
	trp_actor_def_t def = { sink_behavior, NULL, sink_stop, sizeof r,
				TRP_MAILBOX_UNBOUNDED };
	RT_MUST("trp_actor_spawn (sink)", trp_actor_spawn(rt, &def, &r, &a));
	return a;
}

static trp_sub_t sink_attach(trp_exchange_t *ex, trp_actor_t *a)
{
	trp_sub_t sub;
	RT_MUST("trp_exchange_attach",
		trp_exchange_attach(ex, trp_sink_actor(a), &sub));
	return sub;
}

/*
 * Spawns @n sinks on @rt and attaches them to @ex, in order: sink i is
 * slow (spins up to @slow_us per message) when i % @slow_every == 0
 * (@slow_every 0: none), expects its publish indexes from 1 and, if
 * @contiguous, seqs without gaps.
 */
static void sinks_start(trp_runtime_t *rt, trp_exchange_t *ex, trp_actor_t **a,
			struct rec **r, uint32_t n, uint32_t slow_every,
			uint32_t slow_us, bool contiguous)
{
	for (uint32_t i = 0; i < n; i++) {
		bool slow = slow_every != 0 && i % slow_every == 0;
		r[i] = rec_new(i, slow ? slow_us : 0);
		r[i]->contiguous = contiguous;
		r[i]->from_start = true;
		a[i] = sink_spawn(rt, r[i]);
		(void)sink_attach(ex, a[i]);
	}
}

/* Releases @ex and the @n sinks' handles, destroys @rt, frees the
 * records. */
static void sinks_end(trp_runtime_t *rt, trp_exchange_t *ex, trp_actor_t **a,
		      struct rec **r, uint32_t n)
{
	trp_exchange_release(ex);
	for (uint32_t i = 0; i < n; i++)
		trp_actor_release(a[i]);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(rt));
	for (uint32_t i = 0; i < n; i++)
		free(r[i]);
}

static trp_runtime_t *runtime_new(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = 2;
	/* every message of this test is MSG_DATA */
	cfg.dead_letter = rt_count_dead_letter;
	cfg.dead_letter_ctx = &g.dead;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &rt));
	atomic_store_explicit(&g.dead, 0, memory_order_relaxed);
	return rt;
}

/* ------------------------------------------------------ publishing -- */

/* A source: one thread's counters for one runtime. */
struct source {
	uint32_t src;
	uint64_t seq;  /* last seq emitted on any route */
	uint32_t pubs; /* publish items so far */
	uint64_t rng;
	uint64_t pub_calls, pubn_calls, directs;
};

static void pub_one(trp_exchange_t *ex, struct source *so)
{
	struct rt_payload pl = { so->src, ++so->pubs, ++so->seq };
	RT_MUST("trp_exchange_publish",
		trp_exchange_publish(ex, MSG_DATA, &pl, sizeof pl));
	so->pub_calls++;
	rt_add(&g.pub_ops, 1);
}

static void pub_n(trp_exchange_t *ex, struct source *so, uint32_t k)
{
	struct rt_payload items[8];
	STRESS_CHECK(k <= 8, "pub_n: %u items", k);
	for (uint32_t i = 0; i < k; i++)
		items[i] =
			(struct rt_payload){ so->src, ++so->pubs, ++so->seq };
	RT_MUST("trp_exchange_publish_n",
		trp_exchange_publish_n(ex, MSG_DATA, items, sizeof items[0],
				       k));
	so->pubn_calls++;
	rt_add(&g.pub_ops, k);
}

/* Pauses while the runtime holds more than BACKLOG unprocessed messages. */
static void wait_backlog(trp_runtime_t *rt)
{
	for (;;) {
		trp_stats_t s = rt_stats(rt);
		if (s.sent <= s.processed + s.dead_lettered + BACKLOG)
			return;
		rt_add(&g.throttled, 1);
		stress_sleep_ms(1);
	}
}

static void phase_begin(const char *name)
{
	stress_watchdog_init(&wd, LIMIT_S);
	stress_watchdog_counter(&wd, "published/sent", &g.pub_ops);
	stress_watchdog_counter(&wd, "processed", &g.rx);
	stress_watchdog_info(&wd, "throttled", &g.throttled);
	stress_watchdog_thread(&wd, name);
	stress_watchdog_start(&wd);
}

static void phase_end(void)
{
	stress_watchdog_stop(&wd);
}

static void check_count(const struct rec *r, uint32_t s, uint64_t want,
			const char *what)
{
	STRESS_CHECK(r->count[s] == want,
		     "%s: sink %u got %" PRIu64 " messages of source %u, "
		     "expected %" PRIu64,
		     what, r->idx, r->count[s], s, want);
}

/* ---------------------------------------------- phase 1: the routes -- */

#define P1_THREADS 3u
#define P1_SUBS 64u

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	trp_actor_t *a[P1_SUBS];
	struct rec *r[P1_SUBS];
	struct source so[P1_THREADS];
	uint32_t direct[P1_THREADS][P1_SUBS];
	uint64_t n;
	struct stress_barrier start;
} p1;

static void *p1_thread(void *arg)
{
	struct source *so = arg;
	uint32_t t = so->src;
	stress_barrier_wait(&p1.start);
	for (uint64_t op = 0; op < p1.n; op++) {
		uint64_t r = stress_rand_below(&so->rng, 100);
		if (r < 55) {
			pub_one(p1.ex, so);
		} else if (r < 90) {
			uint32_t to =
				(uint32_t)stress_rand_below(&so->rng, P1_SUBS);
			struct rt_payload pl = { t, DIRECT | ++p1.direct[t][to],
						 ++so->seq };
			RT_MUST("trp_send (direct)",
				trp_send(p1.a[to], MSG_DATA, &pl, sizeof pl));
			so->directs++;
			rt_add(&g.pub_ops, 1);
		} else {
			pub_n(p1.ex, so,
			      2 + (uint32_t)stress_rand_below(&so->rng, 5));
		}
		if ((op & 255) == 255)
			wait_backlog(p1.rt);
	}
	return NULL;
}

static void phase1(uint64_t seed)
{
	p1.n = stress_scaled(20000, 6000);
	p1.rt = runtime_new();
	RT_MUST("trp_exchange_get",
		trp_exchange_get(p1.rt, "outside1", &p1.ex));
	sinks_start(p1.rt, p1.ex, p1.a, p1.r, P1_SUBS, 8, 5, false);
	phase_begin("phase1-main");
	pthread_t th[P1_THREADS];
	stress_barrier_init(&p1.start, P1_THREADS + 1);
	for (uint32_t t = 0; t < P1_THREADS; t++) {
		p1.so[t] = (struct source){
			.src = t, .rng = stress_rand_init(seed, 100 + t)
		};
		th[t] = stress_thread_start(p1_thread, &p1.so[t]);
	}
	uint64_t t0 = stress_now_ns();
	stress_barrier_wait(&p1.start);
	for (uint32_t t = 0; t < P1_THREADS; t++)
		pthread_join(th[t], NULL);
	rt_wait_idle(p1.rt);
	double secs = stress_seconds_since(t0);
	phase_end();

	uint64_t items = 0, calls = 0;
	for (uint32_t t = 0; t < P1_THREADS; t++) {
		items += p1.so[t].pubs;
		calls += p1.so[t].pub_calls + p1.so[t].pubn_calls;
	}
	for (uint32_t i = 0; i < P1_SUBS; i++) {
		struct rec *r = p1.r[i];
		for (uint32_t t = 0; t < P1_THREADS; t++) {
			check_count(r, t, p1.so[t].pubs + p1.direct[t][i],
				    "phase 1");
			STRESS_CHECK(r->last_pub[t] == p1.so[t].pubs &&
					     r->last_direct[t] ==
						     p1.direct[t][i],
				     "phase 1: sink %u source %u: last publish "
				     "#%u of %u, last direct #%u of %u",
				     i, t, r->last_pub[t], p1.so[t].pubs,
				     r->last_direct[t], p1.direct[t][i]);
		}
	}
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(p1.ex, &st));
	STRESS_CHECK(st.delivered == items * P1_SUBS && st.dropped_full == 0 &&
			     st.dropped_dead == 0 && st.dropped_other == 0 &&
			     st.subscribers == P1_SUBS,
		     "phase 1: exchange delivered %" PRIu64
		     " (expected %" PRIu64 "), dropped %" PRIu64 "/%" PRIu64
		     "/%" PRIu64 ", subscribers %u",
		     st.delivered, items * P1_SUBS, st.dropped_full,
		     st.dropped_dead, st.dropped_other, st.subscribers);
	trp_stats_t rs = rt_assert_balanced(p1.rt, "phase 1");
	STRESS_CHECK(rs.dead_lettered == 0, "phase 1: %" PRIu64 " dead letters",
		     rs.dead_lettered);
	printf("  phase 1: %u threads x %" PRIu64 " ops: %" PRIu64
	       " publish items in %" PRIu64 " calls, %" PRIu64
	       " direct sends, %u sinks; %.2f s; throttled %" PRIu64 "\n",
	       P1_THREADS, p1.n, items, calls,
	       p1.so[0].directs + p1.so[1].directs + p1.so[2].directs, P1_SUBS,
	       secs, rt_get(&g.throttled));
	sinks_end(p1.rt, p1.ex, p1.a, p1.r, P1_SUBS);
}

/* ------------------------------------------------- phase 2: close -- */

#define P2_SUBS 16u
#define P2_VICTIMS 6u

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	trp_actor_t *a[P2_SUBS];
	struct rec *r[P2_SUBS];
	uint64_t n;
	uint64_t close_at[P2_VICTIMS]; /* publishes returned before close */
	uint64_t got_at_close[P2_VICTIMS];
	bool by_main[P2_VICTIMS]; /* closed by another thread than the
				     publisher: count in [lo, hi] */
	uint64_t lo[P2_VICTIMS], hi[P2_VICTIMS];
	/* the publisher's window counters (as in rt_exchange_churn):
	 * started = seq just before publish(seq), done = just after */
	_Atomic(uint64_t) started, done;
	uint64_t rng;
} p2;

static void *p2_thread(void *arg)
{
	(void)arg;
	struct source so = { .src = 0 };
	stress_watchdog_thread(&wd, "phase2-publisher");
	for (uint64_t i = 0; i <= p2.n; i++) {
		for (uint32_t v = 0; v < P2_VICTIMS; v++) {
			if (p2.by_main[v] || p2.close_at[v] != i)
				continue;
			/* ORDER: acquire: see sink_behavior */
			p2.got_at_close[v] = atomic_load_explicit(
				&p2.r[v]->got, memory_order_acquire);
			RT_MUST("trp_actor_close", trp_actor_close(p2.a[v]));
			struct rt_payload pl = { 1, DIRECT | 1, 1 };
			rt_rc("trp_send after trp_actor_close",
			      trp_send(p2.a[v], MSG_DATA, &pl, sizeof pl),
			      RT_E(TRP_EDEAD));
		}
		if (i == p2.n)
			break;
		/* ORDER: acq_rel: an RMW, so a closer's RMW that reads a
		 * smaller value comes first in the modification order and
		 * this publish happens after its close (see p2_close_main) */
		atomic_exchange_explicit(&p2.started, i + 1,
					 memory_order_acq_rel);
		pub_one(p2.ex, &so);
		/* ORDER: release: publish i + 1 returned before a closer's
		 * acquire load that reads it */
		atomic_store_explicit(&p2.done, i + 1, memory_order_release);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/*
 * Main closes the by_main victims while the publisher runs: each once the
 * publisher has returned from close_at[v] publishes. Every publish that
 * returned before the close (lo) must be processed; no publish that began
 * after close returned (after hi) may be.
 */
static void p2_close_main(void)
{
	for (uint32_t v = 0; v < P2_VICTIMS; v++) {
		if (!p2.by_main[v])
			continue;
		/* ORDER: acquire pairs with the publisher's release of done */
		while (atomic_load_explicit(&p2.done, memory_order_acquire) <
		       p2.close_at[v])
			sched_yield();
		/* ORDER: acquire: see above */
		p2.lo[v] = atomic_load_explicit(&p2.done, memory_order_acquire);
		/* ORDER: acquire: see sink_behavior */
		p2.got_at_close[v] = atomic_load_explicit(&p2.r[v]->got,
							  memory_order_acquire);
		RT_MUST("trp_actor_close", trp_actor_close(p2.a[v]));
		/* ORDER: acq_rel RMW: pairs with the publisher's exchange */
		p2.hi[v] = atomic_fetch_add_explicit(&p2.started, 0,
						     memory_order_acq_rel);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void phase2(uint64_t seed, uint32_t round)
{
	p2.n = stress_scaled(20000, 6000);
	p2.rng = stress_rand_init(seed, 200 + round);
	p2.rt = runtime_new();
	RT_MUST("trp_exchange_get",
		trp_exchange_get(p2.rt, "outside2", &p2.ex));
	/* victims 0, 2, 4 slow (backlog when closed), 1, 3, 5 fast */
	sinks_start(p2.rt, p2.ex, p2.a, p2.r, P2_SUBS, 2, 5, true);
	/* close points in [0, n]: 0 = before any publish, n = after all */
	for (uint32_t v = 0; v < P2_VICTIMS; v++)
		p2.close_at[v] = stress_rand_below(&p2.rng, p2.n + 1);
	if (round == 0) {
		p2.close_at[0] = 0;
		p2.close_at[1] = p2.n;
	}
	qsort(p2.close_at, P2_VICTIMS, sizeof p2.close_at[0], cmp_u64);
	/* round 1: the last 3 victims are closed by this thread instead */
	for (uint32_t v = 0; v < P2_VICTIMS; v++)
		p2.by_main[v] = round == 1 && v >= 3;
	atomic_store_explicit(&p2.started, 0, memory_order_relaxed);
	atomic_store_explicit(&p2.done, 0, memory_order_relaxed);
	phase_begin("phase2-main");
	uint64_t t0 = stress_now_ns();
	pthread_t th = stress_thread_start(p2_thread, NULL);
	p2_close_main();
	pthread_join(th, NULL);
	rt_wait_idle(p2.rt);
	double secs = stress_seconds_since(t0);
	phase_end();

	uint64_t delivered = 0, attempts = 0, victims_found = 0, cross = 0;
	for (uint32_t i = 0; i < P2_SUBS; i++) {
		struct rec *r = p2.r[i];
		/* acquire: pairs with sink_stop */
		bool stopped = atomic_load_explicit(&r->stopped,
						    memory_order_acquire) != 0;
		if (i < P2_VICTIMS && p2.by_main[i]) {
			STRESS_CHECK(
				r->count[0] >= p2.lo[i] &&
					r->count[0] <= p2.hi[i],
				"phase 2: sink %u closed by another thread "
				"processed %" PRIu64 ", expected %" PRIu64
				"..%" PRIu64,
				i, r->count[0], p2.lo[i], p2.hi[i]);
			STRESS_CHECK(r->count[0] == 0 ||
					     (r->first[0] == 1 &&
					      r->last[0] == r->count[0]),
				     "phase 2: closed sink %u got seqs %" PRIu64
				     "..%" PRIu64,
				     i, r->first[0], r->last[0]);
			STRESS_CHECK(stopped && r->why == TRP_STOP_CLOSED,
				     "phase 2: closed sink %u: stopped %d "
				     "reason %d",
				     i, stopped, (int)r->why);
			/* found dead by a publish or not: counted below */
			attempts += r->count[0];
			cross++;
		} else if (i < P2_VICTIMS) {
			uint64_t k = p2.close_at[i];
			check_count(r, 0, k, "phase 2 (closed sink)");
			STRESS_CHECK(r->count[0] == 0 || (r->first[0] == 1 &&
							  r->last[0] == k),
				     "phase 2: closed sink %u got seqs %" PRIu64
				     "..%" PRIu64 ", expected 1..%" PRIu64,
				     i, r->first[0], r->last[0], k);
			STRESS_CHECK(stopped && r->why == TRP_STOP_CLOSED &&
					     !trp_actor_alive(p2.a[i]),
				     "phase 2: closed sink %u: stopped %d "
				     "reason %d",
				     i, stopped, (int)r->why);
			STRESS_CHECK(p2.got_at_close[i] <= k,
				     "phase 2: sink %u had %" PRIu64
				     " when closed after %" PRIu64,
				     i, p2.got_at_close[i], k);
			attempts += k < p2.n ? k + 1 : k;
			victims_found += k < p2.n;
		} else {
			check_count(r, 0, p2.n, "phase 2");
			STRESS_CHECK(!stopped, "phase 2: sink %u stopped", i);
			attempts += p2.n;
		}
		delivered += r->count[0];
	}
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(p2.ex, &st));
	/* A victim closed by main was found dead by a publish (dropped_dead)
	 * or not; one that was not may still have been detached: the publish
	 * that detaches a sink it found dead drops every stopped sink it
	 * sees then (exchange.h). So it leaves between found_cross and cross
	 * subscribers. The publisher's own victims are exact: its next
	 * publish finds each. */
	uint64_t found_cross = st.dropped_dead - victims_found;
	uint32_t left_min = P2_SUBS - (uint32_t)(victims_found + cross),
		 left_max = P2_SUBS - (uint32_t)(victims_found + found_cross);
	/* A publish racing main's close may find the victim alive and push
	 * behind its close marker: accepted (delivered), then a dead letter
	 * (exchange.h). Only main's victims can have them. */
	uint64_t dl = rt_get(&g.dead);
	STRESS_CHECK(dl == 0 || cross != 0,
		     "phase 2: %" PRIu64 " dead letters without a close by "
		     "another thread",
		     dl);
	STRESS_CHECK(st.delivered == delivered + dl &&
			     st.dropped_dead >= victims_found &&
			     found_cross <= cross &&
			     st.delivered + st.dropped_dead ==
				     attempts + found_cross + dl &&
			     st.dropped_full == 0 && st.dropped_other == 0 &&
			     st.subscribers >= left_min &&
			     st.subscribers <= left_max,
		     "phase 2: exchange delivered %" PRIu64 " dead %" PRIu64
		     " full %" PRIu64 " other %" PRIu64 " subscribers %u "
		     "(expected %u..%u); the sinks processed %" PRIu64
		     ", %" PRIu64 " deliveries attempted, %" PRIu64
		     " victims closed by the publisher before its last publish",
		     st.delivered, st.dropped_dead, st.dropped_full,
		     st.dropped_other, st.subscribers, left_min, left_max,
		     delivered, attempts, victims_found);
	trp_stats_t rs = rt_assert_balanced(p2.rt, "phase 2");
	STRESS_CHECK(rs.dead_lettered == dl,
		     "phase 2: %" PRIu64 " dead letters, the hook saw %" PRIu64,
		     rs.dead_lettered, dl);
	printf("  phase 2 round %u: %" PRIu64 " publishes, %u sinks, closed "
	       "after",
	       round, p2.n, P2_SUBS);
	for (uint32_t v = 0; v < P2_VICTIMS; v++)
		if (p2.by_main[v])
			printf(" [main] %" PRIu64 "..%" PRIu64 " (had %" PRIu64
			       ", processed %" PRIu64 ")",
			       p2.lo[v], p2.hi[v], p2.got_at_close[v],
			       p2.r[v]->count[0]);
		else
			printf(" %" PRIu64 " (had %" PRIu64 ")", p2.close_at[v],
			       p2.got_at_close[v]);
	printf("; %.2f s\n", secs);
	sinks_end(p2.rt, p2.ex, p2.a, p2.r, P2_SUBS);
}

/* --------------------------------------------- phase 3: stop, kill -- */

#define P3_PUBS 2u
#define P3_ANCHORS 4u
#define P3_MORTALS 12u
#define P3_TTL_MAX 400u

struct mortal {
	trp_actor_t *a;
	struct rec *r;
	bool kill;	  /* fate: killed by the reaper, else stops at ttl */
	uint64_t kill_at; /* ... once it has processed this many */
	bool killed;
};

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	trp_actor_t *anchor[P3_ANCHORS];
	struct rec *anchor_rec[P3_ANCHORS];
	struct mortal m[P3_MORTALS];
	uint64_t n;
	_Atomic(uint64_t) done[P3_PUBS]; /* last seq published */
	_Atomic(uint32_t) pubs_finished;
	struct stress_barrier start;
	uint64_t rng;
	/* reaper's totals */
	uint64_t processed, deaths, by_ttl, by_kill, by_close, spawned;
	uint32_t next_idx;
} p3;

static void *p3_publisher(void *arg)
{
	struct source so = { .src = (uint32_t)(uintptr_t)arg };
	static const char *const names[] = { "phase3-pub0", "phase3-pub1" };
	stress_watchdog_thread(&wd, names[so.src]);
	stress_barrier_wait(&p3.start);
	for (uint64_t i = 0; i < p3.n; i++) {
		pub_one(p3.ex, &so);
		/* ORDER: release: a seq <= done was published before a
		 * reaper's acquire load that reads it (mortal_attach). */
		atomic_store_explicit(&p3.done[so.src], so.seq,
				      memory_order_release);
		if ((i & 255) == 255)
			wait_backlog(p3.rt);
	}
	/* relaxed: the reaper only needs to see the count reach P3_PUBS;
	 * the publishes themselves are published by the join. */
	atomic_fetch_add_explicit(&p3.pubs_finished, 1, memory_order_relaxed);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void mortal_attach(struct mortal *m)
{
	m->r = rec_new(P3_ANCHORS + p3.next_idx++,
		       stress_rand_below(&p3.rng, 2) ? 3 : 0);
	m->r->contiguous = true;
	m->kill = stress_rand_below(&p3.rng, 2) == 0;
	m->killed = false;
	if (m->kill)
		m->kill_at = stress_rand_below(&p3.rng, P3_TTL_MAX);
	else
		m->r->ttl =
			1 + (uint32_t)stress_rand_below(&p3.rng, P3_TTL_MAX);
	m->a = sink_spawn(p3.rt, m->r);
	for (uint32_t s = 0; s < P3_PUBS; s++)
		/* ORDER: acquire pairs with p3_publisher's release. */
		m->r->pre[s] =
			atomic_load_explicit(&p3.done[s], memory_order_acquire);
	(void)sink_attach(p3.ex, m->a);
	p3.spawned++;
}

/* True once @m has stopped (then checked and freed). */
static bool mortal_reap(struct mortal *m)
{
	/* ORDER: acquire pairs with sink_stop's release. */
	if (atomic_load_explicit(&m->r->stopped, memory_order_acquire) == 0 ||
	    trp_actor_alive(m->a))
		return false;
	struct rec *r = m->r;
	uint64_t got = rt_get(&r->got);
	switch (r->why) {
	case TRP_STOP_NORMAL:
		STRESS_CHECK(!m->kill && got == r->ttl,
			     "phase 3: sink %u stopped itself after %" PRIu64
			     " messages, ttl %u (kill fate %d)",
			     r->idx, got, r->ttl, m->kill);
		p3.by_ttl++;
		break;
	case TRP_STOP_KILLED:
		STRESS_CHECK(m->killed, "phase 3: sink %u killed, never by us",
			     r->idx);
		p3.by_kill++;
		break;
	case TRP_STOP_CLOSED:
		p3.by_close++;
		break;
	default:
		stress_fail("phase 3: sink %u stopped with reason %d", r->idx,
			    (int)r->why);
	}
	p3.processed += got;
	p3.deaths++;
	trp_actor_release(m->a);
	free(r);
	m->a = NULL;
	m->r = NULL;
	return true;
}

static void *p3_reaper(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "phase3-reaper");
	stress_barrier_wait(&p3.start);
	/* relaxed: see p3_publisher */
	while (atomic_load_explicit(&p3.pubs_finished, memory_order_relaxed) <
	       P3_PUBS) {
		for (uint32_t i = 0; i < P3_MORTALS; i++) {
			struct mortal *m = &p3.m[i];
			if (mortal_reap(m)) {
				mortal_attach(m);
			} else if (m->kill && !m->killed &&
				   rt_get(&m->r->got) >= m->kill_at) {
				/* EDEAD: cannot happen (no ttl), allowed */
				rt_rc("trp_actor_kill", trp_actor_kill(m->a),
				      RT_OK | RT_E(TRP_EDEAD));
				m->killed = true;
			}
		}
		struct timespec ts = { 0, NAP_US * 1000 };
		nanosleep(&ts, NULL);
	}
	/* wind down: close what lives (killed ones are stopping anyway) */
	for (uint32_t i = 0; i < P3_MORTALS; i++)
		rt_rc("trp_actor_close (end)", trp_actor_close(p3.m[i].a),
		      RT_OK | RT_E(TRP_EDEAD));
	for (uint32_t i = 0; i < P3_MORTALS; i++)
		while (!mortal_reap(&p3.m[i]))
			stress_sleep_ms(1);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void phase3(uint64_t seed)
{
	memset(&p3, 0, sizeof p3);
	p3.n = stress_scaled(30000, 9000);
	p3.rng = stress_rand_init(seed, 300);
	p3.rt = runtime_new();
	RT_MUST("trp_exchange_get",
		trp_exchange_get(p3.rt, "outside3", &p3.ex));
	sinks_start(p3.rt, p3.ex, p3.anchor, p3.anchor_rec, P3_ANCHORS, 2, 3,
		    true);
	for (uint32_t i = 0; i < P3_MORTALS; i++)
		mortal_attach(&p3.m[i]);
	phase_begin("phase3-main");
	stress_barrier_init(&p3.start, P3_PUBS + 2);
	pthread_t pub[P3_PUBS], reaper;
	for (uint32_t s = 0; s < P3_PUBS; s++)
		pub[s] =
			stress_thread_start(p3_publisher, (void *)(uintptr_t)s);
	reaper = stress_thread_start(p3_reaper, NULL);
	uint64_t t0 = stress_now_ns();
	stress_barrier_wait(&p3.start);
	for (uint32_t s = 0; s < P3_PUBS; s++)
		pthread_join(pub[s], NULL);
	pthread_join(reaper, NULL);
	rt_wait_idle(p3.rt);
	double secs = stress_seconds_since(t0);
	phase_end();

	uint64_t processed = p3.processed;
	for (uint32_t i = 0; i < P3_ANCHORS; i++) {
		struct rec *r = p3.anchor_rec[i];
		for (uint32_t s = 0; s < P3_PUBS; s++) {
			check_count(r, s, p3.n, "phase 3 (anchor)");
			STRESS_CHECK(r->first[s] == 1 && r->last[s] == p3.n,
				     "phase 3: anchor %u source %u got %" PRIu64
				     "..%" PRIu64,
				     i, s, r->first[s], r->last[s]);
		}
		processed += rt_get(&r->got);
	}
	uint64_t dl = rt_get(&g.dead);
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(p3.ex, &st));
	STRESS_CHECK(st.delivered == processed + dl && st.dropped_full == 0 &&
			     st.dropped_other == 0 &&
			     st.dropped_dead <= p3.deaths * P3_PUBS &&
			     st.published == P3_PUBS * p3.n,
		     "phase 3: exchange published %" PRIu64
		     " delivered %" PRIu64 " (the sinks processed %" PRIu64
		     ", %" PRIu64 " dead-lettered) dropped full %" PRIu64
		     " dead %" PRIu64 " (deaths %" PRIu64 ") other %" PRIu64,
		     st.published, st.delivered, processed, dl, st.dropped_full,
		     st.dropped_dead, p3.deaths, st.dropped_other);
	trp_stats_t rs = rt_assert_balanced(p3.rt, "phase 3");
	STRESS_CHECK(rs.dead_lettered == dl,
		     "phase 3: %" PRIu64 " dead letters, the hook saw %" PRIu64
		     " data messages",
		     rs.dead_lettered, dl);
	STRESS_CHECK(p3.deaths == p3.spawned && p3.by_ttl + p3.by_kill >= 10,
		     "phase 3: %" PRIu64 " spawned, %" PRIu64
		     " finished, %" PRIu64 " by ttl, %" PRIu64 " killed",
		     p3.spawned, p3.deaths, p3.by_ttl, p3.by_kill);
	printf("  phase 3: %u publishers x %" PRIu64 "; %" PRIu64
	       " mortal sinks: %" PRIu64 " stopped themselves, %" PRIu64
	       " killed, %" PRIu64 " closed at the end; delivered %" PRIu64
	       " = processed %" PRIu64 " + dead-lettered %" PRIu64
	       ", dropped dead %" PRIu64 "; %.2f s\n",
	       P3_PUBS, p3.n, p3.spawned, p3.by_ttl, p3.by_kill, p3.by_close,
	       st.delivered, processed, dl, st.dropped_dead, secs);
	sinks_end(p3.rt, p3.ex, p3.anchor, p3.anchor_rec, P3_ANCHORS);
}

/* --------------------------------- phase 4: threads, runtimes end -- */

#define P4_SUBS 8u
#define P4_ROUNDS 6u
#define P4_RTHREADS 3u /* short-lived threads per round */
#define P4_CYCLES 6u

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint64_t k; /* messages per short-lived thread */
	uint64_t m; /* messages per cycle */
	uint64_t reused, handles;
	double cycle_s;
} p4;

static void *p4_short(void *arg)
{
	struct source so = { .src = (uint32_t)(uintptr_t)arg };
	so.rng = stress_rand_init(stress_run_seed, 400 + so.src);
	while (so.pubs < p4.k) {
		uint64_t left = p4.k - so.pubs;
		if (left >= 2 && stress_rand_below(&so.rng, 8) == 0)
			pub_n(p4.ex, &so, left < 6 ? (uint32_t)left : 6);
		else
			pub_one(p4.ex, &so);
	}
	/* exits at once: its deliveries may still be queued */
	return NULL;
}

static void phase4a(void)
{
	trp_actor_t *a[P4_SUBS];
	struct rec *r[P4_SUBS];
	p4.k = stress_scaled(3000, 1000);
	p4.rt = runtime_new();
	RT_MUST("trp_exchange_get",
		trp_exchange_get(p4.rt, "outside4", &p4.ex));
	sinks_start(p4.rt, p4.ex, a, r, P4_SUBS, 2, 2, true);
	uint64_t t0 = stress_now_ns();
	for (uint32_t round = 0; round < P4_ROUNDS; round++) {
		pthread_t th[P4_RTHREADS];
		for (uint32_t t = 0; t < P4_RTHREADS; t++)
			th[t] = stress_thread_start(
				p4_short,
				(void *)(uintptr_t)(round * P4_RTHREADS + t));
		for (uint32_t t = 0; t < P4_RTHREADS; t++)
			pthread_join(th[t], NULL);
	}
	rt_wait_idle(p4.rt);
	double secs = stress_seconds_since(t0);
	for (uint32_t i = 0; i < P4_SUBS; i++)
		for (uint32_t s = 0; s < P4_ROUNDS * P4_RTHREADS; s++) {
			check_count(r[i], s, p4.k, "phase 4a");
			STRESS_CHECK(r[i]->first[s] == 1 &&
					     r[i]->last[s] == p4.k,
				     "phase 4a: sink %u source %u got %" PRIu64
				     "..%" PRIu64,
				     i, s, r[i]->first[s], r[i]->last[s]);
		}
	(void)rt_assert_balanced(p4.rt, "phase 4a");
	printf("  phase 4a: %u rounds x %u threads x %" PRIu64
	       " messages, %u sinks; %.2f s\n",
	       P4_ROUNDS, P4_RTHREADS, p4.k, P4_SUBS, secs);
	sinks_end(p4.rt, p4.ex, a, r, P4_SUBS);
}

struct cycle {
	struct rec *r[P4_SUBS];
	uint64_t got[P4_SUBS]; /* after its destroy */
	uintptr_t addr[P4_SUBS];
};

static struct cycle p4c[P4_CYCLES];

/* True if an actor of a cycle before @c had address @addr. */
static bool addr_seen(uint32_t c, uintptr_t addr)
{
	for (uint32_t e = 0; e < c; e++)
		for (uint32_t j = 0; j < P4_SUBS; j++)
			if (p4c[e].addr[j] == addr)
				return true;
	return false;
}

static void *p4_long(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "phase4-long");
	uint64_t t0 = stress_now_ns();
	for (uint32_t c = 0; c < P4_CYCLES; c++) {
		struct cycle *cy = &p4c[c];
		trp_runtime_t *rt = runtime_new();
		trp_exchange_t *ex;
		trp_actor_t *a[P4_SUBS];
		RT_MUST("trp_exchange_get",
			trp_exchange_get(rt, "outside4b", &ex));
		sinks_start(rt, ex, a, cy->r, P4_SUBS, 2, 2, true);
		for (uint32_t i = 0; i < P4_SUBS; i++) {
			cy->addr[i] = (uintptr_t)a[i];
			p4.reused += addr_seen(c, cy->addr[i]);
			p4.handles++;
		}
		struct source so = { .src = 0 };
		so.rng = stress_rand_init(stress_run_seed, 500 + c);
		while (so.pubs < p4.m) {
			uint64_t left = p4.m - so.pubs;
			if (left >= 2 && stress_rand_below(&so.rng, 8) == 0)
				pub_n(ex, &so, left < 5 ? (uint32_t)left : 5);
			else
				pub_one(ex, &so);
		}
		bool drain = c % 2 == 0;
		if (drain) {
			rt_wait_idle(rt);
			for (uint32_t i = 0; i < P4_SUBS; i++) {
				check_count(cy->r[i], 0, p4.m, "phase 4b");
				STRESS_CHECK(cy->r[i]->last[0] == p4.m,
					     "phase 4b cycle %u: sink %u "
					     "last %" PRIu64,
					     c, i, cy->r[i]->last[0]);
			}
		}
		for (uint32_t i = 0; i < P4_SUBS; i++)
			trp_actor_release(a[i]);
		trp_stats_t fin = rt_destroy_balanced(rt, "phase 4b");
		uint64_t processed = 0;
		for (uint32_t i = 0; i < P4_SUBS; i++) {
			struct rec *r = cy->r[i];
			cy->got[i] = rt_get(&r->got);
			processed += cy->got[i];
			STRESS_CHECK(
				r->count[0] == 0 || (r->first[0] == 1 &&
						     r->last[0] == r->count[0]),
				"phase 4b cycle %u: sink %u got %" PRIu64
				" messages %" PRIu64 "..%" PRIu64,
				c, i, r->count[0], r->first[0], r->last[0]);
		}
		uint64_t dl = rt_get(&g.dead);
		STRESS_CHECK(
			processed + dl == p4.m * P4_SUBS &&
				fin.dead_lettered == dl && (!drain || dl == 0),
			"phase 4b cycle %u: processed %" PRIu64
			" + dead-lettered %" PRIu64 " (runtime: %" PRIu64
			"), published %" PRIu64 " x %u sinks",
			c, processed, dl, fin.dead_lettered, p4.m, P4_SUBS);
		/* the old handle: an error, and nothing moves */
		struct rt_payload pl = { 0, so.pubs + 1, so.seq + 1 };
		rt_rc("trp_exchange_publish after destroy",
		      trp_exchange_publish(ex, MSG_DATA, &pl, sizeof pl),
		      RT_E(TRP_ESHUTDOWN) | RT_E(TRP_ECLOSED));
		trp_exchange_release(ex);
	}
	p4.cycle_s = stress_seconds_since(t0);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void phase4(void)
{
	phase_begin("phase4-main");
	phase4a();
	p4.m = stress_scaled(4000, 1200);
	pthread_t th = stress_thread_start(p4_long, NULL);
	pthread_join(th, NULL);
	phase_end();
	for (uint32_t c = 0; c < P4_CYCLES; c++)
		for (uint32_t i = 0; i < P4_SUBS; i++) {
			STRESS_CHECK(
				rt_get(&p4c[c].r[i]->got) == p4c[c].got[i] &&
					p4c[c].r[i]->count[0] == p4c[c].got[i],
				"phase 4b: cycle %u sink %u: %" PRIu64
				" messages after its runtime was "
				"destroyed, %" PRIu64 " then",
				c, i, rt_get(&p4c[c].r[i]->got), p4c[c].got[i]);
			free(p4c[c].r[i]);
		}
	printf("  phase 4b: %u runtimes x %" PRIu64
	       " messages, %u sinks each; %" PRIu64 " of %" PRIu64
	       " actor handles at an address an earlier runtime's actor had; "
	       "%.2f s\n",
	       P4_CYCLES, p4.m, P4_SUBS, p4.reused, p4.handles, p4.cycle_s);
}

/* ------------------------------------------ phase 5: the handoff -- */

#define P5_SUBS 4u

/* Waits until every sink processed @want messages (the watchdog trips on
 * a message that never gets processed). */
static void p5_wait(struct rec *const *r, uint64_t want)
{
	for (uint32_t i = 0; i < P5_SUBS; i++)
		for (unsigned k = 0;
		     /* ORDER: acquire: see sink_behavior */
		     atomic_load_explicit(&r[i]->got, memory_order_acquire) <
		     want;
		     k++) {
			if (k < 64)
				stress_cpu_relax();
			else
				sched_yield();
		}
}

/*
 * One outside thread publishes a message or a short burst, then (mostly)
 * waits until every sink processed it, sometimes napping first so the
 * workers park: each publish meets its consumers caught up (idle,
 * polling or parked), the boundary where a batching sender must still
 * get its message processed without sending another.
 */
static void phase5(uint64_t seed)
{
	uint64_t n = stress_scaled(5000, 1500), waits = 0;
	trp_runtime_t *rt = runtime_new();
	trp_exchange_t *ex;
	trp_actor_t *a[P5_SUBS];
	struct rec *r[P5_SUBS];
	RT_MUST("trp_exchange_get", trp_exchange_get(rt, "outside5", &ex));
	sinks_start(rt, ex, a, r, P5_SUBS, 0, 0, true);
	phase_begin("phase5-main");
	struct source so = { .src = 0, .rng = stress_rand_init(seed, 600) };
	uint64_t t0 = stress_now_ns();
	while (so.pubs < n) {
		uint64_t r8 = stress_rand_below(&so.rng, 8);
		uint32_t burst = r8 < 6 ? 1 : 2 + (uint32_t)r8 % 3;
		for (uint32_t b = 0; b < burst && so.pubs < n; b++)
			pub_one(ex, &so);
		if (stress_rand_below(&so.rng, 4) != 0) {
			p5_wait(r, so.pubs);
			waits++;
		}
		uint64_t nap = stress_rand_below(&so.rng, 8);
		if (nap == 0) {
			struct timespec ts = { 0, 200 * 1000 };
			nanosleep(&ts, NULL);
		} else if (nap == 1) {
			struct timespec ts = { 0, 20 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	p5_wait(r, n);
	double secs = stress_seconds_since(t0);
	phase_end();
	for (uint32_t i = 0; i < P5_SUBS; i++)
		check_count(r[i], 0, n, "phase 5");
	(void)rt_assert_balanced(rt, "phase 5");
	trp_stats_t st = rt_stats(rt);
	printf("  phase 5: %" PRIu64 " publishes, %" PRIu64
	       " waits for all %u sinks; %.2f s (%.1f us per wait); %" PRIu64
	       " parks\n",
	       n, waits, P5_SUBS, secs, secs * 1e6 / (double)(waits + 1),
	       st.parks);
	sinks_end(rt, ex, a, r, P5_SUBS);
}

/* ----------------------------------------------------------- main -- */

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_outside");
	printf("  %s\n", RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);
	uint64_t t0 = stress_now_ns();
	phase1(seed);
	for (uint32_t round = 0; round < 2; round++)
		phase2(seed, round);
	phase3(seed);
	phase4();
	phase5(seed);
	printf("  %.2f s in all; peak rss %ld KiB\nOK rt_exchange_outside\n",
	       stress_seconds_since(t0), rt_rss_kb());
	return 0;
}
