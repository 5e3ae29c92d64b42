/*
 * tests/stress/rt_registry_churn.c - T6: the name table under churn.
 *
 * Three outside threads and two actors (which work in bursts and message
 * themselves to continue) run random operations on a small set of names
 * while the actors behind those names are spawned and stopped:
 *   spawn a candidate for name n; trp_register(n, candidate);
 *   trp_unregister(n); trp_lookup(n) then trp_send through the handle;
 *   trp_send_named(n); stop a candidate (trp_actor_close, or a STOP message
 *   after which it calls trp_actor_stop).
 * Every candidate belongs to ONE name for its whole life (the test only ever
 * registers it under that name), so the name an actor answers to is known.
 * The run is cut into phases; odd phases use 200 new names (unregistered at
 * the start) instead of the 8 hot ones, and names registered in earlier
 * phases stay, so the table grows past its initial size again and again
 * (64 -> 1024 slots) while readers probe it.
 *
 * Checks during the run:
 * - every return code is one the call documents for this situation:
 *   register 0/EEXIST/EBUSY/EDEAD, unregister 0/ENOENT, lookup 0/ENOENT,
 *   send_named 0/ENOENT/EDEAD, send through a looked-up handle 0/EDEAD,
 *   close 0/EDEAD, spawn 0;
 * - a lookup of n returns a handle to one of the test's actors whose name
 *   is n (live or recently stopped, never garbage: ASan), and a message sent
 *   by name n is delivered to an actor of name n;
 * - every message carries (sender, seq): a receiver sees each sender's seqs
 *   rising (they may go to several actors over time);
 * - the dead-letter hook gets only messages addressed to that actor's name.
 * Checks at the end of each phase, when all churners stopped and the
 * runtime is idle (so the table is exact: stopped actors' names are gone):
 * - for each name: lookup gives ENOENT or a LIVE actor X of that name;
 *   registering another unnamed candidate there gives EEXIST (a name never
 *   maps to two actors); unregister gives 0 once, then ENOENT, and lookup and
 *   send_named give ENOENT; registering a live candidate again gives 0 and
 *   lookup then returns exactly it.
 * Checks at the end: sends accepted (rc 0) == delivered + dead-lettered,
 * exactly, for data and STOP messages; trp_runtime_stats agrees; each stop
 * hook ran exactly once.
 *
 * Sizes: 10^5 × scale operations (at least 10^5: cheap enough for the
 * sanitizer presets too) over 10 phases.
 */
#include "rt_util.h"

#define OPS_BASE 100000u
#define OPS_MIN 100000u
#define PHASES 10u
#define NAMES_HOT 8u
#define NAMES_WIDE 200u
#define NAMES_ALL (NAMES_HOT + (PHASES / 2) * NAMES_WIDE)
#define MAXC 128u /* candidates per name */
#define MAXACT (NAMES_ALL * MAXC + 64u)
#define NOUT 3u
#define NACT 2u
#define NCHURN (NOUT + NACT)
#define BURST 32u
#define LIMIT_S 600.0

enum {
	MSG_DATA = 1,
	MSG_STOP,
	MSG_TICK
};

/* One candidate actor: allocated before its spawn, it is the actor's state;
 * freed at the end of the test. */
struct info {
	uint32_t name;	     /* the one name it may hold; immutable */
	uint64_t id;	     /* set before publication */
	trp_actor_t *handle; /* the test's reference (released at the end) */
	_Atomic(uint32_t) stops;
	_Atomic(uint32_t) why;
	_Atomic(uint64_t) delivered; /* DATA processed */
	_Atomic(uint64_t) stop_msgs; /* STOP processed */
	uint64_t last_seq[NCHURN];   /* behaviour-owned */
	bool seen[NCHURN];
};

struct slotlist {
	_Atomic(uint32_t) n;		/* slots reserved */
	_Atomic(struct info *) s[MAXC]; /* NULL until published */
};

struct churner {
	uint32_t idx;
	uint64_t rng;
	uint64_t seq;	 /* per sender, every DATA/STOP message */
	uint64_t budget; /* ops left in this phase */
	_Atomic(uint32_t) done;
	_Atomic(uint64_t) ops;
	_Atomic(uint64_t) data_accepted, stop_accepted, ticks_accepted;
	uint64_t rc_count[6][17]; /* per op, per -rc (one writer) */
	uint64_t tick_expect, tick_seq;
};

