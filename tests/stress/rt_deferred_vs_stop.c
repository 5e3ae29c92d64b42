/*
 * tests/stress/rt_deferred_vs_stop.c - deferred replies and forwards
 * (trp_request_*) racing the stop of their holders.
 *
 * One round: a runtime of 2 workers, NHOLD holder slots (NHOLD - 1 event
 * actors and one thread actor) and NASK outside threads that ask the
 * holders of random slots, each with up to WINDOW futures in flight
 * (waited oldest first). A holder
 * takes every request (trp_request_take) and answers it from a later
 * message: a ticker thread sends every holder a TICK every ~100 us, and
 * some takes send one to self; on a TICK a holder answers a random number
 * of its oldest held requests, as the request's mode (chosen by the asker,
 * carried in the payload) says: reply (an echo of the payload), fail
 * (FAIL_STATUS), release (TRP_ENOREPLY), or forward to a random holder (1
 * or 2 hops; each hop is taken and held again by its receiver; a forward
 * refused because the target stopped is answered by the holder itself
 * with the echo). Meanwhile main closes the holder of a random slot every
 * few dozen asks and puts a fresh one (of the slot's kind) in its place,
 * and some holders stop themselves (trp_actor_stop, or the thread actor's
 * function returning) after a random number of takes, so requests are
 * held, queued and in the middle of forwards when their holders stop.
 *
 * Checks, per round:
 * - trp_request_take always succeeds on a request; answers return 0 (or
 *   TRP_EDEAD for a forward to a stopped holder);
 * - every accepted ask's future completes (no request is lost: the
 *   watchdog fails a hang), exactly once (the same status on a second
 *   wait; no answer ever comes late: TRP_DEAD_LATE_REPLY stays 0), with an
 *   outcome its mode allows: the echo of its own (sender, seq) for reply
 *   and forward, FAIL_STATUS for fail, TRP_ENOREPLY for release, TRP_EDEAD
 *   for any;
 * - the books balance: futures replied == replies the holders made, failed
 *   == fails, TRP_ENOREPLY == releases, TRP_EDEAD == requests
 *   dead-lettered in a mailbox + requests still held when their holder
 *   stopped; request messages (asks + forwards) == takes + dead-lettered;
 *   takes == replies + fails + releases + forwards + held at stop;
 * - the delivery identity at quiescence and at destroy.
 *
 * Sizes: 2 x 10^5 x scale asks in all (at least 2000), over 20 x scale
 * rounds (at least 4).
 */
#include "rt_util.h"

#define ASKS_BASE 200000u
#define ROUNDS_BASE 20u
#define ROUNDS_MIN 4u
#define NASK 3u
#define NHOLD 6u /* the last one is a thread actor */
#define WINDOW 16u
#define CAP 48u /* requests a holder holds at most */
#define FAIL_STATUS (-1000)
#define MAXSPAWN 4096u /* holders one round may spawn */
#define LIMIT_S 600.0

enum {
	MSG_REQ = 1,
	MSG_FWD, /* a forwarded request */
	MSG_TICK,
};

enum mode {
	M_REPLY = 0,
	M_FORWARD = 1,
	M_FAIL = 2,
	M_RELEASE = 3,
};

/* aux: mode in bits 8..15, hops left in bits 0..7 */
#define AUX(mode, hops) (((uint32_t)(mode) << 8) | (uint32_t)(hops))
#define AUX_MODE(aux) (((aux) >> 8) & 0xffu)
#define AUX_HOPS(aux) ((aux)&0xffu)

struct held {
	trp_request_t *r;
	struct rt_payload p;
};

/* A holder's state: its consumer's only (behaviours, stop hook, or the
 * thread actor's loop). */
struct holder {
	uint32_t idx;
	uint64_t rng;
	uint64_t stop_after; /* takes before it stops itself; 0 never */
	uint64_t takes_so_far;
	bool stopping;
	uint32_t n;
	struct held held[CAP];
};

