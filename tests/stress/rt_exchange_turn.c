/*
 * tests/stress/rt_exchange_turn.c - exchange deliveries a turn holds back
 * (batched into its send chains, core/publish.c) against detach, attach
 * and close-free membership changes made from other threads and from
 * behaviours.
 *
 * A publish made by a behaviour leaves its deliveries in the turn's chains
 * (pushed at the latest when the turn ends) and keeps the worker's epoch
 * read section open until then, so that a detach - which waits for a grace
 * period - still returns only once every delivery a publish made to the
 * sink before it is in the sink's mailbox (troupe/exchange.h,
 * "Membership"). The interactions checked here:
 *   - detach on another thread racing publisher actors' turns (chains held
 *     across many publishes, pushed every 64 messages and at turn end);
 *   - attach and detach called by a behaviour that published earlier in
 *     the same turn: its chains must be pushed first and the call must not
 *     wait for its own turn (or refuse with TRP_EDEADLK);
 *   - a callback sink that calls attach and detach while a publish runs
 *     (TRP_EDEADLK, as before), which ends the turn's held section in the
 *     middle of a publish: the publish must keep covering its deliveries;
 *   - an actor subscribed to the exchange it publishes to (its own
 *     deliveries are pushed at once, behind what its turn holds for it);
 *   - trp_exchange_publish_n between single publishes of one turn.
 *
 * Publishers: NPUB_THR outside threads, NPUB_ACT publisher actors (CHUNK
 * publish calls per turn, then a message to themselves) and one churner
 * actor (below); each publishes (publisher p, seq 1..N), one
 * trp_exchange_publish per seq but every 8th call a publish_n of 2..4
 * seqs. Membership windows as in rt_exchange_churn.c: before each publish
 * started[p] = last seq (acq_rel exchange), after it done[p] = last seq
 * (release); around an attach pre = done, lo = started; around a detach
 * hi = done, post = started (acq_rel RMWs). A sink must get, per
 * publisher, every seq in (lo, hi], nothing outside (pre, post], strictly
 * rising.
 *
 * Membership changes: one churn thread attaches and detaches actor and
 * callback sinks; the churner actor, in each of its turns, publishes a few
 * seqs, attaches or detaches one actor sink, publishes a few more and
 * sends itself GO. After a detach returned, whoever made it sends the
 * actor sink FIN carrying its window; the sink checks its record and stops
 * itself, so a delivery arriving after FIN is a dead letter, and the
 * dead-letter hook fails the test. Anchors for the whole run: an actor
 * sink, the trap callback (which every TRAP_EVERY deliveries calls attach
 * and detach, expecting TRP_EDEADLK) and publisher actor 0 itself.
 *
 * Sizes: N = 400 k x scale per publisher (at least 2000). No timing is
 * asserted.
 */
#include "rt_util.h"

#define NPUB_THR 1u
#define NPUB_ACT 2u
#define P_CHURN (NPUB_THR + NPUB_ACT) /* the churner actor's publisher id */
#define NPUB (P_CHURN + 1)
#define MAXLIVE 6u
#define MAXGAPS 8u
#define N_BASE 400000u
#define N_MIN 2000u
#define CHUNK 64u
#define TRAP_EVERY 29u
#define BACKLOG 100000u
#define LIMIT_S 300.0

enum {
	MSG_DATA = 1,
	MSG_FIN = 2,
	MSG_GO = 3
};

struct track {
	uint64_t first, last, count;
	uint32_t ngaps;
	uint64_t gap_after[MAXGAPS];
	uint64_t gap_before[MAXGAPS];
};

struct subrec {
	struct track t[NPUB];
	bool fin;
};

struct window {
	uint64_t pre[NPUB], lo[NPUB], hi[NPUB], post[NPUB];
};

struct member {
	bool callback;
	trp_sub_t sub;
	trp_actor_t *actor;
	struct subrec *rec; /* callback context */
	struct window w;
};

/* Who changes membership: the churn thread, or the churner actor. */
struct churner {
	uint64_t rng;
	struct member live[MAXLIVE];
	uint32_t nlive;
	_Atomic(uint64_t) ops;
};

