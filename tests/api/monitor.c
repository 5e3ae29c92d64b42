/*
 * tests/api/monitor.c - failure as a value (trp_actor_fail, trp_actor_kill,
 * stop reasons) and watching actors stop (troupe/monitor.h): DOWN exactly
 * once with the reason and code, after the target's messages; noproc;
 * demonitor silence; futures for outside threads; links, their cascades
 * and exit trapping; thread actors as watchers. Every test ends with the
 * delivery identity (api_assert_balanced).
 */
#include "api_util.h"

#include <pthread.h>
#include <string.h>

enum {
	T_WORK = 1,	/* count it */
	T_FAIL = 2,	/* fail with the payload's code */
	T_STOP = 3,	/* stop normally */
	T_BLOCK = 4,	/* wait until `gate` opens */
	T_DOWN = 90,	/* DOWN messages */
	T_EXIT = 91,	/* exit messages (trapped links) */
	T_SEND_TO = 5,	/* send `n` T_WORK messages to the watcher, then stop */
	T_TRAP = 6,	/* start trapping exits as T_EXIT */
	T_MONITOR = 7,	/* monitor the actor in the payload */
	T_FAIL_ASK = 8, /* a request the actor fails on */
	T_DEMON_NOW = 9, /* demonitor the ref in the payload */
};

/* What a test actor saw; one per actor. */
struct seen {
	atomic_long work;
	atomic_long downs;
	atomic_long exits;
	atomic_long stops;
	atomic_int stop_reason;
	atomic_int down_reason;
	atomic_int down_code;
	atomic_llong down_ref;
	atomic_llong down_id;
	atomic_long work_before_down; /* work seen when the first DOWN came */
	atomic_int exit_reason;
	atomic_int in_block;  /* inside T_BLOCK */
	trp_actor_t *watcher; /* T_SEND_TO's destination */
};

static atomic_int gate;

/* Dead letters by reason (api_util.h). */
static struct api_dead_letters dead;

static trp_runtime_t *make_rt(uint32_t workers)
{
	return api_runtime_new(workers, &dead);
}

static void behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct seen *s = *(struct seen **)state;
	switch (msg->type) {
	case T_WORK:
		atomic_fetch_add(&s->work, 1);
		break;
	case T_FAIL:
	case T_FAIL_ASK: {
		int32_t code = 0;
		if (msg->size == sizeof code)
			memcpy(&code, msg->data, sizeof code);
		int rc = trp_actor_fail(self, code);
		if (rc != 0)
			note_error(rc);
		break;
	}
	case T_STOP:
		(void)trp_actor_stop(self);
		break;
	case T_BLOCK:
		atomic_store(&s->in_block, 1);
		while (!atomic_load(&gate)) {
			struct timespec t = { 0, 100000 };
			nanosleep(&t, NULL);
		}
		break;
	case T_SEND_TO: {
		long n;
		memcpy(&n, msg->data, sizeof n);
		for (long i = 0; i < n; i++) {
			int rc = trp_send(s->watcher, T_WORK, NULL, 0);
			if (rc != 0)
				note_error(rc);
		}
		(void)trp_actor_stop(self);
		break;
	}
	case T_TRAP:
		if (trp_actor_trap_exits(self, T_EXIT) != 0)
			note_error(-99);
		break;
	case T_DOWN: {
		trp_down_t d;
		if (msg->size != sizeof d) {
			note_error(-98);
			break;
		}
		memcpy(&d, msg->data, sizeof d);
		if (atomic_fetch_add(&s->downs, 1) == 0)
			atomic_store(&s->work_before_down,
				     atomic_load(&s->work));
		atomic_store(&s->down_reason, d.reason);
		atomic_store(&s->down_code, d.code);
		atomic_store(&s->down_ref, (long long)d.ref);
		atomic_store(&s->down_id, (long long)d.actor_id);
		break;
	}
	case T_EXIT: {
		trp_down_t d;
		memcpy(&d, msg->data, sizeof d);
		atomic_store(&s->exit_reason, d.reason);
		atomic_fetch_add(&s->exits, 1);
		break;
	}
	default:
		note_error(-97);
	}
}

static void on_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	struct seen *s = *(struct seen **)state;
	atomic_store(&s->stop_reason, why);
	atomic_fetch_add(&s->stops, 1);
}

