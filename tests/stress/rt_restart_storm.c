/*
 * tests/stress/rt_restart_storm.c - a restart storm (issue 11): a
 * supervised child that fails on every message, hammered by senders,
 * until the restart intensity trips. The supervisor must stop within the
 * turn that tripped it, every message accounted for, nothing leaked.
 *
 * One round: a runtime of 2 workers (default batch, or batch 32), one
 * supervisor (one_for_one, intensity I drawn per round from 1..200,
 * period 10 min, no backoff) with one permanent child named "storm" whose
 * behaviour fails (trp_actor_fail) on the first message it gets; each
 * instance is a fresh actor (state block). Three outside senders, released
 * together: two send by name (trp_send_named), one by handle (the current
 * one from trp_supervisor_child, fetched again after TRP_EDEAD). Each
 * message carries (sender, seq = that sender's accepted sends before it).
 * The senders send their share of 10^5 × scale messages and go on until
 * the supervisor is gone (so the last instance surely gets a message).
 *
 * Checks:
 * - send codes: 0, TRP_ENOENT (no instance registered / none published),
 *   TRP_EDEAD (the instance stopped), nothing else;
 * - each instance: its start hook once, ids increasing (instance k+1 is
 *   spawned after instance k's DOWN), its behaviour exactly once (it
 *   takes no message after failing), its stop hook with TRP_STOP_FAILED
 *   and its code; exactly I + 1 instances (the supervisor restarted I
 *   times and started nothing after the trip);
 * - the supervisor's end (a watch future taken before the senders start):
 *   TRP_STOP_FAILED with TRP_SUP_INTENSITY;
 * - every accepted message is a dead letter exactly once (none is
 *   processed: the one an instance takes fails it): per sender, the hook
 *   sees seq 0, 1, 2, ... in order (plain counters: the runtime must
 *   order instance k's dead letters before instance k+1's); an instance's
 *   first dead letter is TRP_DEAD_FAILED and is the message its behaviour
 *   failed on, the rest TRP_DEAD_STOPPED (queued at its stop);
 * - the supervisor's only dead letter is the DOWN it tripped on
 *   (TRP_DEAD_FAILED): it took no message after the trip. So at
 *   quiescence: dead_by_reason[FAILED] == I + 2 (I + 1 instances and the
 *   supervisor), dead_by_reason[STOPPED] == accepted - (I + 1), no other
 *   reason; sent == accepted + I + 1 (the DOWNs) and processed == I (all
 *   DOWNs but the last); the delivery identity holds;
 * - trp_supervisor_child and _get_stats return TRP_EDEAD afterwards;
 *   ASan/LSan (asan preset) check that nothing leaks.
 *
 * Sizes: 10^5 × scale sends (at least 10^4) over 20 × scale rounds (at
 * least 4).
 */
#include "rt_util.h"

#define SENDS_BASE 100000u
#define ROUNDS_BASE 20u
#define ROUNDS_MIN 4u
#define NSEND 3u /* senders 0, 1: by name; 2: by handle */
#define BY_HANDLE 2u
#define MAX_INTENSITY 200u
#define FAIL_CODE 42
#define LIMIT_S 600.0

enum {
	MSG_DATA = 1
};

/* An instance's state: fresh at each start (state_size > 0). */
struct instance {
	uint32_t calls;
	uint64_t id;
};

struct sender {
	uint32_t idx;
	uint64_t budget;
	uint64_t accepted;
	uint64_t noent, dead; /* refused */
	uint64_t next_dead;   /* hook: next seq to be dead-lettered */
	_Atomic(uint64_t) attempts;
};

