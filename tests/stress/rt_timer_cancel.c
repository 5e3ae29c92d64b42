/*
 * tests/stress/rt_timer_cancel.c - trp_timer_cancel racing the firing of
 * timers with tiny delays.
 *
 * One round: a runtime of 2 workers, NRECV receiver actors, NCREATE
 * creator threads. Each creator makes timers with a delay of 0..200 us to
 * a random receiver, carrying (creator, kind, item index), waits a random
 * moment (nothing, a yield, a spin of 0..300 us) and cancels. Kinds:
 * - one-shot (most): cancel returns 0 (cancelled: trp_timer_fired is 0,
 *   and the message must never arrive) or TRP_ENOENT (fired: fired >= 1,
 *   and the message must arrive exactly once); some are cancelled twice,
 *   the second cancel is always TRP_ENOENT;
 * - no handle (out NULL, 1/16): must arrive exactly once;
 * - periodic (period 50..200 us, 1/16): cancel returns 0; the handle is
 *   kept to the end of the round: its final fired count is at most one
 *   more than right after the cancel (a fire in flight), and exactly that
 *   many messages arrived.
 * Each round ends with far-future timers still pending, so the destroy
 * cancels and frees them (ASan: no leak). Receivers never stop: no dead
 * letters; at destroy sent == processed + dead_lettered.
 *
 * Sizes: 10^5 x scale timers (at least 2000), over ROUNDS rounds.
 */
#include "rt_util.h"

#define TIMERS_BASE 100000u
#define ROUNDS 4u
#define NCREATE 4u
#define NRECV 4u
#define FAR_TIMERS 16u
#define LIMIT_S 600.0
#define MSG_TICK 7u

enum kind {
	K_ONESHOT = 0,
	K_TWICE = 1,
	K_NOHANDLE = 2,
	K_PERIODIC = 3,
};

enum outcome {
	O_NONE = 0,
	O_CANCELLED,
	O_FIRED,
	O_PERIODIC,
	O_NOHANDLE,
};

struct item {
	_Atomic(uint32_t) received;
	uint8_t kind, outcome; /* creator thread, read after join */
	uint64_t fired_at_cancel;
	trp_timer_t *keep; /* periodic: held to the end of the round */
};

static struct {
	trp_runtime_t *rt;
	trp_actor_t *recv[NRECV];
	struct item *items;
	uint64_t per_creator; /* items per creator per round */
	struct stress_barrier start;
	_Atomic(uint64_t) created, received, cancelled, fired, dead;
	_Atomic(uint64_t) rounds_done;
} g;

static struct stress_watchdog wd;

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)msg;
	(void)why;
	rt_add(&g.dead, 1);
}

static void receiver_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	STRESS_CHECK(msg->type == MSG_TICK, "receiver got type %u", msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.seq < NCREATE * g.per_creator,
		     "item %" PRIu64 " out of range", p.seq);
	struct item *it = &g.items[p.seq];
	STRESS_CHECK(p.sender == p.seq / g.per_creator && p.aux <= K_PERIODIC,
		     "item %" PRIu64 ": payload (%u, %u)", p.seq, p.sender,
		     p.aux);
	/* relaxed: read after quiescence (wait_idle orders it). */
	uint32_t n = atomic_fetch_add_explicit(&it->received, 1,
					       memory_order_relaxed);
	STRESS_CHECK(p.aux == K_PERIODIC || n == 0,
		     "one-shot item %" PRIu64 " (kind %u) arrived twice", p.seq,
		     p.aux);
	rt_add(&g.received, 1);
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = stress_now_ns() + ns;
	while (stress_now_ns() < end)
		stress_cpu_relax();
}

struct creator {
	uint32_t idx;
	uint64_t rng;
};