/* The books, summed over holders (relaxed counters). */
static struct {
	trp_runtime_t *rt;
	/* the slots' current holders (main swaps them; every holder of the
	 * round stays referenced in spawned[] until the round ends) */
	_Atomic(trp_actor_t *) holders[NHOLD];
	trp_actor_t *spawned[MAXSPAWN];
	struct holder *ta_state[MAXSPAWN]; /* thread holders' states */
	uint32_t nspawned;
	struct stress_barrier start;
	_Atomic(uint32_t) stop_ticker;
	_Atomic(uint64_t) ta_done;
	uint64_t per_asker;
	/* holders */
	_Atomic(uint64_t) takes, replies, fails, releases, forwards;
	_Atomic(uint64_t) forwards_refused, held_at_stop, self_stops;
	/* dead letters */
	_Atomic(uint64_t) dead_req, dead_tick, dead_other;
	/* askers */
	_Atomic(uint64_t) accepted, refused, ok, failed, noreply, dead;
	/* progress */
	_Atomic(uint64_t) progress, rounds_done, closes;
} g;

/* The holder of slot @i now. */
static trp_actor_t *slot(uint32_t i)
{
	/* ORDER: acquire pairs with main's release store of a fresh holder
	 * (its handle was written by the spawn before). */
	return atomic_load_explicit(&g.holders[i], memory_order_acquire);
}

static struct stress_watchdog wd;

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	if (why == TRP_DEAD_STOPPED &&
	    (msg->type == MSG_REQ || msg->type == MSG_FWD))
		rt_add(&g.dead_req, 1);
	else if (msg->type == MSG_TICK)
		rt_add(&g.dead_tick, 1);
	else
		rt_add(&g.dead_other, 1);
}

/* ------------------------------------------------------------ holders -- */

/* Answers held request @k (taken out of the holder's list by the
 * caller) as its mode says. */
static void answer(struct holder *h, struct held *e)
{
	uint32_t mode = AUX_MODE(e->p.aux);
	uint32_t hops = AUX_HOPS(e->p.aux);
	if (mode == M_FORWARD && hops > 0) {
		uint32_t to = (uint32_t)stress_rand_below(&h->rng, NHOLD);
		struct rt_payload p = e->p;
		p.aux = AUX(mode, hops - 1);
		int rc = rt_rc("trp_request_forward",
			       trp_request_forward(e->r, slot(to), MSG_FWD, &p,
						   sizeof p),
			       RT_OK | RT_E(TRP_EDEAD));
		if (rc == 0) {
			rt_add(&g.forwards, 1);
			return;
		}
		/* Still held: answer it here. */
		rt_add(&g.forwards_refused, 1);
		mode = M_REPLY;
	}
	switch (mode) {
	case M_REPLY:
	case M_FORWARD: /* no hops left */
		RT_MUST("trp_request_reply",
			trp_request_reply(e->r, &e->p, sizeof e->p));
		rt_add(&g.replies, 1);
		break;
	case M_FAIL:
		RT_MUST("trp_request_fail",
			trp_request_fail(e->r, FAIL_STATUS));
		rt_add(&g.fails, 1);
		break;
	case M_RELEASE:
		trp_request_release(e->r);
		rt_add(&g.releases, 1);
		break;
	default:
		stress_fail("holder %u: bad mode %u", h->idx, mode);
	}
}

/* Answers the @k oldest held requests. */
static void answer_oldest(struct holder *h, uint32_t k)
{
	if (k > h->n)
		k = h->n;
	for (uint32_t i = 0; i < k; i++) {
		struct held e = h->held[i];
		answer(h, &e);
	}
	memmove(&h->held[0], &h->held[k], (h->n - k) * sizeof h->held[0]);
	h->n -= k;
}

/* A request arrived: take it (always possible), hold it. Returns true if
 * the holder should stop now. */