static trp_actor_t *spawn(trp_runtime_t *rt, struct seen *s)
{
	trp_actor_def_t def = { .behavior = behavior,
				.stop = on_stop,
				.state_size = sizeof s };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, &s, &a));
	return a;
}

static void send_code(trp_actor_t *a, uint32_t type, int32_t code)
{
	CHECK_OK(trp_send(a, type, &code, sizeof code));
}

/* ------------------------------------------------------------------ */

/* trp_actor_fail: the message becomes a dead letter (FAILED), the actor
 * stops with FAILED and its code, the rest of its mail is dead-lettered
 * (STOPPED), and a monitor gets DOWN(failed, code). */
static void test_fail(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t, w;
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	trp_actor_t *target = spawn(rt, &t), *watcher = spawn(rt, &w);
	trp_ref_t ref = 0;
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &ref));
	assert_true(ref != 0);
	atomic_store(&gate, 0);
	CHECK_OK(trp_send(target, T_BLOCK, NULL, 0));
	send_code(target, T_FAIL, 42);
	for (int i = 0; i < 5; i++)
		CHECK_OK(trp_send(target, T_WORK, NULL, 0));
	assert_true(trp_actor_mailbox_len(target) >= 6);
	atomic_store(&gate, 1);
	trp_stats_t st = api_assert_balanced(rt);
	assert_false(trp_actor_alive(target));
	assert_int_equal(atomic_load(&t.stop_reason), TRP_STOP_FAILED);
	assert_int_equal(trp_actor_exit_code(target), 42);
	assert_int_equal(atomic_load(&t.work), 0);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_FAILED], 1);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_STOPPED], 5);
	assert_int_equal(atomic_load(&dead.by[TRP_DEAD_FAILED]), 1);
	assert_int_equal(atomic_load(&w.downs), 1);
	assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_FAILED);
	assert_int_equal(atomic_load(&w.down_code), 42);
	assert_int_equal(atomic_load(&w.down_ref), (long long)ref);
	assert_int_equal(atomic_load(&w.down_id),
			 (long long)trp_actor_id(target));
	/* outside a behaviour: refused */
	assert_int_equal(trp_actor_fail(watcher, 1), TRP_EPERM);
	assert_int_equal(trp_actor_fail(NULL, 1), TRP_EINVAL);
	assert_no_behaviour_errors();
	trp_actor_release(target);
	trp_actor_release(watcher);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A request the actor fails on: the asker's future completes TRP_EDEAD. */
static void test_fail_on_request(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t;
	memset(&t, 0, sizeof t);
	trp_actor_t *target = spawn(rt, &t);
	int32_t code = 7;
	trp_future_t *f = NULL;
	CHECK_OK(trp_ask(target, T_FAIL_ASK, &code, sizeof code, &f));
	assert_int_equal(trp_future_wait(f, SETTLE_NS, NULL), TRP_EDEAD);
	trp_future_release(f);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_FAILED], 1);
	assert_no_behaviour_errors();
	trp_actor_release(target);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* trp_actor_kill: stops without taking queued mail (KILLED dead letters),
 * reason KILLED; twice is harmless; after the stop TRP_EDEAD. */
static void test_kill(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t, w;
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	trp_actor_t *target = spawn(rt, &t), *watcher = spawn(rt, &w);
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, NULL));
	atomic_store(&gate, 0);
	CHECK_OK(trp_send(target, T_BLOCK, NULL, 0));
	for (int i = 0; i < 10; i++)
		CHECK_OK(trp_send(target, T_WORK, NULL, 0));
	while (!atomic_load(&t.in_block)) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	CHECK_OK(trp_actor_kill(target));
	CHECK_OK(trp_actor_kill(target));
	assert_int_equal(trp_send(target, T_WORK, NULL, 0), TRP_EDEAD);
	atomic_store(&gate, 1);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(atomic_load(&t.work), 0);
	assert_int_equal(atomic_load(&t.stop_reason), TRP_STOP_KILLED);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_KILLED], 10);
	assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_KILLED);
	assert_int_equal(trp_actor_kill(target), TRP_EDEAD);
	assert_int_equal(trp_actor_kill(NULL), TRP_EINVAL);
	/* an idle actor is woken to stop */
	static struct seen i;
	memset(&i, 0, sizeof i);
	trp_actor_t *idle = spawn(rt, &i);
	settle(rt);
	CHECK_OK(trp_actor_kill(idle));
	(void)api_assert_balanced(rt);
	assert_int_equal(atomic_load(&i.stops), 1);
	assert_int_equal(atomic_load(&i.stop_reason), TRP_STOP_KILLED);
	assert_no_behaviour_errors();
	trp_actor_release(idle);
	trp_actor_release(target);
	trp_actor_release(watcher);
	CHECK_OK(trp_runtime_destroy(rt));
}

