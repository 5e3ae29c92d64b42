/*
 * tests/stress/rt_ask_vs_stop.c - asks racing the stop of their receiver,
 * and thread actors closed while senders send.
 *
 * Part A, one round: a runtime of 2 workers, one RECEIVER (an event actor)
 * and four askers: two outside threads (trp_ask + trp_future_wait) and two
 * asker actors (trp_ask + trp_future_then to themselves, one ask in flight
 * each, the next ask from the continuation). The receiver echoes each
 * request's payload with trp_reply, except requests with seq % 5 == 3,
 * which it leaves unanswered (TRP_ENOREPLY); after a random number of
 * requests (possibly more than it will ever get) it calls trp_actor_stop,
 * so the requests still queued become dead letters (TRP_EDEAD) and later
 * asks fail with TRP_EDEAD.
 *
 * Checks (A):
 * - trp_ask returns 0 or TRP_EDEAD; after TRP_EDEAD, never 0 again;
 * - every future completes exactly once: an outside waiter's status is 0,
 *   TRP_EDEAD or TRP_ENOREPLY and stays the same on a second wait; an
 *   asker actor gets exactly one continuation per accepted ask (a second
 *   one finds nothing outstanding);
 * - status 0 carries the echo of its own request (sender, seq), and only
 *   for seq % 5 != 3; TRP_ENOREPLY only for seq % 5 == 3;
 * - counts add up: replies the receiver made == futures with status 0,
 *   requests it left unanswered == TRP_ENOREPLY, requests dead-lettered
 *   (hook) == TRP_EDEAD, and accepted asks == all three; every trp_reply
 *   returns 0; the runtime's sent == processed + dead_lettered at destroy.
 *
 * Part B, one round: a thread actor receives (trp_recv) while three
 * outside threads send (sender, seq) messages to it, and main closes it at
 * a random moment; in some rounds the thread returns early instead of
 * waiting for TRP_ECLOSED. Checks (B): sends return 0 or TRP_EDEAD, never
 * 0 after TRP_EDEAD or after the close returned; per sender, the messages
 * received followed by those dead-lettered are exactly the accepted ones,
 * in order (nothing lost, nothing duplicated); the thread's loop ends with
 * TRP_ECLOSED unless it returned early, and every send that returned
 * before the close began was received (a send racing the close may be
 * dead-lettered instead).
 *
 * Sizes: 10^5 × scale asks in all (at least 10^3), over 40 × scale rounds
 * (at least 8); part B: 2 × 10^5 × scale sends over as many rounds.
 */
#include "rt_util.h"

#define ASKS_BASE 100000u
#define ROUNDS_BASE 40u
#define ROUNDS_MIN 8u
#define NOUT 2u
#define NACT 2u
#define NASKERS (NOUT + NACT)
#define NSEND 3u
#define SENDS_BASE 200000u
#define LIMIT_S 600.0

enum {
	MSG_REQ = 1,
	MSG_GO,
	MSG_OUTCOME,
	MSG_DATA,
};

/* ------------------------------------------------------------ part A -- */

struct receiver {
	uint64_t stop_at;   /* requests to process before stopping */
	uint64_t processed; /* behaviour only */
	bool stopped;
	_Atomic(uint64_t) replies_ok;
	_Atomic(uint64_t) noreplies;
};

struct asker {
	uint32_t idx;
	trp_actor_t *to; /* own reference */
	uint64_t budget;
	uint64_t seq;	      /* asks made */
	uint64_t outstanding; /* actors: seq of the ask in flight, 0 none */
	bool saw_dead;
	_Atomic(uint64_t) accepted, refused, ok, dead, noreply;
	_Atomic(uint64_t) conts; /* continuations received (actors) */
	_Atomic(uint32_t) done;
};

