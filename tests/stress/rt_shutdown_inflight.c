/*
 * tests/stress/rt_shutdown_inflight.c - T4: trp_runtime_destroy with a flood
 * of messages in flight, at a random moment, R times.
 *
 * One run: a runtime of 2 workers (batch: default, 1024 or 64, at random);
 * K "flooder" actors in a ring and 2 sinks registered as "sink0"/"sink1".
 * Each flooder looks the sinks up by name, holds a reference to its ring
 * successor, and on START sends F messages at once: 80 % to the sinks
 * (fan-in: the sinks fall far behind, so their senders get muted, see
 * core/actor.h "Backpressure"), the rest to its successor and itself; every
 * flood message it gets is forwarded the same way until its ttl runs out,
 * so about K*F messages are in flight. Some flooders stop themselves
 * (trp_actor_stop) after a random number of messages, so senders race
 * their stop (TRP_EDEAD, dead letters through the closed mailbox); every
 * flooder's stop hook sends one more message to its successor (allowed
 * outside shutdown) and drops its references. Main drops its own flooder
 * handles right after START in 3 runs of 4, so at shutdown most flooders
 * are freed as they are stopped, while the sinks they are muted on are
 * stopped later. An outside thread holding its own references to the sinks
 * and a few flooders sends the whole time, through the destroy and after
 * it. Main lets the flood run a random 0-20 ms (in one run of four only
 * after ~K*F/2 messages are in flight; in another one of four, with batch
 * 64, as soon as flooders are muted on a sink), then calls
 * trp_runtime_destroy_ex.
 *
 * Odd runs spawn the actors with a start hook (they begin scheduled); one
 * run in eight spawns the flooders while both workers are held in a long
 * turn of a sink and destroys right away (no START): none of them has run
 * its first turn (its start hook) at the destroy.
 *
 * Checks per run:
 * - destroy returns within 5 s (and the watchdog turns a hang into a
 *   failure with backtraces);
 * - every call returns a code allowed where it is made: behaviours' sends
 *   0 or TRP_EDEAD, their lookups 0 or TRP_ESHUTDOWN (a turn running into
 *   the shutdown); the outside thread 0, TRP_EDEAD or TRP_ESHUTDOWN, and
 *   never 0 once it has seen TRP_ESHUTDOWN or once destroy has returned;
 *   stop hooks at shutdown TRP_ESHUTDOWN or TRP_EDEAD (never 0);
 * - every message carries (sender, seq per (sender, receiver)); the
 *   receiver checks seq == previous + 1 per sender, and so does the
 *   dead-letter hook for the messages it gets: per pair, the processed
 *   messages and then the dead letters form exactly the sequence of sends
 *   that returned 0 (nothing lost, nothing twice, FIFO) - at the end, for
 *   every pair, the receiver's next expected seq == the sender's count of
 *   accepted sends;
 * - in total: accepted sends == processed + dead-lettered, exactly, and the
 *   final counters of trp_runtime_destroy_ex agree (sent, processed,
 *   dead_lettered each equal to ours);
 * - every stop hook ran exactly once (reason NORMAL for the self-stopped,
 *   SHUTDOWN for the others), also for an actor whose start hook never ran
 *   (runtime.h: destroy "stops every actor still alive (its stop hook runs
 *   on the calling thread"); a start hook runs at most once and before any
 *   behaviour;
 * - handles outlive the runtime: the last trp_actor_release (after
 *   destroy) frees it; ASan sees every actor freed during the destroy, and
 *   LSan proves nothing leaks at exit.
 *
 * Sizes: R = 100 × scale runs (at least 20: the sanitizer presets run 20),
 * K = 1000 × scale flooders (at least 50), F = 1000: about 10^6 messages
 * in flight at scale 1, 10^5 at 0.1.
 */
#include "rt_util.h"

#include "actor.h" /* internal: a sink's muted stack and queue count */