static atomic_int starts;

static void count_start(trp_actor_t *self, void *state)
{
	(void)self;
	(void)state;
	atomic_fetch_add(&starts, 1);
}

/* A kill before the first turn: the start hook never runs, the stop hook
 * does (KILLED), the queued mail is dead-lettered. (The start hook shares
 * its word with the turn's carried node until that turn: actor.h.) */
static void test_kill_before_start(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	static struct seen b, k;
	memset(&b, 0, sizeof b);
	memset(&k, 0, sizeof k);
	atomic_store(&starts, 0);
	trp_actor_t *blocker = spawn(rt, &b);
	atomic_store(&gate, 0);
	CHECK_OK(trp_send(blocker, T_BLOCK, NULL, 0));
	while (!atomic_load(&b.in_block)) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	/* the only worker is blocked: the new actor waits for its turn */
	struct seen *kp = &k;
	trp_actor_def_t def = { .behavior = behavior,
				.start = count_start,
				.stop = on_stop,
				.state_size = sizeof kp };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, &kp, &a));
	for (int i = 0; i < 5; i++)
		CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	CHECK_OK(trp_actor_kill(a));
	atomic_store(&gate, 1);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(atomic_load(&starts), 0);
	assert_int_equal(atomic_load(&k.work), 0);
	assert_int_equal(atomic_load(&k.stops), 1);
	assert_int_equal(atomic_load(&k.stop_reason), TRP_STOP_KILLED);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_KILLED], 5);
	assert_false(trp_actor_alive(a));
	assert_no_behaviour_errors();
	trp_actor_release(a);
	trp_actor_release(blocker);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* The DOWN comes after every message the target sent the watcher. */
static void test_down_after_messages(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	for (int round = 0; round < 50; round++) {
		static struct seen t, w;
		memset(&t, 0, sizeof t);
		memset(&w, 0, sizeof w);
		trp_actor_t *watcher = spawn(rt, &w);
		t.watcher = watcher;
		trp_actor_t *target = spawn(rt, &t);
		CHECK_OK(trp_monitor(watcher, target, T_DOWN, NULL));
		long n = 1 + round * 7;
		CHECK_OK(trp_send(target, T_SEND_TO, &n, sizeof n));
		(void)api_assert_balanced(rt);
		assert_int_equal(atomic_load(&w.downs), 1);
		assert_int_equal(atomic_load(&w.work_before_down), n);
		assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_NORMAL);
		trp_actor_release(target);
		trp_actor_release(watcher);
	}
	assert_no_behaviour_errors();
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Monitoring a stopped target: DOWN(noproc) at once; demonitor: silence;
 * several monitors of one pair: one DOWN each. */
static void test_noproc_demonitor_many(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t, w;
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	trp_actor_t *target = spawn(rt, &t), *watcher = spawn(rt, &w);
	trp_ref_t r1, r2, r3;
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &r1));
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &r2));
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &r3));
	assert_true(r1 != r2 && r2 != r3);
	CHECK_OK(trp_demonitor(watcher, r2));
	assert_int_equal(trp_demonitor(watcher, r2), TRP_ENOENT);
	assert_int_equal(trp_demonitor(target, r1), TRP_ENOENT);
	CHECK_OK(trp_send(target, T_STOP, NULL, 0));
	(void)api_assert_balanced(rt);
	assert_int_equal(atomic_load(&w.downs), 2);
	/* delivered: gone */
	assert_int_equal(trp_demonitor(watcher, r1), TRP_ENOENT);
	memset(&w, 0, sizeof w);
	trp_ref_t r4;
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &r4));
	(void)api_assert_balanced(rt);
	assert_int_equal(atomic_load(&w.downs), 1);
	assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_NOPROC);
	assert_int_equal(atomic_load(&w.down_ref), (long long)r4);
	assert_int_equal(trp_monitor(NULL, target, T_DOWN, NULL), TRP_EINVAL);
	assert_int_equal(trp_demonitor(watcher, 0), TRP_EINVAL);
	assert_no_behaviour_errors();
	trp_actor_release(target);
	trp_actor_release(watcher);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A DOWN already queued when demonitor is called is voided: never seen,
 * counted as a dead letter (DEMONITORED). */