static struct {
	trp_runtime_t *rt;
	trp_actor_t *receiver_handle;
	struct receiver rcv;
	struct asker askers[NASKERS];
	struct stress_barrier start;
	_Atomic(uint64_t) dead_requests;
	_Atomic(uint64_t) dead_other;
	/* part B */
	trp_actor_t *ta;
	_Atomic(uint32_t) closed; /* trp_actor_close returned */
	uint64_t next_in[NSEND];  /* thread actor then dead-letter hook */
	uint64_t received[NSEND], dlb[NSEND];
	uint64_t accepted_b[NSEND];
	_Atomic(uint64_t) completed_b[NSEND]; /* last seq whose send returned 0 */
	uint64_t before_close[NSEND];
	uint64_t budget_b;
	uint32_t early_at; /* thread returns after this many (0: never) */
	int end_rc;
	_Atomic(uint32_t) ta_returned;
	/* progress */
	_Atomic(uint64_t) progress;
	_Atomic(uint64_t) rounds_done;
	_Atomic(uint64_t) sends_b;
} g;

static struct stress_watchdog wd;

static void check_b_item(struct rt_payload p, bool dead)
{
	STRESS_CHECK(p.sender < NSEND, "part B: bad sender %u", p.sender);
	STRESS_CHECK(p.seq == g.next_in[p.sender] + 1,
		     "part B: sender %u: %s seq %" PRIu64 ", expected %" PRIu64,
		     p.sender, dead ? "dead letter" : "received", p.seq,
		     g.next_in[p.sender] + 1);
	g.next_in[p.sender] = p.seq;
	if (dead)
		g.dlb[p.sender]++;
	else
		g.received[p.sender]++;
}

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	(void)ctx;
	(void)why;
	if (msg->type == MSG_REQ && to == g.receiver_handle) {
		rt_add(&g.dead_requests, 1);
		return;
	}
	if (msg->type == MSG_DATA && to == g.ta) {
		check_b_item(rt_payload_of(msg), true);
		return;
	}
	rt_add(&g.dead_other, 1);
}

static void receiver_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct receiver *r = state;
	STRESS_CHECK(msg->type == MSG_REQ, "receiver got type %u", msg->type);
	STRESS_CHECK(!r->stopped, "receiver ran after trp_actor_stop");
	struct rt_payload p = rt_payload_of(msg);
	r->processed++;
	stress_progress(&g.progress, 1);
	if (p.seq % 5 != 3) {
		int rc = trp_reply(msg, &p, sizeof p);
		rt_rc("trp_reply", rc, RT_OK);
		/* A second reply is always refused. */
		if ((p.seq & 7) == 1)
			rt_rc("trp_reply (twice)", trp_reply(msg, &p, sizeof p),
			      RT_E(TRP_EANSWERED));
		rt_add(&r->replies_ok, 1);
	} else {
		rt_add(&r->noreplies, 1);
	}
	if (r->processed == r->stop_at) {
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		r->stopped = true;
	}
}

/* Classifies one outcome; @echo is the reply payload for status 0. */
static void outcome(struct asker *a, uint64_t seq, int status,
		    const trp_msg_t *echo)
{
	switch (status) {
	case 0: {
		STRESS_CHECK(seq % 5 != 3,
			     "asker %u: seq %" PRIu64 " replied, should not be",
			     a->idx, seq);
		STRESS_CHECK(echo != NULL, "asker %u: status 0 without reply",
			     a->idx);
		struct rt_payload p = rt_payload_of(echo);
		STRESS_CHECK(p.sender == a->idx && p.seq == seq,
			     "asker %u seq %" PRIu64
			     ": reply carries (%u, %" PRIu64 ")",
			     a->idx, seq, p.sender, p.seq);
		rt_add(&a->ok, 1);
		break;
	}
	case TRP_ENOREPLY:
		STRESS_CHECK(seq % 5 == 3,
			     "asker %u: seq %" PRIu64 " TRP_ENOREPLY", a->idx,
			     seq);
		rt_add(&a->noreply, 1);
		break;
	case TRP_EDEAD:
		rt_add(&a->dead, 1);
		break;
	default:
		stress_fail("asker %u seq %" PRIu64 ": future status %s",
			    a->idx, seq, trp_errname(status));
	}
}

