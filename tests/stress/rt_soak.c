/*
 * tests/stress/rt_soak.c - T16: the soak. One 2-worker runtime runs rounds
 * of three workloads at once until its duration is over, and its memory
 * must stay flat.
 *
 * Each round, concurrently:
 * - storm_private (WORKLOADS.md): K counters, each with two private sinks
 *   (3K actors spawned for the round). A counter receiving n > 0 sends n to
 *   both its sinks and n-1 to itself; at n == 0 it sends FIN to both sinks
 *   and stops. Every counter checks it gets N, N-1, ..., 0 in order; every
 *   sink checks it gets N, N-1, ..., 1 in order, and at FIN that its count
 *   is N and its sum N(N+1)/2, then stops. Main sends every counter N.
 * - registry churn: NREG outside threads run random operations on NAMES
 *   fixed names (the same every round): spawn a candidate for a name,
 *   register / unregister / re-register, lookup and send through the
 *   handle, send by name (trp_send_named), stop a candidate (close, or a
 *   STOP message after which it stops itself). A candidate belongs to one
 *   name: a message sent by (or looked up under) name n must reach a
 *   candidate of n, and each candidate sees each sender's seqs rising.
 * - exchange churn: NPUBA publisher actors publish (p, round, 1..P) to the
 *   exchange "soak" (single publishes and publish_n batches) while NEXC
 *   outside threads attach and detach actor sinks (spawned per attach;
 *   after detach they get FIN, check and stop) and callback sinks (freed
 *   right after detach). Every sink checks each publisher's seqs rise
 *   strictly. An anchor actor sink, attached for the whole run, checks it
 *   gets every seq 1..P of every publisher of every round, in order.
 * After each round (threads done, runtime idle): every candidate is
 * closed, and at quiescence
 * - every name is free again (a stopped actor's name is released);
 * - registry: sends accepted == delivered + dead-lettered (DATA and STOP);
 * - exchange (deltas of its stats): published == NPUBA * P, delivered ==
 *   what every sink recorded, nothing dropped, only the anchor attached;
 * - the runtime's delivery identity (rt_assert_balanced), and its sent
 *   counter equals every send accepted here (counted per round);
 * - no dead letter other than registry DATA/STOP (the hook fails on any);
 * - the alive-actor count (trp_runtime_metrics) is back at its baseline;
 * - the current RSS (/proc/self/statm) is sampled, after purging
 *   jemalloc's arenas (release builds; see rss_sample).
 * At the end: after a warm-up of the first 20 % of the rounds, the RSS
 * must stay flat: the max of the last third of the rounds may exceed the
 * max of the warm-up by at most 10 % + 8 MiB (TRP_SOAK_SLACK_KB; the
 * whole series, with each round's backlog and time, is printed when it
 * does not; under the sanitizers it is enforced from 60 s on, see main);
 * the destroy is balanced (rt_destroy_balanced).
 *
 * Duration: TRP_SOAK_SECONDS (default 10 s x TRP_STRESS_SCALE, at least
 * 2 s; and at least MIN_ROUNDS rounds). The by-hand soak:
 *   TRP_SOAK_SECONDS=1800 build/release/tests/stress/stress_rt_soak
 * One line per round at most every PRINT_S seconds, and a final line. The
 * watchdog watches the workloads' counters and the round count (limit:
 * the duration + 600 s).
 *
 * Sizes per round: K = 1000, N = 300 x scale, 2 x 20000 x scale registry
 * operations, P = 20000 x scale per publisher.
 */
#include "rt_util.h"

#if defined(TRP_USE_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

#define K_COUNTERS 1000u
#define N_BASE 300u
#define NAMES 8u
#define MAXC 24u /* candidates per name per round */
#define NREG 2u	 /* registry churn threads */
#define REG_OPS_BASE 20000u
#define NPUBA 2u /* publisher actors */
#define NEXC 2u	 /* exchange churn threads */
#define PUB_BASE 20000u
#define CHUNK 64u  /* publishes per publisher turn */
#define BATCH 8u   /* seqs per trp_exchange_publish_n */
#define MAXLIVE 6u /* sinks one exchange churn thread holds */
#define BACKLOG 100000u
#define SECONDS_BASE 10.0
#define MIN_ROUNDS 10u
#define PRINT_S 3.0
#define RSS_SLACK_PCT 10u
#define RSS_SLACK_KB (8u * 1024u)

enum {
	MSG_N = 1, /* storm */
	MSG_FIN,   /* storm sink, exchange actor sink: check and stop */
	MSG_DATA,  /* registry */
	MSG_STOP,  /* registry: stop yourself */
	MSG_GO,	   /* publisher: publish a chunk */
	MSG_PUB	   /* exchange delivery */
};

/* ---------------------------------------------------------- state -- */

struct sink {
	uint32_t counter; /* the counter that feeds it */
	uint64_t expect, count, sum;
};

struct counter {
	uint32_t id;
	trp_actor_t *sink[2]; /* borrowed: main holds them for the round */
	uint64_t expect;
};

/* A registry candidate: one name for its life; reused every round. */
struct cand {
	uint32_t name;
	trp_actor_t *handle; /* main's reference, released after the round */
	_Atomic(uint64_t) delivered, stop_msgs;
	uint64_t last_seq[NREG]; /* behaviour-owned */
	bool seen[NREG];
};

struct slots {
	_Atomic(uint32_t) n;		/* reserved */
	_Atomic(struct cand *) s[MAXC]; /* NULL until published */
};

struct regthr {
	uint32_t idx;
	uint64_t rng, seq;
	_Atomic(uint64_t) ops;
	_Atomic(uint64_t) data_acc, stop_acc; /* sends accepted */
};

/* What a sink of the exchange got, per publisher. */
struct xrec {
	uint64_t last[NPUBA];
	uint64_t count[NPUBA];
};

struct xmember {
	bool actor;
	trp_sub_t sub;
	trp_actor_t *a;	  /* actor sink */
	struct xrec *rec; /* callback sink */
};

