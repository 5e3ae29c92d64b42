/*
 * tests/stress/rt_send_vs_stop.c - T5: sends racing the stop of their
 * receiver. Every send returns 0 (accepted) or TRP_EDEAD; an accepted
 * message is processed or dead-lettered exactly once; a handle stays valid
 * until its last trp_actor_release, also after the actor stopped and after
 * the runtime is gone.
 *
 * One round: a runtime of 2 workers (default batch, or batch 32: short
 * turns, so stops land between many more turns), two TARGET
 * actors, and four senders that each hold their own reference to both
 * targets (trp_actor_retain): two outside threads and two actors (which
 * send bursts and message themselves to continue). Each target stops in
 * one of three ways, chosen at random per round:
 *   SELF  - trp_actor_stop inside its behaviour after a random count;
 *   CLOSE - trp_actor_close by another party once it has processed a
 *           random count (target 0: main, an outside thread; target 1:
 *           sender actor 0, from a worker);
 *   BOTH  - both, racing each other.
 * The senders keep sending after the stop (they only see TRP_EDEAD then),
 * and in some rounds also after trp_runtime_destroy (TRP_EDEAD or
 * TRP_ESHUTDOWN), before they release their references.
 *
 * Checks:
 * - a send returns 0 or TRP_EDEAD (outside threads after destroy: also
 *   TRP_ESHUTDOWN); after a sender got TRP_EDEAD from a target, it never
 *   gets 0 from it again; a send that begins after trp_actor_close
 *   returned (the closer publishes that with a release store, the sender
 *   reads it before its send) gets TRP_EDEAD (actor.h);
 * - every message carries (sender, target, seq = number of sends of that
 *   sender to that target accepted before it). The target's behaviour and
 *   the dead-letter hook both require seq == previous + 1 per sender: the
 *   processed messages followed by the dead letters are exactly the
 *   accepted sends of each sender, in order (per-sender FIFO, nothing lost
 *   or duplicated; the counters are plain memory, so TSan also checks that
 *   the runtime orders the last behaviour before every dead letter);
 * - delivered + dead-lettered == accepted, per sender and target and in
 *   total; trp_runtime_stats agrees (sent == processed + dead_lettered,
 *   dead_lettered == hook calls);
 * - the stop hook runs exactly once per actor, with the reason its mode
 *   allows; trp_actor_alive turns false and stays so;
 * - handles: trp_actor_id and trp_actor_alive on them after the stop and
 *   after destroy; the order of the last releases varies (main first or a
 *   sender last); ASan/LSan check the rest.
 *
 * One round in three is a "mute" round: the actor senders send all their
 * sends to a slow target 0 in one turn each, so it holds thousands of
 * messages and they are muted on it (core/actor.h "Backpressure") when it
 * stops: its stop must unmute them.
 *
 * Sizes: 10^6 × scale sends in all (at least 10^4), over 150 × scale
 * rounds (at least 30), i.e. 300 × scale target stops (at least 60).
 */
#include "rt_util.h"

#include "actor.h" /* internal: the muted stack, for the coverage report */

#define SENDS_BASE 1000000u
#define ROUNDS_BASE 150u
#define ROUNDS_MIN 30u
#define NTARGETS 2u
#define NOUT 2u
#define NACT 2u
#define NSENDERS (NOUT + NACT)
#define BURST 64u
#define LIMIT_S 600.0

enum {
	MSG_DATA = 1,
	MSG_TICK
};
enum mode {
	MODE_SELF,
	MODE_CLOSE,
	MODE_BOTH,
	NMODES
};
static const char *const mode_name[NMODES] = { "self", "close", "both" };

struct target {
	uint32_t idx;
	enum mode mode;
	uint64_t id;
	uint64_t stop_at;  /* SELF/BOTH: processed count to stop at */
	uint64_t close_at; /* CLOSE/BOTH: processed count to close at */
	uint32_t spin;	   /* busy loop per message (slow consumer) */
	/* behaviour + dead-letter hook, ordered by the runtime: */
	uint64_t next_in[NSENDERS];
	uint64_t processed, dead;
	bool stopped;		    /* stop hook ran */
	_Atomic(uint64_t) progress; /* processed, for the closer */
	_Atomic(uint32_t) closed;   /* trp_actor_close returned */
	_Atomic(uint32_t) stop_calls;
	_Atomic(uint32_t) stop_why;
	_Atomic(uint32_t) close_rc_seen; /* closer's results, for the dump */
};