#define RUNS_BASE 100u
#define RUNS_MIN 20u
#define K_BASE 1000u
#define K_MIN 50u
#define F_PER_FLOODER 1000u
#define TTL 1000000u
#define NSINKS 2u
#define OUT_TARGETS 16u	    /* flooders the outside thread holds */
#define SELF_STOP_ONE_IN 8u /* flooders that stop themselves */
#define MAX_DELAY_US 20000u
#define DESTROY_LIMIT_S 5.0
#define LIMIT_S 600.0

enum {
	MSG_START = 1,
	MSG_FLOOD,
	MSG_OBIT,
	MSG_OUT,
	MSG_SPIN /* early runs: a sink keeps its worker busy */
};

#define SPIN_MS 50u

static const char *const sink_names[NSINKS] = { "sink0", "sink1" };

struct actor {
	uint32_t idx;
	bool sink;
	uint64_t rng;
	uint32_t *next_out; /* per receiver: accepted sends so far */
	uint32_t *next_in;  /* per sender: the seq expected next */
	trp_actor_t *succ;  /* flooders: ring successor (own reference) */
	uint32_t succ_idx;
	trp_actor_t *sinks[NSINKS]; /* looked up by name (own references) */
	bool no_sinks;		    /* the lookup met the shutdown */
	uint64_t self_stop_at;	    /* stop after this many messages */
	uint64_t processed, accepted, refused; /* behaviour-owned */
	bool stopped;
	bool has_start;		   /* spawned with a start hook (odd runs) */
	_Atomic(uint32_t) started; /* the start hook ran */
	_Atomic(uint32_t) stop_calls;
	_Atomic(uint32_t) stop_why;
};

static struct {
	uint32_t k, nactors;  /* nactors = k + NSINKS; sinks are k, k+1 */
	uint32_t out_sender;  /* sender index of the outside thread */
	uint32_t main_sender; /* sender index of main */
	uint32_t nsenders;
	trp_runtime_t *rt;
	trp_actor_t **handles; /* main's references (NULL once dropped) */
	struct actor *actors;
	struct rt_idset ids;
	uint32_t *pos2idx; /* idset position -> actor index */
	uint32_t out_idx[OUT_TARGETS + NSINKS]; /* the outside thread's */
	trp_actor_t *out_h[OUT_TARGETS + NSINKS];
	uint32_t n_out;
	uint32_t *out_next_out;	      /* outside thread: per receiver */
	uint32_t *main_next_out;      /* START accepted per actor (0 or 1) */
	_Atomic(uint32_t) destroying; /* 1: destroy called, 2: returned */
	struct stress_barrier start;
	uint64_t seed;
	uint32_t run;
	/* counters of the current run */
	_Atomic(uint64_t) dead;
	_Atomic(uint64_t) dead_shutdown;
	_Atomic(uint64_t) out_accepted;
	_Atomic(uint64_t) out_after; /* refused sends after destroy began */
	_Atomic(uint64_t) spinning;  /* sinks inside a MSG_SPIN */
	uint64_t main_accepted;
	/* watchdog (whole test) */
	_Atomic(uint64_t) runs_done;
	_Atomic(uint64_t) progress; /* behaviour calls, all runs */
	_Atomic(uint64_t) dead_total;
	_Atomic(uint64_t) out_attempts;
} g;

static struct stress_watchdog wd;

/* ---------------------------------------------------------- checks -- */

static struct actor *actor_of(trp_actor_t *a)
{
	int64_t i = rt_idset_find(&g.ids, trp_actor_id(a));
	if (i < 0)
		stress_fail("run %u: unknown actor id %" PRIu64, g.run,
			    trp_actor_id(a));
	return &g.actors[g.pos2idx[i]];
}