struct exthr {
	uint32_t idx;
	uint64_t rng;
	struct xmember live[MAXLIVE];
	uint32_t nlive;
	_Atomic(uint64_t) ops;
	_Atomic(uint64_t) fins;	 /* FINs sent to actor sinks */
	_Atomic(uint64_t) cb_rx; /* what detached callback sinks got */
};

struct pubactor {
	uint32_t p;
	uint64_t next;
};

static struct {
	uint64_t seed;
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint32_t k;
	uint64_t n, reg_ops, npub;
	_Atomic(uint32_t) round; /* read by behaviours (relaxed) */
	/* storm */
	struct sink *sinks;
	struct counter *counters;
	trp_actor_t **h_sinks, **h_counters;
	_Atomic(uint64_t) storm_calls, sinks_ok, counters_done;
	/* registry */
	char names[NAMES][24];
	struct cand cands[NAMES][MAXC];
	struct slots slots[NAMES];
	struct regthr reg[NREG];
	_Atomic(uint64_t) dead_data, dead_stop;
	/* exchange */
	struct exthr exc[NEXC];
	trp_actor_t *h_pub[NPUBA];
	trp_actor_t *h_anchor;
	_Atomic(uint32_t) pub_finished[NPUBA];
	_Atomic(uint64_t) published, pub_sends, throttled;
	_Atomic(uint64_t) x_actor_rx, anchor_rx, x_actor_sinks;
	/* rounds */
	_Atomic(uint32_t) go;	    /* futex word: round number to run */
	_Atomic(uint32_t) quit;	    /* threads exit at the next go */
	_Atomic(uint64_t) thr_done; /* threads finished with their round */
	_Atomic(uint64_t) rounds, main_steps;
	uint64_t backlog_max;	/* main's samples of sent - processed - dead */
	uint64_t round_backlog; /* the same, this round */
} g;

static struct stress_watchdog wd;

#if defined(TRP_SANITIZE_ADDRESS)
/* ASan keeps freed memory in a quarantine (256 MiB by default) before
 * reusing it: the RSS climbs until the quarantine is full, which says
 * nothing about the runtime. A 16 MiB quarantine fills within the warm-up
 * and still catches a use soon after a free. ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}
#endif

/* ---------------------------------------------------------- hooks -- */

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	if (msg->type == MSG_DATA || msg->type == MSG_STOP) {
		struct rt_payload p = rt_payload_of(msg);
		STRESS_CHECK(p.aux < NAMES, "dead letter for name %u", p.aux);
		rt_add(msg->type == MSG_DATA ? &g.dead_data : &g.dead_stop, 1);
		return;
	}
	stress_fail("round %u: dead letter of type %u (reason %d) to actor "
		    "%" PRIu64 ": only registry messages may die",
		    atomic_load_explicit(&g.round, memory_order_relaxed),
		    msg->type, (int)why, trp_actor_id(to));
}

/* ---------------------------------------------------------- storm -- */

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct sink *s = state;
	struct rt_payload p = rt_payload_of(msg);
	if (msg->type == MSG_FIN) {
		uint64_t sum = g.n * (g.n + 1) / 2;
		STRESS_CHECK(s->expect == 0 && s->count == g.n && s->sum == sum,
			     "storm sink of counter %u: at FIN count %" PRIu64
			     " sum %" PRIu64 " (expected %" PRIu64
			     " and %" PRIu64 "), next n %" PRIu64,
			     s->counter, s->count, s->sum, g.n, sum, s->expect);
		rt_add(&g.sinks_ok, 1);
		RT_MUST("trp_actor_stop(sink)", trp_actor_stop(self));
		return;
	}
	STRESS_CHECK(msg->type == MSG_N && p.sender == s->counter &&
			     p.seq == s->expect && p.seq > 0,
		     "storm sink of counter %u: type %u from %u n=%" PRIu64
		     ", expected n=%" PRIu64 " (order or loss)",
		     s->counter, msg->type, p.sender, p.seq, s->expect);
	s->expect--;
	s->count++;
	s->sum += p.seq;
}

static void counter_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct counter *c = state;
	struct rt_payload p = rt_payload_of(msg);
	rt_add(&g.storm_calls, 1);
	STRESS_CHECK(msg->type == MSG_N && p.seq == c->expect,
		     "counter %u: type %u n=%" PRIu64 ", expected %" PRIu64,
		     c->id, msg->type, p.seq, c->expect);
	if (p.seq == 0) {
		for (int i = 0; i < 2; i++)
			RT_MUST("trp_send(FIN to sink)",
				rt_send(c->sink[i], MSG_FIN, c->id, 0, 0));
		rt_add(&g.counters_done, 1);
		RT_MUST("trp_actor_stop(counter)", trp_actor_stop(self));
		return;
	}
	c->expect = p.seq - 1;
	for (int i = 0; i < 2; i++)
		RT_MUST("trp_send(sink)",
			rt_send(c->sink[i], MSG_N, c->id, 0, p.seq));
	RT_MUST("trp_send(self)", rt_send(self, MSG_N, c->id, 0, p.seq - 1));
}

/* Spawns the round's 3K storm actors. */
static void storm_setup(void)
{
	trp_actor_def_t sdef = { sink_behavior, NULL, NULL, 0, 0 };
	trp_actor_def_t cdef = { counter_behavior, NULL, NULL, 0, 0 };
	for (uint32_t i = 0; i < g.k; i++) {
		struct counter *c = &g.counters[i];
		for (uint32_t j = 0; j < 2; j++) {
			struct sink *s = &g.sinks[2 * i + j];
			*s = (struct sink){ i, g.n, 0, 0 };
			RT_MUST("trp_actor_spawn(sink)",
				trp_actor_spawn(g.rt, &sdef, s,
						&g.h_sinks[2 * i + j]));
			c->sink[j] = g.h_sinks[2 * i + j];
		}
		c->id = i;
		c->expect = g.n;
		RT_MUST("trp_actor_spawn(counter)",
			trp_actor_spawn(g.rt, &cdef, c, &g.h_counters[i]));
	}
}