/* Publisher actor state (runtime-owned). */
struct pubstate {
	uint32_t p;
	uint64_t next;
	uint64_t calls;
	struct subrec rec; /* publisher 0: what it got as a sink */
};

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint64_t n;
	_Atomic(uint64_t) started[NPUB];
	_Atomic(uint64_t) done[NPUB];
	_Atomic(uint32_t) finished[NPUB];
	_Atomic(uint32_t) stop_churn;
	struct churner thr, act; /* act: only the churner actor's turns */
	uint64_t churn_next;	 /* the churner actor's next seq */
	struct stress_barrier start;
	_Atomic(uint64_t) rx_total;
	_Atomic(uint64_t) actors_attached;
	_Atomic(uint64_t) actors_checked;
	_Atomic(uint64_t) traps; /* EDEADLK checks made in callbacks */
	_Atomic(uint64_t) trap_calls;
	struct subrec trap_rec; /* the trap callback's record */
	trp_sub_t trap_sub, self_sub;
	trp_actor_t *pub[NPUB_ACT];
	trp_actor_t *churn_actor;
} g;

static struct stress_watchdog wd;

/* --------------------------------------------------------- records -- */

static void track_add(struct track *t, uint32_t pub, uint64_t seq,
		      const char *what)
{
	if (t->count == 0) {
		t->first = t->last = seq;
		t->count = 1;
		return;
	}
	STRESS_CHECK(seq > t->last,
		     "%s: publisher %u seq %" PRIu64 " after %" PRIu64 " (%s)",
		     what, pub, seq, t->last,
		     seq == t->last ? "duplicate" : "reordered");
	if (seq != t->last + 1) {
		STRESS_CHECK(t->ngaps < MAXGAPS,
			     "%s: publisher %u: more than %u gaps", what, pub,
			     MAXGAPS);
		t->gap_after[t->ngaps] = t->last;
		t->gap_before[t->ngaps] = seq;
		t->ngaps++;
	}
	t->last = seq;
	t->count++;
}

static void record(struct subrec *r, const trp_msg_t *msg, const char *what)
{
	STRESS_CHECK(msg->type == MSG_DATA, "%s: message type %u", what,
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NPUB, "%s: publisher %u", what, p.sender);
	track_add(&r->t[p.sender], p.sender, p.seq, what);
}

static uint64_t check_record(const struct subrec *r, const struct window *w,
			     const char *what)
{
	uint64_t total = 0;
	for (uint32_t p = 0; p < NPUB; p++) {
		const struct track *t = &r->t[p];
		uint64_t pre = w->pre[p], lo = w->lo[p], hi = w->hi[p],
			 post = w->post[p];
		STRESS_CHECK(pre <= lo && hi <= post,
			     "%s: publisher %u: bad window", what, p);
		total += t->count;
		if (t->count > 0) {
			STRESS_CHECK(t->first > pre,
				     "%s: publisher %u: got seq %" PRIu64
				     ", published before attach was called "
				     "(done %" PRIu64 " then)",
				     what, p, t->first, pre);
			STRESS_CHECK(t->last <= post,
				     "%s: publisher %u: got seq %" PRIu64
				     ", published after detach returned "
				     "(started %" PRIu64 " then)",
				     what, p, t->last, post);
		}
		if (hi <= lo)
			continue;
		STRESS_CHECK(t->count > 0 && t->first <= lo + 1 &&
				     t->last >= hi,
			     "%s: publisher %u: window (%" PRIu64 ", %" PRIu64
			     "] not covered: got %" PRIu64 " seqs, %" PRIu64
			     "..%" PRIu64,
			     what, p, lo, hi, t->count, t->first, t->last);
		uint64_t missing = 0;
		for (uint32_t i = 0; i < t->ngaps; i++) {
			STRESS_CHECK(t->gap_before[i] <= lo + 1 ||
					     t->gap_after[i] >= hi,
				     "%s: publisher %u: lost seqs %" PRIu64
				     "..%" PRIu64 " inside (%" PRIu64
				     ", %" PRIu64 "]",
				     what, p, t->gap_after[i] + 1,
				     t->gap_before[i] - 1, lo, hi);
			missing += t->gap_before[i] - t->gap_after[i] - 1;
		}
		STRESS_CHECK(t->last - t->first + 1 - missing == t->count,
			     "%s: publisher %u: count %" PRIu64
			     " does not match its range",
			     what, p, t->count);
	}
	return total;
}

/* ------------------------------------------------------------ windows -- */

static void window_open(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with publish_some's release store. */
		w->pre[p] =
			atomic_load_explicit(&g.done[p], memory_order_acquire);
}

