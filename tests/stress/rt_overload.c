/*
 * tests/stress/rt_overload.c - T11: overload. Bounded mailboxes refuse
 * with TRP_EFULL and keep their bound; a cycle of bounded actors does not
 * deadlock; without a bound, fan-in memory stays flat (the runtime mutes
 * senders to an overloaded actor: core/actor.h "Backpressure").
 *
 * unbounded (runs first, so the process's peak RSS is its own): the storm
 * (K counters, 2 shared sinks by name, default config) with every message
 * checked as in rt_storm_order; the peak resident set (getrusage
 * ru_maxrss) may grow by at most 64 MiB over the run (release builds; the
 * sanitizers' quarantine and shadow memory make RSS meaningless there: it
 * is printed only), and the backlog sampled from trp_runtime_stats (sent -
 * processed) stays under 10^6 messages.
 *
 * bounded: one consumer with def.mailbox_limit = 1000 and a slow behaviour
 * (~1 us of busy work per message), four fast producers: two outside
 * threads and two actors (bursts until TRP_EFULL, then a message to
 * themselves to go on). Checks:
 * - every send to the consumer returns 0 or TRP_EFULL; each producer's
 *   messages carry its count of accepted sends, and the consumer requires
 *   exactly +1 per producer (a refused send never arrives, an accepted one
 *   arrives once, in order);
 * - the bound: producers count an attempt before each send (and take it
 *   back on TRP_EFULL); after each accepted send, attempts - processed
 *   (read in that order, so never an overestimate) must be <= limit +
 *   producers + 1; a monitor thread samples the runtime's own count of the
 *   consumer's queue (trp__mailbox_count, internal) <= limit + producers, and
 *   trp_runtime_stats: sent - processed <= limit + producers (sent read
 *   from an earlier call than processed);
 * - at the end: accepted == processed, stats.rejected == the TRP_EFULL
 *   count, stats.sent == every accepted send, no dead letter; and there
 *   were refusals (the bound was really reached).
 *
 * cycle: actors A and B, both bounded (limit 1000), cfg.batch = 64 so their
 * turns end at the cap and senders get muted. Two outside threads inject
 * tokens into A and B (retrying on TRP_EFULL); a token with h > 0 hops left
 * is forwarded to the other actor with h-1; a forward refused with
 * TRP_EFULL waits in the actor's pending FIFO and is retried first on its
 * next turn (a ticker thread sends TICKs to an actor with pending tokens,
 * so a refusal never strands one). Checks: every token retires exactly
 * once after exactly H hops; per (sender, receiver) FIFO with +1 seqs;
 * stats.sent == processed, stats.rejected == the TRP_EFULL count; no
 * deadlock (the watchdog: 5 s without a hop is a failure).
 *
 * Sizes: unbounded K = 1000, N = 10^4 × scale (the WORKLOADS.md storm at
 * scale 1; half that in sanitizer builds); bounded 10^6 × scale accepted messages; cycle 4000 tokens (4
 * times the cycle's capacity) of 1000 × scale hops.
 */
#include "rt_util.h"

#include "actor.h" /* internal: the mailbox count (trp__mailbox_count) */

#define LIMIT 1000u
#define NOUTP 2u
#define NACTP 2u
#define NPROD (NOUTP + NACTP)
#define BOUNDED_BASE 1000000u
#define CONSUMER_SPIN 150u
#define STORM_K 1000u
#define STORM_N_BASE 10000u
#define RSS_BOUND_KB (64L * 1024)
#define BACKLOG_BOUND 1000000u
#define TOKENS 4000u /* > 2 x LIMIT: the cycle is always full */
#define HOPS_BASE 1000u
#define LIMIT_S 600.0

enum {
	MSG_N = 1,
	MSG_VAL,
	MSG_TICK,
	MSG_TOKEN
};

static struct stress_watchdog wd;
static uint64_t g_seed;
static _Atomic(uint64_t) g_dead;

static trp_runtime_t *make_runtime(uint32_t batch)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = batch;
	cfg.dead_letter = rt_count_dead_letter;
	cfg.dead_letter_ctx = &g_dead;
	trp_runtime_t *rt = NULL;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &rt));
	atomic_store(&g_dead, 0);
	return rt;
}

/* ========================================================= unbounded == */

struct sink {
	uint64_t *next_n;
	uint64_t count, sum;
	_Atomic(uint64_t) calls;
};