/* The next message of @p.sender to @r must carry the next seq. */
static void take_seq(struct actor *r, const struct rt_payload *p,
		     const char *how)
{
	STRESS_CHECK(p->sender < g.nsenders, "run %u: actor %u: sender %u",
		     g.run, r->idx, p->sender);
	STRESS_CHECK(p->seq == r->next_in[p->sender],
		     "run %u: actor %u %s seq %" PRIu64 " from sender %u, "
		     "expected %u (lost, duplicated or reordered)",
		     g.run, r->idx, how, p->seq, p->sender,
		     r->next_in[p->sender]);
	r->next_in[p->sender]++;
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	struct actor *r = actor_of(to);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(why == TRP_DEAD_STOPPED || why == TRP_DEAD_SHUTDOWN,
		     "run %u: dead-letter reason %d", g.run, (int)why);
	take_seq(r, &p,
		 why == TRP_DEAD_SHUTDOWN ? "dead-lettered (shutdown)" :
					    "dead-lettered (stopped)");
	rt_add(&g.dead, 1);
	if (why == TRP_DEAD_SHUTDOWN)
		rt_add(&g.dead_shutdown, 1);
	rt_add(&g.dead_total, 1);
}

/* ------------------------------------------------------------ actors -- */

/* A send from actor @a (behaviour or stop hook) to actor @to_idx. */
static int actor_send(struct actor *a, trp_actor_t *to, uint32_t to_idx,
		      uint32_t type, uint32_t ttl, uint32_t allowed)
{
	int rc = rt_send(to, type, a->idx, ttl, a->next_out[to_idx]);
	rt_rc("trp_send (actor)", rc, allowed);
	if (rc == 0) {
		a->next_out[to_idx]++;
		a->accepted++;
	} else {
		a->refused++;
	}
	return rc;
}

/* 40 % sink0, 40 % sink1, 10 % successor, 10 % itself. */
static void flood_one(struct actor *a, trp_actor_t *self, uint32_t ttl)
{
	uint64_t r = stress_rand_below(&a->rng, 10);
	if (r < 8 && !a->no_sinks) {
		uint32_t s = (uint32_t)(r & 1);
		actor_send(a, a->sinks[s], g.k + s, MSG_FLOOD, 0,
			   RT_OK | RT_E(TRP_EDEAD));
	} else if (r == 8 && a->succ != NULL) {
		actor_send(a, a->succ, a->succ_idx, MSG_FLOOD, ttl,
			   RT_OK | RT_E(TRP_EDEAD));
	} else {
		actor_send(a, self, a->idx, MSG_FLOOD, ttl,
			   RT_OK | RT_E(TRP_EDEAD));
	}
}

static void actor_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct actor *a = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(!a->stopped, "run %u: actor %u runs after it stopped",
		     g.run, a->idx);
	STRESS_CHECK(!a->has_start ||
			     atomic_load_explicit(&a->started,
						  memory_order_relaxed),
		     "run %u: actor %u: behaviour before its start hook", g.run,
		     a->idx);
	take_seq(a, &p, "processed");
	a->processed++;
	stress_progress(&g.progress, 1);
	if (msg->type == MSG_SPIN) {
		/* Hold this worker (a turn is never cut short), so the
		 * actors spawned meanwhile are still queued, not started,
		 * when the destroy comes. */
		rt_add(&g.spinning, 1);
		uint64_t t0 = stress_now_ns();
		while (stress_now_ns() - t0 < SPIN_MS * 1000000ull)
			stress_cpu_relax();
		return;
	}
	if (a->sink)
		return;
	if (a->sinks[0] == NULL && !a->no_sinks) {
		/* By name, as the storm's counters do. A turn may run into
		 * the shutdown: then the name table refuses. */
		for (uint32_t s = 0; s < NSINKS && !a->no_sinks; s++) {
			int rc = trp_lookup(trp_actor_runtime(self),
					    sink_names[s], &a->sinks[s]);
			rt_rc("trp_lookup (sink)", rc,
			      RT_OK | RT_E(TRP_ESHUTDOWN));
			if (rc != 0)
				a->no_sinks = true;
		}
	}
	switch (msg->type) {
	case MSG_START:
		for (uint32_t i = 0; i < F_PER_FLOODER; i++)
			flood_one(a, self, TTL);
		break;
	case MSG_FLOOD:
		if (p.aux > 0)
			flood_one(a, self, p.aux - 1);
		break;
	case MSG_OBIT:
	case MSG_OUT:
		break;
	default:
		stress_fail("run %u: actor %u: message type %u", g.run, a->idx,
			    msg->type);
	}
	if (a->self_stop_at != 0 && a->processed >= a->self_stop_at) {
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		a->self_stop_at = 0;
	}
}