static void test_demonitor_voids_queued_down(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t, w;
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	trp_actor_t *target = spawn(rt, &t), *watcher = spawn(rt, &w);
	trp_ref_t ref;
	CHECK_OK(trp_monitor(watcher, target, T_DOWN, &ref));
	atomic_store(&gate, 0);
	CHECK_OK(trp_send(watcher, T_BLOCK, NULL, 0)); /* watcher busy */
	CHECK_OK(trp_send(target, T_STOP, NULL, 0));
	/* the DOWN is queued behind the blocked message */
	while (trp_actor_alive(target)) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	/* T_BLOCK counts until the watcher's turn ends: wait for the DOWN
	 * behind it (the target's hook sends it after the STOPPED store) */
	while (trp_actor_mailbox_len(watcher) < 2) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	CHECK_OK(trp_demonitor(watcher, ref));
	atomic_store(&gate, 1);
	trp_stats_t st = api_assert_balanced(rt);
	if (atomic_load(&w.downs) != 0)
		fail_msg(
			"DOWN seen after demonitor: ref %llu (ours %llu) reason "
			"%d, demonitored dead letters %llu",
			(unsigned long long)atomic_load(&w.down_ref),
			(unsigned long long)ref, atomic_load(&w.down_reason),
			(unsigned long long)
				st.dead_by_reason[TRP_DEAD_DEMONITORED]);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_DEMONITORED], 1);
	assert_no_behaviour_errors();
	trp_actor_release(target);
	trp_actor_release(watcher);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* An outside thread waits on an actor's end with a future. */