static struct {
	uint64_t seed;
	trp_runtime_t *rt;
	uint64_t base_id;
	_Atomic(struct info *) *by_id; /* MAXACT, index id - base_id */
	struct slotlist *slots;	       /* per name */
	char names[NAMES_ALL][16];
	uint32_t phase, nnames, name0; /* names of the phase */
	struct churner ch[NCHURN];
	trp_actor_t *act_h[NACT];
	struct stress_barrier start;
	_Atomic(uint64_t) dead_data, dead_stop, dead_other;
	_Atomic(uint64_t) phases_done;
	_Atomic(uint64_t) checks; /* quiescent checks done */
	uint64_t main_seq;	  /* main's messages: sender NCHURN - ... */
} g;

static struct stress_watchdog wd;

enum op {
	OP_SPAWN,
	OP_REGISTER,
	OP_UNREGISTER,
	OP_LOOKUP,
	OP_SEND_NAMED,
	OP_STOP,
	NOPS
};
static const char *const op_name[NOPS] = { "spawn",  "register",   "unregister",
					   "lookup", "send_named", "stop" };

/* ------------------------------------------------------- bookkeeping -- */

/* The candidate behind a handle the registry gave us; fails on anything
 * that is not one of our published candidates. */
static struct info *info_of(trp_actor_t *a)
{
	uint64_t id = trp_actor_id(a);
	STRESS_CHECK(id >= g.base_id && id - g.base_id < MAXACT,
		     "actor id %" PRIu64 " is not one of ours (base %" PRIu64
		     ")",
		     id, g.base_id);
	/* ORDER: acquire pairs with the spawner's release: it published
	 * the info before the actor could be registered. */
	struct info *in = atomic_load_explicit(&g.by_id[id - g.base_id],
					       memory_order_acquire);
	STRESS_CHECK(in != NULL && in->id == id && in->handle == a,
		     "actor id %" PRIu64 " is not a published candidate", id);
	return in;
}

static void candidate_behavior(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	struct info *in = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.aux == in->name,
		     "a message for name %s reached actor %" PRIu64
		     " of name %s (type %u)",
		     p.aux < NAMES_ALL ? g.names[p.aux] : "?",
		     trp_actor_id(self), g.names[in->name], msg->type);
	STRESS_CHECK(p.sender <= NCHURN, "sender %u", p.sender);
	if (p.sender < NCHURN) {
		STRESS_CHECK(!in->seen[p.sender] ||
				     p.seq > in->last_seq[p.sender],
			     "actor %" PRIu64 ": sender %u seq %" PRIu64
			     " after %" PRIu64 " (reordered)",
			     trp_actor_id(self), p.sender, p.seq,
			     in->last_seq[p.sender]);
		in->seen[p.sender] = true;
		in->last_seq[p.sender] = p.seq;
	}
	if (msg->type == MSG_DATA) {
		rt_add(&in->delivered, 1);
	} else {
		STRESS_CHECK(msg->type == MSG_STOP, "message type %u",
			     msg->type);
		rt_add(&in->stop_msgs, 1);
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
	}
}

static void candidate_stop(trp_actor_t *self, void *state,
			   trp_stop_reason_t why)
{
	struct info *in = state;
	/* relaxed: checked at the end, after destroy. */
	uint32_t c =
		atomic_fetch_add_explicit(&in->stops, 1, memory_order_relaxed);
	STRESS_CHECK(c == 0, "actor %" PRIu64 ": stop hook ran again",
		     trp_actor_id(self));
	atomic_store_explicit(&in->why, (uint32_t)why, memory_order_relaxed);
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	(void)why;
	uint64_t id = trp_actor_id(to);
	struct info *in = NULL;
	if (id >= g.base_id && id - g.base_id < MAXACT)
		in = atomic_load_explicit(&g.by_id[id - g.base_id],
					  memory_order_acquire);
	if (in == NULL) {
		rt_add(&g.dead_other, 1);
		return;
	}
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.aux == in->name,
		     "dead letter for name %u addressed to an actor of name %u",
		     p.aux, in->name);
	rt_add(msg->type == MSG_DATA ? &g.dead_data : &g.dead_stop, 1);
}

/* Spawns and publishes a candidate for name @n (NULL if its slots are
 * full). Any thread, behaviours included. */