static void actor_start(trp_actor_t *self, void *state)
{
	(void)self;
	struct actor *a = state;
	/* relaxed: the actor's own flag (read in its later turns, and after
	 * destroy). */
	uint32_t n =
		atomic_fetch_add_explicit(&a->started, 1, memory_order_relaxed);
	STRESS_CHECK(n == 0, "run %u: actor %u: start hook ran again", g.run,
		     a->idx);
}

static void actor_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	struct actor *a = state;
	/* relaxed: read after destroy returned (workers joined). */
	uint32_t calls = atomic_fetch_add_explicit(&a->stop_calls, 1,
						   memory_order_relaxed);
	STRESS_CHECK(calls == 0,
		     "run %u: actor %u: stop hook called again (reason %d)",
		     g.run, a->idx, (int)why);
	atomic_store_explicit(&a->stop_why, (uint32_t)why,
			      memory_order_relaxed);
	a->stopped = true;
	if (a->sink || a->succ == NULL)
		return;
	/* A send from the stop hook: allowed except at shutdown. */
	actor_send(a, a->succ, a->succ_idx, MSG_OBIT, 0,
		   why == TRP_STOP_SHUTDOWN ?
			   RT_E(TRP_ESHUTDOWN) | RT_E(TRP_EDEAD) :
			   RT_OK | RT_E(TRP_EDEAD));
	/* Our references go with us: at shutdown this frees actors that
	 * were already stopped (and maybe muted on a sink). */
	trp_actor_release(a->succ);
	a->succ = NULL;
	for (uint32_t s = 0; s < NSINKS; s++) {
		trp_actor_release(a->sinks[s]);
		a->sinks[s] = NULL;
	}
}

/* ------------------------------------------------- the outside sender -- */

static void *sender_main(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&wd, "outside-sender");
	uint64_t rng = stress_rand_init(g.seed, 7777 + g.run);
	stress_barrier_wait(&g.start);
	bool saw_shutdown = false;
	uint64_t after_return = 0;
	for (;;) {
		/* ORDER: acquire pairs with main's release stores. */
		uint32_t phase = atomic_load_explicit(&g.destroying,
						      memory_order_acquire);
		if (phase == 2 && after_return >= 1000)
			break;
		uint32_t i = (uint32_t)stress_rand_below(&rng, g.n_out);
		uint32_t to = g.out_idx[i];
		int rc = rt_send(g.out_h[i], MSG_OUT, g.out_sender, 0,
				 g.out_next_out[to]);
		rt_rc("trp_send (outside)", rc,
		      RT_OK | RT_E(TRP_EDEAD) | RT_E(TRP_ESHUTDOWN));
		stress_progress(&g.out_attempts, 1);
		if (rc == 0) {
			STRESS_CHECK(!saw_shutdown,
				     "run %u: outside send accepted after "
				     "TRP_ESHUTDOWN",
				     g.run);
			STRESS_CHECK(phase != 2,
				     "run %u: outside send accepted after "
				     "trp_runtime_destroy returned",
				     g.run);
			g.out_next_out[to]++;
			rt_add(&g.out_accepted, 1);
		} else if (rc == TRP_ESHUTDOWN) {
			saw_shutdown = true;
		}
		if (phase != 0 && rc != 0)
			rt_add(&g.out_after, 1);
		if (phase == 2)
			after_return++;
		/* Some pacing so the flood is the actors', not ours. */
		if ((stress_rand(&rng) & 15) == 0)
			sched_yield();
	}
	/* After destroy: handles still valid, sends refused, then the last
	 * references go (the runtime's memory with the very last one). */
	for (uint32_t i = 0; i < g.n_out; i++) {
		STRESS_CHECK(!trp_actor_alive(g.out_h[i]),
			     "run %u: actor %u alive after destroy", g.run,
			     g.out_idx[i]);
		trp_actor_release(g.out_h[i]);
		g.out_h[i] = NULL;
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* --------------------------------------------------------------- run -- */

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr,
		"  run %u: destroying=%u, dead this run %" PRIu64
		", outside accepted %" PRIu64 "\n",
		g.run, atomic_load(&g.destroying), rt_get(&g.dead),
		rt_get(&g.out_accepted));
}

