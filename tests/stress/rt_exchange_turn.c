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
#define NPUB_THR 1u
#define NPUB_ACT 2u
#define P_CHURN (NPUB_THR + NPUB_ACT) /* the churner actor's publisher id */
#define NPUB (P_CHURN + 1)
#define XS_NPUB NPUB
#include "exchange_stress.h"

#define MAXLIVE 6u
#define N_BASE 400000u
#define N_MIN 2000u
#define CHUNK 64u
#define TRAP_EVERY 29u
#define LIMIT_S 300.0

struct member {
	bool callback;
	trp_sub_t sub;
	trp_actor_t *actor;
	struct xs_subrec *rec; /* callback context */
	struct xs_window w;
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
	struct xs_subrec rec; /* publisher 0: what it got as a sink */
};

/* The exchange, counters and totals are in xs (exchange_stress.h). */
static struct {
	_Atomic(uint32_t) stop_churn;
	struct churner thr, act; /* act: only the churner actor's turns */
	uint64_t churn_next;	 /* the churner actor's next seq */
	struct stress_barrier start;
	_Atomic(uint64_t) traps; /* EDEADLK checks made in callbacks */
	_Atomic(uint64_t) trap_calls;
	struct xs_subrec trap_rec; /* the trap callback's record */
	trp_sub_t trap_sub, self_sub;
	trp_actor_t *pub[NPUB_ACT];
	trp_actor_t *churn_actor;
} g;

static struct stress_watchdog wd;

/* The trap: inside a publish, attach and detach must refuse (they would
 * wait for a grace period that waits for this very publish). On a worker
 * that runs a publishing turn, they first push the turn's chains and end
 * its held section (outbox.h, trp__outbox_settle), in the middle of the
 * publish that called us. */
static void trap_callback(void *ctx, const trp_msg_t *msg)
{
	struct xs_subrec *r = ctx;
	xs_record(r, msg, "trap callback");
	struct rt_payload p = rt_payload_of(msg);
	if (p.seq % TRAP_EVERY != 0)
		return;
	rt_add(&g.trap_calls, 1);
	rt_rc("trp_exchange_attach in a callback",
	      trp_exchange_attach(
		      xs.ex, trp_sink_callback(xs_sink_callback, NULL), NULL),
	      RT_E(TRP_EDEADLK));
	rt_rc("trp_exchange_detach in a callback",
	      trp_exchange_detach(xs.ex, g.trap_sub), RT_E(TRP_EDEADLK));
	rt_add(&g.traps, 1);
}

/* ---------------------------------------------------------- publishing -- */

/* Publishes the next call's seqs from *next on (1 most of the time, 2..4
 * every 8th call); returns false once all N are published. */
static bool publish_next(uint32_t p, uint64_t *next, uint64_t *calls)
{
	if (*next > xs.n)
		return false;
	uint32_t k = ++*calls % 8 == 0 ? 2 + (uint32_t)(*calls / 8 % 3) : 1;
	if (*next + k - 1 > xs.n)
		k = (uint32_t)(xs.n - *next + 1);
	xs_publish(p, *next, k);
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
			xs_wait_backlog(NULL);
	}
	xs_publisher_finished(p);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void pubactor_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct pubstate *ps = state;
	if (msg->type == XS_MSG_DATA) { /* publisher 0 is also a sink */
		STRESS_CHECK(!ps->rec.fin, "publisher sink: data after FIN");
		xs_record(&ps->rec, msg, "publisher sink");
		return;
	}
	if (msg->type == XS_MSG_FIN) {
		struct xs_window w;
		memcpy(&w, msg->data, sizeof w);
		rt_add(&xs.rx_total,
		       xs_check_record(&ps->rec, &w, "publisher sink"));
		ps->rec.fin = true;
		rt_add(&xs.actors_checked, 1);
		return;
	}
	STRESS_CHECK(msg->type == XS_MSG_GO, "publisher actor: type %u",
		     msg->type);
	bool more = true;
	if (!xs_backlogged())
		for (uint32_t i = 0; i < CHUNK && more; i++)
			more = publish_next(ps->p, &ps->next, &ps->calls);
	else
		more = ps->next <= xs.n;
	if (more && ps->next <= xs.n) {
		RT_MUST("trp_send GO", trp_send(self, XS_MSG_GO, NULL, 0));
		return;
	}
	xs_publisher_finished(ps->p);
}