static void test_watch_future(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t;
	memset(&t, 0, sizeof t);
	trp_actor_t *target = spawn(rt, &t);
	trp_future_t *f;
	CHECK_OK(trp_actor_watch(target, &f));
	assert_false(trp_future_done(f));
	send_code(target, T_FAIL, -5);
	const trp_msg_t *reply;
	CHECK_OK(trp_future_wait(f, SETTLE_NS, &reply));
	trp_down_t d;
	assert_int_equal(reply->size, sizeof d);
	memcpy(&d, reply->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_FAILED);
	assert_int_equal(d.code, -5);
	assert_int_equal(d.actor_id, trp_actor_id(target));
	trp_future_release(f);
	/* already stopped: at once, noproc */
	CHECK_OK(trp_actor_watch(target, &f));
	CHECK_OK(trp_future_wait(f, 0, &reply));
	memcpy(&d, reply->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_NOPROC);
	trp_future_release(f);
	(void)api_assert_balanced(rt);
	trp_actor_release(target);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Links: an abnormal stop takes the linked actor down (LINKED), in a
 * cascade; a normal stop does not; a trapping actor gets exit messages. */
static void test_links(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen a, b, c, w;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	memset(&w, 0, sizeof w);
	trp_actor_t *A = spawn(rt, &a), *B = spawn(rt, &b), *C = spawn(rt, &c);
	trp_actor_t *W = spawn(rt, &w);
	CHECK_OK(trp_link(A, B));
	CHECK_OK(trp_link(B, C));
	CHECK_OK(trp_link(B, A)); /* twice: one link */
	CHECK_OK(trp_monitor(W, C, T_DOWN, NULL));
	send_code(A, T_FAIL, 3);
	(void)api_assert_balanced(rt);
	assert_int_equal(atomic_load(&a.stop_reason), TRP_STOP_FAILED);
	assert_int_equal(atomic_load(&b.stop_reason), TRP_STOP_LINKED);
	assert_int_equal(atomic_load(&c.stop_reason), TRP_STOP_LINKED);
	assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_LINKED);

	/* normal stop: the peer stays; a trapping peer hears of it */
	static struct seen d, e, f;
	memset(&d, 0, sizeof d);
	memset(&e, 0, sizeof e);
	memset(&f, 0, sizeof f);
	trp_actor_t *D = spawn(rt, &d), *E = spawn(rt, &e), *F = spawn(rt, &f);
	CHECK_OK(trp_send(E, T_TRAP, NULL, 0));
	settle(rt);
	CHECK_OK(trp_link(D, F));
	CHECK_OK(trp_link(D, E));
	CHECK_OK(trp_send(D, T_STOP, NULL, 0));
	(void)api_assert_balanced(rt);
	assert_true(trp_actor_alive(F));
	assert_true(trp_actor_alive(E));
	assert_int_equal(atomic_load(&e.exits), 1);
	assert_int_equal(atomic_load(&e.exit_reason), TRP_STOP_NORMAL);
	/* a trapping actor survives an abnormal stop of its peer */
	CHECK_OK(trp_link(F, E));
	CHECK_OK(trp_actor_kill(F));
	(void)api_assert_balanced(rt);
	assert_true(trp_actor_alive(E));
	assert_int_equal(atomic_load(&e.exits), 2);
	assert_int_equal(atomic_load(&e.exit_reason), TRP_STOP_KILLED);
	/* linking to a stopped actor: noproc, abnormal, the other stops */
	static struct seen g;
	memset(&g, 0, sizeof g);
	trp_actor_t *G = spawn(rt, &g);
	CHECK_OK(trp_link(G, F));
	(void)api_assert_balanced(rt);
	assert_int_equal(atomic_load(&g.stop_reason), TRP_STOP_LINKED);
	/* unlink */
	static struct seen h, k;
	memset(&h, 0, sizeof h);
	memset(&k, 0, sizeof k);
	trp_actor_t *H = spawn(rt, &h), *K = spawn(rt, &k);
	CHECK_OK(trp_link(H, K));
	CHECK_OK(trp_unlink(K, H));
	assert_int_equal(trp_unlink(K, H), TRP_ENOENT);
	CHECK_OK(trp_actor_kill(H));
	(void)api_assert_balanced(rt);
	assert_true(trp_actor_alive(K));
	assert_int_equal(trp_link(H, H), TRP_EINVAL);
	assert_int_equal(trp_actor_trap_exits(K, T_EXIT), TRP_EPERM);
	assert_no_behaviour_errors();
	trp_actor_t *all[] = { A, B, C, W, D, E, F, G, H, K };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		trp_actor_release(all[i]);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A thread actor watches: its DOWN comes from trp_recv. */
static atomic_int thread_down_reason;

static void watcher_thread(trp_actor_t *self, void *arg)
{
	(void)arg;
	const trp_msg_t *m;
	while (trp_recv(self, SETTLE_NS, &m) == 0) {
		if (m->type == T_DOWN) {
			trp_down_t d;
			memcpy(&d, m->data, sizeof d);
			atomic_store(&thread_down_reason, d.reason);
			return;
		}
	}
}

static void test_thread_watcher(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t;
	memset(&t, 0, sizeof t);
	trp_actor_t *target = spawn(rt, &t), *w = NULL;
	atomic_store(&thread_down_reason, 0);
	CHECK_OK(trp_thread_actor_spawn(rt, watcher_thread, NULL, &w));
	CHECK_OK(trp_monitor(w, target, T_DOWN, NULL));
	CHECK_OK(trp_actor_kill(target));
	CHECK_OK(trp_actor_join(w, SETTLE_NS));
	assert_int_equal(atomic_load(&thread_down_reason), TRP_STOP_KILLED);
	(void)api_assert_balanced(rt);
	trp_actor_release(w);
	trp_actor_release(target);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A thread actor that demonitors while its DOWN is queued never gets it
 * from trp_recv: the DOWN is a dead letter (DEMONITORED), as for a turn. */
static atomic_int demon_gate;
static atomic_long demon_downs, demon_work;

static void demon_thread(trp_actor_t *self, void *arg)
{
	(void)self;
	(void)arg;
	const trp_msg_t *m;
	/* the DOWN and a T_WORK behind it are queued before the gate opens */
	while (!atomic_load(&demon_gate)) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	while (trp_recv(self, SETTLE_NS, &m) == 0) {
		if (m->type == T_DOWN)
			atomic_fetch_add(&demon_downs, 1);
		else if (m->type == T_WORK &&
			 atomic_fetch_add(&demon_work, 1) == 0)
			return;
	}
}

static void test_thread_demonitor_voids_queued_down(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen t;
	memset(&t, 0, sizeof t);
	atomic_store(&demon_gate, 0);
	atomic_store(&demon_downs, 0);
	atomic_store(&demon_work, 0);
	trp_actor_t *target = spawn(rt, &t), *w = NULL;
	CHECK_OK(trp_thread_actor_spawn(rt, demon_thread, NULL, &w));
	trp_ref_t ref;
	CHECK_OK(trp_monitor(w, target, T_DOWN, &ref));
	CHECK_OK(trp_actor_kill(target));
	while (trp_actor_mailbox_len(w) < 1) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	CHECK_OK(trp_send(w, T_WORK, NULL, 0)); /* behind the DOWN */
	CHECK_OK(trp_demonitor(w, ref));
	atomic_store(&demon_gate, 1);
	CHECK_OK(trp_actor_join(w, SETTLE_NS));
	assert_int_equal(atomic_load(&demon_downs), 0);
	assert_int_equal(atomic_load(&demon_work), 1);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_DEMONITORED], 1);
	trp_actor_release(w);
	trp_actor_release(target);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A killed thread actor: trp_recv returns TRP_ECLOSED, its queued mail
 * becomes dead letters (KILLED), reason KILLED. */
static atomic_int recv_rc;

static void sleeper_thread(trp_actor_t *self, void *arg)
{
	(void)arg;
	while (!atomic_load(&gate)) {
		struct timespec p = { 0, 100000 };
		nanosleep(&p, NULL);
	}
	const trp_msg_t *m;
	atomic_store(&recv_rc, trp_recv(self, SETTLE_NS, &m));
}

static void test_kill_thread_actor(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	static struct seen w;
	memset(&w, 0, sizeof w);
	trp_actor_t *W = spawn(rt, &w), *t = NULL;
	atomic_store(&gate, 0);
	CHECK_OK(trp_thread_actor_spawn(rt, sleeper_thread, NULL, &t));
	CHECK_OK(trp_monitor(W, t, T_DOWN, NULL));
	for (int i = 0; i < 4; i++)
		CHECK_OK(trp_send(t, T_WORK, NULL, 0));
	CHECK_OK(trp_actor_kill(t));
	atomic_store(&gate, 1);
	CHECK_OK(trp_actor_join(t, SETTLE_NS));
	assert_int_equal(atomic_load(&recv_rc), TRP_ECLOSED);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_KILLED], 4);
	assert_int_equal(atomic_load(&w.down_reason), TRP_STOP_KILLED);
	trp_actor_release(t);
	trp_actor_release(W);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Monitor racing stop from several threads: exactly one DOWN per ref. */