struct run_result {
	bool muted;	    /* senders were muted on a sink at destroy */
	uint64_t in_flight; /* dead letters at shutdown */
	double destroy_s;
	uint64_t accepted;
};

static struct run_result one_run(uint32_t run, uint64_t *rng)
{
	struct run_result res = { false, 0, 0, 0 };
	g.run = run;
	g.nactors = g.k + NSINKS;
	g.out_sender = g.nactors;
	g.main_sender = g.nactors + 1;
	g.nsenders = g.nactors + 2;
	atomic_store(&g.destroying, 0);
	atomic_store(&g.dead, 0);
	atomic_store(&g.dead_shutdown, 0);
	atomic_store(&g.out_accepted, 0);
	atomic_store(&g.out_after, 0);
	atomic_store(&g.spinning, 0);
	g.main_accepted = 0;

	static const uint32_t batches[3] = { 0, 1024, 64 };
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = batches[stress_rand_below(rng, 3)];
	/* One run in four waits for muted senders before the destroy; with
	 * a small batch the sinks' last turns leave them muted. */
	bool want_muted = run % 4 == 2;
	if (want_muted)
		cfg.batch = 64;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));

	g.actors = calloc(g.nactors, sizeof *g.actors);
	g.handles = calloc(g.nactors, sizeof *g.handles);
	g.out_next_out = calloc(g.nactors, sizeof *g.out_next_out);
	g.main_next_out = calloc(g.nactors, sizeof *g.main_next_out);
	g.pos2idx = calloc(g.nactors, sizeof *g.pos2idx);
	STRESS_CHECK(g.actors && g.handles && g.out_next_out &&
			     g.main_next_out && g.pos2idx,
		     "out of memory");
	rt_idset_init(&g.ids, g.nactors);
	/* Odd runs: with a start hook (the actor starts scheduled; its first
	 * turn runs the hook). One run in eight is destroyed right after
	 * the spawns, so some actors have not run their first turn:
	 * their stop hook must still run (runtime.h: destroy "stops every
	 * actor still alive (its stop hook runs on the calling thread"). */
	bool with_start = run % 2 == 1;
	bool early = run % 8 == 7;
	trp_actor_def_t def = { actor_behavior, with_start ? actor_start : NULL,
				actor_stop, 0, 0 };
	for (uint32_t i = 0; i < g.nactors; i++) {
		struct actor *a = &g.actors[i];
		a->idx = i;
		a->sink = i >= g.k;
		a->rng = stress_rand_init(g.seed, (uint64_t)run * 100003u + i);
		a->next_out = calloc(g.nactors, sizeof *a->next_out);
		a->next_in = calloc(g.nsenders, sizeof *a->next_in);
		a->has_start = with_start;
		STRESS_CHECK(a->next_out && a->next_in, "out of memory");
		if (!a->sink &&
		    stress_rand_below(&a->rng, SELF_STOP_ONE_IN) == 0)
			a->self_stop_at =
				1 +
				stress_rand_below(&a->rng, 3 * F_PER_FLOODER);
	}
	/* The sinks first: the runtime stops its actors newest first at
	 * shutdown, so the flooders (freed as they stop) go before the
	 * sinks they may be muted on. */
	for (uint32_t s = 0; s < NSINKS; s++) {
		RT_MUST("trp_actor_spawn(sink)",
			trp_actor_spawn(g.rt, &def, &g.actors[g.k + s],
					&g.handles[g.k + s]));
		RT_MUST("trp_register",
			trp_register(g.rt, sink_names[s], g.handles[g.k + s]));
	}
	/* The outside thread's own references: both sinks, and (not in the
	 * early runs) a few flooders. */
	g.n_out = 0;
	for (uint32_t s = 0; s < NSINKS; s++)
		g.out_idx[g.n_out++] = g.k + s;
	pthread_t sender = pthread_self(); /* set below, on both paths */
	if (early) {
		/* Both workers busy in a sink's long turn; then spawn the
		 * flooders (their first turns queue up behind) and destroy at
		 * once: no ring, nothing sent to them; the sender is already
		 * running. */
		for (uint32_t s = 0; s < NSINKS; s++) {
			RT_MUST("trp_send(SPIN)",
				rt_send(g.handles[g.k + s], MSG_SPIN,
					g.main_sender, 0, 0));
			g.main_next_out[g.k + s] = 1;
			g.main_accepted++;
		}
		uint64_t t0 = stress_now_ns();
		while (rt_get(&g.spinning) < NSINKS &&
		       stress_seconds_since(t0) < 0.5)
			stress_cpu_relax();
		for (uint32_t i = 0; i < g.n_out; i++)
			g.out_h[i] = trp_actor_retain(g.handles[g.out_idx[i]]);
		stress_barrier_init(&g.start, 2);
		sender = stress_thread_start(sender_main, NULL);
		stress_barrier_wait(&g.start);
	}
	for (uint32_t i = 0; i < g.k; i++)
		RT_MUST("trp_actor_spawn",
			trp_actor_spawn(g.rt, &def, &g.actors[i],
					&g.handles[i]));
	/* idset positions are the spawn order: map them to indexes. */
	for (uint32_t j = 0; j < g.nactors; j++) {
		uint32_t i = j < NSINKS ? g.k + j : j - NSINKS;
		g.pos2idx[rt_idset_add(&g.ids, trp_actor_id(g.handles[i]))] = i;
	}
	if (!early) {
		for (uint32_t i = 0; i < g.k; i++) {
			struct actor *a = &g.actors[i];
			a->succ_idx = (i + 1) % g.k;
			a->succ = trp_actor_retain(g.handles[a->succ_idx]);
		}
		for (uint32_t i = 0; i < OUT_TARGETS && i < g.k; i++)
			g.out_idx[g.n_out++] =
				(uint32_t)stress_rand_below(rng, g.k);
		for (uint32_t i = 0; i < g.n_out; i++)
			g.out_h[i] = trp_actor_retain(g.handles[g.out_idx[i]]);
		stress_barrier_init(&g.start, 2);
		sender = stress_thread_start(sender_main, NULL);
		stress_barrier_wait(&g.start);
	}

	for (uint32_t i = 0; i < g.k && !early; i++) {
		/* TRP_EDEAD: flood messages from the flooders started before
		 * it may already have made it stop itself. */
		int rc = rt_send(g.handles[i], MSG_START, g.main_sender, 0, 0);
		rt_rc("trp_send(START)", rc, RT_OK | RT_E(TRP_EDEAD));
		if (rc == 0) {
			g.main_next_out[i] = 1;
			g.main_accepted++;
		}
	}
	bool drop = run % 4 != 3;
	if (drop)
		for (uint32_t i = 0; i < g.k; i++) {
			trp_actor_release(g.handles[i]);
			g.handles[i] = NULL;
		}
	uint64_t target = (uint64_t)g.k * F_PER_FLOODER;
	if (run % 4 == 1 && !early) {
		/* Wait for the flood to build up (at most 200 ms). */
		uint64_t t0 = stress_now_ns();
		for (;;) {
			trp_stats_t s = rt_stats(g.rt);
			if (s.sent - s.processed - s.dead_lettered >=
				    target * 6 / 10 ||
			    stress_seconds_since(t0) > 0.2)
				break;
			stress_sleep_ms(1);
		}
	}
	if (want_muted) {
		/* relaxed: polls of runtime internals (coverage only). */
		uint64_t t0 = stress_now_ns();
		while (stress_seconds_since(t0) < 0.3) {
			struct trp_actor *s0 = g.out_h[0], *s1 = g.out_h[1];
			if ((atomic_load_explicit(&s0->muted,
						  memory_order_relaxed) ||
			     atomic_load_explicit(&s1->muted,
						  memory_order_relaxed)) &&
			    trp__mailbox_count_hint(&s0->mailbox) +
					    trp__mailbox_count_hint(
						    &s1->mailbox) >=
				    4096)
				break;
			sched_yield();
		}
	}
	uint64_t delay_us = want_muted || early ?
				    0 :
				    stress_rand_below(rng, MAX_DELAY_US + 1);
	if (delay_us > 0) {
		struct timespec ts = { 0, (long)delay_us * 1000 };
		nanosleep(&ts, NULL);
	}

	/* ORDER: release: the sender sees the phase after our sends. */
	atomic_store_explicit(&g.destroying, 1, memory_order_release);
	/* relaxed: coverage only; the workers still run. */
	res.muted = atomic_load_explicit(&g.out_h[0]->muted,
					 memory_order_relaxed) != NULL ||
		    atomic_load_explicit(&g.out_h[1]->muted,
					 memory_order_relaxed) != NULL;
	trp_stats_t fin;
	uint64_t t0 = stress_now_ns();
	RT_MUST("trp_runtime_destroy_ex", trp_runtime_destroy_ex(g.rt, &fin));
	res.destroy_s = stress_seconds_since(t0);
	atomic_store_explicit(&g.destroying, 2, memory_order_release);
	STRESS_CHECK(res.destroy_s < DESTROY_LIMIT_S,
		     "run %u: trp_runtime_destroy took %.2f s", run,
		     res.destroy_s);
	pthread_join(sender, NULL);

	/* Workers and the sender are joined: everything is ours to read. */
	uint64_t accepted = g.main_accepted + rt_get(&g.out_accepted);
	uint64_t processed = 0;
	uint32_t self_stopped = 0;
	for (uint32_t i = 0; i < g.nactors; i++) {
		struct actor *a = &g.actors[i];
		accepted += a->accepted;
		processed += a->processed;
		uint32_t calls = atomic_load(&a->stop_calls);
		uint32_t why = atomic_load(&a->stop_why);
		uint32_t started = atomic_load(&a->started);
		STRESS_CHECK(calls == 1,
			     "run %u: actor %u: stop hook ran %u times (it has "
			     "%sa start hook%s)",
			     run, i, calls, with_start ? "" : "no ",
			     with_start ? (started ? ", which ran" :
						     ", which never ran") :
					  "");
		STRESS_CHECK(why == TRP_STOP_SHUTDOWN || why == TRP_STOP_NORMAL,
			     "run %u: actor %u: stop reason %u", run, i, why);
		if (why == TRP_STOP_NORMAL)
			self_stopped++;
		/* Per pair: processed + dead-lettered == accepted, exactly. */
		for (uint32_t s = 0; s < g.nactors; s++)
			STRESS_CHECK(a->next_in[s] == g.actors[s].next_out[i],
				     "run %u: pair %u -> %u: %u accepted, %u "
				     "processed or dead-lettered",
				     run, s, i, g.actors[s].next_out[i],
				     a->next_in[s]);
		STRESS_CHECK(a->next_in[g.out_sender] == g.out_next_out[i],
			     "run %u: outside -> %u: %u accepted, %u processed "
			     "or dead-lettered",
			     run, i, g.out_next_out[i],
			     a->next_in[g.out_sender]);
		STRESS_CHECK(
			a->next_in[g.main_sender] == g.main_next_out[i],
			"run %u: actor %u: %u START accepted, %u processed "
			"or dead-lettered",
			run, i, g.main_next_out[i], a->next_in[g.main_sender]);
	}
	uint64_t dead = rt_get(&g.dead);
	STRESS_CHECK(accepted == processed + dead,
		     "run %u: %" PRIu64 " sends accepted != %" PRIu64
		     " processed + %" PRIu64 " dead-lettered",
		     run, accepted, processed, dead);
	char why[256];
	STRESS_CHECK(balance_holds(&fin, why, sizeof why), "run %u: final %s",
		     run, why);
	STRESS_CHECK(fin.sent == accepted && fin.processed == processed &&
			     fin.dead_lettered == dead,
		     "run %u: final stats sent/processed/dead %" PRIu64
		     "/%" PRIu64 "/%" PRIu64 ", counted here %" PRIu64
		     "/%" PRIu64 "/%" PRIu64,
		     run, fin.sent, fin.processed, fin.dead_lettered, accepted,
		     processed, dead);
	STRESS_CHECK(fin.stopped == g.nactors,
		     "run %u: final stats stopped %" PRIu64 " of %u actors",
		     run, fin.stopped, g.nactors);
	res.in_flight = rt_get(&g.dead_shutdown);
	res.accepted = accepted;
	if (run < 4 || run % 10 == 0)
		printf("  run %u: batch %u, %s handles: accepted %" PRIu64
		       " processed %" PRIu64 " dead %" PRIu64
		       " (in flight at shutdown %" PRIu64
		       "), %u self-stopped, outside refused after destroy "
		       "began %" PRIu64 ", destroy %.1f ms\n",
		       run, cfg.batch, drop ? "dropped" : "kept", accepted,
		       processed, dead, res.in_flight, self_stopped,
		       rt_get(&g.out_after), res.destroy_s * 1e3);

	for (uint32_t i = 0; i < g.nactors; i++) {
		if (g.handles[i] != NULL) {
			STRESS_CHECK(!trp_actor_alive(g.handles[i]),
				     "run %u: actor %u alive after destroy",
				     run, i);
			trp_actor_release(g.handles[i]);
		}
		free(g.actors[i].next_out);
		free(g.actors[i].next_in);
	}
	free(g.actors);
	free(g.handles);
	free(g.out_next_out);
	free(g.main_next_out);
	free(g.pos2idx);
	rt_idset_free(&g.ids);
	g.actors = NULL;
	g.handles = NULL;
	g.rt = NULL;
	return res;
}