static struct info *spawn_candidate(uint32_t n)
{
	struct slotlist *sl = &g.slots[n];
	/* relaxed: a slot reservation; the slot is published below. */
	uint32_t i = atomic_fetch_add_explicit(&sl->n, 1, memory_order_relaxed);
	if (i >= MAXC) {
		atomic_fetch_sub_explicit(&sl->n, 1, memory_order_relaxed);
		return NULL;
	}
	struct info *in = calloc(1, sizeof *in);
	STRESS_CHECK(in != NULL, "out of memory");
	in->name = n;
	trp_actor_def_t def = { candidate_behavior, NULL, candidate_stop, 0,
				0 };
	RT_MUST("trp_actor_spawn",
		trp_actor_spawn(g.rt, &def, in, &in->handle));
	in->id = trp_actor_id(in->handle);
	STRESS_CHECK(in->id >= g.base_id && in->id - g.base_id < MAXACT,
		     "actor id %" PRIu64 " beyond the table", in->id);
	/* ORDER: release publishes *in to info_of / the dead-letter hook. */
	atomic_store_explicit(&g.by_id[in->id - g.base_id], in,
			      memory_order_release);
	/* ORDER: release publishes *in to random_candidate. */
	atomic_store_explicit(&sl->s[i], in, memory_order_release);
	return in;
}

static struct info *random_candidate(uint32_t n, uint64_t *rng)
{
	struct slotlist *sl = &g.slots[n];
	/* relaxed: a bound; the slot itself is acquired. */
	uint32_t cnt = atomic_load_explicit(&sl->n, memory_order_relaxed);
	if (cnt > MAXC)
		cnt = MAXC;
	if (cnt == 0)
		return NULL;
	/* ORDER: acquire pairs with the spawner's release store. */
	return atomic_load_explicit(&sl->s[stress_rand_below(rng, cnt)],
				    memory_order_acquire);
}

/* ---------------------------------------------------------- churning -- */

static int note_rc(struct churner *c, enum op op, int rc, uint32_t allowed)
{
	rt_rc(op_name[op], rc, allowed);
	c->rc_count[op][-rc]++;
	return rc;
}

static void churn_op(struct churner *c)
{
	uint32_t n = g.name0 + (uint32_t)stress_rand_below(&c->rng, g.nnames);
	const char *name = g.names[n];
	uint64_t r = stress_rand_below(&c->rng, 100);
	stress_progress(&c->ops, 1);
	if (r < 3) {
		if (spawn_candidate(n) != NULL)
			c->rc_count[OP_SPAWN][0]++;
	} else if (r < 18) {
		struct info *in = random_candidate(n, &c->rng);
		if (in != NULL)
			note_rc(c, OP_REGISTER,
				trp_register(g.rt, name, in->handle),
				RT_OK | RT_E(TRP_EEXIST) | RT_E(TRP_EBUSY) |
					RT_E(TRP_EDEAD));
	} else if (r < 26) {
		note_rc(c, OP_UNREGISTER, trp_unregister(g.rt, name),
			RT_OK | RT_E(TRP_ENOENT));
	} else if (r < 48) {
		trp_actor_t *h = NULL;
		int rc = note_rc(c, OP_LOOKUP, trp_lookup(g.rt, name, &h),
				 RT_OK | RT_E(TRP_ENOENT));
		if (rc == 0) {
			struct info *in = info_of(h);
			STRESS_CHECK(in->name == n,
				     "lookup of %s returned actor %" PRIu64
				     " of name %s",
				     name, in->id, g.names[in->name]);
			rc = rt_send(h, MSG_DATA, c->idx, n, c->seq++);
			rt_rc("trp_send (looked up)", rc,
			      RT_OK | RT_E(TRP_EDEAD));
			if (rc == 0)
				stress_progress(&c->data_accepted, 1);
			trp_actor_release(h);
		}
	} else if (r < 95) {
		int rc = note_rc(c, OP_SEND_NAMED,
				 rt_send_named(g.rt, name, MSG_DATA, c->idx, n,
					       c->seq++),
				 RT_OK | RT_E(TRP_ENOENT) | RT_E(TRP_EDEAD));
		if (rc == 0)
			stress_progress(&c->data_accepted, 1);
	} else {
		struct info *in = random_candidate(n, &c->rng);
		if (in == NULL)
			return;
		if (stress_rand_below(&c->rng, 2)) {
			note_rc(c, OP_STOP, trp_actor_close(in->handle),
				RT_OK | RT_E(TRP_EDEAD));
		} else {
			int rc = note_rc(c, OP_STOP,
					 rt_send(in->handle, MSG_STOP, c->idx,
						 n, c->seq++),
					 RT_OK | RT_E(TRP_EDEAD));
			if (rc == 0)
				stress_progress(&c->stop_accepted, 1);
		}
	}
}