/* Asks once; true if accepted. */
static bool ask_once(struct asker *a, trp_future_t **f)
{
	struct rt_payload p = { a->idx, 0, ++a->seq };
	int rc = rt_rc("trp_ask", trp_ask(a->to, MSG_REQ, &p, sizeof p, f),
		       RT_OK | RT_E(TRP_EDEAD));
	if (rc == TRP_EDEAD) {
		a->saw_dead = true;
		rt_add(&a->refused, 1);
		return false;
	}
	STRESS_CHECK(!a->saw_dead, "asker %u: ask accepted after TRP_EDEAD",
		     a->idx);
	rt_add(&a->accepted, 1);
	return true;
}

static void *outside_asker(void *arg)
{
	struct asker *a = arg;
	static const char *const names[NOUT] = { "outside asker 0",
						 "outside asker 1" };
	stress_watchdog_thread(&wd, names[a->idx]);
	stress_barrier_wait(&g.start);
	while (a->seq < a->budget) {
		trp_future_t *f = NULL;
		if (!ask_once(a, &f))
			continue; /* keep asking a dead receiver: EDEAD */
		const trp_msg_t *r = NULL, *r2 = NULL;
		int st = trp_future_wait(f, -1, &r);
		STRESS_CHECK(trp_future_done(f), "wait returned, not done");
		int st2 = trp_future_wait(f, 0, &r2);
		STRESS_CHECK(st == st2,
			     "future changed from %s to %s on a second wait",
			     trp_errname(st), trp_errname(st2));
		STRESS_CHECK(st != 0 || r == r2, "reply moved");
		outcome(a, a->seq, st, st == 0 ? r : NULL);
		trp_future_release(f);
		stress_progress(&g.progress, 1);
	}
	atomic_store_explicit(&a->done, 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* Asks the next, or finishes; the continuation of each ask is an
 * MSG_OUTCOME to self. */
static void actor_ask_next(trp_actor_t *self, struct asker *a)
{
	while (a->seq < a->budget) {
		trp_future_t *f = NULL;
		if (!ask_once(a, &f))
			continue;
		a->outstanding = a->seq;
		/* Vary who drops the asker's reference first. */
		if (a->seq & 1) {
			trp_future_t *extra = trp_future_retain(f);
			trp_future_release(f);
			f = extra;
		}
		RT_MUST("trp_future_then",
			trp_future_then(f, self, MSG_OUTCOME));
		trp_future_release(f);
		return;
	}
	atomic_store_explicit(&a->done, 1, memory_order_release);
}

static void asker_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct asker *a = state;
	if (msg->type == MSG_GO) {
		actor_ask_next(self, a);
		return;
	}
	STRESS_CHECK(msg->type == MSG_OUTCOME, "asker got type %u", msg->type);
	STRESS_CHECK(a->outstanding != 0,
		     "asker %u: continuation with no ask outstanding "
		     "(a future completed twice?)",
		     a->idx);
	rt_add(&a->conts, 1);
	STRESS_CHECK(msg->status != 0 || msg->size != 0,
		     "asker %u: status 0 without payload", a->idx);
	STRESS_CHECK(msg->status == 0 || msg->size == 0,
		     "asker %u: error %s with a payload", a->idx,
		     trp_errname(msg->status));
	outcome(a, a->outstanding, msg->status, msg->status == 0 ? msg : NULL);
	a->outstanding = 0;
	stress_progress(&g.progress, 1);
	actor_ask_next(self, a);
}

static void round_a(uint64_t *rng, uint64_t per_asker)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.idle_spins = stress_rand_below(rng, 2) ? 0 : TRP_DEFAULT_IDLE_SPINS;
	cfg.dead_letter = dead_letter_hook;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	atomic_store(&g.dead_requests, 0);
	atomic_store(&g.dead_other, 0);

	memset(&g.rcv, 0, sizeof g.rcv);
	/* Stop anywhere from at once to never (beyond all requests). */
	g.rcv.stop_at = 1 + stress_rand_below(rng, NASKERS * per_asker * 5 / 4);
	trp_actor_def_t rdef = { .behavior = receiver_behavior };
	RT_MUST("spawn receiver",
		trp_actor_spawn(g.rt, &rdef, &g.rcv, &g.receiver_handle));

	trp_actor_def_t adef = { .behavior = asker_behavior };
	trp_actor_t *actors[NACT];
	pthread_t threads[NOUT];
	for (uint32_t i = 0; i < NASKERS; i++) {
		struct asker *a = &g.askers[i];
		memset(a, 0, sizeof *a);
		a->idx = i;
		a->budget = per_asker;
		a->to = trp_actor_retain(g.receiver_handle);
	}
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("spawn asker",
			trp_actor_spawn(g.rt, &adef, &g.askers[NOUT + i],
					&actors[i]));
	stress_barrier_init(&g.start, NOUT + 1);
	for (uint32_t i = 0; i < NOUT; i++)
		threads[i] = stress_thread_start(outside_asker, &g.askers[i]);
	stress_barrier_wait(&g.start);
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("send GO", trp_send(actors[i], MSG_GO, NULL, 0));
	for (uint32_t i = 0; i < NOUT; i++)
		pthread_join(threads[i], NULL);
	(void)rt_assert_balanced(g.rt, "A");

	/* Counts add up. */
	uint64_t ok = 0, dead = 0, noreply = 0, accepted = 0;
	for (uint32_t i = 0; i < NASKERS; i++) {
		struct asker *a = &g.askers[i];
		STRESS_CHECK(atomic_load_explicit(&a->done,
						  memory_order_acquire),
			     "asker %u not done at quiescence (seq %" PRIu64
			     ", outstanding %" PRIu64 ")",
			     i, a->seq, a->outstanding);
		uint64_t acc = rt_get(&a->accepted);
		STRESS_CHECK(acc + rt_get(&a->refused) == per_asker,
			     "asker %u: %" PRIu64 " + %" PRIu64
			     " asks, want %" PRIu64,
			     i, acc, rt_get(&a->refused), per_asker);
		STRESS_CHECK(rt_get(&a->ok) + rt_get(&a->dead) +
					     rt_get(&a->noreply) ==
				     acc,
			     "asker %u: outcomes %" PRIu64 "+%" PRIu64
			     "+%" PRIu64 " != accepted %" PRIu64,
			     i, rt_get(&a->ok), rt_get(&a->dead),
			     rt_get(&a->noreply), acc);
		if (i >= NOUT)
			STRESS_CHECK(rt_get(&a->conts) == acc,
				     "asker actor %u: %" PRIu64
				     " continuations for %" PRIu64 " asks",
				     i, rt_get(&a->conts), acc);
		ok += rt_get(&a->ok);
		dead += rt_get(&a->dead);
		noreply += rt_get(&a->noreply);
		accepted += acc;
	}
	STRESS_CHECK(ok == rt_get(&g.rcv.replies_ok),
		     "futures with a reply %" PRIu64 " != replies %" PRIu64, ok,
		     rt_get(&g.rcv.replies_ok));
	STRESS_CHECK(noreply == rt_get(&g.rcv.noreplies),
		     "TRP_ENOREPLY %" PRIu64 " != unanswered %" PRIu64, noreply,
		     rt_get(&g.rcv.noreplies));
	STRESS_CHECK(dead == rt_get(&g.dead_requests),
		     "TRP_EDEAD %" PRIu64 " != dead-lettered requests %" PRIu64,
		     dead, rt_get(&g.dead_requests));
	STRESS_CHECK(rt_get(&g.dead_other) == 0,
		     "%" PRIu64 " other messages dead-lettered",
		     rt_get(&g.dead_other));
	STRESS_CHECK(g.rcv.processed + dead == accepted,
		     "processed %" PRIu64 " + dead %" PRIu64
		     " != accepted %" PRIu64,
		     g.rcv.processed, dead, accepted);
	STRESS_CHECK(g.rcv.stopped == (g.rcv.stop_at <= accepted),
		     "receiver stopped=%d, stop_at %" PRIu64
		     ", accepted %" PRIu64,
		     g.rcv.stopped, g.rcv.stop_at, accepted);

	(void)rt_destroy_balanced(g.rt, "A");
	for (uint32_t i = 0; i < NACT; i++)
		trp_actor_release(actors[i]);
	for (uint32_t i = 0; i < NASKERS; i++)
		trp_actor_release(g.askers[i].to);
	trp_actor_release(g.receiver_handle);
	g.receiver_handle = NULL;
	g.rt = NULL;
}