/* ------------------------------------------------------- registry -- */

static void cand_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct cand *c = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.aux == c->name,
		     "a message for name %s reached a candidate of %s",
		     p.aux < NAMES ? g.names[p.aux] : "?", g.names[c->name]);
	STRESS_CHECK(p.sender < NREG, "registry sender %u", p.sender);
	STRESS_CHECK(!c->seen[p.sender] || p.seq > c->last_seq[p.sender],
		     "candidate of %s: sender %u seq %" PRIu64 " after %" PRIu64
		     " (reordered)",
		     g.names[c->name], p.sender, p.seq, c->last_seq[p.sender]);
	c->seen[p.sender] = true;
	c->last_seq[p.sender] = p.seq;
	if (msg->type == MSG_DATA) {
		rt_add(&c->delivered, 1);
		return;
	}
	STRESS_CHECK(msg->type == MSG_STOP, "candidate: type %u", msg->type);
	rt_add(&c->stop_msgs, 1);
	RT_MUST("trp_actor_stop(candidate)", trp_actor_stop(self));
}

/* Spawns and publishes a candidate of name @n; NULL when its slots are
 * used up for the round. */
static struct cand *cand_spawn(uint32_t n)
{
	struct slots *sl = &g.slots[n];
	/* relaxed: a reservation; the slot is published below. */
	uint32_t i = atomic_fetch_add_explicit(&sl->n, 1, memory_order_relaxed);
	if (i >= MAXC)
		return NULL;
	struct cand *c = &g.cands[n][i];
	trp_actor_def_t def = { cand_behavior, NULL, NULL, 0, 0 };
	RT_MUST("trp_actor_spawn(candidate)",
		trp_actor_spawn(g.rt, &def, c, &c->handle));
	/* ORDER: release publishes *c (its handle) to cand_pick/cand_of. */
	atomic_store_explicit(&sl->s[i], c, memory_order_release);
	return c;
}

static uint32_t cand_count(uint32_t n)
{
	/* relaxed: a bound; each slot is acquired on its own. */
	uint32_t cnt =
		atomic_load_explicit(&g.slots[n].n, memory_order_relaxed);
	return cnt < MAXC ? cnt : MAXC;
}

static struct cand *cand_pick(uint32_t n, uint64_t *rng)
{
	uint32_t cnt = cand_count(n);
	if (cnt == 0)
		return NULL;
	/* ORDER: acquire pairs with cand_spawn's release. */
	return atomic_load_explicit(&g.slots[n].s[stress_rand_below(rng, cnt)],
				    memory_order_acquire);
}

/* The candidate of name @n behind @h; fails if @h is none of them. */
static void check_cand_of(uint32_t n, trp_actor_t *h)
{
	uint32_t cnt = cand_count(n);
	for (uint32_t i = 0; i < cnt; i++) {
		/* ORDER: acquire pairs with cand_spawn's release. */
		struct cand *c = atomic_load_explicit(&g.slots[n].s[i],
						      memory_order_acquire);
		if (c != NULL && c->handle == h)
			return;
	}
	stress_fail("lookup of %s returned actor %" PRIu64
		    ", not a candidate of that name this round",
		    g.names[n], trp_actor_id(h));
}

static void reg_op(struct regthr *t)
{
	uint32_t n = (uint32_t)stress_rand_below(&t->rng, NAMES);
	const char *name = g.names[n];
	uint64_t r = stress_rand_below(&t->rng, 100);
	stress_progress(&t->ops, 1);
	if (r < 4) {
		(void)cand_spawn(n);
	} else if (r < 19) {
		struct cand *c = cand_pick(n, &t->rng);
		if (c != NULL)
			rt_rc("trp_register",
			      trp_register(g.rt, name, c->handle),
			      RT_OK | RT_E(TRP_EEXIST) | RT_E(TRP_EBUSY) |
				      RT_E(TRP_EDEAD));
	} else if (r < 27) {
		rt_rc("trp_unregister", trp_unregister(g.rt, name),
		      RT_OK | RT_E(TRP_ENOENT));
	} else if (r < 45) {
		trp_actor_t *h = NULL;
		if (rt_rc("trp_lookup", trp_lookup(g.rt, name, &h),
			  RT_OK | RT_E(TRP_ENOENT)) != 0)
			return;
		check_cand_of(n, h);
		int rc = rt_rc("trp_send(looked up)",
			       rt_send(h, MSG_DATA, t->idx, n, t->seq++),
			       RT_OK | RT_E(TRP_EDEAD));
		if (rc == 0)
			stress_progress(&t->data_acc, 1);
		trp_actor_release(h);
	} else if (r < 97) {
		int rc = rt_rc("trp_send_named",
			       rt_send_named(g.rt, name, MSG_DATA, t->idx, n,
					     t->seq++),
			       RT_OK | RT_E(TRP_ENOENT) | RT_E(TRP_EDEAD));
		if (rc == 0)
			stress_progress(&t->data_acc, 1);
	} else {
		struct cand *c = cand_pick(n, &t->rng);
		if (c == NULL)
			return;
		if (stress_rand_below(&t->rng, 2)) {
			rt_rc("trp_actor_close", trp_actor_close(c->handle),
			      RT_OK | RT_E(TRP_EDEAD));
		} else {
			int rc = rt_rc("trp_send(STOP)",
				       rt_send(c->handle, MSG_STOP, t->idx, n,
					       t->seq++),
				       RT_OK | RT_E(TRP_EDEAD));
			if (rc == 0)
				stress_progress(&t->stop_acc, 1);
		}
	}
}

/* ------------------------------------------------------- exchange -- */