int main(void)
{
	g.seed = stress_init("rt_shutdown_inflight");
	uint32_t runs = (uint32_t)stress_scaled(RUNS_BASE, RUNS_MIN);
	g.k = (uint32_t)stress_scaled(K_BASE, K_MIN);
	printf("runs=%u K=%u F=%u (~%u messages in flight)\n", runs, g.k,
	       F_PER_FLOODER, g.k * F_PER_FLOODER);
	uint64_t rng = stress_rand_init(g.seed, 1);

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "runs done", &g.runs_done);
	stress_watchdog_counter(&wd, "behaviour calls", &g.progress);
	stress_watchdog_counter(&wd, "dead letters", &g.dead_total);
	stress_watchdog_info(&wd, "outside send attempts", &g.out_attempts);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns();
	uint64_t min_if = UINT64_MAX, max_if = 0, sum_if = 0, total = 0;
	double max_destroy = 0;
	uint32_t muted_runs = 0;
	for (uint32_t r = 0; r < runs; r++) {
		struct run_result res = one_run(r, &rng);
		muted_runs += res.muted;
		if (res.in_flight < min_if)
			min_if = res.in_flight;
		if (res.in_flight > max_if)
			max_if = res.in_flight;
		sum_if += res.in_flight;
		total += res.accepted;
		if (res.destroy_s > max_destroy)
			max_destroy = res.destroy_s;
		stress_progress(&g.runs_done, 1);
	}
	stress_watchdog_stop(&wd);
	printf("rt_shutdown_inflight: OK %u runs, %" PRIu64
	       " messages accepted in all; in flight at destroy min/avg/max "
	       "%" PRIu64 "/%" PRIu64 "/%" PRIu64
	       "; %u destroys with senders muted on a sink; slowest destroy "
	       "%.1f ms; every message processed or dead-lettered exactly "
	       "once in order, stop hooks once; %.1f s\n",
	       runs, total, min_if, sum_if / runs, max_if, muted_runs,
	       max_destroy * 1e3, stress_seconds_since(t0));
	return 0;
}