static void window_attached(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acq_rel RMW (rt_exchange_churn.c, header). */
		w->lo[p] = atomic_fetch_add_explicit(&g.started[p], 0,
						     memory_order_acq_rel);
}

static void window_closing(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with publish_some's release store. */
		w->hi[p] =
			atomic_load_explicit(&g.done[p], memory_order_acquire);
}

static void window_closed(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acq_rel RMW (rt_exchange_churn.c, header). */
		w->post[p] = atomic_fetch_add_explicit(&g.started[p], 0,
						       memory_order_acq_rel);
}

/* -------------------------------------------------------------- sinks -- */

/* An actor sink: records until FIN, then checks and stops. */
static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct subrec *r = state;
	if (msg->type == MSG_FIN) {
		struct window w;
		STRESS_CHECK(msg->size == sizeof w, "FIN of size %zu",
			     msg->size);
		memcpy(&w, msg->data, sizeof w);
		STRESS_CHECK(!r->fin, "actor sink: second FIN");
		rt_add(&g.rx_total, check_record(r, &w, "actor sink"));
		r->fin = true;
		rt_add(&g.actors_checked, 1);
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		return;
	}
	STRESS_CHECK(!r->fin, "actor sink: data after FIN");
	record(r, msg, "actor sink");
}

static void sink_callback(void *ctx, const trp_msg_t *msg)
{
	record(ctx, msg, "callback sink");
}

/* The trap: inside a publish, attach and detach must refuse (they would
 * wait for a grace period that waits for this very publish). On a worker
 * that runs a publishing turn, they first push the turn's chains and end
 * its held section (outbox.h, trp__outbox_settle), in the middle of the
 * publish that called us. */
static void trap_callback(void *ctx, const trp_msg_t *msg)
{
	struct subrec *r = ctx;
	record(r, msg, "trap callback");
	struct rt_payload p = rt_payload_of(msg);
	if (p.seq % TRAP_EVERY != 0)
		return;
	rt_add(&g.trap_calls, 1);
	rt_rc("trp_exchange_attach in a callback",
	      trp_exchange_attach(g.ex, trp_sink_callback(sink_callback, NULL),
				  NULL),
	      RT_E(TRP_EDEADLK));
	rt_rc("trp_exchange_detach in a callback",
	      trp_exchange_detach(g.ex, g.trap_sub), RT_E(TRP_EDEADLK));
	rt_add(&g.traps, 1);
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	stress_fail("dead letter (type %u, size %zu, reason %d) for actor "
		    "%" PRIu64 ": a delivery after detach returned (behind "
		    "FIN), or a lost message",
		    msg->type, msg->size, (int)why, trp_actor_id(to));
}

/* ---------------------------------------------------------- publishing -- */

static bool backlogged(void)
{
	trp_stats_t s;
	RT_MUST("trp_runtime_stats", trp_runtime_stats(g.rt, &s));
	return s.sent > s.processed + s.dead_lettered + BACKLOG;
}

/* Publishes seqs seq..seq+k-1 of publisher p in one call. */
static void publish_some(uint32_t p, uint64_t seq, uint32_t k)
{
	struct rt_payload pl[4];
	for (uint32_t i = 0; i < k; i++)
		pl[i] = (struct rt_payload){ p, 0, seq + i };
	uint64_t last = seq + k - 1;
	/* ORDER: acq_rel RMW, read by the window RMWs. */
	atomic_exchange_explicit(&g.started[p], last, memory_order_acq_rel);
	if (k == 1)
		RT_MUST("trp_exchange_publish",
			trp_exchange_publish(g.ex, MSG_DATA, pl, sizeof pl[0]));
	else
		RT_MUST("trp_exchange_publish_n",
			trp_exchange_publish_n(g.ex, MSG_DATA, pl, sizeof pl[0],
					       k));
	/* ORDER: release: the publish happens-before a window's acquire
	 * load that reads last. */
	atomic_store_explicit(&g.done[p], last, memory_order_release);
}

/* Publishes the next call's seqs from *next on (1 most of the time, 2..4
 * every 8th call); returns false once all N are published. */