static void *creator_main(void *arg)
{
	struct creator *c = arg;
	static const char *const names[NCREATE] = { "creator 0", "creator 1",
						    "creator 2", "creator 3" };
	stress_watchdog_thread(&wd, names[c->idx]);
	stress_barrier_wait(&g.start);
	uint64_t base = c->idx * g.per_creator;
	for (uint64_t k = 0; k < g.per_creator; k++) {
		uint64_t idx = base + k;
		struct item *it = &g.items[idx];
		uint64_t r = stress_rand(&c->rng);
		enum kind kind = K_ONESHOT;
		if ((r & 15) == 0)
			kind = K_NOHANDLE;
		else if ((r & 15) == 1)
			kind = K_PERIODIC;
		else if ((r & 15) < 6)
			kind = K_TWICE;
		it->kind = (uint8_t)kind;
		int64_t delay = (int64_t)stress_rand_below(&c->rng, 200001);
		int64_t period = kind == K_PERIODIC ?
					 50000 + (int64_t)stress_rand_below(
							 &c->rng, 150001) :
					 0;
		struct rt_payload p = { c->idx, (uint32_t)kind, idx };
		trp_actor_t *to = g.recv[stress_rand_below(&c->rng, NRECV)];
		trp_timer_t *t = NULL;
		RT_MUST("trp_send_after",
			trp_send_after(g.rt, to, delay, period, MSG_TICK, &p,
				       sizeof p,
				       kind == K_NOHANDLE ? NULL : &t));
		rt_add(&g.created, 1);
		if (kind == K_NOHANDLE) {
			it->outcome = O_NOHANDLE;
			continue;
		}
		STRESS_CHECK(t != NULL, "trp_send_after gave no handle");
		switch (stress_rand_below(&c->rng, 4)) {
		case 0:
			break;
		case 1:
			sched_yield();
			break;
		case 2:
			spin_ns(stress_rand_below(&c->rng, 300001));
			break;
		default:
			spin_ns(stress_rand_below(&c->rng, 50001));
		}
		int rc = rt_rc("trp_timer_cancel", trp_timer_cancel(t),
			       RT_OK | RT_E(TRP_ENOENT));
		if (kind == K_PERIODIC) {
			STRESS_CHECK(rc == 0,
				     "item %" PRIu64
				     ": periodic timer: cancel gave %s",
				     idx, trp_errname(rc));
			it->fired_at_cancel = trp_timer_fired(t);
			it->outcome = O_PERIODIC;
			it->keep = t;
			rt_add(&g.cancelled, 1);
			continue;
		}
		uint64_t fired = trp_timer_fired(t);
		if (rc == 0) {
			STRESS_CHECK(fired == 0,
				     "item %" PRIu64
				     ": cancelled, but fired %" PRIu64 " times",
				     idx, fired);
			it->outcome = O_CANCELLED;
			rt_add(&g.cancelled, 1);
		} else {
			STRESS_CHECK(fired == 1,
				     "item %" PRIu64 ": TRP_ENOENT (fired), "
				     "but fired count %" PRIu64,
				     idx, fired);
			it->outcome = O_FIRED;
			rt_add(&g.fired, 1);
		}
		if (kind == K_TWICE)
			rt_rc("trp_timer_cancel (twice)", trp_timer_cancel(t),
			      RT_E(TRP_ENOENT));
		/* No change after the verdict. */
		STRESS_CHECK(trp_timer_fired(t) == fired,
			     "item %" PRIu64 ": fired count moved after "
			     "the cancel's verdict",
			     idx);
		trp_timer_release(t);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr, "  per creator %" PRIu64 "\n", g.per_creator);
}