static bool on_request(trp_actor_t *self, struct holder *h,
		       const trp_msg_t *msg)
{
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NASK, "holder %u: bad sender %u", h->idx,
		     p.sender);
	trp_request_t *r = NULL;
	RT_MUST("trp_request_take", trp_request_take(msg, &r));
	STRESS_CHECK(r != NULL, "take returned 0 without a handle");
	/* A second take of the same message is refused. */
	if ((p.seq & 15) == 7)
		rt_rc("trp_request_take (twice)", trp_request_take(msg, &r),
		      RT_E(TRP_EANSWERED));
	rt_add(&g.takes, 1);
	if (h->n == CAP)
		answer_oldest(h, 1);
	h->held[h->n++] = (struct held){ r, p };
	/* Sometimes a tick of its own: a later message of this actor. */
	if (stress_rand_below(&h->rng, 4) == 0)
		rt_rc("trp_send TICK (self)", trp_send(self, MSG_TICK, NULL, 0),
		      RT_OK | RT_E(TRP_EDEAD));
	h->takes_so_far++;
	return h->stop_after != 0 && h->takes_so_far == h->stop_after;
}

static void on_tick(struct holder *h)
{
	uint64_t pick = stress_rand_below(&h->rng, 8);
	/* usually a few, sometimes all, sometimes none */
	answer_oldest(h, pick == 0 ? 0 : pick == 7 ? h->n : (uint32_t)pick);
}

static void holder_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct holder *h = state;
	STRESS_CHECK(!h->stopping, "holder %u ran after trp_actor_stop",
		     h->idx);
	if (msg->type == MSG_TICK) {
		on_tick(h);
		return;
	}
	STRESS_CHECK(msg->type == MSG_REQ || msg->type == MSG_FWD,
		     "holder %u got type %u", h->idx, msg->type);
	stress_progress(&g.progress, 1);
	if (on_request(self, h, msg)) {
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		h->stopping = true;
		rt_add(&g.self_stops, 1);
	}
}

/* The stop hook runs before the runtime answers what is still held. */
static void holder_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct holder *h = state;
	(void)self;
	(void)why;
	rt_add(&g.held_at_stop, h->n);
}

static void ta_holder(trp_actor_t *self, void *arg)
{
	struct holder *h = arg;
	const trp_msg_t *m = NULL;
	int rc;
	while ((rc = trp_recv(self, -1, &m)) == 0) {
		if (m->type == MSG_TICK) {
			on_tick(h);
			continue;
		}
		STRESS_CHECK(m->type == MSG_REQ || m->type == MSG_FWD,
			     "thread holder got type %u", m->type);
		stress_progress(&g.progress, 1);
		if (on_request(self, h, m)) {
			rt_add(&g.self_stops, 1);
			break; /* returning stops it */
		}
	}
	if (rc != 0)
		rt_rc("trp_recv", rc, RT_E(TRP_ECLOSED));
	rt_add(&g.held_at_stop, h->n);
	/* ORDER: release: main reads the books after seeing this. */
	atomic_fetch_add_explicit(&g.ta_done, 1, memory_order_release);
}

/* ------------------------------------------------------------- askers -- */

struct pending {
	trp_future_t *f;
	uint64_t seq;
	uint32_t mode;
};

static void outcome(uint32_t a, const struct pending *pe, int st,
		    const trp_msg_t *reply)
{
	switch (st) {
	case 0: {
		STRESS_CHECK(pe->mode == M_REPLY || pe->mode == M_FORWARD,
			     "asker %u seq %" PRIu64 ": mode %u replied", a,
			     pe->seq, pe->mode);
		STRESS_CHECK(reply != NULL, "status 0 without a reply");
		struct rt_payload p = rt_payload_of(reply);
		STRESS_CHECK(p.sender == a && p.seq == pe->seq,
			     "asker %u seq %" PRIu64
			     ": reply carries (%u, %" PRIu64 ")",
			     a, pe->seq, p.sender, p.seq);
		STRESS_CHECK(reply->type == MSG_REQ,
			     "reply type %u, not the ask's", reply->type);
		rt_add(&g.ok, 1);
		break;
	}
	case FAIL_STATUS:
		STRESS_CHECK(pe->mode == M_FAIL,
			     "asker %u seq %" PRIu64 ": mode %u failed", a,
			     pe->seq, pe->mode);
		rt_add(&g.failed, 1);
		break;
	case TRP_ENOREPLY:
		STRESS_CHECK(pe->mode == M_RELEASE,
			     "asker %u seq %" PRIu64 ": mode %u TRP_ENOREPLY",
			     a, pe->seq, pe->mode);
		rt_add(&g.noreply, 1);
		break;
	case TRP_EDEAD:
		rt_add(&g.dead, 1);
		break;
	default:
		stress_fail("asker %u seq %" PRIu64 ": future status %d (%s)",
			    a, pe->seq, st, trp_errname(st));
	}
}