static void xrec_add(struct xrec *r, const trp_msg_t *msg, const char *what)
{
	STRESS_CHECK(msg->type == MSG_PUB, "%s: type %u", what, msg->type);
	struct rt_payload p = rt_payload_of(msg);
	uint32_t round = atomic_load_explicit(&g.round, memory_order_relaxed);
	STRESS_CHECK(p.sender < NPUBA && p.aux == round,
		     "%s: publisher %u round %u (now round %u)", what, p.sender,
		     p.aux, round);
	STRESS_CHECK(p.seq > r->last[p.sender] && p.seq <= g.npub,
		     "%s: publisher %u seq %" PRIu64 " after %" PRIu64 " (%s)",
		     what, p.sender, p.seq, r->last[p.sender],
		     p.seq == r->last[p.sender] ? "duplicate" : "reordered");
	r->last[p.sender] = p.seq;
	r->count[p.sender]++;
}

static uint64_t xrec_total(const struct xrec *r)
{
	uint64_t t = 0;
	for (uint32_t p = 0; p < NPUBA; p++)
		t += r->count[p];
	return t;
}

static void xsink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct xrec *r = state;
	if (msg->type == MSG_FIN) {
		rt_add(&g.x_actor_rx, xrec_total(r));
		RT_MUST("trp_actor_stop(exchange sink)", trp_actor_stop(self));
		return;
	}
	xrec_add(r, msg, "exchange actor sink");
}

static void xsink_callback(void *ctx, const trp_msg_t *msg)
{
	/* Two publishers may call this at once: each touches only its own
	 * last[p] and count[p]. */
	xrec_add(ctx, msg, "exchange callback sink");
}

/* The anchor stays attached for the whole run: every seq of every
 * publisher, every round, in order. */
static void anchor_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	(void)self;
	struct xrec *r = state;
	STRESS_CHECK(msg->type == MSG_PUB, "anchor: type %u", msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NPUBA, "anchor: publisher %u", p.sender);
	uint64_t want = r->last[p.sender] == g.npub ? 1 : r->last[p.sender] + 1;
	STRESS_CHECK(p.seq == want,
		     "anchor: publisher %u seq %" PRIu64 " after %" PRIu64
		     " (round %u): lost, duplicated or reordered",
		     p.sender, p.seq, r->last[p.sender], p.aux);
	r->last[p.sender] = p.seq;
	rt_add(&g.anchor_rx, 1);
}

static bool backlogged(void)
{
	trp_stats_t s = rt_stats(g.rt);
	return s.sent > s.processed + s.dead_lettered + BACKLOG;
}

static void pub_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct pubactor *pa = state;
	STRESS_CHECK(msg->type == MSG_GO, "publisher: type %u", msg->type);
	uint32_t round = atomic_load_explicit(&g.round, memory_order_relaxed);
	if (backlogged()) {
		rt_add(&g.throttled, 1);
	} else {
		for (uint32_t i = 0; i < CHUNK && pa->next <= g.npub;) {
			struct rt_payload pl[BATCH];
			uint32_t k = (pa->next / CHUNK) % 2 ? BATCH : 1;
			if (pa->next + k - 1 > g.npub)
				k = (uint32_t)(g.npub - pa->next + 1);
			for (uint32_t j = 0; j < k; j++)
				pl[j] = (struct rt_payload){ pa->p, round,
							     pa->next + j };
			if (k == 1)
				RT_MUST("trp_exchange_publish",
					trp_exchange_publish(g.ex, MSG_PUB, pl,
							     sizeof pl[0]));
			else
				RT_MUST("trp_exchange_publish_n",
					trp_exchange_publish_n(g.ex, MSG_PUB,
							       pl, sizeof pl[0],
							       k));
			pa->next += k;
			i += k;
			rt_add(&g.published, k);
		}
	}
	if (pa->next <= g.npub) {
		RT_MUST("trp_send(GO)", trp_send(self, MSG_GO, NULL, 0));
		rt_add(&g.pub_sends, 1);
		return;
	}
	/* ORDER: release: the exchange churn threads' acquire loads see
	 * every publish of this publisher done. */
	atomic_store_explicit(&g.pub_finished[pa->p], 1, memory_order_release);
	RT_MUST("trp_actor_stop(publisher)", trp_actor_stop(self));
}

static bool pubs_finished(void)
{
	for (uint32_t p = 0; p < NPUBA; p++)
		/* ORDER: acquire pairs with pub_behavior's release. */
		if (atomic_load_explicit(&g.pub_finished[p],
					 memory_order_acquire) == 0)
			return false;
	return true;
}

static void x_attach(struct exthr *t, struct xmember *m)
{
	trp_sink_t sink;
	memset(m, 0, sizeof *m);
	m->actor = stress_rand_below(&t->rng, 2) == 0;
	if (m->actor) {
		trp_actor_def_t def = { xsink_behavior, NULL, NULL,
					sizeof(struct xrec), 0 };
		RT_MUST("trp_actor_spawn(exchange sink)",
			trp_actor_spawn(g.rt, &def, NULL, &m->a));
		rt_add(&g.x_actor_sinks, 1);
		sink = trp_sink_actor(m->a);
	} else {
		m->rec = calloc(1, sizeof *m->rec);
		STRESS_CHECK(m->rec != NULL, "out of memory");
		sink = trp_sink_callback(xsink_callback, m->rec);
	}
	RT_MUST("trp_exchange_attach",
		trp_exchange_attach(g.ex, sink, &m->sub));
}

static void x_detach(struct exthr *t, struct xmember *m)
{
	RT_MUST("trp_exchange_detach", trp_exchange_detach(g.ex, m->sub));
	if (m->actor) {
		/* Every delivery to it is in its mailbox ahead of FIN. */
		RT_MUST("trp_send(FIN to exchange sink)",
			trp_send(m->a, MSG_FIN, NULL, 0));
		stress_progress(&t->fins, 1);
		trp_actor_release(m->a);
	} else {
		uint64_t got = xrec_total(m->rec);
		/* Freed at once: the exchange must not touch it any more. */
		memset(m->rec, 0x6b, sizeof *m->rec);
		free(m->rec);
		stress_progress(&t->cb_rx, got);
	}
}