static bool publish_next(uint32_t p, uint64_t *next, uint64_t *calls)
{
	if (*next > g.n)
		return false;
	uint32_t k = ++*calls % 8 == 0 ? 2 + (uint32_t)(*calls / 8 % 3) : 1;
	if (*next + k - 1 > g.n)
		k = (uint32_t)(g.n - *next + 1);
	publish_some(p, *next, k);
	*next += k;
	return true;
}

static void *publisher_thread(void *arg)
{
	uint32_t p = (uint32_t)(uintptr_t)arg;
	uint64_t next = 1, calls = 0;
	stress_watchdog_thread(&wd, "publisher");
	stress_barrier_wait(&g.start);
	while (publish_next(p, &next, &calls)) {
		if (calls % 256 == 0)
			while (backlogged())
				stress_sleep_ms(1);
	}
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&g.finished[p], 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void pubactor_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct pubstate *ps = state;
	if (msg->type == MSG_DATA) { /* publisher 0 is also a sink */
		STRESS_CHECK(!ps->rec.fin, "publisher sink: data after FIN");
		record(&ps->rec, msg, "publisher sink");
		return;
	}
	if (msg->type == MSG_FIN) {
		struct window w;
		memcpy(&w, msg->data, sizeof w);
		rt_add(&g.rx_total,
		       check_record(&ps->rec, &w, "publisher sink"));
		ps->rec.fin = true;
		rt_add(&g.actors_checked, 1);
		return;
	}
	STRESS_CHECK(msg->type == MSG_GO, "publisher actor: type %u",
		     msg->type);
	bool more = true;
	if (!backlogged())
		for (uint32_t i = 0; i < CHUNK && more; i++)
			more = publish_next(ps->p, &ps->next, &ps->calls);
	else
		more = ps->next <= g.n;
	if (more && ps->next <= g.n) {
		RT_MUST("trp_send GO", trp_send(self, MSG_GO, NULL, 0));
		return;
	}
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&g.finished[ps->p], 1, memory_order_release);
}

/* ---------------------------------------------------------- membership -- */

static void member_attach(struct churner *c, struct member *m, bool callback)
{
	memset(m, 0, sizeof *m);
	m->callback = callback;
	trp_sink_t sink;
	if (callback) {
		m->rec = calloc(1, sizeof *m->rec);
		STRESS_CHECK(m->rec != NULL, "out of memory");
		sink = trp_sink_callback(sink_callback, m->rec);
	} else {
		trp_actor_def_t def = { sink_behavior, NULL, NULL,
					sizeof(struct subrec), 0 };
		RT_MUST("trp_actor_spawn",
			trp_actor_spawn(g.rt, &def, NULL, &m->actor));
		rt_add(&g.actors_attached, 1);
		sink = trp_sink_actor(m->actor);
	}
	window_open(&m->w);
	RT_MUST("trp_exchange_attach",
		trp_exchange_attach(g.ex, sink, &m->sub));
	window_attached(&m->w);
	stress_progress(&c->ops, 1);
}

static void member_detach(struct churner *c, struct member *m)
{
	window_closing(&m->w);
	RT_MUST("trp_exchange_detach", trp_exchange_detach(g.ex, m->sub));
	window_closed(&m->w);
	if (m->callback) {
		struct subrec copy = *m->rec;
		memset(m->rec, 0x6b, sizeof *m->rec);
		free(m->rec); /* not touched after detach returned */
		rt_add(&g.rx_total,
		       check_record(&copy, &m->w, "callback sink"));
	} else {
		/* FIN goes behind every delivery accepted before detach
		 * returned; from the churner actor, through its own turn's
		 * chain to the sink, behind its own publishes. */
		RT_MUST("trp_send FIN",
			trp_send(m->actor, MSG_FIN, &m->w, sizeof m->w));
		trp_actor_release(m->actor);
	}
	rt_rc("trp_exchange_detach (again)", trp_exchange_detach(g.ex, m->sub),
	      RT_E(TRP_ENOENT));
	stress_progress(&c->ops, 1);
}

static void churn_step(struct churner *c, bool callbacks_too)
{
	bool attach = c->nlive == 0 ||
		      (c->nlive < MAXLIVE && stress_rand_below(&c->rng, 2));
	if (attach) {
		bool cb = callbacks_too && stress_rand_below(&c->rng, 3) == 0;
		member_attach(c, &c->live[c->nlive++], cb);
	} else {
		uint32_t i = (uint32_t)stress_rand_below(&c->rng, c->nlive);
		member_detach(c, &c->live[i]);
		c->live[i] = c->live[--c->nlive];
	}
}