static void settle_one(uint32_t a, struct pending *pe)
{
	const trp_msg_t *r = NULL, *r2 = NULL;
	int st = trp_future_wait(pe->f, -1, &r);
	int st2 = trp_future_wait(pe->f, 0, &r2);
	STRESS_CHECK(st == st2, "future changed from %s to %s", trp_errname(st),
		     trp_errname(st2));
	STRESS_CHECK(st != 0 || r == r2, "reply moved");
	outcome(a, pe, st, st == 0 ? r : NULL);
	trp_future_release(pe->f);
	pe->f = NULL;
}

static void *asker(void *arg)
{
	uint32_t a = (uint32_t)(uintptr_t)arg;
	static const char *const names[NASK] = { "asker 0", "asker 1",
						 "asker 2" };
	uint64_t rng = stress_rand_init(stress_now_ns(), 100 + a);
	struct pending win[WINDOW];
	uint32_t head = 0, n = 0;
	stress_watchdog_thread(&wd, names[a]);
	stress_barrier_wait(&g.start);
	for (uint64_t seq = 1; seq <= g.per_asker; seq++) {
		if (n == WINDOW) {
			settle_one(a, &win[head]);
			head = (head + 1) % WINDOW;
			n--;
		}
		uint64_t x = stress_rand_below(&rng, 16);
		uint32_t mode = x < 8  ? M_REPLY :
				x < 12 ? M_FORWARD :
				x < 14 ? M_FAIL :
					 M_RELEASE;
		uint32_t hops =
			mode == M_FORWARD ?
				1 + (uint32_t)stress_rand_below(&rng, 2) :
				0;
		struct rt_payload p = { a, AUX(mode, hops), seq };
		uint32_t k = (uint32_t)stress_rand_below(&rng, NHOLD);
		trp_future_t *f = NULL;
		int rc = rt_rc("trp_ask",
			       trp_ask(slot(k), MSG_REQ, &p, sizeof p, &f),
			       RT_OK | RT_E(TRP_EDEAD));
		if (rc != 0) {
			rt_add(&g.refused, 1);
			continue;
		}
		rt_add(&g.accepted, 1);
		win[(head + n) % WINDOW] = (struct pending){ f, seq, mode };
		n++;
	}
	while (n > 0) {
		settle_one(a, &win[head]);
		head = (head + 1) % WINDOW;
		n--;
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* Sends every holder a TICK every ~100 us until told to stop. */
static void *ticker(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "ticker");
	stress_barrier_wait(&g.start);
	/* relaxed: a stop flag; nothing is published through it. */
	while (!atomic_load_explicit(&g.stop_ticker, memory_order_relaxed)) {
		for (uint32_t i = 0; i < NHOLD; i++)
			rt_rc("trp_send TICK",
			      trp_send(slot(i), MSG_TICK, NULL, 0),
			      RT_OK | RT_E(TRP_EDEAD));
		usleep(100);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* -------------------------------------------------------------- round -- */

/* A fresh holder for slot @i (the last slot holds thread actors). */
static trp_actor_t *spawn_holder(uint64_t *rng, uint32_t i, uint64_t total)
{
	struct holder init;
	memset(&init, 0, sizeof init);
	init.idx = g.nspawned;
	init.rng = stress_rand_init(stress_rand(rng), 200 + g.nspawned);
	/* a third stop themselves after some takes */
	if (stress_rand_below(rng, 3) == 0)
		init.stop_after = 1 + stress_rand_below(rng, total / 64 + 2);
	STRESS_CHECK(g.nspawned < MAXSPAWN, "too many holders in a round");
	trp_actor_t *a = NULL;
	if (i + 1 < NHOLD) {
		trp_actor_def_t def = { .behavior = holder_behavior,
					.stop = holder_stop,
					.state_size = sizeof init };
		RT_MUST("spawn holder", trp_actor_spawn(g.rt, &def, &init, &a));
		g.ta_state[g.nspawned] = NULL;
	} else {
		struct holder *h = malloc(sizeof *h);
		STRESS_CHECK(h != NULL, "out of memory");
		*h = init;
		RT_MUST("spawn thread holder",
			trp_thread_actor_spawn(g.rt, ta_holder, h, &a));
		g.ta_state[g.nspawned] = h;
	}
	g.spawned[g.nspawned++] = a;
	return a;
}

static void round_run(uint64_t *rng)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.idle_spins = stress_rand_below(rng, 2) ? 0 : TRP_DEFAULT_IDLE_SPINS;
	cfg.dead_letter = dead_letter_hook;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	atomic_store(&g.stop_ticker, 0);
	atomic_store(&g.ta_done, 0);
	g.nspawned = 0;
	uint64_t total = g.per_asker * NASK;
	for (uint32_t i = 0; i < NHOLD; i++)
		/* relaxed: published to the threads by their start. */
		atomic_store_explicit(&g.holders[i],
				      spawn_holder(rng, i, total),
				      memory_order_relaxed);

	pthread_t th[NASK], tick;
	stress_barrier_init(&g.start, NASK + 2);
	for (uint32_t a = 0; a < NASK; a++)
		th[a] = stress_thread_start(asker, (void *)(uintptr_t)a);
	tick = stress_thread_start(ticker, NULL);
	uint64_t base = rt_get(&g.accepted) + rt_get(&g.refused);
	stress_barrier_wait(&g.start);
	/* Replace the holder of a random slot every 8..135 asks (a thread
	 * holder less often: each is a thread). */
	uint64_t next = 8 + stress_rand_below(rng, 128);
	for (;;) {
		uint64_t made = rt_get(&g.accepted) + rt_get(&g.refused) - base;
		if (made >= total)
			break;
		if (made < next) {
			sched_yield();
			continue;
		}
		uint32_t i = (uint32_t)stress_rand_below(rng, NHOLD);
		if (i + 1 == NHOLD && stress_rand_below(rng, 4) != 0)
			i = 0;
		trp_actor_t *old = slot(i);
		rt_rc("trp_actor_close", trp_actor_close(old),
		      RT_OK | RT_E(TRP_EDEAD));
		rt_add(&g.closes, 1);
		trp_actor_t *fresh = spawn_holder(rng, i, total);
		/* ORDER: release: the fresh handle to the askers, the ticker
		 * and the holders (slot()). */
		atomic_store_explicit(&g.holders[i], fresh,
				      memory_order_release);
		next = made + 8 + stress_rand_below(rng, 128);
	}
	/* Every future completes before the askers return. */
	for (uint32_t a = 0; a < NASK; a++)
		pthread_join(th[a], NULL);
	/* relaxed: a stop flag. */
	atomic_store_explicit(&g.stop_ticker, 1, memory_order_relaxed);
	pthread_join(tick, NULL);
	uint64_t threads = 0;
	for (uint32_t k = 0; k < g.nspawned; k++) {
		rt_rc("trp_actor_close", trp_actor_close(g.spawned[k]),
		      RT_OK | RT_E(TRP_EDEAD));
		if (g.ta_state[k] == NULL)
			continue;
		threads++;
		for (;;) {
			int rc = trp_actor_join(g.spawned[k], 100000000);
			if (rc == 0)
				break;
			rt_rc("trp_actor_join", rc, RT_E(TRP_ETIMEDOUT));
		}
	}
	/* ORDER: acquire pairs with the thread holders' release. */
	STRESS_CHECK(atomic_load_explicit(&g.ta_done, memory_order_acquire) ==
			     threads,
		     "thread holders did not all finish");
	trp_stats_t s = rt_assert_balanced(g.rt, "round");
	STRESS_CHECK(s.dead_by_reason[TRP_DEAD_LATE_REPLY] == 0,
		     "%" PRIu64 " late replies: a request answered twice",
		     s.dead_by_reason[TRP_DEAD_LATE_REPLY]);
	(void)rt_destroy_balanced(g.rt, "round");
	for (uint32_t k = 0; k < g.nspawned; k++) {
		trp_actor_release(g.spawned[k]);
		free(g.ta_state[k]);
		g.ta_state[k] = NULL;
	}
	g.rt = NULL;
}

static void check_books(void)
{
	uint64_t accepted = rt_get(&g.accepted), ok = rt_get(&g.ok),
		 failed = rt_get(&g.failed), noreply = rt_get(&g.noreply),
		 dead = rt_get(&g.dead), takes = rt_get(&g.takes),
		 replies = rt_get(&g.replies), fails = rt_get(&g.fails),
		 releases = rt_get(&g.releases), forwards = rt_get(&g.forwards),
		 held = rt_get(&g.held_at_stop), dead_req = rt_get(&g.dead_req);
	STRESS_CHECK(ok + failed + noreply + dead == accepted,
		     "outcomes %" PRIu64 " != accepted asks %" PRIu64,
		     ok + failed + noreply + dead, accepted);
	STRESS_CHECK(ok == replies,
		     "futures replied %" PRIu64 " != replies %" PRIu64, ok,
		     replies);
	STRESS_CHECK(failed == fails,
		     "futures failed %" PRIu64 " != fails %" PRIu64, failed,
		     fails);
	STRESS_CHECK(noreply == releases,
		     "TRP_ENOREPLY %" PRIu64 " != releases %" PRIu64, noreply,
		     releases);
	STRESS_CHECK(dead == dead_req + held,
		     "TRP_EDEAD %" PRIu64 " != dead-lettered %" PRIu64
		     " + held at stop %" PRIu64,
		     dead, dead_req, held);
	STRESS_CHECK(accepted + forwards == takes + dead_req,
		     "request messages %" PRIu64 " != takes %" PRIu64
		     " + dead-lettered %" PRIu64,
		     accepted + forwards, takes, dead_req);
	STRESS_CHECK(takes == replies + fails + releases + forwards + held,
		     "takes %" PRIu64 " != answers %" PRIu64, takes,
		     replies + fails + releases + forwards + held);
	STRESS_CHECK(rt_get(&g.dead_other) == 0,
		     "%" PRIu64 " unexpected dead letters",
		     rt_get(&g.dead_other));
}

int main(void)
{
	uint64_t seed = stress_init("rt_deferred_vs_stop");
	uint64_t asks = stress_scaled(ASKS_BASE, 2000);
	uint64_t rounds = stress_scaled(ROUNDS_BASE, ROUNDS_MIN);
	uint64_t rng = stress_rand_init(seed, 1000);
	g.per_asker = asks / rounds / NASK;
	if (g.per_asker == 0)
		g.per_asker = 1;
	printf("  %" PRIu64 " rounds: %" PRIu64 " asks per asker x %u, %u "
	       "holder slots\n",
	       rounds, g.per_asker, NASK, NHOLD);

	stress_watchdog_init(&wd, LIMIT_S);
	stress_watchdog_counter(&wd, "requests handled", &g.progress);
	stress_watchdog_counter(&wd, "asks accepted", &g.accepted);
	stress_watchdog_counter(&wd, "futures replied", &g.ok);
	stress_watchdog_counter(&wd, "rounds done", &g.rounds_done);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns();
	for (uint64_t r = 0; r < rounds; r++) {
		round_run(&rng);
		check_books();
		stress_progress(&g.rounds_done, 1);
	}
	stress_watchdog_stop(&wd);
	printf("  ok: %" PRIu64 " asks accepted (%" PRIu64 " refused): %" PRIu64
	       " replied, %" PRIu64 " failed, %" PRIu64 " released, %" PRIu64
	       " TRP_EDEAD (%" PRIu64 " held at stop, %" PRIu64
	       " dead-lettered); %" PRIu64 " forwards (%" PRIu64
	       " refused), %" PRIu64 " closes, %" PRIu64
	       " self-stops in %.2f s\n",
	       rt_get(&g.accepted), rt_get(&g.refused), rt_get(&g.ok),
	       rt_get(&g.failed), rt_get(&g.noreply), rt_get(&g.dead),
	       rt_get(&g.held_at_stop), rt_get(&g.dead_req),
	       rt_get(&g.forwards), rt_get(&g.forwards_refused),
	       rt_get(&g.closes), rt_get(&g.self_stops),
	       stress_seconds_since(t0));
	return 0;
}