static void x_round(struct exthr *t)
{
	while (!pubs_finished()) {
		bool attach = t->nlive == 0 ||
			      (t->nlive < MAXLIVE &&
			       stress_rand_below(&t->rng, 2) == 0);
		if (attach) {
			x_attach(t, &t->live[t->nlive++]);
		} else {
			uint32_t i =
				(uint32_t)stress_rand_below(&t->rng, t->nlive);
			x_detach(t, &t->live[i]);
			t->live[i] = t->live[--t->nlive];
		}
		stress_progress(&t->ops, 1);
	}
	while (t->nlive > 0)
		x_detach(t, &t->live[--t->nlive]);
}

/* --------------------------------------------------------- threads -- */

/* Waits for round @seen + 1 (or quit); returns false on quit. */
static bool wait_round(uint32_t *seen)
{
	for (;;) {
		/* ORDER: acquire pairs with main's release of go: the
		 * round's setup is visible. */
		uint32_t go = atomic_load_explicit(&g.go, memory_order_acquire);
		if (go != *seen) {
			*seen = go;
			/* relaxed: quit is stored before go (released). */
			return atomic_load_explicit(&g.quit,
						    memory_order_relaxed) == 0;
		}
		rt_futex_wait(&g.go, go);
	}
}

static void reg_round(void *arg)
{
	for (uint64_t i = 0; i < g.reg_ops; i++)
		reg_op(arg);
}

static void ex_round(void *arg)
{
	x_round(arg);
}

/* An outside thread: runs its part of every round. */
struct outside {
	const char *name;
	void (*round)(void *arg);
	void *arg;
};

static void *outside_main(void *arg)
{
	const struct outside *o = arg;
	stress_watchdog_thread(&wd, o->name);
	uint32_t seen = 0;
	while (wait_round(&seen)) {
		o->round(o->arg);
		/* ORDER: release publishes this thread's round to main. */
		atomic_fetch_add_explicit(&g.thr_done, 1, memory_order_release);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* ------------------------------------------------------------ main -- */

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr,
		"  round %u: counters done %" PRIu64 "/%u, sinks ok %" PRIu64
		", threads done %" PRIu64 "/%u, publishers finished %u %u\n",
		atomic_load(&g.round), rt_get(&g.counters_done), g.k,
		rt_get(&g.sinks_ok), rt_get(&g.thr_done), NREG + NEXC,
		atomic_load(&g.pub_finished[0]),
		atomic_load(&g.pub_finished[1]));
	trp_metrics_t m = TRP_METRICS_INIT;
	if (trp_runtime_metrics(g.rt, &m) == 0)
		fprintf(stderr,
			"  runtime: sent %" PRIu64 " processed %" PRIu64
			" dead %" PRIu64 " alive actors %" PRIu64 "\n",
			m.totals.sent, m.totals.processed,
			m.totals.dead_lettered, m.actors_alive);
}

static uint64_t alive_actors(void)
{
	trp_metrics_t m = TRP_METRICS_INIT;
	RT_MUST("trp_runtime_metrics", trp_runtime_metrics(g.rt, &m));
	return m.actors_alive;
}

static trp_exchange_stats_t xstats(void)
{
	trp_exchange_stats_t s;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(g.ex, &s));
	return s;
}

static void step(void)
{
	stress_progress(&g.main_steps, 1);
}

/* Counts of one round, for the checks and the summary. */
struct tally {
	uint64_t sent;	   /* sends accepted, counted here */
	uint64_t messages; /* the runtime's sent delta */
};