static void *outside_main(void *arg)
{
	struct churner *c = arg;
	static const char *names[NOUT] = { "churn0", "churn1", "churn2" };
	stress_watchdog_thread(&wd, names[c->idx]);
	stress_barrier_wait(&g.start);
	for (; c->budget > 0; c->budget--)
		churn_op(c);
	/* ORDER: release publishes our counts to main. */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void actor_churner_behavior(trp_actor_t *self, void *state,
				   const trp_msg_t *msg)
{
	struct churner *c = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_TICK && p.seq == c->tick_expect,
		     "actor churner %u: type %u tick %" PRIu64
		     ", expected %" PRIu64,
		     c->idx, msg->type, p.seq, c->tick_expect);
	c->tick_expect++;
	for (uint32_t i = 0; i < BURST && c->budget > 0; i++, c->budget--)
		churn_op(c);
	if (c->budget > 0) {
		RT_MUST("trp_send(tick)",
			rt_send(self, MSG_TICK, c->idx, 0, c->tick_seq++));
		stress_progress(&c->ticks_accepted, 1);
	} else {
		/* ORDER: release publishes our counts to main. */
		atomic_store_explicit(&c->done, 1, memory_order_release);
	}
}

/* ------------------------------------------------- quiescent checks -- */

/* The test's view of name @n at quiescence: live candidates. */
static uint32_t live_candidates(uint32_t n, struct info **out, uint32_t max)
{
	struct slotlist *sl = &g.slots[n];
	uint32_t cnt = atomic_load(&sl->n), k = 0;
	if (cnt > MAXC)
		cnt = MAXC;
	for (uint32_t i = 0; i < cnt && k < max; i++) {
		struct info *in = atomic_load(&sl->s[i]);
		if (in != NULL && trp_actor_alive(in->handle))
			out[k++] = in;
	}
	return k;
}

static void quiescent_check(uint32_t n, bool reregister, uint64_t *rng)
{
	const char *name = g.names[n];
	struct info *live[4];
	uint32_t nlive = live_candidates(n, live, 4);
	while (nlive < 2) {
		struct info *in = spawn_candidate(n);
		if (in == NULL)
			break;
		live[nlive++] = in;
	}
	trp_actor_t *h = NULL;
	int rc = rt_rc("quiescent trp_lookup", trp_lookup(g.rt, name, &h),
		       RT_OK | RT_E(TRP_ENOENT));
	if (rc == 0) {
		struct info *x = info_of(h);
		STRESS_CHECK(x->name == n,
			     "phase %u: %s maps to actor %" PRIu64
			     " of name %s",
			     g.phase, name, x->id, g.names[x->name]);
		STRESS_CHECK(trp_actor_alive(h),
			     "phase %u: %s maps to stopped actor %" PRIu64
			     " at quiescence (name not released)",
			     g.phase, name, x->id);
		for (uint32_t i = 0; i < nlive; i++) {
			if (live[i] == x)
				continue;
			/* Another candidate of n has no name: the name is
			 * taken. */
			rt_rc("quiescent trp_register (taken name)",
			      trp_register(g.rt, name, live[i]->handle),
			      RT_E(TRP_EEXIST));
		}
		rt_rc("quiescent trp_register (same actor)",
		      trp_register(g.rt, name, h),
		      RT_E(TRP_EEXIST) | RT_E(TRP_EBUSY));
		trp_actor_release(h);
		rt_rc("quiescent trp_unregister", trp_unregister(g.rt, name),
		      RT_OK);
	}
	/* Now free: everything says so. */
	rt_rc("quiescent trp_lookup (freed)", trp_lookup(g.rt, name, &h),
	      RT_E(TRP_ENOENT));
	rt_rc("quiescent trp_unregister (freed)", trp_unregister(g.rt, name),
	      RT_E(TRP_ENOENT));
	rt_rc("quiescent trp_send_named (freed)",
	      rt_send_named(g.rt, name, MSG_DATA, NCHURN, n, g.main_seq++),
	      RT_E(TRP_ENOENT));
	if (nlive == 0 || !reregister) {
		stress_progress(&g.checks, 1);
		return;
	}
	struct info *z = live[stress_rand_below(rng, nlive)];
	rt_rc("quiescent trp_register (free name)",
	      trp_register(g.rt, name, z->handle), RT_OK);
	rt_rc("quiescent trp_lookup (registered)", trp_lookup(g.rt, name, &h),
	      RT_OK);
	STRESS_CHECK(h == z->handle,
		     "phase %u: %s registered to %" PRIu64
		     ", lookup returns %" PRIu64,
		     g.phase, name, z->id, trp_actor_id(h));
	trp_actor_release(h);
	stress_progress(&g.checks, 1);
}