struct sender {
	uint32_t idx;
	uint64_t rng;
	trp_actor_t *to[NTARGETS]; /* own references */
	uint64_t accepted[NTARGETS];
	uint64_t dead_rc[NTARGETS];
	bool saw_dead[NTARGETS];
	uint64_t budget; /* sends left */
	/* actor senders */
	uint64_t tick_expect, tick_seq;
	bool closer;		/* closes target 1 when it reached close_at */
	uint32_t burst;		/* sends per turn */
	bool only_target0;	/* "mute" rounds: all to target 0 */
	_Atomic(uint64_t) sent; /* attempts, for the watchdog */
	_Atomic(uint32_t) done;
	_Atomic(uint32_t) stop_calls;
};

static struct {
	uint64_t seed;
	uint32_t round;
	trp_runtime_t *rt;
	struct target targets[NTARGETS];
	struct sender senders[NSENDERS];
	trp_actor_t *target_h[NTARGETS];
	trp_actor_t *actor_h[NACT];
	struct stress_barrier start;
	_Atomic(uint32_t) destroyed;  /* destroy returned this round */
	_Atomic(uint64_t) dead_other; /* dead letters to non-targets */
	_Atomic(uint64_t) hook_calls;
	/* watchdog */
	_Atomic(uint64_t) progress;
	_Atomic(uint64_t) rounds_done;
	uint64_t last_accepted, last_dead;
	bool last_muted;
} g;

static struct stress_watchdog wd;

/* ---------------------------------------------------------- targets -- */

static void take_seq(struct target *t, const trp_msg_t *msg, const char *how)
{
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_DATA && p.sender < NSENDERS &&
			     p.aux == t->idx,
		     "round %u target %u: %s message type %u sender %u aux %u",
		     g.round, t->idx, how, msg->type, p.sender, p.aux);
	STRESS_CHECK(p.seq == t->next_in[p.sender],
		     "round %u target %u: %s seq %" PRIu64 " of sender %u, "
		     "expected %" PRIu64 " (lost, duplicated or reordered)",
		     g.round, t->idx, how, p.seq, p.sender,
		     t->next_in[p.sender]);
	t->next_in[p.sender]++;
}

static void target_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct target *t = state;
	STRESS_CHECK(!t->stopped, "round %u target %u: behaviour after stop",
		     g.round, t->idx);
	take_seq(t, msg, "processed");
	t->processed++;
	/* relaxed: the closer only polls it. */
	atomic_store_explicit(&t->progress, t->processed, memory_order_relaxed);
	stress_progress(&g.progress, 1);
	for (volatile uint32_t i = 0; i < t->spin; i++)
		;
	if (t->stop_at != 0 && t->processed == t->stop_at)
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
}

static void target_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct target *t = state;
	/* relaxed: read after destroy (joined). */
	uint32_t c = atomic_fetch_add_explicit(&t->stop_calls, 1,
					       memory_order_relaxed);
	STRESS_CHECK(c == 0, "round %u target %u: stop hook ran again", g.round,
		     t->idx);
	atomic_store_explicit(&t->stop_why, (uint32_t)why,
			      memory_order_relaxed);
	t->stopped = true;
	STRESS_CHECK(!trp_actor_alive(self),
		     "round %u target %u: alive inside its stop hook", g.round,
		     t->idx);
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	rt_add(&g.hook_calls, 1);
	uint64_t id = trp_actor_id(to);
	for (uint32_t i = 0; i < NTARGETS; i++) {
		struct target *t = &g.targets[i];
		if (t->id != id)
			continue;
		STRESS_CHECK(t->stopped,
			     "round %u target %u: dead letter before its stop "
			     "hook ran",
			     g.round, i);
		STRESS_CHECK(why == TRP_DEAD_STOPPED,
			     "round %u target %u: dead-letter reason %d",
			     g.round, i, (int)why);
		take_seq(t, msg, "dead-lettered");
		t->dead++;
		return;
	}
	rt_add(&g.dead_other, 1);
}

/* ---------------------------------------------------------- senders -- */