struct counter {
	uint32_t id;
	trp_runtime_t *rt;
	trp_actor_t *hello, *hi;
	uint64_t expect_n;
	_Atomic(uint64_t) accepted;
};

static struct {
	uint32_t k;
	uint64_t n;
	struct sink sinks[2];
	struct counter *counters;
} us;

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct sink *s = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < us.k && p.seq == s->next_n[p.sender],
		     "sink: counter %u sent n=%" PRIu64 ", expected %" PRIu64,
		     p.sender, p.seq,
		     p.sender < us.k ? s->next_n[p.sender] : 0);
	s->next_n[p.sender]--;
	s->count++;
	s->sum += p.seq;
	stress_progress(&s->calls, 1);
}

static void counter_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct counter *c = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.seq == c->expect_n,
		     "counter %u: n=%" PRIu64 ", expected %" PRIu64, c->id,
		     p.seq, c->expect_n);
	if (c->hello == NULL) {
		RT_MUST("trp_lookup",
			trp_lookup(c->rt, "say_hello", &c->hello));
		RT_MUST("trp_lookup", trp_lookup(c->rt, "say_hi", &c->hi));
	}
	if (p.seq == 0)
		return;
	c->expect_n = p.seq - 1;
	RT_MUST("trp_send", rt_send(c->hello, MSG_N, c->id, 0, p.seq));
	RT_MUST("trp_send", rt_send(c->hi, MSG_N, c->id, 0, p.seq));
	RT_MUST("trp_send", rt_send(self, MSG_N, c->id, 0, p.seq - 1));
	stress_progress(&c->accepted, 3);
}

static void counter_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	(void)why;
	struct counter *c = state;
	trp_actor_release(c->hello);
	trp_actor_release(c->hi);
}