static struct tally run_round(uint32_t r, const trp_stats_t *before,
			      const trp_exchange_stats_t *xbefore,
			      uint64_t baseline)
{
	/* ---- setup (every thread is waiting for go) ---- */
	atomic_store_explicit(&g.round, r, memory_order_relaxed);
	atomic_store(&g.sinks_ok, 0);
	atomic_store(&g.counters_done, 0);
	atomic_store(&g.thr_done, 0);
	atomic_store(&g.dead_data, 0);
	atomic_store(&g.dead_stop, 0);
	atomic_store(&g.published, 0);
	atomic_store(&g.pub_sends, 0);
	atomic_store(&g.x_actor_rx, 0);
	atomic_store(&g.anchor_rx, 0);
	atomic_store(&g.x_actor_sinks, 0);
	g.round_backlog = 0;
	for (uint32_t i = 0; i < NREG; i++) {
		atomic_store(&g.reg[i].data_acc, 0);
		atomic_store(&g.reg[i].stop_acc, 0);
	}
	for (uint32_t i = 0; i < NEXC; i++) {
		atomic_store(&g.exc[i].fins, 0);
		atomic_store(&g.exc[i].cb_rx, 0);
	}
	memset(g.cands, 0, sizeof g.cands);
	for (uint32_t n = 0; n < NAMES; n++) {
		for (uint32_t i = 0; i < MAXC; i++) {
			g.cands[n][i].name = n;
			atomic_store(&g.slots[n].s[i], NULL);
		}
		atomic_store(&g.slots[n].n, 0);
	}
	storm_setup();
	trp_actor_def_t pdef = { pub_behavior, NULL, NULL,
				 sizeof(struct pubactor), 0 };
	for (uint32_t p = 0; p < NPUBA; p++) {
		struct pubactor pa = { p, 1 };
		atomic_store(&g.pub_finished[p], 0);
		RT_MUST("trp_actor_spawn(publisher)",
			trp_actor_spawn(g.rt, &pdef, &pa, &g.h_pub[p]));
	}
	step();

	/* ---- go ---- */
	/* ORDER: release publishes the setup to the threads' acquire. */
	atomic_store_explicit(&g.go, r + 1, memory_order_release);
	rt_futex_wake(&g.go);
	for (uint32_t p = 0; p < NPUBA; p++)
		RT_MUST("trp_send(GO)", trp_send(g.h_pub[p], MSG_GO, NULL, 0));
	for (uint32_t i = 0; i < g.k; i++)
		RT_MUST("trp_send(N)",
			rt_send(g.h_counters[i], MSG_N, g.k, 0, g.n));
	/* ORDER: acquire pairs with round_done's release. */
	while (atomic_load_explicit(&g.thr_done, memory_order_acquire) !=
	       NREG + NEXC) {
		stress_sleep_ms(2);
		trp_stats_t now = rt_stats(g.rt);
		uint64_t q = now.sent - now.processed - now.dead_lettered;
		if (now.sent > now.processed + now.dead_lettered &&
		    q > g.round_backlog)
			g.round_backlog = q;
	}
	rt_wait_idle(g.rt);
	step();

	/* ---- storm and exchange results ---- */
	STRESS_CHECK(rt_get(&g.counters_done) == g.k &&
			     rt_get(&g.sinks_ok) == 2ull * g.k,
		     "round %u: %" PRIu64 " of %u counters done, %" PRIu64
		     " of %u sinks checked",
		     r, rt_get(&g.counters_done), g.k, rt_get(&g.sinks_ok),
		     2 * g.k);
	trp_exchange_stats_t xs = xstats();
	uint64_t cb_rx = 0, fins = 0;
	for (uint32_t i = 0; i < NEXC; i++) {
		cb_rx += rt_get(&g.exc[i].cb_rx);
		fins += rt_get(&g.exc[i].fins);
	}
	uint64_t x_rx = rt_get(&g.x_actor_rx) + rt_get(&g.anchor_rx) + cb_rx;
	STRESS_CHECK(xs.published - xbefore->published == NPUBA * g.npub &&
			     rt_get(&g.published) == NPUBA * g.npub,
		     "round %u: exchange published %" PRIu64
		     " (counted here %" PRIu64 "), expected %" PRIu64,
		     r, xs.published - xbefore->published, rt_get(&g.published),
		     NPUBA * g.npub);
	STRESS_CHECK(rt_get(&g.anchor_rx) == NPUBA * g.npub,
		     "round %u: the anchor got %" PRIu64 " of %" PRIu64, r,
		     rt_get(&g.anchor_rx), NPUBA * g.npub);
	STRESS_CHECK(xs.delivered - xbefore->delivered == x_rx,
		     "round %u: exchange delivered %" PRIu64
		     ", the sinks recorded %" PRIu64,
		     r, xs.delivered - xbefore->delivered, x_rx);
	STRESS_CHECK(xs.dropped_full == 0 && xs.dropped_dead == 0 &&
			     xs.dropped_other == 0 && xs.subscribers == 1,
		     "round %u: exchange dropped full %" PRIu64 " dead %" PRIu64
		     " other %" PRIu64 ", %u subscribers (only the anchor "
		     "should be)",
		     r, xs.dropped_full, xs.dropped_dead, xs.dropped_other,
		     xs.subscribers);
	STRESS_CHECK(fins == rt_get(&g.x_actor_sinks),
		     "round %u: %" PRIu64 " exchange actor sinks, %" PRIu64
		     " FINs",
		     r, rt_get(&g.x_actor_sinks), fins);

	/* ---- registry: close every candidate; names free themselves ---- */
	for (uint32_t n = 0; n < NAMES; n++)
		for (uint32_t i = 0; i < cand_count(n); i++)
			rt_rc("trp_actor_close(candidate)",
			      trp_actor_close(g.cands[n][i].handle),
			      RT_OK | RT_E(TRP_EDEAD));
	rt_wait_idle(g.rt);
	step();
	uint64_t data_acc = 0, stop_acc = 0, delivered = 0, stop_msgs = 0,
		 ncand = 0;
	for (uint32_t i = 0; i < NREG; i++) {
		data_acc += rt_get(&g.reg[i].data_acc);
		stop_acc += rt_get(&g.reg[i].stop_acc);
	}
	for (uint32_t n = 0; n < NAMES; n++) {
		trp_actor_t *h = NULL;
		rt_rc("trp_lookup(after the round)",
		      trp_lookup(g.rt, g.names[n], &h), RT_E(TRP_ENOENT));
		for (uint32_t i = 0; i < cand_count(n); i++, ncand++) {
			struct cand *c = &g.cands[n][i];
			STRESS_CHECK(!trp_actor_alive(c->handle),
				     "round %u: candidate of %s alive after "
				     "close",
				     r, g.names[n]);
			delivered += rt_get(&c->delivered);
			stop_msgs += rt_get(&c->stop_msgs);
			trp_actor_release(c->handle);
		}
	}
	STRESS_CHECK(delivered + rt_get(&g.dead_data) == data_acc &&
			     stop_msgs + rt_get(&g.dead_stop) == stop_acc,
		     "round %u: registry DATA %" PRIu64 " accepted != %" PRIu64
		     " delivered + %" PRIu64 " dead; STOP %" PRIu64
		     " != %" PRIu64 " + %" PRIu64,
		     r, data_acc, delivered, rt_get(&g.dead_data), stop_acc,
		     stop_msgs, rt_get(&g.dead_stop));

	/* ---- the runtime as a whole ---- */
	trp_stats_t s = rt_assert_balanced(g.rt, "after the round");
	/* Every send accepted this round: storm (K starts, 3N per counter,
	 * 2 FINs per counter), registry DATA and STOP, publisher GOs,
	 * exchange deliveries to actor sinks (the anchor's and the
	 * others'), FINs to exchange actor sinks. */
	struct tally t;
	t.sent = (uint64_t)g.k * (3 * g.n + 3) + data_acc + stop_acc + NPUBA +
		 rt_get(&g.pub_sends) + rt_get(&g.x_actor_rx) +
		 rt_get(&g.anchor_rx) + fins;
	t.messages = s.sent - before->sent;
	STRESS_CHECK(t.messages == t.sent,
		     "round %u: the runtime accepted %" PRIu64
		     " sends, counted here %" PRIu64,
		     r, t.messages, t.sent);
	uint64_t alive = alive_actors();
	STRESS_CHECK(alive == baseline,
		     "round %u: %" PRIu64 " actors alive, baseline %" PRIu64
		     " (an actor leaked: %" PRIu64 " candidates, %" PRIu64
		     " exchange actor sinks this round)",
		     r, alive, baseline, ncand, rt_get(&g.x_actor_sinks));
	for (uint32_t i = 0; i < 2 * g.k; i++)
		trp_actor_release(g.h_sinks[i]);
	for (uint32_t i = 0; i < g.k; i++)
		trp_actor_release(g.h_counters[i]);
	for (uint32_t p = 0; p < NPUBA; p++)
		trp_actor_release(g.h_pub[p]);
	step();
	return t;
}