/* One send of sender @s to target @ti; @after_destroy widens the codes. */
static void send_one(struct sender *s, uint32_t ti, bool outside)
{
	struct target *t = &g.targets[ti];
	/* ORDER: acquire pairs with the closer's release: our send begins
	 * after its trp_actor_close returned. */
	bool closed = atomic_load_explicit(&t->closed, memory_order_acquire);
	/* ORDER: acquire pairs with main's release after destroy. */
	bool destroyed = outside && atomic_load_explicit(&g.destroyed,
							 memory_order_acquire);
	int rc = rt_send(s->to[ti], MSG_DATA, s->idx, ti, s->accepted[ti]);
	rt_rc("trp_send", rc,
	      RT_OK | RT_E(TRP_EDEAD) | (destroyed ? RT_E(TRP_ESHUTDOWN) : 0));
	stress_progress(&s->sent, 1);
	if (rc == 0) {
		STRESS_CHECK(!s->saw_dead[ti],
			     "round %u: sender %u: target %u accepted a send "
			     "after TRP_EDEAD",
			     g.round, s->idx, ti);
		STRESS_CHECK(!closed,
			     "round %u: sender %u: target %u accepted a send "
			     "that began after trp_actor_close returned",
			     g.round, s->idx, ti);
		STRESS_CHECK(!destroyed,
			     "round %u: sender %u: send accepted after "
			     "trp_runtime_destroy returned",
			     g.round, s->idx);
		s->accepted[ti]++;
	} else {
		if (rc == TRP_EDEAD)
			s->saw_dead[ti] = true;
		s->dead_rc[ti]++;
	}
}

/* The closer's step: close target @ti once it processed close_at. */
static void maybe_close(struct target *t, trp_actor_t *h)
{
	if (t->close_at == 0 ||
	    atomic_load_explicit(&t->closed, memory_order_relaxed) != 0)
		return;
	/* relaxed: a poll; the close itself is what is checked. */
	if (atomic_load_explicit(&t->progress, memory_order_relaxed) <
	    t->close_at)
		return;
	int rc = trp_actor_close(h);
	/* TRP_EDEAD: it stopped itself first (mode BOTH). */
	rt_rc("trp_actor_close", rc,
	      t->mode == MODE_BOTH ? RT_OK | RT_E(TRP_EDEAD) : RT_OK);
	atomic_fetch_or(&t->close_rc_seen, rc == 0 ? 1u : 2u);
	/* ORDER: release: senders that see it begin after the close. */
	atomic_store_explicit(&t->closed, 1, memory_order_release);
	/* Closing twice is harmless (0), or TRP_EDEAD once stopped. */
	rt_rc("trp_actor_close (again)", trp_actor_close(h),
	      RT_OK | RT_E(TRP_EDEAD));
}

static void *outside_main(void *arg)
{
	struct sender *s = arg;
	static const char *names[NOUT] = { "outside0", "outside1" };
	stress_watchdog_thread(&wd, names[s->idx]);
	stress_barrier_wait(&g.start);
	while (s->budget > 0) {
		send_one(s, (uint32_t)stress_rand_below(&s->rng, NTARGETS),
			 true);
		s->budget--;
		if ((stress_rand(&s->rng) & 31) == 0)
			sched_yield();
	}
	/* ORDER: release publishes our counts to main's acquire. */
	atomic_store_explicit(&s->done, 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void actor_sender_behavior(trp_actor_t *self, void *state,
				  const trp_msg_t *msg)
{
	struct sender *s = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_TICK && p.seq == s->tick_expect,
		     "round %u: actor sender %u: type %u tick %" PRIu64
		     ", expected %" PRIu64,
		     g.round, s->idx, msg->type, p.seq, s->tick_expect);
	s->tick_expect++;
	for (uint32_t i = 0; i < s->burst && s->budget > 0; i++, s->budget--) {
		send_one(s,
			 s->only_target0 ?
				 0 :
				 (uint32_t)stress_rand_below(&s->rng, NTARGETS),
			 false);
		if (s->closer)
			maybe_close(&g.targets[1], s->to[1]);
	}
	if (s->budget > 0) {
		RT_MUST("trp_send(tick)",
			rt_send(self, MSG_TICK, s->idx, 0, s->tick_seq++));
	} else {
		/* ORDER: release publishes our counts to main. */
		atomic_store_explicit(&s->done, 1, memory_order_release);
	}
}

static void actor_sender_stop(trp_actor_t *self, void *state,
			      trp_stop_reason_t why)
{
	(void)self;
	struct sender *s = state;
	uint32_t c = atomic_fetch_add_explicit(&s->stop_calls, 1,
					       memory_order_relaxed);
	STRESS_CHECK(c == 0 && why == TRP_STOP_CLOSED,
		     "round %u: actor sender %u: stop hook call %u reason %d",
		     g.round, s->idx, c + 1, (int)why);
	/* Our references to the targets go with us. */
	for (uint32_t i = 0; i < NTARGETS; i++) {
		STRESS_CHECK(!trp_actor_alive(s->to[i]),
			     "round %u: target %u alive at the end", g.round,
			     i);
		trp_actor_release(s->to[i]);
		s->to[i] = NULL;
	}
}

/* ------------------------------------------------------------- round -- */

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr, "  round %u\n", g.round);
	for (uint32_t i = 0; i < NTARGETS; i++) {
		struct target *t = &g.targets[i];
		fprintf(stderr,
			"  target %u: mode %s stop_at %" PRIu64
			" close_at %" PRIu64 " progress %" PRIu64
			" closed %u stop calls %u\n",
			i, mode_name[t->mode], t->stop_at, t->close_at,
			rt_get(&t->progress), atomic_load(&t->closed),
			atomic_load(&t->stop_calls));
	}
	for (uint32_t i = 0; i < NSENDERS; i++)
		fprintf(stderr, "  sender %u: attempts %" PRIu64 " done %u\n",
			i, rt_get(&g.senders[i].sent),
			atomic_load(&g.senders[i].done));
}