static struct {
	uint64_t seed;
	uint32_t round;
	uint32_t intensity;
	trp_runtime_t *rt;
	trp_actor_t *sup;
	uint64_t sup_id;
	struct sender senders[NSEND];
	struct stress_barrier start;
	_Atomic(uint32_t) sup_gone; /* the watch future completed */
	/* Instances: hooks and behaviours of successive instances, ordered
	 * by the runtime (fail -> DOWN -> restart), so plain memory. */
	uint64_t starts, stops, last_id;
	bool failed_valid; /* the message the current instance failed on */
	uint32_t failed_sender;
	uint64_t failed_seq, failed_id;
	uint64_t cur_dead_id; /* instance whose dead letters come now */
	uint64_t child_failed, child_stopped;
	/* Dead letters to the supervisor (from its own consumer). */
	_Atomic(uint64_t) sup_dead, sup_dead_failed;
	_Atomic(uint64_t) other_dead;
	/* watchdog */
	_Atomic(uint64_t) rounds_done;
	_Atomic(uint64_t) instances; /* info */
} g;

static struct stress_watchdog wd;

/* ------------------------------------------------------------ child -- */

static void child_start(trp_actor_t *self, void *state)
{
	struct instance *in = state;
	in->id = trp_actor_id(self);
	STRESS_CHECK(in->id > g.last_id,
		     "round %u: instance %" PRIu64 " started after %" PRIu64,
		     g.round, in->id, g.last_id);
	STRESS_CHECK(g.starts == g.stops,
		     "round %u: instance %" PRIu64 " started while %" PRIu64
		     " of %" PRIu64 " earlier ones had stopped",
		     g.round, in->id, g.stops, g.starts);
	g.last_id = in->id;
	g.starts++;
	stress_progress(&g.instances, 1);
}

static void child_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct instance *in = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(in->calls == 0,
		     "round %u: instance %" PRIu64 " took a message after it "
		     "failed",
		     g.round, in->id);
	STRESS_CHECK(msg->type == MSG_DATA && p.sender < NSEND,
		     "round %u: message type %u sender %u", g.round, msg->type,
		     p.sender);
	in->calls++;
	g.failed_valid = true;
	g.failed_sender = p.sender;
	g.failed_seq = p.seq;
	g.failed_id = in->id;
	RT_MUST("trp_actor_fail", trp_actor_fail(self, FAIL_CODE));
}

static void child_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct instance *in = state;
	STRESS_CHECK(why == TRP_STOP_FAILED &&
			     trp_actor_exit_code(self) == FAIL_CODE,
		     "round %u: instance %" PRIu64 " stopped with reason %d "
		     "code %d",
		     g.round, in->id, (int)why, trp_actor_exit_code(self));
	STRESS_CHECK(in->calls == 1,
		     "round %u: instance %" PRIu64 " stopped after %u calls",
		     g.round, in->id, in->calls);
	g.stops++;
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	uint64_t id = trp_actor_id(to);
	if (id == g.sup_id) {
		rt_add(&g.sup_dead, 1);
		if (why == TRP_DEAD_FAILED)
			rt_add(&g.sup_dead_failed, 1);
		return;
	}
	if (msg->type != MSG_DATA) {
		rt_add(&g.other_dead, 1);
		return;
	}
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NSEND, "round %u: dead letter of sender %u",
		     g.round, p.sender);
	struct sender *s = &g.senders[p.sender];
	STRESS_CHECK(p.seq == s->next_dead,
		     "round %u: sender %u: dead letter seq %" PRIu64
		     ", expected %" PRIu64 " (lost, duplicated or reordered)",
		     g.round, p.sender, p.seq, s->next_dead);
	s->next_dead++;
	if (why == TRP_DEAD_FAILED) {
		/* An instance's first dead letter: what it failed on. */
		STRESS_CHECK(g.failed_valid && g.failed_id == id &&
				     g.failed_sender == p.sender &&
				     g.failed_seq == p.seq,
			     "round %u: instance %" PRIu64 ": TRP_DEAD_FAILED "
			     "for a message it did not fail on",
			     g.round, id);
		g.failed_valid = false;
		g.cur_dead_id = id;
		g.child_failed++;
	} else {
		STRESS_CHECK(why == TRP_DEAD_STOPPED && id == g.cur_dead_id,
			     "round %u: instance %" PRIu64 ": dead letter "
			     "reason %d (instance dead-lettering now: %" PRIu64
			     ")",
			     g.round, id, (int)why, g.cur_dead_id);
		g.child_stopped++;
	}
}