static void round_one(uint64_t seed, uint64_t round)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = dead_letter_hook;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	uint64_t n = NCREATE * g.per_creator;
	memset(g.items, 0, n * sizeof *g.items);
	trp_actor_def_t def = { .behavior = receiver_behavior };
	for (uint32_t i = 0; i < NRECV; i++)
		RT_MUST("spawn receiver",
			trp_actor_spawn(g.rt, &def, NULL, &g.recv[i]));
	uint64_t recv_base = rt_get(&g.received);

	struct creator cr[NCREATE];
	pthread_t th[NCREATE];
	stress_barrier_init(&g.start, NCREATE + 1);
	for (uint32_t i = 0; i < NCREATE; i++) {
		cr[i].idx = i;
		cr[i].rng = stress_rand_init(seed, round * NCREATE + i + 1);
		th[i] = stress_thread_start(creator_main, &cr[i]);
	}
	stress_barrier_wait(&g.start);
	for (uint32_t i = 0; i < NCREATE; i++)
		pthread_join(th[i], NULL);

	/* What must arrive (at least). */
	uint64_t want = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct item *it = &g.items[i];
		STRESS_CHECK(it->outcome != O_NONE,
			     "item %" PRIu64 " has no outcome", i);
		if (it->outcome == O_FIRED || it->outcome == O_NOHANDLE)
			want++;
		else if (it->outcome == O_PERIODIC)
			want += it->fired_at_cancel;
	}
	uint64_t t0 = stress_now_ns();
	while (rt_get(&g.received) - recv_base < want) {
		if (stress_seconds_since(t0) > 30.0)
			stress_fail("round %" PRIu64 ": %" PRIu64 " of %" PRIu64
				    " timer messages arrived",
				    round, rt_get(&g.received) - recv_base,
				    want);
		stress_sleep_ms(1);
	}
	/* Anything that would still (wrongly) fire: deadlines were at most
	 * 200 us + a period away. */
	stress_sleep_ms(30);
	char label[32];
	snprintf(label, sizeof label, "round %" PRIu64, round);
	(void)rt_assert_balanced(g.rt, label);

	for (uint64_t i = 0; i < n; i++) {
		struct item *it = &g.items[i];
		uint32_t got = atomic_load_explicit(&it->received,
						    memory_order_relaxed);
		switch (it->outcome) {
		case O_CANCELLED:
			STRESS_CHECK(got == 0,
				     "item %" PRIu64 ": cancel returned 0 but "
				     "%u message(s) arrived",
				     i, got);
			break;
		case O_FIRED:
		case O_NOHANDLE:
			STRESS_CHECK(got == 1,
				     "item %" PRIu64 " (%s): %u message(s) "
				     "arrived, want 1",
				     i,
				     it->outcome == O_FIRED ?
					     "cancel said fired" :
					     "no handle",
				     got);
			break;
		case O_PERIODIC: {
			uint64_t fin = trp_timer_fired(it->keep);
			STRESS_CHECK(fin <= it->fired_at_cancel + 1,
				     "periodic item %" PRIu64 ": fired %" PRIu64
				     " times, %" PRIu64 " at the cancel",
				     i, fin, it->fired_at_cancel);
			STRESS_CHECK(got == fin,
				     "periodic item %" PRIu64 ": fired %" PRIu64
				     ", %u arrived",
				     i, fin, got);
			rt_rc("trp_timer_cancel (periodic, again)",
			      trp_timer_cancel(it->keep), RT_E(TRP_ENOENT));
			trp_timer_release(it->keep);
			it->keep = NULL;
			break;
		}
		default:
			stress_fail("item %" PRIu64 ": outcome %u", i,
				    it->outcome);
		}
	}
	STRESS_CHECK(rt_get(&g.dead) == 0, "%" PRIu64 " dead letters",
		     rt_get(&g.dead));

	/* Pending at destroy: cancelled and freed by it. */
	for (uint32_t i = 0; i < FAR_TIMERS; i++) {
		struct rt_payload p = { 0, K_NOHANDLE, 0 };
		trp_timer_t *t = NULL;
		RT_MUST("trp_send_after (far)",
			trp_send_after(g.rt, g.recv[i % NRECV],
				       3600LL * 1000000000LL,
				       (i & 1) ? 1000000000LL : 0, MSG_TICK, &p,
				       sizeof p, (i & 2) ? &t : NULL));
		if (t != NULL)
			trp_timer_release(t);
	}
	trp_stats_t fin = rt_destroy_balanced(g.rt, "end");
	STRESS_CHECK(fin.processed == rt_get(&g.received) - recv_base,
		     "processed %" PRIu64 " != received %" PRIu64,
		     fin.processed, rt_get(&g.received) - recv_base);
	STRESS_CHECK(fin.dead_lettered == 0 && rt_get(&g.dead) == 0,
		     "dead letters at destroy: %" PRIu64, fin.dead_lettered);
	for (uint32_t i = 0; i < NRECV; i++)
		trp_actor_release(g.recv[i]);
	g.rt = NULL;
}

int main(void)
{
	uint64_t seed = stress_init("rt_timer_cancel");
	uint64_t total = stress_scaled(TIMERS_BASE, 2000);
	g.per_creator = total / ROUNDS / NCREATE;
	if (g.per_creator == 0)
		g.per_creator = 1;
	printf("  %u rounds x %u creators x %" PRIu64 " timers\n", ROUNDS,
	       NCREATE, g.per_creator);
	g.items = calloc(NCREATE * g.per_creator, sizeof *g.items);
	if (g.items == NULL)
		stress_fail("out of memory");

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "timers created", &g.created);
	stress_watchdog_counter(&wd, "messages received", &g.received);
	stress_watchdog_counter(&wd, "rounds done", &g.rounds_done);
	stress_watchdog_info(&wd, "cancelled", &g.cancelled);
	stress_watchdog_info(&wd, "fired (cancel: ENOENT)", &g.fired);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns();
	for (uint64_t r = 0; r < ROUNDS; r++) {
		round_one(seed, r);
		stress_progress(&g.rounds_done, 1);
	}
	stress_watchdog_stop(&wd);
	printf("  ok: %" PRIu64 " timers (%" PRIu64 " cancelled, %" PRIu64
	       " fired before the cancel), %" PRIu64 " messages in %.2f s\n",
	       rt_get(&g.created), rt_get(&g.cancelled), rt_get(&g.fired),
	       rt_get(&g.received), stress_seconds_since(t0));
	free(g.items);
	return 0;
}