static void wait_flag(_Atomic(uint32_t) *f)
{
	/* ORDER: acquire pairs with the setter's release. */
	while (atomic_load_explicit(f, memory_order_acquire) == 0)
		stress_sleep_ms(1);
}

static void one_round(uint32_t round, uint64_t sends, uint64_t *rng)
{
	g.round = round;
	memset(g.targets, 0, sizeof g.targets);
	memset(g.senders, 0, sizeof g.senders);
	atomic_store(&g.destroyed, 0);
	atomic_store(&g.dead_other, 0);
	atomic_store(&g.hook_calls, 0);
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = (round % 2) ? 32 : 0;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));

	/* One round in three: the actor senders send their whole budget to
	 * a slow target 0 in one turn each, so it holds thousands of
	 * messages and they get muted on it (core/actor.h "Backpressure")
	 * while it stops. */
	bool mute_round = round % 3 == 2;
	uint64_t per_sender = sends / NSENDERS;
	/* each target gets about half of everything */
	uint64_t per_target = per_sender * NSENDERS / NTARGETS;
	trp_actor_def_t tdef = { target_behavior, NULL, target_stop, 0, 0 };
	for (uint32_t i = 0; i < NTARGETS; i++) {
		struct target *t = &g.targets[i];
		t->idx = i;
		t->mode = (enum mode)stress_rand_below(rng, NMODES);
		uint64_t lim = per_target / 2 + 1;
		/* mute rounds: stop target 0 once thousands are queued */
		uint64_t lo = (mute_round && i == 0) ? per_target / 4 : 0;
		if (t->mode != MODE_CLOSE)
			t->stop_at = 1 + lo + stress_rand_below(rng, lim);
		if (t->mode != MODE_SELF)
			t->close_at = 1 + lo + stress_rand_below(rng, lim);
		static const uint32_t spins[4] = { 0, 0, 500, 3000 };
		t->spin = spins[stress_rand_below(rng, 4)];
		if (mute_round && i == 0)
			t->spin = 3000;
		RT_MUST("trp_actor_spawn(target)",
			trp_actor_spawn(g.rt, &tdef, t, &g.target_h[i]));
		t->id = trp_actor_id(g.target_h[i]);
	}
	for (uint32_t i = 0; i < NSENDERS; i++) {
		struct sender *s = &g.senders[i];
		s->idx = i;
		s->rng = stress_rand_init(g.seed, round * 1000u + i);
		s->budget = per_sender;
		if (mute_round)
			/* actor senders 3/8 each, outside threads 1/8 each */
			s->budget = i < NOUT ? per_sender / 2 :
					       per_sender * 3 / 2;
		for (uint32_t k = 0; k < NTARGETS; k++)
			s->to[k] = trp_actor_retain(g.target_h[k]);
	}
	g.senders[NOUT].closer = true; /* actor sender 0 closes target 1 */
	for (uint32_t i = NOUT; i < NSENDERS; i++) {
		g.senders[i].burst = mute_round ? UINT32_MAX : BURST;
		g.senders[i].only_target0 = mute_round;
	}
	trp_actor_def_t adef = { actor_sender_behavior, NULL, actor_sender_stop,
				 0, 0 };
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("trp_actor_spawn(sender)",
			trp_actor_spawn(g.rt, &adef, &g.senders[NOUT + i],
					&g.actor_h[i]));

	stress_barrier_init(&g.start, NOUT + 1);
	pthread_t th[NOUT];
	for (uint32_t i = 0; i < NOUT; i++)
		th[i] = stress_thread_start(outside_main, &g.senders[i]);
	stress_barrier_wait(&g.start);
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("trp_send(first tick)",
			rt_send(g.actor_h[i], MSG_TICK, NOUT + i, 0,
				g.senders[NOUT + i].tick_seq++));
	/* Main closes target 0 when its count is reached. */
	bool saw_muted = false;
	for (;;) {
		maybe_close(&g.targets[0], g.target_h[0]);
		/* relaxed: coverage only (was a sender ever muted on it). */
		if (atomic_load_explicit(&g.target_h[0]->muted,
					 memory_order_relaxed) != NULL)
			saw_muted = true;
		bool all = true;
		for (uint32_t i = 0; i < NSENDERS; i++)
			all = all && atomic_load_explicit(&g.senders[i].done,
							  memory_order_acquire);
		if (all)
			break;
		sched_yield();
	}
	for (uint32_t i = 0; i < NOUT; i++)
		pthread_join(th[i], NULL);
	/* A target whose count was never reached (its senders' sends were
	 * refused earlier than planned, or its close_at lies beyond what it
	 * got): close it now so every target stops before destroy. */
	rt_wait_idle(g.rt);
	for (uint32_t i = 0; i < NTARGETS; i++) {
		if (!trp_actor_alive(g.target_h[i])) {
			wait_flag(&g.targets[i].stop_calls);
			continue;
		}
		int rc = trp_actor_close(g.target_h[i]);
		rt_rc("trp_actor_close (late)", rc, RT_OK);
		atomic_store_explicit(&g.targets[i].closed, 1,
				      memory_order_release);
	}
	rt_wait_idle(g.rt);
	/* Keep sending to the stopped targets from here (outside). */
	for (uint32_t i = 0; i < NOUT; i++)
		for (uint32_t k = 0; k < 100; k++)
			send_one(&g.senders[i], k % NTARGETS, true);
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("trp_actor_close(sender)",
			trp_actor_close(g.actor_h[i]));
	char label[32];
	snprintf(label, sizeof label, "round %u", round);
	trp_stats_t s = rt_assert_balanced(g.rt, label);
	STRESS_CHECK(s.dead_lettered == rt_get(&g.hook_calls),
		     "round %u: stats dead_lettered %" PRIu64
		     " != hook calls %" PRIu64,
		     round, s.dead_lettered, rt_get(&g.hook_calls));
	STRESS_CHECK(s.stopped == NTARGETS + NACT,
		     "round %u: stats stopped %" PRIu64, round, s.stopped);

	/* Half the rounds: main drops its target references before destroy,
	 * so the outside senders' are the last. */
	bool main_first = stress_rand_below(rng, 2) == 0;
	if (main_first)
		for (uint32_t i = 0; i < NTARGETS; i++) {
			trp_actor_release(g.target_h[i]);
			g.target_h[i] = NULL;
		}
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	/* ORDER: release: outside sends from now on may see ESHUTDOWN. */
	atomic_store_explicit(&g.destroyed, 1, memory_order_release);
	for (uint32_t i = 0; i < NOUT; i++)
		for (uint32_t k = 0; k < 10; k++)
			send_one(&g.senders[i], k % NTARGETS, true);

	/* Everything joined: the counts are final. */
	uint64_t accepted = 0, delivered = 0, dead = 0;
	for (uint32_t i = 0; i < NTARGETS; i++) {
		struct target *t = &g.targets[i];
		uint32_t calls = atomic_load(&t->stop_calls);
		uint32_t why = atomic_load(&t->stop_why);
		STRESS_CHECK(calls == 1,
			     "round %u target %u: stop hook ran %u "
			     "times",
			     round, i, calls);
		bool ok_why = (why == TRP_STOP_NORMAL && t->stop_at != 0) ||
			      why == TRP_STOP_CLOSED;
		STRESS_CHECK(ok_why,
			     "round %u target %u (mode %s): stop reason %u",
			     round, i, mode_name[t->mode], why);
		if (why == TRP_STOP_NORMAL)
			STRESS_CHECK(t->processed == t->stop_at,
				     "round %u target %u: stopped itself at "
				     "%" PRIu64 " but processed %" PRIu64,
				     round, i, t->stop_at, t->processed);
		for (uint32_t k = 0; k < NSENDERS; k++) {
			struct sender *sd = &g.senders[k];
			STRESS_CHECK(
				t->next_in[k] == sd->accepted[i],
				"round %u: sender %u -> target %u: %" PRIu64
				" accepted, %" PRIu64
				" processed or dead-lettered",
				round, k, i, sd->accepted[i], t->next_in[k]);
			accepted += sd->accepted[i];
		}
		delivered += t->processed;
		dead += t->dead;
	}
	STRESS_CHECK(delivered + dead == accepted,
		     "round %u: delivered %" PRIu64 " + dead %" PRIu64
		     " != accepted %" PRIu64,
		     round, delivered, dead, accepted);
	STRESS_CHECK(rt_get(&g.dead_other) == 0,
		     "round %u: %" PRIu64 " dead letters to the sender actors",
		     round, rt_get(&g.dead_other));
	g.last_accepted = accepted;
	g.last_muted = saw_muted;
	g.last_dead = dead;
	uint64_t refused = 0;
	for (uint32_t k = 0; k < NSENDERS; k++)
		for (uint32_t i = 0; i < NTARGETS; i++)
			refused += g.senders[k].dead_rc[i];
	if (round < 4 || round % 25 == 0)
		printf("  round %u: batch %u, modes %s/%s: accepted %" PRIu64
		       " = delivered %" PRIu64 " + dead-lettered %" PRIu64
		       ", refused %" PRIu64 "\n",
		       round, cfg.batch, mode_name[g.targets[0].mode],
		       mode_name[g.targets[1].mode], accepted, delivered, dead,
		       refused);

	/* Handles outlive the runtime. */
	for (uint32_t i = 0; i < NOUT; i++)
		for (uint32_t k = 0; k < NTARGETS; k++) {
			trp_actor_t *h = g.senders[i].to[k];
			STRESS_CHECK(!trp_actor_alive(h) &&
					     trp_actor_id(h) == g.targets[k].id,
				     "round %u: handle of target %u changed "
				     "after destroy",
				     round, k);
			trp_actor_release(h);
		}
	if (!main_first)
		for (uint32_t i = 0; i < NTARGETS; i++)
			trp_actor_release(g.target_h[i]);
	for (uint32_t i = 0; i < NACT; i++) {
		STRESS_CHECK(atomic_load(&g.senders[NOUT + i].stop_calls) == 1,
			     "round %u: actor sender %u: stop hook calls %u",
			     round, i,
			     atomic_load(&g.senders[NOUT + i].stop_calls));
		trp_actor_release(g.actor_h[i]);
	}
	stress_progress(&g.rounds_done, 1);
}