/* ---------------------------------------------------------- senders -- */

static bool sup_gone(void)
{
	/* ORDER: acquire pairs with main's release once the supervisor's
	 * watch future completed. */
	return atomic_load_explicit(&g.sup_gone, memory_order_acquire) != 0;
}

static void count(struct sender *s, int rc)
{
	stress_progress(&s->attempts, 1);
	if (rc == 0)
		s->accepted++;
	else if (rc == TRP_ENOENT)
		s->noent++;
	else
		s->dead++;
}

static void *by_name_main(void *arg)
{
	struct sender *s = arg;
	static const char *names[2] = { "by name 0", "by name 1" };
	stress_watchdog_thread(&wd, names[s->idx]);
	stress_barrier_wait(&g.start);
	uint64_t n = 0;
	while (n < s->budget || !sup_gone()) {
		int rc = rt_send_named(g.rt, "storm", MSG_DATA, s->idx, 0,
				       s->accepted);
		rt_rc("trp_send_named", rc,
		      RT_OK | RT_E(TRP_ENOENT) | RT_E(TRP_EDEAD));
		count(s, rc);
		if (++n >= s->budget && rc != 0)
			sched_yield(); /* waiting for the end */
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void *by_handle_main(void *arg)
{
	struct sender *s = arg;
	stress_watchdog_thread(&wd, "by handle");
	stress_barrier_wait(&g.start);
	trp_actor_t *cur = NULL;
	uint64_t n = 0;
	while (n < s->budget || !sup_gone()) {
		if (cur == NULL) {
			int rc = trp_supervisor_child(g.sup, 0, &cur);
			rt_rc("trp_supervisor_child", rc,
			      RT_OK | RT_E(TRP_ENOENT) | RT_E(TRP_EDEAD));
			if (rc != 0) {
				count(s, TRP_ENOENT);
				n++;
				sched_yield();
				continue;
			}
		}
		int rc = rt_send(cur, MSG_DATA, s->idx, 0, s->accepted);
		rt_rc("trp_send", rc, RT_OK | RT_E(TRP_EDEAD));
		count(s, rc);
		n++;
		if (rc == TRP_EDEAD) {
			trp_actor_release(cur);
			cur = NULL;
		}
	}
	if (cur != NULL)
		trp_actor_release(cur);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* ------------------------------------------------------------- round -- */

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr,
		"  round %u: intensity %u, instances %" PRIu64
		", supervisor gone %u\n",
		g.round, g.intensity, rt_get(&g.instances),
		atomic_load(&g.sup_gone));
	for (uint32_t i = 0; i < NSEND; i++)
		fprintf(stderr, "  sender %u: attempts %" PRIu64 "\n", i,
			rt_get(&g.senders[i].attempts));
	/* Racy reads of the instances' plain counters: a failing run's
	 * diagnostics only. */
	fprintf(stderr,
		"  instances started %" PRIu64 " stopped %" PRIu64
		"; dead letters failed %" PRIu64 " stopped %" PRIu64 "\n",
		g.starts, g.stops, g.child_failed, g.child_stopped);
	trp_actor_t *c;
	int rc = trp_supervisor_child(g.sup, 0, &c);
	fprintf(stderr, "  supervisor alive %d mailbox %u; child: %s",
		trp_actor_alive(g.sup), trp_actor_mailbox_len(g.sup),
		trp_errname(rc));
	if (rc == 0) {
		fprintf(stderr, " id %" PRIu64 " alive %d mailbox %u",
			trp_actor_id(c), trp_actor_alive(c),
			trp_actor_mailbox_len(c));
		trp_actor_release(c);
	}
	fputc('\n', stderr);
}

static trp_down_t wait_down(trp_future_t *f)
{
	const trp_msg_t *reply;
	/* Polled, not waited on with a timeout: an expired wait completes
	 * the future (TRP_ETIMEDOUT, future.h). The watchdog bounds this. */
	while (!trp_future_done(f))
		stress_sleep_ms(1);
	RT_MUST("trp_future_wait", trp_future_wait(f, 0, &reply));
	trp_down_t d;
	STRESS_CHECK(reply->size == sizeof d, "DOWN of %zu bytes", reply->size);
	memcpy(&d, reply->data, sizeof d);
	return d;
}

static void one_round(uint32_t round, uint64_t sends, uint64_t *rng)
{
	g.round = round;
	for (uint32_t i = 0; i < NSEND; i++) {
		/* Not memset: the watchdog reads `attempts` meanwhile (it
		 * keeps counting across rounds). */
		struct sender *s = &g.senders[i];
		s->idx = i;
		s->budget = sends / NSEND;
		s->accepted = s->noent = s->dead = s->next_dead = 0;
	}
	g.starts = g.stops = g.last_id = 0;
	g.failed_valid = false;
	g.cur_dead_id = 0;
	g.child_failed = g.child_stopped = 0;
	atomic_store(&g.sup_gone, 0);
	atomic_store(&g.sup_dead, 0);
	atomic_store(&g.sup_dead_failed, 0);
	atomic_store(&g.other_dead, 0);
	g.intensity = 1 + (uint32_t)stress_rand_below(rng, MAX_INTENSITY);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = (round % 2) ? 32 : 0;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));

	trp_child_spec_t child = {
		.def = { .behavior = child_behavior,
			 .start = child_start,
			 .stop = child_stop,
			 .state_size = sizeof(struct instance) },
		.name = "storm",
		.restart = TRP_RESTART_PERMANENT,
		.shutdown_ns = 1000 * 1000 * 1000,
	};
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.intensity = g.intensity;
	spec.period_ns = 600LL * 1000 * 1000 * 1000;
	spec.children = &child;
	spec.nchildren = 1;
	RT_MUST("trp_supervisor_start",
		trp_supervisor_start(g.rt, &spec, &g.sup));
	g.sup_id = trp_actor_id(g.sup);
	trp_future_t *end;
	RT_MUST("trp_actor_watch", trp_actor_watch(g.sup, &end));

	stress_barrier_init(&g.start, NSEND + 1);
	pthread_t th[NSEND];
	for (uint32_t i = 0; i < NSEND; i++)
		th[i] = stress_thread_start(i == BY_HANDLE ? by_handle_main :
							     by_name_main,
					    &g.senders[i]);
	stress_barrier_wait(&g.start);
	trp_down_t d = wait_down(end);
	trp_future_release(end);
	/* ORDER: release: the senders may stop once they see it. */
	atomic_store_explicit(&g.sup_gone, 1, memory_order_release);
	for (uint32_t i = 0; i < NSEND; i++)
		pthread_join(th[i], NULL);

	char label[32];
	snprintf(label, sizeof label, "round %u", round);
	trp_stats_t st = rt_assert_balanced(g.rt, label);

	uint64_t I = g.intensity;
	STRESS_CHECK(d.reason == TRP_STOP_FAILED && d.code == TRP_SUP_INTENSITY,
		     "round %u: supervisor stopped with reason %d code %d",
		     round, d.reason, d.code);
	STRESS_CHECK(trp_actor_exit_code(g.sup) == TRP_SUP_INTENSITY,
		     "round %u: supervisor exit code %d", round,
		     trp_actor_exit_code(g.sup));
	STRESS_CHECK(g.starts == I + 1 && g.stops == I + 1,
		     "round %u: intensity %" PRIu64 ": %" PRIu64
		     " instances started, %" PRIu64 " stopped (want %" PRIu64
		     ")",
		     round, I, g.starts, g.stops, I + 1);
	uint64_t accepted = 0;
	for (uint32_t i = 0; i < NSEND; i++) {
		struct sender *s = &g.senders[i];
		STRESS_CHECK(s->next_dead == s->accepted,
			     "round %u: sender %u: %" PRIu64
			     " accepted, %" PRIu64 " dead-lettered",
			     round, i, s->accepted, s->next_dead);
		accepted += s->accepted;
	}
	STRESS_CHECK(g.child_failed == I + 1 &&
			     g.child_stopped == accepted - (I + 1),
		     "round %u: child dead letters: failed %" PRIu64
		     " stopped %" PRIu64 " (accepted %" PRIu64 ")",
		     round, g.child_failed, g.child_stopped, accepted);
	STRESS_CHECK(rt_get(&g.sup_dead) == 1 &&
			     rt_get(&g.sup_dead_failed) == 1,
		     "round %u: the supervisor has %" PRIu64
		     " dead letters (%" PRIu64 " failed): it took messages "
		     "after the trip",
		     round, rt_get(&g.sup_dead), rt_get(&g.sup_dead_failed));
	STRESS_CHECK(rt_get(&g.other_dead) == 0,
		     "round %u: %" PRIu64 " unexpected dead letters", round,
		     rt_get(&g.other_dead));
	for (int r = 0; r < TRP_DEAD_REASONS; r++) {
		uint64_t want = r == TRP_DEAD_FAILED  ? I + 2 :
				r == TRP_DEAD_STOPPED ? accepted - (I + 1) :
							0;
		STRESS_CHECK(st.dead_by_reason[r] == want,
			     "round %u: dead_by_reason[%d] = %" PRIu64
			     ", want %" PRIu64,
			     round, r, st.dead_by_reason[r], want);
	}
	STRESS_CHECK(st.sent == accepted + I + 1 && st.processed == I,
		     "round %u: sent %" PRIu64 " processed %" PRIu64
		     " (accepted %" PRIu64 ", intensity %" PRIu64 ")",
		     round, st.sent, st.processed, accepted, I);
	trp_actor_t *h;
	trp_supervisor_stats_t ss;
	rt_rc("trp_supervisor_child (after)",
	      trp_supervisor_child(g.sup, 0, &h), RT_E(TRP_EDEAD));
	rt_rc("trp_supervisor_get_stats (after)",
	      trp_supervisor_get_stats(g.sup, &ss), RT_E(TRP_EDEAD));

	if (round < 4 || round % 10 == 0) {
		uint64_t noent = 0, dead = 0;
		for (uint32_t i = 0; i < NSEND; i++) {
			noent += g.senders[i].noent;
			dead += g.senders[i].dead;
		}
		printf("  round %u: batch %u, intensity %u: accepted %" PRIu64
		       " (failed %" PRIu64 ", queued at a stop %" PRIu64
		       "), refused %" PRIu64 " no name + %" PRIu64 " stopped\n",
		       round, cfg.batch, g.intensity, accepted, g.child_failed,
		       g.child_stopped, noent, dead);
	}
	trp_actor_release(g.sup);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	stress_progress(&g.rounds_done, 1);
}