static void run_unbounded(void)
{
	us.k = STORM_K;
	/* Sanitizer builds run ~10x slower: half the storm is plenty to
	 * build the backlog (their RSS is not checked anyway). */
	us.n = stress_scaled(RT_SANITIZED ? STORM_N_BASE / 2 : STORM_N_BASE,
			     10);
	uint64_t expect = (uint64_t)us.k * (3 * us.n + 1);
	long rss0 = rt_rss_kb();
	long now0 = rt_rss_now_kb();
	printf("unbounded: storm K=%u N=%" PRIu64 " (%" PRIu64
	       " messages), default config; peak RSS before %ld KiB\n",
	       us.k, us.n, expect, rss0);
	trp_runtime_t *rt = make_runtime(0);
	trp_actor_def_t sdef = { sink_behavior, NULL, NULL, 0, 0 };
	static const char *names[2] = { "say_hello", "say_hi" };
	memset(us.sinks, 0, sizeof us.sinks);
	for (uint32_t i = 0; i < 2; i++) {
		us.sinks[i].next_n = malloc(us.k * sizeof(uint64_t));
		STRESS_CHECK(us.sinks[i].next_n != NULL, "out of memory");
		for (uint32_t c = 0; c < us.k; c++)
			us.sinks[i].next_n[c] = us.n;
		trp_actor_t *h;
		RT_MUST("trp_actor_spawn",
			trp_actor_spawn(rt, &sdef, &us.sinks[i], &h));
		RT_MUST("trp_register", trp_register(rt, names[i], h));
		trp_actor_release(h);
	}
	us.counters = calloc(us.k, sizeof *us.counters);
	trp_actor_t **hs = calloc(us.k, sizeof *hs);
	STRESS_CHECK(us.counters && hs, "out of memory");
	trp_actor_def_t cdef = { counter_behavior, NULL, counter_stop, 0, 0 };
	for (uint32_t i = 0; i < us.k; i++) {
		us.counters[i].id = i;
		us.counters[i].rt = rt;
		us.counters[i].expect_n = us.n;
		RT_MUST("trp_actor_spawn",
			trp_actor_spawn(rt, &cdef, &us.counters[i], &hs[i]));
	}
	stress_watchdog_init(&wd, LIMIT_S);
	stress_watchdog_counter(&wd, "sink say_hello", &us.sinks[0].calls);
	stress_watchdog_counter(&wd, "sink say_hi", &us.sinks[1].calls);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < us.k; i++)
		RT_MUST("trp_send(start)",
			rt_send(hs[i], MSG_N, us.k, 0, us.n));
	/* Sample the backlog until done. */
	uint64_t peak_backlog = 0;
	long peak_now = now0;
	for (;;) {
		int rc = trp_runtime_wait_idle(rt, 2 * 1000 * 1000);
		rt_rc("trp_runtime_wait_idle", rc, RT_OK | RT_E(TRP_ETIMEDOUT));
		trp_stats_t a = rt_stats(rt);
		trp_stats_t b = rt_stats(rt);
		/* sent from the earlier call, processed from the later: never
		 * more than the real backlog. */
		uint64_t backlog = a.sent > b.processed ? a.sent - b.processed :
							  0;
		if (backlog > peak_backlog)
			peak_backlog = backlog;
		long nowkb = rt_rss_now_kb();
		if (nowkb > peak_now)
			peak_now = nowkb;
		STRESS_CHECK(backlog <= BACKLOG_BOUND,
			     "unbounded: %" PRIu64
			     " messages queued (bound %u):"
			     " fan-in memory is not bounded",
			     backlog, BACKLOG_BOUND);
		if (rc == 0)
			break;
	}
	double secs = stress_seconds_since(t0);
	trp_stats_t s = rt_assert_balanced(rt, "unbounded");
	rt_print_stats("unbounded", &s);
	uint64_t accepted = us.k;
	for (uint32_t i = 0; i < us.k; i++)
		accepted += rt_get(&us.counters[i].accepted);
	STRESS_CHECK(s.sent == accepted && s.sent == expect &&
			     s.processed == expect && s.dead_lettered == 0,
		     "unbounded: sent %" PRIu64 " accepted %" PRIu64
		     " processed %" PRIu64 " expected %" PRIu64,
		     s.sent, accepted, s.processed, expect);
	long rss1 = rt_rss_kb();
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(rt));
	stress_watchdog_stop(&wd);
	for (uint32_t i = 0; i < 2; i++) {
		struct sink *sk = &us.sinks[i];
		STRESS_CHECK(sk->count == (uint64_t)us.k * us.n &&
				     sk->sum == (uint64_t)us.k * us.n *
							(us.n + 1) / 2,
			     "unbounded: sink %s count %" PRIu64
			     " sum %" PRIu64,
			     names[i], sk->count, sk->sum);
		free(sk->next_n);
	}
	for (uint32_t i = 0; i < us.k; i++)
		trp_actor_release(hs[i]);
	free(hs);
	free(us.counters);
	long grew = rss1 - rss0;
	printf("  unbounded: %.2f s, %.1f M msg/s; peak backlog %" PRIu64
	       " messages; peak RSS %ld -> %ld KiB (+%ld KiB), current RSS "
	       "peak %ld KiB\n",
	       secs, (double)expect / secs / 1e6, peak_backlog, rss0, rss1,
	       grew, peak_now);
	if (!RT_SANITIZED)
		STRESS_CHECK(grew <= RSS_BOUND_KB,
			     "unbounded: peak RSS grew by %ld KiB (bound %ld "
			     "KiB): fan-in memory is not bounded",
			     grew, RSS_BOUND_KB);
}

/* =========================================================== bounded == */

struct producer {
	uint32_t idx;
	uint64_t rng;
	uint64_t target;   /* accepted sends to reach */
	uint64_t accepted; /* == seq of the next message */
	uint64_t rejected;
	uint64_t tick_seq, tick_expect;
	_Atomic(uint64_t) progress; /* accepted, for the watchdog */
	_Atomic(uint64_t) ticks;    /* accepted ticks */
	_Atomic(uint32_t) done;
};

static struct {
	trp_runtime_t *rt;
	trp_actor_t *consumer;
	struct producer prods[NPROD];
	uint64_t next[NPROD];	     /* consumer-owned */
	_Atomic(uint64_t) attempts;  /* in-flight attempts + accepted */
	_Atomic(uint64_t) processed; /* consumer */
	_Atomic(uint32_t) stop_monitor;
	_Atomic(uint64_t) max_queued, max_mine, max_stats;
	struct stress_barrier start;
} bd;

static void max_update(_Atomic(uint64_t) *m, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(m, memory_order_relaxed);
	while (v > cur &&
	       !atomic_compare_exchange_weak_explicit(
		       m, &cur, v, memory_order_relaxed, memory_order_relaxed))
		;
}

static void consumer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_VAL && p.sender < NPROD,
		     "consumer: type %u sender %u", msg->type, p.sender);
	STRESS_CHECK(p.seq == bd.next[p.sender],
		     "consumer: producer %u seq %" PRIu64 ", expected %" PRIu64
		     " (a refused send arrived, or loss/reorder)",
		     p.sender, p.seq, bd.next[p.sender]);
	bd.next[p.sender]++;
	/* relaxed: a count; single writer (the consumer). The bound check
	 * reads it after `attempts`, which can only underestimate. */
	stress_progress(&bd.processed, 1);
	for (volatile uint32_t i = 0; i < CONSUMER_SPIN; i++)
		;
}