static void *churn_thread(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "churn");
	stress_barrier_wait(&g.start);
	/* relaxed: a stop request; the join publishes the rest. */
	while (atomic_load_explicit(&g.stop_churn, memory_order_relaxed) == 0)
		churn_step(&g.thr, true);
	while (g.thr.nlive > 0)
		member_detach(&g.thr, &g.thr.live[--g.thr.nlive]);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* The churner actor: publishes, changes membership, publishes again, all
 * in one turn, so its attach and detach find chains of its own turn held
 * back (and its deliveries in flight to the sink it detaches). */
static void churn_actor_behavior(trp_actor_t *self, void *state,
				 const trp_msg_t *msg)
{
	(void)state;
	STRESS_CHECK(msg->type == MSG_GO, "churner actor: type %u", msg->type);
	uint64_t calls = g.churn_next; /* any varying count will do */
	uint32_t k1 = 1 + (uint32_t)stress_rand_below(&g.act.rng, 8);
	for (uint32_t i = 0; i < k1; i++)
		(void)publish_next(P_CHURN, &g.churn_next, &calls);
	churn_step(&g.act, false);
	uint32_t k2 = (uint32_t)stress_rand_below(&g.act.rng, 8);
	for (uint32_t i = 0; i < k2; i++)
		(void)publish_next(P_CHURN, &g.churn_next, &calls);
	if (g.churn_next <= g.n) {
		RT_MUST("trp_send GO", trp_send(self, MSG_GO, NULL, 0));
		return;
	}
	while (g.act.nlive > 0)
		member_detach(&g.act, &g.act.live[--g.act.nlive]);
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&g.finished[P_CHURN], 1, memory_order_release);
}

/* ---------------------------------------------------------------- main -- */