int main(void)
{
	g.seed = stress_init("rt_send_vs_stop");
	uint64_t total = stress_scaled(SENDS_BASE, 10000);
	uint64_t rng = stress_rand_init(g.seed, 1);
	uint32_t rounds = (uint32_t)stress_scaled(ROUNDS_BASE, ROUNDS_MIN);
	printf("%u rounds, %" PRIu64 " sends in all, %u targets, %u outside + "
	       "%u actor senders\n",
	       rounds, total, NTARGETS, NOUT, NACT);
	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "target behaviour calls", &g.progress);
	stress_watchdog_counter(&wd, "rounds done", &g.rounds_done);
	for (uint32_t i = 0; i < NSENDERS; i++)
		stress_watchdog_counter(&wd, "sender attempts",
					&g.senders[i].sent);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);
	uint64_t t0 = stress_now_ns();
	uint32_t modes[NMODES] = { 0 };
	uint64_t sum_acc = 0, sum_dead = 0;
	uint32_t muted_rounds = 0;
	for (uint32_t r = 0; r < rounds; r++) {
		one_round(r, total / rounds, &rng);
		sum_acc += g.last_accepted;
		sum_dead += g.last_dead;
		muted_rounds += g.last_muted;
		for (uint32_t i = 0; i < NTARGETS; i++)
			modes[g.targets[i].mode]++;
	}
	stress_watchdog_stop(&wd);
	printf("rt_send_vs_stop: OK %u rounds x %u targets (self %u, close %u, "
	       "both %u), %" PRIu64 " sends (%" PRIu64 " accepted, %" PRIu64
	       " of them dead-lettered; senders seen muted on a target in %u "
	       "rounds): every accepted message delivered or dead-lettered "
	       "exactly once in order, TRP_EDEAD after the stop, stop hooks "
	       "once; %.1f s\n",
	       rounds, NTARGETS, modes[MODE_SELF], modes[MODE_CLOSE],
	       modes[MODE_BOTH], total, sum_acc, sum_dead, muted_rounds,
	       stress_seconds_since(t0));
	return 0;
}