/* One attempt of producer @p: true if accepted. */
static bool produce_one(struct producer *p)
{
	/* relaxed: the bound check is a count; see the file comment. */
	atomic_fetch_add_explicit(&bd.attempts, 1, memory_order_relaxed);
	int rc = rt_send(bd.consumer, MSG_VAL, p->idx, 0, p->accepted);
	rt_rc("trp_send (bounded)", rc, RT_OK | RT_E(TRP_EFULL));
	if (rc != 0) {
		atomic_fetch_sub_explicit(&bd.attempts, 1,
					  memory_order_relaxed);
		p->rejected++;
		return false;
	}
	p->accepted++;
	stress_progress(&p->progress, 1);
	uint64_t att = atomic_load_explicit(&bd.attempts, memory_order_relaxed);
	uint64_t done =
		atomic_load_explicit(&bd.processed, memory_order_relaxed);
	uint64_t q = att > done ? att - done : 0;
	max_update(&bd.max_mine, q);
	STRESS_CHECK(q <= LIMIT + NPROD + 1,
		     "bounded: %" PRIu64 " messages queued or in flight "
		     "(attempts %" PRIu64 " - processed %" PRIu64
		     ") > limit %u + %u producers + 1",
		     q, att, done, LIMIT, NPROD);
	return true;
}