static void dump(void *arg)
{
	(void)arg;
	for (uint32_t p = 0; p < NPUB; p++)
		fprintf(stderr,
			"  publisher %u: started %" PRIu64 " done %" PRIu64
			" finished %u\n",
			p, rt_get(&g.started[p]), rt_get(&g.done[p]),
			atomic_load_explicit(&g.finished[p],
					     memory_order_relaxed));
}

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_turn");
	g.n = stress_scaled(N_BASE, N_MIN);
	printf("  %u publishers (%u thread, %u actors, 1 churner actor) x "
	       "%" PRIu64 " seqs, 1 churn thread, %s\n",
	       NPUB, NPUB_THR, NPUB_ACT, g.n,
	       RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);
	g.thr.rng = stress_rand_init(seed, 1);
	g.act.rng = stress_rand_init(seed, 2);
	g.churn_next = 1;

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(g.rt, "turn", &g.ex));

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t p = 0; p < NPUB; p++)
		stress_watchdog_counter(&wd, "published", &g.done[p]);
	stress_watchdog_counter(&wd, "churn thread ops", &g.thr.ops);
	stress_watchdog_info(&wd, "churner actor ops", &g.act.ops);
	stress_watchdog_info(&wd, "traps", &g.traps);

	/* Anchors: an actor sink, the trap callback, publisher actor 0. */
	struct member anchor;
	member_attach(&g.thr, &anchor, false);
	struct window trap_w, self_w;
	window_open(&trap_w);
	RT_MUST("trp_exchange_attach (trap)",
		trp_exchange_attach(
			g.ex, trp_sink_callback(trap_callback, &g.trap_rec),
			&g.trap_sub));
	window_attached(&trap_w);
	for (uint32_t i = 0; i < NPUB_ACT; i++) {
		struct pubstate ps = { .p = NPUB_THR + i, .next = 1 };
		trp_actor_def_t def = { pubactor_behavior, NULL, NULL,
					sizeof ps, 0 };
		RT_MUST("trp_actor_spawn (publisher)",
			trp_actor_spawn(g.rt, &def, &ps, &g.pub[i]));
	}
	window_open(&self_w);
	RT_MUST("trp_exchange_attach (publisher 0)",
		trp_exchange_attach(g.ex, trp_sink_actor(g.pub[0]),
				    &g.self_sub));
	window_attached(&self_w);
	trp_actor_def_t cdef = { churn_actor_behavior, NULL, NULL, 0, 0 };
	RT_MUST("trp_actor_spawn (churner)",
		trp_actor_spawn(g.rt, &cdef, NULL, &g.churn_actor));

	stress_barrier_init(&g.start, 3);
	pthread_t pub_th = stress_thread_start(publisher_thread, (void *)0);
	pthread_t churn_th = stress_thread_start(churn_thread, NULL);
	stress_watchdog_start(&wd);
	stress_barrier_wait(&g.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		RT_MUST("trp_send GO", trp_send(g.pub[i], MSG_GO, NULL, 0));
	RT_MUST("trp_send GO", trp_send(g.churn_actor, MSG_GO, NULL, 0));
	pthread_join(pub_th, NULL);
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with the publisher's release. */
		while (atomic_load_explicit(&g.finished[p],
					    memory_order_acquire) == 0)
			stress_sleep_ms(2);
	double pub_s = stress_seconds_since(t0);
	/* relaxed: a stop request; the join publishes the rest. */
	atomic_store_explicit(&g.stop_churn, 1, memory_order_relaxed);
	pthread_join(churn_th, NULL);

	/* The anchors got everything. */
	member_detach(&g.thr, &anchor);
	window_closing(&trap_w);
	RT_MUST("trp_exchange_detach (trap)",
		trp_exchange_detach(g.ex, g.trap_sub));
	window_closed(&trap_w);
	rt_add(&g.rx_total,
	       check_record(&g.trap_rec, &trap_w, "trap callback"));
	window_closing(&self_w);
	RT_MUST("trp_exchange_detach (publisher 0)",
		trp_exchange_detach(g.ex, g.self_sub));
	window_closed(&self_w);
	RT_MUST("trp_send FIN (publisher 0)",
		trp_send(g.pub[0], MSG_FIN, &self_w, sizeof self_w));
	for (uint32_t p = 0; p < NPUB; p++) {
		STRESS_CHECK(trap_w.lo[p] == 0 && trap_w.hi[p] == g.n &&
				     self_w.lo[p] == 0 && self_w.hi[p] == g.n,
			     "anchor windows do not span the run");
		STRESS_CHECK(g.trap_rec.t[p].count == g.n,
			     "trap callback: %" PRIu64 " of %" PRIu64
			     " from publisher %u",
			     g.trap_rec.t[p].count, g.n, p);
	}
	rt_wait_idle(g.rt);
	stress_watchdog_stop(&wd);

	uint64_t attached = rt_get(&g.actors_attached),
		 checked = rt_get(&g.actors_checked);
	/* + 1: publisher 0 checked itself as a sink */
	STRESS_CHECK(attached + 1 == checked,
		     "%" PRIu64 " actor sinks attached, %" PRIu64 " checked",
		     attached, checked);
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(g.ex, &st));
	uint64_t rx = rt_get(&g.rx_total);
	printf("  %.2f s publishing; churn ops: thread %" PRIu64
	       ", actor %" PRIu64 "; traps %" PRIu64 "; delivered %" PRIu64
	       " (recorded %" PRIu64 ")\n",
	       pub_s, rt_get(&g.thr.ops), rt_get(&g.act.ops), rt_get(&g.traps),
	       st.delivered, rx);
	STRESS_CHECK(st.published == NPUB * g.n,
		     "exchange published %" PRIu64 ", expected %" PRIu64,
		     st.published, NPUB * g.n);
	STRESS_CHECK(st.dropped_full == 0 && st.dropped_dead == 0 &&
			     st.dropped_other == 0,
		     "deliveries dropped");
	STRESS_CHECK(st.delivered == rx,
		     "exchange delivered %" PRIu64 ", sinks recorded %" PRIu64,
		     st.delivered, rx);
	STRESS_CHECK(st.subscribers == 0, "%u subscribers left",
		     st.subscribers);
	STRESS_CHECK(rt_get(&g.act.ops) >= 10 && rt_get(&g.traps) >= 10,
		     "too few churner-actor ops or traps");

	trp_stats_t rs = rt_assert_balanced(g.rt, "end");
	STRESS_CHECK(rs.dead_lettered == 0, "%" PRIu64 " dead letters",
		     rs.dead_lettered);
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		trp_actor_release(g.pub[i]);
	trp_actor_release(g.churn_actor);
	trp_exchange_release(g.ex);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	printf("  peak rss %ld KiB\nOK rt_exchange_turn\n", rt_rss_kb());
	return 0;
}