/* ------------------------------------------------------------- main -- */

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr, "  phase %u (names %u..%u)\n", g.phase, g.name0,
		g.name0 + g.nnames - 1);
	for (uint32_t i = 0; i < NCHURN; i++)
		fprintf(stderr,
			"  churner %u: ops %" PRIu64 " budget left %" PRIu64
			" done %u\n",
			i, rt_get(&g.ch[i].ops), g.ch[i].budget,
			atomic_load(&g.ch[i].done));
}

int main(void)
{
	g.seed = stress_init("rt_registry_churn");
	uint64_t total = stress_scaled(OPS_BASE, OPS_MIN);
	uint64_t per = total / (PHASES * NCHURN);
	uint64_t rng = stress_rand_init(g.seed, 1);
	printf("%" PRIu64 " ops over %u phases, %u outside + %u actor "
	       "churners, names: %u (even phases) / %u (odd phases)\n",
	       per * PHASES * NCHURN, PHASES, NOUT, NACT, NAMES_HOT,
	       NAMES_WIDE);
	for (uint32_t i = 0; i < NAMES_ALL; i++)
		snprintf(g.names[i], sizeof g.names[i], "%s%u",
			 i < NAMES_HOT ? "hot" : "wide", i);
	g.by_id = calloc(MAXACT, sizeof *g.by_id);
	g.slots = calloc(NAMES_ALL, sizeof *g.slots);
	STRESS_CHECK(g.by_id && g.slots, "out of memory");

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	trp_actor_def_t adef = { actor_churner_behavior, NULL, NULL, 0, 0 };
	for (uint32_t i = 0; i < NCHURN; i++) {
		g.ch[i].idx = i;
		g.ch[i].rng = stress_rand_init(g.seed, 10 + i);
	}
	for (uint32_t i = 0; i < NACT; i++)
		RT_MUST("trp_actor_spawn(churner)",
			trp_actor_spawn(g.rt, &adef, &g.ch[NOUT + i],
					&g.act_h[i]));
	/* Every candidate is spawned after this one: its id is the base. */
	g.base_id = trp_actor_id(g.act_h[NACT - 1]) + 1;

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t i = 0; i < NCHURN; i++)
		stress_watchdog_counter(&wd, "churner ops", &g.ch[i].ops);
	stress_watchdog_counter(&wd, "phases done", &g.phases_done);
	stress_watchdog_counter(&wd, "quiescent checks", &g.checks);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);
	uint64_t t0 = stress_now_ns();

	for (uint32_t p = 0; p < PHASES; p++) {
		g.phase = p;
		g.nnames = (p % 2) ? NAMES_WIDE : NAMES_HOT;
		/* Wide phases use 200 new names each, left unregistered at
		 * the start: the churners' registrations grow the table
		 * (64 -> 1024 slots over the run) while readers probe it. */
		g.name0 = (p % 2) ? NAMES_HOT + (p / 2) * NAMES_WIDE : 0;
		for (uint32_t i = 0; i < g.nnames; i++)
			quiescent_check(g.name0 + i, p % 2 == 0, &rng);
		for (uint32_t i = 0; i < NCHURN; i++) {
			g.ch[i].budget = per;
			atomic_store(&g.ch[i].done, 0);
		}
		stress_barrier_init(&g.start, NOUT + 1);
		pthread_t th[NOUT];
		for (uint32_t i = 0; i < NOUT; i++)
			th[i] = stress_thread_start(outside_main, &g.ch[i]);
		stress_barrier_wait(&g.start);
		for (uint32_t i = 0; i < NACT; i++) {
			struct churner *c = &g.ch[NOUT + i];
			/* Counted before the send (a refused one fails the
			 * test anyway): the tick starts the churner, whose
			 * turns add to the same counter with a plain
			 * load + store (stress_progress, one writer at a
			 * time). Counted after it, our add could overlap
			 * the churner's first and lose one of the two; the
			 * send orders our add before every turn of it. */
			stress_progress(&c->ticks_accepted, 1);
			RT_MUST("trp_send(tick)",
				rt_send(g.act_h[i], MSG_TICK, c->idx, 0,
					c->tick_seq++));
		}
		for (uint32_t i = 0; i < NOUT; i++)
			pthread_join(th[i], NULL);
		for (uint32_t i = 0; i < NACT; i++)
			/* ORDER: acquire pairs with the churner's release. */
			while (!atomic_load_explicit(&g.ch[NOUT + i].done,
						     memory_order_acquire))
				stress_sleep_ms(1);
		rt_wait_idle(g.rt);
		/* Quiescent: the table is exact now. */
		for (uint32_t i = 0; i < g.nnames; i++)
			quiescent_check(g.name0 + i, true, &rng);
		stress_progress(&g.phases_done, 1);
	}
	rt_wait_idle(g.rt);

	/* Totals against the runtime's counters. */
	uint64_t data_acc = 0, stop_acc = 0, ticks = 0;
	for (uint32_t i = 0; i < NCHURN; i++) {
		data_acc += rt_get(&g.ch[i].data_accepted);
		stop_acc += rt_get(&g.ch[i].stop_accepted);
		ticks += rt_get(&g.ch[i].ticks_accepted);
	}
	trp_stats_t s = rt_assert_balanced(g.rt, "before destroy");
	rt_print_stats("before destroy", &s);
	STRESS_CHECK(s.sent == data_acc + stop_acc + ticks,
		     "stats sent %" PRIu64 " != accepted here %" PRIu64, s.sent,
		     data_acc + stop_acc + ticks);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	stress_watchdog_stop(&wd);

	uint64_t delivered = 0, stop_msgs = 0, cands = 0, stopped = 0;
	for (uint32_t n = 0; n < NAMES_ALL; n++) {
		struct slotlist *sl = &g.slots[n];
		uint32_t cnt = atomic_load(&sl->n);
		for (uint32_t i = 0; i < cnt && i < MAXC; i++) {
			struct info *in = atomic_load(&sl->s[i]);
			STRESS_CHECK(in != NULL,
				     "slot %u of %s never published", i,
				     g.names[n]);
			uint32_t c = atomic_load(&in->stops);
			STRESS_CHECK(c == 1,
				     "actor %" PRIu64 ": stop hook ran "
				     "%u times",
				     in->id, c);
			if (atomic_load(&in->why) != TRP_STOP_SHUTDOWN)
				stopped++;
			delivered += rt_get(&in->delivered);
			stop_msgs += rt_get(&in->stop_msgs);
			cands++;
			trp_actor_release(in->handle);
			free(in);
		}
	}
	uint64_t dead_data = rt_get(&g.dead_data);
	uint64_t dead_stop = rt_get(&g.dead_stop);
	STRESS_CHECK(delivered + dead_data == data_acc,
		     "data: %" PRIu64 " accepted != %" PRIu64
		     " delivered + %" PRIu64 " dead-lettered",
		     data_acc, delivered, dead_data);
	STRESS_CHECK(stop_msgs + dead_stop == stop_acc,
		     "STOP: %" PRIu64 " accepted != %" PRIu64
		     " processed + %" PRIu64 " dead-lettered",
		     stop_acc, stop_msgs, dead_stop);
	STRESS_CHECK(rt_get(&g.dead_other) == 0,
		     "%" PRIu64 " dead letters to the churner actors",
		     rt_get(&g.dead_other));
	for (uint32_t i = 0; i < NACT; i++)
		trp_actor_release(g.act_h[i]);

	printf("  return codes (all churners):\n");
	for (int op = 0; op < NOPS; op++) {
		printf("    %-10s", op_name[op]);
		for (int e = 0; e < 17; e++) {
			uint64_t k = 0;
			for (uint32_t i = 0; i < NCHURN; i++)
				k += g.ch[i].rc_count[op][e];
			if (k != 0)
				printf(" %s=%" PRIu64, trp_errname(-e), k);
		}
		printf("\n");
	}
	free(g.by_id);
	free(g.slots);
	printf("rt_registry_churn: OK %" PRIu64 " ops, %" PRIu64
	       " candidates (%" PRIu64 " stopped during the run), %" PRIu64
	       " quiescent name checks, data %" PRIu64 " = %" PRIu64
	       " delivered + %" PRIu64 " dead-lettered; %.1f s\n",
	       per * PHASES * NCHURN, cands, stopped, rt_get(&g.checks),
	       data_acc, delivered, dead_data, stress_seconds_since(t0));
	return 0;
}