/*
 * The RSS sample of a round, at quiescence. jemalloc keeps freed pages for
 * ~10 s (its decay) before returning them: a round whose backlog peaked
 * (storm_private's in-flight ranges from ~60 k to ~640 k messages with the
 * order the workers pick actors in) would show up for the next ~100
 * rounds, so the sample follows a purge of every arena: it counts what the
 * runtime still holds, not what jemalloc has yet to give back. *@raw gets
 * the RSS before the purge.
 */
static long rss_sample(long *raw)
{
	*raw = rt_rss_now_kb();
#if defined(TRP_USE_JEMALLOC)
	char cmd[64];
	snprintf(cmd, sizeof cmd, "arena.%u.purge",
		 (unsigned)MALLCTL_ARENAS_ALL);
	int rc = mallctl(cmd, NULL, NULL, NULL, 0);
	STRESS_CHECK(rc == 0, "mallctl(%s): %s", cmd, strerror(rc));
	return rt_rss_now_kb();
#else
	return *raw;
#endif
}

static long max_of(const long *v, uint32_t from, uint32_t to)
{
	long m = 0;
	for (uint32_t i = from; i < to; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

/* Per round: RSS KiB; with @more, also /backlog max (thousands of
 * messages)/round ms. */
static void print_series(FILE *f, const long *rss, const uint32_t *blog,
			 const uint32_t *ms, uint32_t n, uint32_t step_,
			 bool more)
{
	fprintf(f, "  RSS KiB by round%s:", more ? " (/backlog k/ms)" : "");
	for (uint32_t i = 0; i < n; i += step_) {
		fprintf(f, "%s %u:%ld", i % (10 * step_) ? "" : "\n   ", i,
			rss[i]);
		if (more)
			fprintf(f, "/%u/%u", blog[i], ms[i]);
	}
	fprintf(f, "\n");
}

int main(void)
{
	g.seed = stress_init("rt_soak");
	double seconds = stress_env_double("TRP_SOAK_SECONDS", 0);
	if (!(seconds > 0)) {
		seconds = SECONDS_BASE * stress_scale();
		if (seconds < 2)
			seconds = 2;
	}
	g.k = K_COUNTERS;
	g.n = stress_scaled(N_BASE, 2);
	g.reg_ops = stress_scaled(REG_OPS_BASE, 500);
	g.npub = stress_scaled(PUB_BASE, 500);
	printf("rt_soak: %.0f s (TRP_SOAK_SECONDS), at least %u rounds; per "
	       "round: storm_private K=%u N=%" PRIu64 ", registry %u x %" PRIu64
	       " ops on %u names, exchange %u publishers x %" PRIu64
	       " with %u churn threads\n",
	       seconds, MIN_ROUNDS, g.k, g.n, NREG, g.reg_ops, NAMES, NPUBA,
	       g.npub, NEXC);
	fflush(stdout);

	g.sinks = calloc(2 * g.k, sizeof *g.sinks);
	g.counters = calloc(g.k, sizeof *g.counters);
	g.h_sinks = calloc(2 * g.k, sizeof *g.h_sinks);
	g.h_counters = calloc(g.k, sizeof *g.h_counters);
	uint32_t cap = 1024;
	long *rss = malloc(cap * sizeof *rss);
	uint32_t *blog = malloc(cap * sizeof *blog);
	uint32_t *ms = malloc(cap * sizeof *ms);
	STRESS_CHECK(g.sinks && g.counters && g.h_sinks && g.h_counters &&
			     rss && blog && ms,
		     "out of memory");
	for (uint32_t n = 0; n < NAMES; n++)
		snprintf(g.names[n], sizeof g.names[n], "soak.name%u", n);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(g.rt, "soak", &g.ex));
	trp_actor_def_t adef = { anchor_behavior, NULL, NULL,
				 sizeof(struct xrec), 0 };
	RT_MUST("trp_actor_spawn(anchor)",
		trp_actor_spawn(g.rt, &adef, NULL, &g.h_anchor));
	trp_sub_t anchor_sub;
	RT_MUST("trp_exchange_attach(anchor)",
		trp_exchange_attach(g.ex, trp_sink_actor(g.h_anchor),
				    &anchor_sub));
	rt_wait_idle(g.rt);
	uint64_t baseline = alive_actors();

	stress_watchdog_init(&wd, seconds + 600);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "rounds", &g.rounds);
	stress_watchdog_counter(&wd, "main steps", &g.main_steps);
	stress_watchdog_counter(&wd, "storm counter calls", &g.storm_calls);
	stress_watchdog_counter(&wd, "exchange published", &g.published);
	stress_watchdog_counter(&wd, "anchor deliveries", &g.anchor_rx);
	for (uint32_t i = 0; i < NREG; i++)
		stress_watchdog_counter(&wd, "registry ops", &g.reg[i].ops);
	for (uint32_t i = 0; i < NEXC; i++)
		stress_watchdog_counter(&wd, "exchange churn ops",
					&g.exc[i].ops);
	stress_watchdog_info(&wd, "publisher throttled", &g.throttled);
	stress_watchdog_thread(&wd, "main");

	pthread_t th[NREG + NEXC];
	static const char *const names[NREG + NEXC] = {
		"registry-0", "registry-1", "exchange-0", "exchange-1"
	};
	struct outside out[NREG + NEXC];
	for (uint32_t i = 0; i < NREG; i++) {
		g.reg[i].idx = i;
		g.reg[i].rng = stress_rand_init(g.seed, 1 + i);
		out[i] = (struct outside){ names[i], reg_round, &g.reg[i] };
	}
	for (uint32_t i = 0; i < NEXC; i++) {
		g.exc[i].idx = i;
		g.exc[i].rng = stress_rand_init(g.seed, 100 + i);
		out[NREG + i] = (struct outside){ names[NREG + i], ex_round,
						  &g.exc[i] };
	}
	for (uint32_t i = 0; i < NREG + NEXC; i++)
		th[i] = stress_thread_start(outside_main, &out[i]);
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns(), last_print = 0, total = 0;
	uint32_t r = 0;
	trp_stats_t before = rt_stats(g.rt);
	trp_exchange_stats_t xbefore = xstats();
	for (; r < MIN_ROUNDS || stress_seconds_since(t0) < seconds; r++) {
		uint64_t r0 = stress_now_ns();
		struct tally t = run_round(r, &before, &xbefore, baseline);
		before = rt_stats(g.rt);
		xbefore = xstats();
		total += t.messages;
		if (r == cap) {
			cap *= 2;
			rss = realloc(rss, cap * sizeof *rss);
			blog = realloc(blog, cap * sizeof *blog);
			ms = realloc(ms, cap * sizeof *ms);
			STRESS_CHECK(rss && blog && ms, "out of memory");
		}
		long raw;
		rss[r] = rss_sample(&raw);
		blog[r] = (uint32_t)(g.round_backlog / 1000);
		ms[r] = (uint32_t)((stress_now_ns() - r0) / 1000000);
		if (g.round_backlog > g.backlog_max)
			g.backlog_max = g.round_backlog;
		stress_progress(&g.rounds, 1);
		uint64_t now = stress_now_ns();
		if (r == 0 || (double)(now - last_print) / 1e9 >= PRINT_S) {
			printf("round %u: %.1f s, %" PRIu64
			       " messages (total %" PRIu64
			       "), RSS %ld KiB (%ld before the purge), "
			       "backlog max %" PRIu64 "\n",
			       r, (double)(now - t0) / 1e9, t.messages, total,
			       rss[r], raw, g.backlog_max);
			g.backlog_max = 0;
			fflush(stdout);
			last_print = now;
		}
	}
	double secs = stress_seconds_since(t0);

	/* ORDER: quit before go (released by go's store). */
	atomic_store_explicit(&g.quit, 1, memory_order_relaxed);
	atomic_store_explicit(&g.go, r + 1, memory_order_release);
	rt_futex_wake(&g.go);
	for (uint32_t i = 0; i < NREG + NEXC; i++)
		pthread_join(th[i], NULL);

	/* ---- flat memory ---- */
	uint32_t warm = r / 5 > 0 ? r / 5 : 1;
	uint32_t tail = r - r / 3;
	long warm_max = max_of(rss, 0, warm), tail_max = max_of(rss, tail, r);
	long slack_kb = (long)stress_env_u64("TRP_SOAK_SLACK_KB", RSS_SLACK_KB);
	long bound = warm_max + warm_max * (long)RSS_SLACK_PCT / 100 + slack_kb;
	/* Under the sanitizers their allocators warm up for a long time:
	 * ASan fills its size classes and recycles the quarantine for the
	 * first ~100 rounds (measured: RSS climbs, then stays flat; LSan
	 * finds nothing), TSan's RSS still climbs over its 10 CI rounds
	 * (shadow memory). A CI-sized run ends inside that warm-up: there
	 * the check is printed, not enforced. */
	bool enforce = !RT_SANITIZED || seconds >= 60;
	if (!enforce)
		printf("  RSS check not enforced: sanitizer run under 60 s "
		       "(allocator warm-up); bound %ld KiB, last third %ld "
		       "KiB\n",
		       bound, tail_max);
	if (enforce && tail_max > bound) {
		fflush(stdout);
		print_series(stderr, rss, blog, ms, r, 1, true);
		stress_fail("RSS not flat: max of rounds %u..%u is %ld KiB, "
			    "above the warm-up's (rounds 0..%u) max %ld KiB + "
			    "%u %% + %ld KiB = %ld KiB",
			    tail, r - 1, tail_max, warm - 1, warm_max,
			    RSS_SLACK_PCT, slack_kb, bound);
	}
	print_series(stdout, rss, blog, ms, r, r > 40 ? r / 40 : 1, false);

	/* ---- the end: destroy with the anchor still attached ---- */
	RT_MUST("trp_exchange_detach(anchor)",
		trp_exchange_detach(g.ex, anchor_sub));
	trp_exchange_release(g.ex);
	trp_stats_t fin = rt_destroy_balanced(g.rt, "final destroy");
	stress_watchdog_stop(&wd);
	trp_actor_release(g.h_anchor);
	STRESS_CHECK(fin.spawned == fin.stopped,
		     "after destroy: %" PRIu64 " spawned, %" PRIu64 " stopped",
		     fin.spawned, fin.stopped);
	uint64_t regops = 0, exops = 0;
	for (uint32_t i = 0; i < NREG; i++)
		regops += rt_get(&g.reg[i].ops);
	for (uint32_t i = 0; i < NEXC; i++)
		exops += rt_get(&g.exc[i].ops);
	printf("  registry ops %" PRIu64 ", exchange attach/detach %" PRIu64
	       ", publisher turns throttled %" PRIu64 ", dead letters %" PRIu64
	       " (registry only)\n",
	       regops, exops, rt_get(&g.throttled), fin.dead_lettered);
	printf("rt_soak: OK %u rounds in %.1f s, %" PRIu64
	       " messages (%.2f M/s), %" PRIu64
	       " actors spawned and stopped; RSS KiB first %ld, warm-up max "
	       "%ld, last-third max %ld (bound %ld), last %ld; seed %" PRIu64
	       "\n",
	       r, secs, total, (double)total / secs / 1e6, fin.spawned, rss[0],
	       warm_max, tail_max, bound, rss[r - 1], g.seed);
	free(rss);
	free(blog);
	free(ms);
	free(g.sinks);
	free(g.counters);
	free(g.h_sinks);
	free(g.h_counters);
	return 0;
}