/* ---------------------------------------------------------- membership -- */

static void member_attach(struct churner *c, struct member *m, bool callback)
{
	memset(m, 0, sizeof *m);
	m->callback = callback;
	trp_sink_t sink;
	if (callback)
		sink = xs_callback_sink_new(&m->rec);
	else
		sink = xs_actor_sink_new(&m->actor);
	xs_window_open(&m->w);
	RT_MUST("trp_exchange_attach",
		trp_exchange_attach(xs.ex, sink, &m->sub));
	xs_window_attached(&m->w);
	stress_progress(&c->ops, 1);
}

static void member_detach(struct churner *c, struct member *m)
{
	xs_window_closing(&m->w);
	RT_MUST("trp_exchange_detach", trp_exchange_detach(xs.ex, m->sub));
	xs_window_closed(&m->w);
	if (m->callback)
		xs_callback_sink_finish(m->rec, &m->w);
	else
		/* FIN goes behind every delivery accepted before detach
		 * returned; from the churner actor, through its own turn's
		 * chain to the sink, behind its own publishes. */
		xs_actor_sink_finish(m->actor, &m->w);
	rt_rc("trp_exchange_detach (again)", trp_exchange_detach(xs.ex, m->sub),
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
	STRESS_CHECK(msg->type == XS_MSG_GO, "churner actor: type %u",
		     msg->type);
	uint64_t calls = g.churn_next; /* any varying count will do */
	uint32_t k1 = 1 + (uint32_t)stress_rand_below(&g.act.rng, 8);
	for (uint32_t i = 0; i < k1; i++)
		(void)publish_next(P_CHURN, &g.churn_next, &calls);
	churn_step(&g.act, false);
	uint32_t k2 = (uint32_t)stress_rand_below(&g.act.rng, 8);
	for (uint32_t i = 0; i < k2; i++)
		(void)publish_next(P_CHURN, &g.churn_next, &calls);
	if (g.churn_next <= xs.n) {
		RT_MUST("trp_send GO", trp_send(self, XS_MSG_GO, NULL, 0));
		return;
	}
	while (g.act.nlive > 0)
		member_detach(&g.act, &g.act.live[--g.act.nlive]);
	xs_publisher_finished(P_CHURN);
}

/* ---------------------------------------------------------------- main -- */

static void dump(void *arg)
{
	(void)arg;
	xs_dump_publishers();
}

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_turn");
	xs.n = stress_scaled(N_BASE, N_MIN);
	printf("  %u publishers (%u thread, %u actors, 1 churner actor) x "
	       "%" PRIu64 " seqs, 1 churn thread, %s\n",
	       NPUB, NPUB_THR, NPUB_ACT, xs.n,
	       RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);
	g.thr.rng = stress_rand_init(seed, 1);
	g.act.rng = stress_rand_init(seed, 2);
	g.churn_next = 1;

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = xs_fail_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &xs.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(xs.rt, "turn", &xs.ex));

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t p = 0; p < NPUB; p++)
		stress_watchdog_counter(&wd, "published", &xs.done[p]);
	stress_watchdog_counter(&wd, "churn thread ops", &g.thr.ops);
	stress_watchdog_info(&wd, "churner actor ops", &g.act.ops);
	stress_watchdog_info(&wd, "traps", &g.traps);

	/* Anchors: an actor sink, the trap callback, publisher actor 0. */
	struct member anchor;
	member_attach(&g.thr, &anchor, false);
	struct xs_window trap_w, self_w;
	xs_window_open(&trap_w);
	RT_MUST("trp_exchange_attach (trap)",
		trp_exchange_attach(
			xs.ex, trp_sink_callback(trap_callback, &g.trap_rec),
			&g.trap_sub));
	xs_window_attached(&trap_w);
	for (uint32_t i = 0; i < NPUB_ACT; i++) {
		struct pubstate ps = { .p = NPUB_THR + i, .next = 1 };
		trp_actor_def_t def = { pubactor_behavior, NULL, NULL,
					sizeof ps, 0 };
		RT_MUST("trp_actor_spawn (publisher)",
			trp_actor_spawn(xs.rt, &def, &ps, &g.pub[i]));
	}
	xs_window_open(&self_w);
	RT_MUST("trp_exchange_attach (publisher 0)",
		trp_exchange_attach(xs.ex, trp_sink_actor(g.pub[0]),
				    &g.self_sub));
	xs_window_attached(&self_w);
	trp_actor_def_t cdef = { churn_actor_behavior, NULL, NULL, 0, 0 };
	RT_MUST("trp_actor_spawn (churner)",
		trp_actor_spawn(xs.rt, &cdef, NULL, &g.churn_actor));

	stress_barrier_init(&g.start, 3);
	pthread_t pub_th = stress_thread_start(publisher_thread, (void *)0);
	pthread_t churn_th = stress_thread_start(churn_thread, NULL);
	stress_watchdog_start(&wd);
	stress_barrier_wait(&g.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		RT_MUST("trp_send GO", trp_send(g.pub[i], XS_MSG_GO, NULL, 0));
	RT_MUST("trp_send GO", trp_send(g.churn_actor, XS_MSG_GO, NULL, 0));
	pthread_join(pub_th, NULL);
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with the publisher's release. */
		while (atomic_load_explicit(&xs.finished[p],
					    memory_order_acquire) == 0)
			stress_sleep_ms(2);
	double pub_s = stress_seconds_since(t0);
	/* relaxed: a stop request; the join publishes the rest. */
	atomic_store_explicit(&g.stop_churn, 1, memory_order_relaxed);
	pthread_join(churn_th, NULL);

	/* The anchors got everything. */
	member_detach(&g.thr, &anchor);
	xs_window_closing(&trap_w);
	RT_MUST("trp_exchange_detach (trap)",
		trp_exchange_detach(xs.ex, g.trap_sub));
	xs_window_closed(&trap_w);
	rt_add(&xs.rx_total,
	       xs_check_record(&g.trap_rec, &trap_w, "trap callback"));
	xs_window_closing(&self_w);
	RT_MUST("trp_exchange_detach (publisher 0)",
		trp_exchange_detach(xs.ex, g.self_sub));
	xs_window_closed(&self_w);
	RT_MUST("trp_send FIN (publisher 0)",
		trp_send(g.pub[0], XS_MSG_FIN, &self_w, sizeof self_w));
	for (uint32_t p = 0; p < NPUB; p++) {
		STRESS_CHECK(trap_w.lo[p] == 0 && trap_w.hi[p] == xs.n &&
				     self_w.lo[p] == 0 && self_w.hi[p] == xs.n,
			     "anchor windows do not span the run");
		STRESS_CHECK(g.trap_rec.t[p].count == xs.n,
			     "trap callback: %" PRIu64 " of %" PRIu64
			     " from publisher %u",
			     g.trap_rec.t[p].count, xs.n, p);
	}
	rt_wait_idle(xs.rt);
	stress_watchdog_stop(&wd);

	uint64_t attached = rt_get(&xs.actors_attached),
		 checked = rt_get(&xs.actors_checked);
	/* + 1: publisher 0 checked itself as a sink */
	STRESS_CHECK(attached + 1 == checked,
		     "%" PRIu64 " actor sinks attached, %" PRIu64 " checked",
		     attached, checked);
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(xs.ex, &st));
	uint64_t rx = rt_get(&xs.rx_total);
	printf("  %.2f s publishing; churn ops: thread %" PRIu64
	       ", actor %" PRIu64 "; traps %" PRIu64 "; delivered %" PRIu64
	       " (recorded %" PRIu64 ")\n",
	       pub_s, rt_get(&g.thr.ops), rt_get(&g.act.ops), rt_get(&g.traps),
	       st.delivered, rx);
	xs_check_exchange_end(&st, rx);
	STRESS_CHECK(rt_get(&g.act.ops) >= 10 && rt_get(&g.traps) >= 10,
		     "too few churner-actor ops or traps");

	trp_stats_t rs = rt_assert_balanced(xs.rt, "end");
	STRESS_CHECK(rs.dead_lettered == 0, "%" PRIu64 " dead letters",
		     rs.dead_lettered);
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		trp_actor_release(g.pub[i]);
	trp_actor_release(g.churn_actor);
	trp_exchange_release(xs.ex);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(xs.rt));
	printf("  peak rss %ld KiB\nOK rt_exchange_turn\n", rt_rss_kb());
	return 0;
}