/* ------------------------------------------------------------ part B -- */

static void ta_fn(trp_actor_t *self, void *arg)
{
	(void)arg;
	const trp_msg_t *m = NULL;
	uint64_t n = 0;
	int rc;
	while ((rc = trp_recv(self, -1, &m)) == 0) {
		STRESS_CHECK(m->type == MSG_DATA, "thread actor got type %u",
			     m->type);
		check_b_item(rt_payload_of(m), false);
		stress_progress(&g.progress, 1);
		if (++n == g.early_at) {
			rc = 1;
			break;
		}
	}
	g.end_rc = rc;
	atomic_store_explicit(&g.ta_returned, 1, memory_order_release);
}

struct bsender {
	uint32_t idx;
	trp_actor_t *to;
};

static void *b_sender(void *arg)
{
	struct bsender *s = arg;
	static const char *const names[NSEND] = { "B sender 0", "B sender 1",
						  "B sender 2" };
	stress_watchdog_thread(&wd, names[s->idx]);
	stress_barrier_wait(&g.start);
	bool saw_dead = false;
	for (uint64_t i = 0; i < g.budget_b; i++) {
		/* ORDER: acquire pairs with main's release store after
		 * trp_actor_close returned: a send that begins after it
		 * must fail. */
		bool after_close =
			atomic_load_explicit(&g.closed, memory_order_acquire);
		int rc = rt_rc("trp_send (B)",
			       rt_send(s->to, MSG_DATA, s->idx, 0,
				       g.accepted_b[s->idx] + 1),
			       RT_OK | RT_E(TRP_EDEAD));
		rt_add(&g.sends_b, 1);
		if (rc == 0) {
			STRESS_CHECK(!saw_dead,
				     "B sender %u: accepted after TRP_EDEAD",
				     s->idx);
			STRESS_CHECK(!after_close,
				     "B sender %u: accepted after the close",
				     s->idx);
			g.accepted_b[s->idx]++;
			/* ORDER: release: main's acquire snapshot before the
			 * close sees only sends that returned. */
			atomic_store_explicit(&g.completed_b[s->idx],
					      g.accepted_b[s->idx],
					      memory_order_release);
		} else {
			saw_dead = true;
		}
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void round_b(uint64_t *rng, uint64_t per_sender)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 1;
	cfg.dead_letter = dead_letter_hook;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	memset(g.next_in, 0, sizeof g.next_in);
	memset(g.received, 0, sizeof g.received);
	memset(g.dlb, 0, sizeof g.dlb);
	memset(g.accepted_b, 0, sizeof g.accepted_b);
	for (uint32_t i = 0; i < NSEND; i++)
		atomic_store(&g.completed_b[i], 0);
	atomic_store(&g.closed, 0);
	atomic_store(&g.ta_returned, 0);
	atomic_store(&g.dead_other, 0);
	g.budget_b = per_sender;
	g.early_at = stress_rand_below(rng, 4) == 0 ?
			     1 + (uint32_t)stress_rand_below(
					 rng, NSEND * per_sender) :
			     0;
	g.end_rc = 12345;
	RT_MUST("trp_thread_actor_spawn",
		trp_thread_actor_spawn(g.rt, ta_fn, NULL, &g.ta));

	struct bsender s[NSEND];
	pthread_t t[NSEND];
	stress_barrier_init(&g.start, NSEND + 1);
	for (uint32_t i = 0; i < NSEND; i++) {
		s[i] = (struct bsender){ i, trp_actor_retain(g.ta) };
		t[i] = stress_thread_start(b_sender, &s[i]);
	}
	uint64_t close_after = stress_rand_below(rng, NSEND * per_sender + 1);
	uint64_t base = rt_get(&g.sends_b);
	stress_barrier_wait(&g.start);
	/* Close once the senders made close_after attempts (or all of them,
	 * or the thread returned early). */
	while (!atomic_load_explicit(&g.ta_returned, memory_order_acquire)) {
		uint64_t made = rt_get(&g.sends_b) - base;
		if (made >= close_after || made >= NSEND * per_sender)
			break;
		sched_yield();
	}
	for (uint32_t i = 0; i < NSEND; i++)
		/* ORDER: acquire pairs with the sender's release. */
		g.before_close[i] = atomic_load_explicit(&g.completed_b[i],
							 memory_order_acquire);
	rt_rc("trp_actor_close", trp_actor_close(g.ta),
	      RT_OK | RT_E(TRP_EDEAD));
	/* ORDER: release: pairs with the senders' acquire loads. */
	atomic_store_explicit(&g.closed, 1, memory_order_release);
	for (uint32_t i = 0; i < NSEND; i++)
		pthread_join(t[i], NULL);
	for (;;) {
		int rc = trp_actor_join(g.ta, 100 * 1000 * 1000);
		if (rc == 0)
			break;
		rt_rc("trp_actor_join", rc, RT_E(TRP_ETIMEDOUT));
	}
	(void)rt_assert_balanced(g.rt, "B");
	STRESS_CHECK(g.early_at != 0 || g.end_rc == TRP_ECLOSED,
		     "thread actor's loop ended with %s",
		     trp_errname(g.end_rc));
	for (uint32_t i = 0; i < NSEND; i++)
		STRESS_CHECK(g.received[i] + g.dlb[i] == g.accepted_b[i],
			     "B sender %u: received %" PRIu64
			     " + dead-lettered %" PRIu64
			     " != accepted %" PRIu64,
			     i, g.received[i], g.dlb[i], g.accepted_b[i]);
	/* A send that returned before the close began was received (unless
	 * the thread returned early); one racing the close may have been
	 * dead-lettered instead. */
	if (g.early_at == 0)
		for (uint32_t i = 0; i < NSEND; i++)
			STRESS_CHECK(g.received[i] >= g.before_close[i],
				     "B sender %u: received %" PRIu64
				     " but %" PRIu64
				     " sends returned before the "
				     "close began",
				     i, g.received[i], g.before_close[i]);
	STRESS_CHECK(rt_get(&g.dead_other) == 0, "other dead letters in B");
	(void)rt_destroy_balanced(g.rt, "B");
	for (uint32_t i = 0; i < NSEND; i++)
		trp_actor_release(s[i].to);
	trp_actor_release(g.ta);
	g.ta = NULL;
	g.rt = NULL;
}

int main(void)
{
	uint64_t seed = stress_init("rt_ask_vs_stop");
	uint64_t asks = stress_scaled(ASKS_BASE, 1000);
	uint64_t rounds = stress_scaled(ROUNDS_BASE, ROUNDS_MIN);
	uint64_t per_asker = asks / rounds / NASKERS;
	uint64_t sends = stress_scaled(SENDS_BASE, 2000);
	uint64_t per_sender = sends / rounds / NSEND;
	uint64_t rng = stress_rand_init(seed, 1000);
	if (per_asker == 0)
		per_asker = 1;
	if (per_sender == 0)
		per_sender = 1;
	printf("  %" PRIu64 " rounds: %" PRIu64 " asks per asker x %u, %" PRIu64
	       " sends per sender x %u\n",
	       rounds, per_asker, NASKERS, per_sender, NSEND);

	stress_watchdog_init(&wd, LIMIT_S);
	stress_watchdog_counter(&wd, "asks and receives", &g.progress);
	stress_watchdog_counter(&wd, "part B send attempts", &g.sends_b);
	stress_watchdog_counter(&wd, "rounds done", &g.rounds_done);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns();
	uint64_t stops = 0, eb = 0;
	for (uint64_t r = 0; r < rounds; r++) {
		round_a(&rng, per_asker);
		stops += g.rcv.stopped;
		round_b(&rng, per_sender);
		eb += g.early_at != 0;
		stress_progress(&g.rounds_done, 1);
	}
	stress_watchdog_stop(&wd);
	printf("  ok: %" PRIu64 " rounds (%" PRIu64 " receiver stops, %" PRIu64
	       " early thread returns) in %.2f s\n",
	       rounds, stops, eb, stress_seconds_since(t0));
	return 0;
}