static void *outside_producer(void *arg)
{
	struct producer *p = arg;
	static const char *names[NOUTP] = { "producer0", "producer1" };
	stress_watchdog_thread(&wd, names[p->idx]);
	stress_barrier_wait(&bd.start);
	while (p->accepted < p->target) {
		if (!produce_one(p)) {
			if (stress_rand_below(&p->rng, 4) == 0)
				sched_yield();
			else
				stress_cpu_relax();
		}
	}
	/* ORDER: release publishes our counts to main. */
	atomic_store_explicit(&p->done, 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void actor_producer_behavior(trp_actor_t *self, void *state,
				    const trp_msg_t *msg)
{
	struct producer *p = state;
	struct rt_payload pl = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_TICK && pl.seq == p->tick_expect,
		     "actor producer %u: tick %" PRIu64 ", expected %" PRIu64,
		     p->idx, pl.seq, p->tick_expect);
	p->tick_expect++;
	for (uint32_t i = 0; i < 256 && p->accepted < p->target; i++)
		if (!produce_one(p))
			break;
	if (p->accepted < p->target) {
		RT_MUST("trp_send(tick)",
			rt_send(self, MSG_TICK, p->idx, 0, p->tick_seq++));
		/* many writers: main counts the first tick while this
		 * actor may already count its next (a real RMW) */
		rt_add(&p->ticks, 1);
	} else {
		/* ORDER: release publishes our counts to main. */
		atomic_store_explicit(&p->done, 1, memory_order_release);
	}
}

static void *monitor_main(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "monitor");
	struct trp_actor *c = bd.consumer;
	/* relaxed: a flag. */
	while (!atomic_load_explicit(&bd.stop_monitor, memory_order_relaxed)) {
		/* relaxed: the runtime's own counter, sampled. */
		uint32_t q = trp__mailbox_count_hint(&c->mailbox);
		max_update(&bd.max_queued, q);
		STRESS_CHECK(q <= LIMIT + NPROD,
			     "bounded: the consumer's queued count is %u > "
			     "limit %u + %u producers",
			     q, LIMIT, NPROD);
		trp_stats_t a = rt_stats(bd.rt);
		trp_stats_t b = rt_stats(bd.rt);
		uint64_t backlog = a.sent > b.processed ? a.sent - b.processed :
							  0;
		/* The producers' ticks are in `sent` too: at most one
		 * queued per actor producer. */
		max_update(&bd.max_stats, backlog);
		STRESS_CHECK(backlog <= LIMIT + NPROD + NACTP,
			     "bounded: stats show %" PRIu64 " sent - %" PRIu64
			     " processed = %" PRIu64 " > limit %u + %u",
			     a.sent, b.processed, backlog, LIMIT, NPROD);
		struct timespec ts = { 0, 200 * 1000 };
		nanosleep(&ts, NULL);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void run_bounded(void)
{
	uint64_t total = stress_scaled(BOUNDED_BASE, 20000);
	printf("bounded: limit %u, %u outside + %u actor producers, %" PRIu64
	       " messages accepted in all, consumer ~%u spins per message\n",
	       LIMIT, NOUTP, NACTP, total, CONSUMER_SPIN);
	memset(&bd, 0, sizeof bd);
	bd.rt = make_runtime(0);
	trp_actor_def_t cdef = { consumer_behavior, NULL, NULL, 0, LIMIT };
	RT_MUST("trp_actor_spawn(consumer)",
		trp_actor_spawn(bd.rt, &cdef, NULL, &bd.consumer));
	trp_actor_t *ph[NACTP];
	trp_actor_def_t pdef = { actor_producer_behavior, NULL, NULL, 0, 0 };
	for (uint32_t i = 0; i < NPROD; i++) {
		struct producer *p = &bd.prods[i];
		p->idx = i;
		p->rng = stress_rand_init(g_seed, 50 + i);
		p->target = total / NPROD;
		if (i >= NOUTP)
			RT_MUST("trp_actor_spawn(producer)",
				trp_actor_spawn(bd.rt, &pdef, p,
						&ph[i - NOUTP]));
	}
	stress_watchdog_init(&wd, LIMIT_S);
	stress_watchdog_counter(&wd, "consumer processed", &bd.processed);
	for (uint32_t i = 0; i < NPROD; i++)
		stress_watchdog_counter(&wd, "producer accepted",
					&bd.prods[i].progress);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	stress_barrier_init(&bd.start, NOUTP + 1);
	pthread_t th[NOUTP];
	for (uint32_t i = 0; i < NOUTP; i++)
		th[i] = stress_thread_start(outside_producer, &bd.prods[i]);
	pthread_t mon = stress_thread_start(monitor_main, NULL);
	stress_barrier_wait(&bd.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < NACTP; i++) {
		struct producer *p = &bd.prods[NOUTP + i];
		RT_MUST("trp_send(tick)",
			rt_send(ph[i], MSG_TICK, p->idx, 0, p->tick_seq++));
		rt_add(&p->ticks, 1);
	}
	for (uint32_t i = 0; i < NOUTP; i++)
		pthread_join(th[i], NULL);
	for (uint32_t i = NOUTP; i < NPROD; i++)
		/* ORDER: acquire pairs with the producer's release. */
		while (!atomic_load_explicit(&bd.prods[i].done,
					     memory_order_acquire))
			stress_sleep_ms(1);
	rt_wait_idle(bd.rt);
	double secs = stress_seconds_since(t0);
	atomic_store(&bd.stop_monitor, 1);
	pthread_join(mon, NULL);

	uint64_t accepted = 0, rejected = 0, ticks = 0;
	for (uint32_t i = 0; i < NPROD; i++) {
		accepted += bd.prods[i].accepted;
		rejected += bd.prods[i].rejected;
		ticks += rt_get(&bd.prods[i].ticks);
		STRESS_CHECK(bd.next[i] == bd.prods[i].accepted,
			     "bounded: producer %u: %" PRIu64
			     " accepted, %" PRIu64 " processed",
			     i, bd.prods[i].accepted, bd.next[i]);
	}
	trp_stats_t s = rt_assert_balanced(bd.rt, "bounded");
	rt_print_stats("bounded", &s);
	STRESS_CHECK(accepted == rt_get(&bd.processed),
		     "bounded: accepted %" PRIu64 " != processed %" PRIu64,
		     accepted, rt_get(&bd.processed));
	STRESS_CHECK(s.rejected == rejected,
		     "bounded: stats rejected %" PRIu64
		     " != TRP_EFULL returns %" PRIu64,
		     s.rejected, rejected);
	STRESS_CHECK(s.sent == accepted + ticks &&
			     s.processed == accepted + ticks &&
			     s.dead_lettered == 0 && rt_get(&g_dead) == 0,
		     "bounded: stats sent %" PRIu64 " processed %" PRIu64
		     " dead %" PRIu64 ", accepted here %" PRIu64,
		     s.sent, s.processed, s.dead_lettered, accepted + ticks);
	STRESS_CHECK(rejected > 0,
		     "bounded: no send was refused: the bound was never "
		     "reached, the phase checks nothing");
	uint32_t q = trp__mailbox_count(&bd.consumer->mailbox);
	STRESS_CHECK(q == 0, "bounded: queued count %u at quiescence", q);
	printf("  bounded: %.2f s; %" PRIu64 " accepted, %" PRIu64
	       " refused (TRP_EFULL); max queued: runtime %" PRIu64
	       ", attempts-processed %" PRIu64 ", stats %" PRIu64
	       " (bound %u + %u)\n",
	       secs, accepted, rejected, rt_get(&bd.max_queued),
	       rt_get(&bd.max_mine), rt_get(&bd.max_stats), LIMIT, NPROD);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(bd.rt));
	stress_watchdog_stop(&wd);
	trp_actor_release(bd.consumer);
	for (uint32_t i = 0; i < NACTP; i++)
		trp_actor_release(ph[i]);
}

/* ============================================================= cycle == */

#define CY_INJECTORS 2u
#define CY_TICKER 2u /* sender index of the ticker */
#define CY_PEER 3u   /* sender index of the other actor */
#define CY_SENDERS 4u

struct token {
	uint32_t origin; /* injector */
	uint32_t hops;	 /* left */
	uint64_t serial; /* injector's token number */
};

struct cyactor {
	uint32_t idx; /* 0: A, 1: B */
	trp_actor_t *peer;
	uint64_t next_in[CY_SENDERS]; /* per sender, behaviour-owned */
	uint64_t next_out;	      /* accepted sends to the peer */
	struct token *pend;	      /* FIFO of refused forwards */
	uint64_t pend_head, pend_tail, pend_cap;
	uint64_t rejected, retired_here;
	_Atomic(uint64_t) pending; /* pend_tail - pend_head, for the ticker */
	_Atomic(uint64_t) hops;
};

static struct {
	trp_runtime_t *rt;
	trp_actor_t *h[2];
	struct cyactor a[2];
	uint64_t tokens_per_injector;
	uint32_t hops;
	uint8_t *retired; /* per (injector, serial): times retired */
	_Atomic(uint64_t) retired_total;
	_Atomic(uint64_t) injected;
	_Atomic(uint64_t) inj_rejected;
	_Atomic(uint64_t) tick_accepted, tick_rejected;
	_Atomic(uint32_t) stop_ticker;
	uint64_t inj_next_out[CY_INJECTORS][2]; /* injector -> actor */
	uint64_t tick_next_out[2];
	struct stress_barrier start;
} cy;

/* Payload of a token message: sender, aux = hops, seq; the token's
 * identity travels in a second word (size 32). */
struct cy_msg {
	struct rt_payload p;
	uint32_t origin;
	uint32_t pad;
	uint64_t serial;
};

static int cy_send(trp_actor_t *to, uint32_t sender, uint64_t seq,
		   const struct token *t)
{
	struct cy_msg m = { { sender, t->hops, seq }, t->origin, 0, t->serial };
	return trp_send(to, MSG_TOKEN, &m, sizeof m);
}

/* Forwards pending tokens while the peer accepts. */
static void cy_flush(struct cyactor *a)
{
	while (a->pend_head != a->pend_tail) {
		struct token *t = &a->pend[a->pend_head % a->pend_cap];
		int rc = cy_send(a->peer, CY_PEER, a->next_out, t);
		rt_rc("trp_send (cycle forward)", rc, RT_OK | RT_E(TRP_EFULL));
		if (rc != 0) {
			a->rejected++;
			break;
		}
		a->next_out++;
		a->pend_head++;
	}
	/* relaxed: a hint for the ticker. */
	atomic_store_explicit(&a->pending, a->pend_tail - a->pend_head,
			      memory_order_relaxed);
}

static void cy_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct cyactor *a = state;
	struct rt_payload p;
	struct cy_msg m = { { 0, 0, 0 }, 0, 0, 0 };
	if (msg->type == MSG_TOKEN) {
		STRESS_CHECK(msg->size == sizeof m, "cycle: token size %zu",
			     msg->size);
		memcpy(&m, msg->data, sizeof m);
		p = m.p;
	} else {
		STRESS_CHECK(msg->type == MSG_TICK, "cycle: type %u",
			     msg->type);
		p = rt_payload_of(msg);
	}
	STRESS_CHECK(p.sender < CY_SENDERS && p.seq == a->next_in[p.sender],
		     "cycle %c: sender %u seq %" PRIu64 ", expected %" PRIu64,
		     'A' + a->idx, p.sender, p.seq,
		     p.sender < CY_SENDERS ? a->next_in[p.sender] : 0);
	a->next_in[p.sender]++;
	cy_flush(a);
	if (msg->type == MSG_TICK)
		return;
	stress_progress(&a->hops, 1);
	if (p.aux == 0) {
		uint64_t slot = m.origin * cy.tokens_per_injector + m.serial;
		STRESS_CHECK(m.origin < CY_INJECTORS &&
				     m.serial < cy.tokens_per_injector,
			     "cycle: token %u/%" PRIu64, m.origin, m.serial);
		STRESS_CHECK(cy.retired[slot] == 0,
			     "cycle: token %u/%" PRIu64 " retired twice",
			     m.origin, m.serial);
		cy.retired[slot] = 1;
		a->retired_here++;
		rt_add(&cy.retired_total, 1);
		return;
	}
	struct token t = { m.origin, p.aux - 1, m.serial };
	STRESS_CHECK(a->pend_tail - a->pend_head < a->pend_cap,
		     "cycle: pending FIFO full");
	a->pend[a->pend_tail++ % a->pend_cap] = t;
	cy_flush(a);
}