int main(void)
{
	g.seed = stress_init("rt_restart_storm");
	uint64_t total = stress_scaled(SENDS_BASE, 10000);
	uint32_t rounds = (uint32_t)stress_scaled(ROUNDS_BASE, ROUNDS_MIN);
	uint64_t rng = stress_rand_init(g.seed, 1);
	printf("%u rounds, %" PRIu64 " sends in all, %u senders, intensity "
	       "1..%u\n",
	       rounds, total, NSEND, MAX_INTENSITY);
	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "rounds done", &g.rounds_done);
	for (uint32_t i = 0; i < NSEND; i++)
		stress_watchdog_counter(&wd, "sender attempts",
					&g.senders[i].attempts);
	stress_watchdog_info(&wd, "instances", &g.instances);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);
	uint64_t t0 = stress_now_ns();
	uint64_t restarts = 0;
	for (uint32_t r = 0; r < rounds; r++) {
		one_round(r, total / rounds, &rng);
		restarts += g.intensity;
	}
	stress_watchdog_stop(&wd);
	printf("rt_restart_storm: OK %u rounds, %" PRIu64
	       " restarts: every intensity tripped after exactly its "
	       "restarts, the supervisor took no message after the trip, "
	       "every accepted message dead-lettered exactly once in order "
	       "(failed or queued at a stop); %.1f s\n",
	       rounds, restarts, stress_seconds_since(t0));
	return 0;
}