#define RACE_THREADS 4
#define RACE_MONITORS 200

static struct race {
	trp_actor_t *watcher, *target;
	atomic_int go;
	atomic_long made;
} race;

static void *race_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&race.go))
		;
	for (int i = 0; i < RACE_MONITORS; i++) {
		int rc = trp_monitor(race.watcher, race.target, T_DOWN, NULL);
		if (rc == 0)
			atomic_fetch_add(&race.made, 1);
		else
			note_error(rc);
	}
	return NULL;
}

static void test_monitor_race(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	for (int round = 0; round < 20; round++) {
		static struct seen t, w;
		memset(&t, 0, sizeof t);
		memset(&w, 0, sizeof w);
		race.watcher = spawn(rt, &w);
		race.target = spawn(rt, &t);
		atomic_store(&race.made, 0);
		atomic_store(&race.go, 0);
		pthread_t th[RACE_THREADS];
		for (int i = 0; i < RACE_THREADS; i++)
			assert_int_equal(pthread_create(&th[i], NULL, race_main,
							NULL),
					 0);
		atomic_store(&race.go, 1);
		CHECK_OK(trp_send(race.target, T_STOP, NULL, 0));
		for (int i = 0; i < RACE_THREADS; i++)
			pthread_join(th[i], NULL);
		(void)api_assert_balanced(rt);
		assert_int_equal(atomic_load(&race.made),
				 RACE_THREADS * RACE_MONITORS);
		assert_int_equal(atomic_load(&w.downs),
				 RACE_THREADS * RACE_MONITORS);
		trp_actor_release(race.watcher);
		trp_actor_release(race.target);
	}
	assert_no_behaviour_errors();
	CHECK_OK(trp_runtime_destroy(rt));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail),
		cmocka_unit_test(test_fail_on_request),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_kill_before_start),
		cmocka_unit_test(test_down_after_messages),
		cmocka_unit_test(test_noproc_demonitor_many),
		cmocka_unit_test(test_demonitor_voids_queued_down),
		cmocka_unit_test(test_watch_future),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_thread_watcher),
		cmocka_unit_test(test_thread_demonitor_voids_queued_down),
		cmocka_unit_test(test_kill_thread_actor),
		cmocka_unit_test(test_monitor_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