static void *injector_main(void *arg)
{
	uint32_t idx = (uint32_t)(uintptr_t)arg;
	static const char *names[CY_INJECTORS] = { "injector0", "injector1" };
	stress_watchdog_thread(&wd, names[idx]);
	uint64_t rng = stress_rand_init(g_seed, 300 + idx);
	stress_barrier_wait(&cy.start);
	for (uint64_t s = 0; s < cy.tokens_per_injector;) {
		uint32_t to = (uint32_t)stress_rand_below(&rng, 2);
		struct token t = { idx, cy.hops, s };
		int rc = cy_send(cy.h[to], idx, cy.inj_next_out[idx][to], &t);
		rt_rc("trp_send (inject)", rc, RT_OK | RT_E(TRP_EFULL));
		if (rc == 0) {
			cy.inj_next_out[idx][to]++;
			rt_add(&cy.injected, 1);
			s++;
		} else {
			rt_add(&cy.inj_rejected, 1);
			sched_yield();
		}
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void *ticker_main(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "ticker");
	/* relaxed: a flag. */
	while (!atomic_load_explicit(&cy.stop_ticker, memory_order_relaxed)) {
		for (uint32_t i = 0; i < 2; i++) {
			if (atomic_load_explicit(&cy.a[i].pending,
						 memory_order_relaxed) == 0)
				continue;
			struct rt_payload p = { CY_TICKER, 0,
						cy.tick_next_out[i] };
			int rc = trp_send(cy.h[i], MSG_TICK, &p, sizeof p);
			rt_rc("trp_send (tick)", rc, RT_OK | RT_E(TRP_EFULL));
			if (rc == 0) {
				cy.tick_next_out[i]++;
				rt_add(&cy.tick_accepted, 1);
			} else {
				rt_add(&cy.tick_rejected, 1);
			}
		}
		struct timespec ts = { 0, 100 * 1000 };
		nanosleep(&ts, NULL);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void cycle_dump(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < 2; i++)
		fprintf(stderr, "  %c: hops %" PRIu64 " pending %" PRIu64 "\n",
			'A' + i, rt_get(&cy.a[i].hops),
			rt_get(&cy.a[i].pending));
	fprintf(stderr, "  retired %" PRIu64 " injected %" PRIu64 "\n",
		rt_get(&cy.retired_total), rt_get(&cy.injected));
}

static void run_cycle(void)
{
	memset(&cy, 0, sizeof cy);
	cy.tokens_per_injector = TOKENS / CY_INJECTORS;
	cy.hops = (uint32_t)stress_scaled(HOPS_BASE, 20);
	uint64_t tokens = cy.tokens_per_injector * CY_INJECTORS;
	printf("cycle: A <-> B, limit %u each, batch 64, %" PRIu64
	       " tokens of %u hops\n",
	       LIMIT, tokens, cy.hops);
	cy.retired = calloc(tokens, 1);
	STRESS_CHECK(cy.retired != NULL, "out of memory");
	cy.rt = make_runtime(64);
	trp_actor_def_t def = { cy_behavior, NULL, NULL, 0, LIMIT };
	for (uint32_t i = 0; i < 2; i++) {
		cy.a[i].idx = i;
		cy.a[i].pend_cap = tokens;
		cy.a[i].pend = calloc(tokens, sizeof(struct token));
		STRESS_CHECK(cy.a[i].pend != NULL, "out of memory");
		RT_MUST("trp_actor_spawn(cycle)",
			trp_actor_spawn(cy.rt, &def, &cy.a[i], &cy.h[i]));
	}
	cy.a[0].peer = cy.h[1];
	cy.a[1].peer = cy.h[0];
	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = cycle_dump;
	stress_watchdog_counter(&wd, "A hops", &cy.a[0].hops);
	stress_watchdog_counter(&wd, "B hops", &cy.a[1].hops);
	stress_watchdog_counter(&wd, "injected", &cy.injected);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);
	stress_barrier_init(&cy.start, CY_INJECTORS + 1);
	pthread_t th[CY_INJECTORS];
	for (uint32_t i = 0; i < CY_INJECTORS; i++)
		th[i] = stress_thread_start(injector_main,
					    (void *)(uintptr_t)i);
	pthread_t tick = stress_thread_start(ticker_main, NULL);
	stress_barrier_wait(&cy.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < CY_INJECTORS; i++)
		pthread_join(th[i], NULL);
	while (rt_get(&cy.retired_total) < tokens)
		stress_sleep_ms(1);
	double secs = stress_seconds_since(t0);
	atomic_store(&cy.stop_ticker, 1);
	pthread_join(tick, NULL);
	trp_stats_t s = rt_assert_balanced(cy.rt, "cycle");
	rt_print_stats("cycle", &s);
	uint64_t fwd_acc = cy.a[0].next_out + cy.a[1].next_out;
	uint64_t rejected = cy.a[0].rejected + cy.a[1].rejected +
			    rt_get(&cy.inj_rejected) +
			    rt_get(&cy.tick_rejected);
	uint64_t accepted =
		rt_get(&cy.injected) + fwd_acc + rt_get(&cy.tick_accepted);
	STRESS_CHECK(s.sent == accepted && s.processed == accepted &&
			     s.dead_lettered == 0,
		     "cycle: stats sent %" PRIu64 " processed %" PRIu64
		     " dead %" PRIu64 ", accepted here %" PRIu64,
		     s.sent, s.processed, s.dead_lettered, accepted);
	STRESS_CHECK(s.rejected == rejected,
		     "cycle: stats rejected %" PRIu64
		     " != TRP_EFULL returns %" PRIu64,
		     s.rejected, rejected);
	STRESS_CHECK(fwd_acc == tokens * cy.hops,
		     "cycle: %" PRIu64 " forwards accepted, expected %" PRIu64,
		     fwd_acc, tokens * cy.hops);
	STRESS_CHECK(rejected > 0, "cycle: no send was refused: the cycle "
				   "never filled up, the phase checks nothing");
	for (uint64_t i = 0; i < tokens; i++)
		STRESS_CHECK(cy.retired[i] == 1,
			     "cycle: token %" PRIu64 " never retired", i);
	for (uint32_t i = 0; i < 2; i++) {
		struct cyactor *a = &cy.a[i];
		struct cyactor *o = &cy.a[1 - i];
		STRESS_CHECK(a->pend_head == a->pend_tail,
			     "cycle: %c still has pending tokens", 'A' + i);
		STRESS_CHECK(a->next_in[CY_PEER] == o->next_out,
			     "cycle: %c got %" PRIu64 " of %" PRIu64
			     " forwards",
			     'A' + i, a->next_in[CY_PEER], o->next_out);
		STRESS_CHECK(a->next_in[CY_TICKER] == cy.tick_next_out[i],
			     "cycle: ticks to %c", 'A' + i);
		for (uint32_t j = 0; j < CY_INJECTORS; j++)
			STRESS_CHECK(a->next_in[j] == cy.inj_next_out[j][i],
				     "cycle: injections %u -> %c", j, 'A' + i);
	}
	printf("  cycle: %.2f s; %" PRIu64 " hops, %" PRIu64
	       " refused (TRP_EFULL), %" PRIu64 " ticks\n",
	       secs, fwd_acc, rejected, rt_get(&cy.tick_accepted));
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(cy.rt));
	stress_watchdog_stop(&wd);
	for (uint32_t i = 0; i < 2; i++) {
		trp_actor_release(cy.h[i]);
		free(cy.a[i].pend);
	}
	free(cy.retired);
}

int main(void)
{
	g_seed = stress_init("rt_overload");
	uint64_t t0 = stress_now_ns();
	run_unbounded();
	run_bounded();
	run_cycle();
	printf("rt_overload: OK unbounded storm with flat memory, bounded "
	       "mailbox within limit + producers with exact counts, bounded "
	       "cycle without deadlock; %.1f s\n",
	       stress_seconds_since(t0));
	return 0;
}
