/*
 * tests/api/supervisor.c - supervisors (troupe/supervisor.h) as a user
 * sees them: the three strategies' restart order, the restart types,
 * named children keeping their names, intensity tripping and escalating
 * to a parent supervisor, backoff (lower bounds only), the ordered
 * shutdown in reverse order with a child that does not stop in time
 * (killed after its shutdown_ns), a supervisor tree's shutdown, close and
 * kill of a supervisor, trp_supervisor_child racing restarts, and bad
 * specs. Every test ends with the delivery identity (api_assert_balanced).
 *
 * Order is read from one shared event log (children's start and stop
 * hooks append to it). Start hooks of children spawned in one turn may
 * run in any order (a worker runs what its turn spawned LIFO, a thief
 * takes the rest), so the order in which a supervisor *started* its
 * children is read from their ids (handed out in spawn order), and the
 * stop order from the log (the supervisor stops one child after the
 * other's DOWN, which is sent after its stop hook returned).
 */
#include "api_util.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

#define MS 1000000LL

enum {
	T_WORK = 1, /* count it */
	T_FAIL = 2, /* trp_actor_fail(self, FAIL_CODE) */
	T_STOP = 3, /* trp_actor_stop(self) */
	T_SLOW = 4, /* sleep SLOW_MS, count it */
};

#define FAIL_CODE 7
#define SLOW_MS 5

/* A child's state (state_size > 0: each start copies the spec's). */
struct kid {
	char tag;	    /* names the child in the log */
	bool fail_in_start; /* trp_actor_fail from its start hook */
};

enum ev_kind {
	EV_START = 1,
	EV_STOP = 2,
};

struct ev {
	int kind;
	char tag;
	int reason;
	uint64_t id;
	int64_t t;
};

#define MAX_EVENTS 8192
static struct ev events[MAX_EVENTS];
static atomic_long nevents;
static atomic_long work_done[128]; /* T_WORK / T_SLOW per tag */

static void log_ev(int kind, char tag, int reason, trp_actor_t *a)
{
	long i = atomic_fetch_add(&nevents, 1);
	if (i >= MAX_EVENTS) {
		note_error(-90);
		return;
	}
	events[i] = (struct ev){ kind, tag, reason, trp_actor_id(a), now_ns() };
	/* The entry is published by the caller's next synchronization (the
	 * test thread reads the log only after waiting on nevents, see
	 * wait_events, and at quiescence). */
}

/* Dead letters by reason (api_util.h). */
static struct api_dead_letters dead;

static trp_runtime_t *make_rt(uint32_t workers)
{
	memset(events, 0, sizeof events);
	atomic_store(&nevents, 0);
	for (int i = 0; i < 128; i++)
		atomic_store(&work_done[i], 0);
	return api_runtime_new(workers, &dead);
}

static void kid_start(trp_actor_t *self, void *state)
{
	struct kid *k = state;
	log_ev(EV_START, k->tag, 0, self);
	if (k->fail_in_start && trp_actor_fail(self, FAIL_CODE) != 0)
		note_error(-91);
}

static void kid_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct kid *k = state;
	log_ev(EV_STOP, k->tag, (int)why, self);
}

static void kid_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct kid *k = state;
	switch (msg->type) {
	case T_WORK:
		atomic_fetch_add(&work_done[(unsigned char)k->tag & 127], 1);
		break;
	case T_FAIL:
		if (trp_actor_fail(self, FAIL_CODE) != 0)
			note_error(-92);
		break;
	case T_STOP:
		if (trp_actor_stop(self) != 0)
			note_error(-93);
		break;
	case T_SLOW: {
		struct timespec t = { 0, SLOW_MS * MS };
		nanosleep(&t, NULL);
		atomic_fetch_add(&work_done[(unsigned char)k->tag & 127], 1);
		break;
	}
	default:
		note_error(-94);
	}
}

/* The kids' spec args live as long as the test (the supervisor copies
 * them anyway). */
static struct kid kids[26];

static trp_child_spec_t kid_spec(char tag, trp_restart_t restart,
				 const char *name)
{
	struct kid *k = &kids[tag - 'A'];
	k->tag = tag;
	k->fail_in_start = false;
	trp_child_spec_t c = { .def = { .behavior = kid_behavior,
					.start = kid_start,
					.stop = kid_stop,
					.state_size = sizeof(struct kid) },
			       .arg = k,
			       .name = name,
			       .restart = restart,
			       .shutdown_ns = 2 * SEC };
	return c;
}

static trp_actor_t *start_sup(trp_runtime_t *rt, trp_supervisor_spec_t *spec,
			      const trp_child_spec_t *children, uint32_t n)
{
	trp_actor_t *sup = NULL;
	spec->children = children;
	spec->nchildren = n;
	CHECK_OK(trp_supervisor_start(rt, spec, &sup));
	return sup;
}

/* Waits until at least @n events are in the log. */
static void wait_events(long n)
{
	if (!wait_for(&nevents, n))
		fail_msg("only %ld of %ld events", atomic_load(&nevents), n);
}

/* Child @i's current handle, once it runs and its id is not @not_id. */
static trp_actor_t *child_of(trp_actor_t *sup, uint32_t i, uint64_t not_id)
{
	int64_t deadline = now_ns() + SETTLE_NS;
	for (;;) {
		trp_actor_t *a;
		int rc = trp_supervisor_child(sup, i, &a);
		if (rc == 0 && trp_actor_id(a) != not_id)
			return a;
		if (rc == 0)
			trp_actor_release(a);
		else if (rc != TRP_ENOENT)
			fail_msg("trp_supervisor_child: %s", trp_errname(rc));
		if (now_ns() > deadline)
			fail_msg("child %u did not (re)start", i);
		struct timespec pause = { 0, 100000 };
		nanosleep(&pause, NULL);
	}
}

static uint64_t child_id(trp_actor_t *sup, uint32_t i, uint64_t not_id)
{
	trp_actor_t *a = child_of(sup, i, not_id);
	uint64_t id = trp_actor_id(a);
	trp_actor_release(a);
	return id;
}

static void send_to_child(trp_actor_t *sup, uint32_t i, uint32_t type)
{
	trp_actor_t *a = child_of(sup, i, 0);
	CHECK_OK(trp_send(a, type, NULL, 0));
	trp_actor_release(a);
}

/* A future for @a's end: take it before whatever makes @a stop, or the
 * DOWN may say only TRP_STOP_NOPROC. */
static trp_future_t *watch(trp_actor_t *a)
{
	trp_future_t *f;
	CHECK_OK(trp_actor_watch(a, &f));
	return f;
}

/* Waits for the end @f watches; returns its DOWN. */
static trp_down_t down_of(trp_future_t *f)
{
	const trp_msg_t *reply;
	trp_down_t d;
	CHECK_OK(trp_future_wait(f, SETTLE_NS, &reply));
	assert_int_equal(reply->size, sizeof d);
	memcpy(&d, reply->data, sizeof d);
	trp_future_release(f);
	return d;
}

static trp_down_t wait_end(trp_actor_t *a)
{
	return down_of(watch(a));
}

/* @a failed with @code; it may have stopped before we could watch it
 * (then the DOWN says TRP_STOP_NOPROC, and the code tells). */
static void assert_failed(trp_actor_t *a, int32_t code)
{
	trp_down_t d = wait_end(a);
	if (d.reason != TRP_STOP_FAILED && d.reason != TRP_STOP_NOPROC)
		fail_msg("stopped with reason %d, not failed", d.reason);
	assert_int_equal(trp_actor_exit_code(a), code);
}

/* The events of one kind (and tag, 0 = any) from index @from on. */
static int collect(int kind, char tag, long from, struct ev *out, int max)
{
	int n = 0;
	long end = atomic_load(&nevents);
	for (long i = from; i < end && n < max; i++)
		if (events[i].kind == kind &&
		    (tag == 0 || events[i].tag == tag))
			out[n++] = events[i];
	return n;
}

static void assert_stop(const struct ev *e, char tag, int reason)
{
	if (e->kind != EV_STOP || e->tag != tag || e->reason != reason)
		fail_msg("expected stop of %c (reason %d), got %s of %c "
			 "(reason %d)",
			 tag, reason, e->kind == EV_STOP ? "stop" : "start",
			 e->tag, e->reason);
}

static void end_test(trp_runtime_t *rt, trp_actor_t *sup)
{
	if (sup != NULL) {
		trp_future_t *f = watch(sup);
		int rc = trp_supervisor_stop(sup);
		if (rc != 0 && rc != TRP_EDEAD)
			fail_msg("trp_supervisor_stop: %s", trp_errname(rc));
		(void)down_of(f);
		trp_actor_release(sup);
	}
	(void)api_assert_balanced(rt);
	assert_no_behaviour_errors();
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* strategies                                                          */

/* one_for_one: only the failed child restarts; the others keep running
 * (same ids). */
static void test_one_for_one(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[3] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('C', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	trp_actor_t *sup = start_sup(rt, &spec, c, 3);
	uint64_t a = child_id(sup, 0, 0), b = child_id(sup, 1, 0),
		 cc = child_id(sup, 2, 0);
	assert_true(a < b && b < cc); /* started in spec order */
	wait_events(3);
	send_to_child(sup, 1, T_FAIL);
	uint64_t b2 = child_id(sup, 1, b);
	assert_true(b2 > cc);
	settle(rt);
	assert_int_equal(child_id(sup, 0, 0), a);
	assert_int_equal(child_id(sup, 2, 0), cc);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 1);
	assert_stop(&st[0], 'B', TRP_STOP_FAILED);
	assert_int_equal(st[0].id, b);
	trp_supervisor_stats_t stats;
	CHECK_OK(trp_supervisor_get_stats(sup, &stats));
	assert_int_equal(stats.restarts, 1);
	assert_int_equal(stats.stops, 1);
	assert_int_equal(atomic_load(&dead.by[TRP_DEAD_FAILED]), 1);
	end_test(rt, sup);
}

/* one_for_all: the others stop in reverse order (C, then A), then all
 * start again in order. */
static void test_one_for_all(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[3] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('C', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_ONE_FOR_ALL;
	trp_actor_t *sup = start_sup(rt, &spec, c, 3);
	uint64_t a = child_id(sup, 0, 0), b = child_id(sup, 1, 0),
		 cc = child_id(sup, 2, 0);
	wait_events(3);
	send_to_child(sup, 1, T_FAIL);
	/* 3 stops, 3 starts */
	wait_events(9);
	settle(rt);
	struct ev st[8], sa[8];
	assert_int_equal(collect(EV_STOP, 0, 3, st, 8), 3);
	assert_stop(&st[0], 'B', TRP_STOP_FAILED);
	assert_stop(&st[1], 'C', TRP_STOP_CLOSED);
	assert_stop(&st[2], 'A', TRP_STOP_CLOSED);
	assert_int_equal(st[1].id, cc);
	assert_int_equal(st[2].id, a);
	(void)b;
	/* the new instances: started after every stop, in spec order */
	assert_int_equal(collect(EV_START, 0, 6, sa, 8), 3);
	uint64_t a2 = child_id(sup, 0, a), b2 = child_id(sup, 1, b),
		 c2 = child_id(sup, 2, cc);
	assert_true(cc < a2 && a2 < b2 && b2 < c2);
	trp_supervisor_stats_t stats;
	CHECK_OK(trp_supervisor_get_stats(sup, &stats));
	assert_int_equal(stats.restarts, 3);
	assert_int_equal(stats.stops, 3);
	end_test(rt, sup);
}

/* rest_for_one: the children after the failed one stop in reverse order
 * (D, then C); B, C, D start again in order; A is untouched. */
static void test_rest_for_one(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[4] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('C', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('D', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_REST_FOR_ONE;
	trp_actor_t *sup = start_sup(rt, &spec, c, 4);
	uint64_t a = child_id(sup, 0, 0), b = child_id(sup, 1, 0),
		 cc = child_id(sup, 2, 0), d = child_id(sup, 3, 0);
	wait_events(4);
	send_to_child(sup, 1, T_FAIL);
	wait_events(10); /* 3 stops, 3 starts */
	settle(rt);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 4, st, 8), 3);
	assert_stop(&st[0], 'B', TRP_STOP_FAILED);
	assert_stop(&st[1], 'D', TRP_STOP_CLOSED);
	assert_stop(&st[2], 'C', TRP_STOP_CLOSED);
	assert_int_equal(st[0].id, b);
	assert_int_equal(st[1].id, d);
	assert_int_equal(st[2].id, cc);
	assert_int_equal(child_id(sup, 0, 0), a);
	uint64_t b2 = child_id(sup, 1, b), c2 = child_id(sup, 2, cc),
		 d2 = child_id(sup, 3, d);
	assert_true(d < b2 && b2 < c2 && c2 < d2);
	trp_supervisor_stats_t stats;
	CHECK_OK(trp_supervisor_get_stats(sup, &stats));
	assert_int_equal(stats.restarts, 3);
	end_test(rt, sup);
}

/* ------------------------------------------------------------------ */
/* restart types                                                       */

static void test_restart_types(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[5] = {
		kid_spec('P', TRP_RESTART_PERMANENT, NULL), /* stops: again */
		kid_spec('T', TRP_RESTART_TRANSIENT, NULL), /* stops: gone */
		kid_spec('U', TRP_RESTART_TRANSIENT, NULL), /* fails: again */
		kid_spec('X', TRP_RESTART_TEMPORARY, NULL), /* fails: gone */
		kid_spec('Y', TRP_RESTART_TEMPORARY, NULL), /* stops: gone */
	};
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.intensity = 10;
	trp_actor_t *sup = start_sup(rt, &spec, c, 5);
	uint64_t p = child_id(sup, 0, 0), u = child_id(sup, 2, 0);
	send_to_child(sup, 0, T_STOP);
	send_to_child(sup, 1, T_STOP);
	send_to_child(sup, 2, T_FAIL);
	send_to_child(sup, 3, T_FAIL);
	send_to_child(sup, 4, T_STOP);
	(void)child_id(sup, 0, p);
	(void)child_id(sup, 2, u);
	settle(rt);
	trp_actor_t *a;
	assert_int_equal(trp_supervisor_child(sup, 1, &a), TRP_ENOENT);
	assert_int_equal(trp_supervisor_child(sup, 3, &a), TRP_ENOENT);
	assert_int_equal(trp_supervisor_child(sup, 4, &a), TRP_ENOENT);
	trp_supervisor_stats_t stats;
	CHECK_OK(trp_supervisor_get_stats(sup, &stats));
	assert_int_equal(stats.restarts, 2);
	assert_int_equal(stats.stops, 5);
	/* Exactly two new instances: P and U. */
	struct ev sa[16];
	assert_int_equal(collect(EV_START, 0, 0, sa, 16), 7);
	end_test(rt, sup);
}

/* A group restart stops a temporary sibling and does not start it again;
 * a transient child's normal stop restarts no sibling. */
static void test_group_and_temporary(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[3] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_TRANSIENT, NULL),
				  kid_spec('C', TRP_RESTART_TEMPORARY, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_ONE_FOR_ALL;
	trp_actor_t *sup = start_sup(rt, &spec, c, 3);
	uint64_t a = child_id(sup, 0, 0), b = child_id(sup, 1, 0);
	(void)child_id(sup, 2, 0);
	send_to_child(sup, 1, T_STOP); /* transient, normal: nothing */
	settle(rt);
	trp_actor_t *h;
	assert_int_equal(trp_supervisor_child(sup, 1, &h), TRP_ENOENT);
	assert_int_equal(child_id(sup, 0, 0), a);
	send_to_child(sup, 0, T_FAIL); /* C stops, A and B start */
	(void)child_id(sup, 0, a);
	(void)child_id(sup, 1, b);
	settle(rt);
	assert_int_equal(trp_supervisor_child(sup, 2, &h), TRP_ENOENT);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 3);
	assert_stop(&st[0], 'B', TRP_STOP_NORMAL);
	assert_stop(&st[1], 'A', TRP_STOP_FAILED);
	assert_stop(&st[2], 'C', TRP_STOP_CLOSED);
	end_test(rt, sup);
}

/* ------------------------------------------------------------------ */
/* names                                                               */

static void test_named_children(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[2] = {
		kid_spec('N', TRP_RESTART_PERMANENT, "alpha"),
		kid_spec('M', TRP_RESTART_PERMANENT, "beta"),
	};
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_ONE_FOR_ALL;
	spec.intensity = 20;
	trp_actor_t *sup = start_sup(rt, &spec, c, 2);
	settle(rt);
	uint64_t prev = 0;
	for (int round = 0; round < 5; round++) {
		trp_actor_t *named;
		uint64_t id = child_id(sup, 0, prev);
		settle(rt);
		CHECK_OK(trp_lookup(rt, "alpha", &named));
		assert_int_equal(trp_actor_id(named), id);
		trp_actor_release(named);
		CHECK_OK(trp_lookup(rt, "beta", &named));
		assert_int_equal(trp_actor_id(named), child_id(sup, 1, 0));
		trp_actor_release(named);
		CHECK_OK(trp_send_named(rt, "alpha", T_WORK, NULL, 0));
		settle(rt);
		assert_int_equal(atomic_load(&work_done['N']), round + 1);
		CHECK_OK(trp_send_named(rt, "alpha", T_FAIL, NULL, 0));
		prev = id;
	}
	(void)child_id(sup, 0, prev);
	settle(rt);
	CHECK_OK(trp_send_named(rt, "beta", T_WORK, NULL, 0));
	end_test(rt, sup);
	/* the names went with their actors */
}

/* A child whose name another actor holds does not start: that counts as
 * a failure, and the intensity trips. */
static void test_name_taken(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = kid_behavior,
				.state_size = sizeof(struct kid) };
	trp_actor_t *squatter;
	CHECK_OK(trp_actor_spawn(rt, &def, &kids[0], &squatter));
	CHECK_OK(trp_register(rt, "taken", squatter));
	trp_child_spec_t c[1] = { kid_spec('Q', TRP_RESTART_PERMANENT,
					   "taken") };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.intensity = 2;
	trp_actor_t *sup = start_sup(rt, &spec, c, 1);
	assert_failed(sup, TRP_SUP_INTENSITY);
	/* three instances tried, each killed; the squatter keeps its name */
	settle(rt);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 'Q', 0, st, 8), 3);
	for (int i = 0; i < 3; i++)
		assert_stop(&st[i], 'Q', TRP_STOP_KILLED);
	trp_actor_t *h;
	CHECK_OK(trp_lookup(rt, "taken", &h));
	assert_ptr_equal(h, squatter);
	trp_actor_release(h);
	CHECK_OK(trp_actor_close(squatter));
	trp_actor_release(squatter);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* ------------------------------------------------------------------ */
/* intensity and escalation                                            */

/* A grandchild that fails in its start hook: its supervisor restarts it
 * twice (intensity 2), trips and fails; the parent restarts that
 * supervisor once (intensity 1), which trips again, and the parent
 * fails: TRP_SUP_INTENSITY all the way up. */
static void test_intensity_escalates(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t g[1] = { kid_spec('G', TRP_RESTART_PERMANENT, NULL) };
	kids['G' - 'A'].fail_in_start = true;
	g[0].arg = &kids['G' - 'A'];
	trp_supervisor_spec_t inner = TRP_SUPERVISOR_SPEC_INIT;
	inner.intensity = 2;
	inner.period_ns = 60 * SEC;
	inner.children = g;
	inner.nchildren = 1;
	trp_child_spec_t mid[1] = { { .def = *trp_supervisor_def(),
				      .arg = &inner,
				      .restart = TRP_RESTART_PERMANENT,
				      .shutdown_ns = -1 } };
	trp_supervisor_spec_t outer = TRP_SUPERVISOR_SPEC_INIT;
	outer.intensity = 1;
	outer.period_ns = 60 * SEC;
	trp_actor_t *sup = start_sup(rt, &outer, mid, 1);
	/* the spec was copied: scribbling on it changes nothing */
	memset(&inner, 0, sizeof inner);
	memset(g, 0, sizeof g);
	assert_failed(sup, TRP_SUP_INTENSITY);
	settle(rt);
	struct ev sa[16];
	assert_int_equal(collect(EV_START, 'G', 0, sa, 16), 6);
	/* the supervisor failed on a message: a FAILED dead letter each
	 * (2 inner instances, 1 outer), plus the grandchildren's none (they
	 * failed in their start hooks, on no message) */
	assert_int_equal(atomic_load(&dead.by[TRP_DEAD_FAILED]), 3);
	trp_actor_t *h;
	assert_int_equal(trp_supervisor_child(sup, 0, &h), TRP_EDEAD);
	trp_supervisor_stats_t stats;
	assert_int_equal(trp_supervisor_get_stats(sup, &stats), TRP_EDEAD);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* Restarts beyond the intensity stop the supervisor after its other
 * children, in reverse order. */
static void test_intensity_stops_children(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[3] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('C', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.intensity = 0; /* the first restart trips it */
	trp_actor_t *sup = start_sup(rt, &spec, c, 3);
	wait_events(3);
	trp_future_t *f = watch(sup);
	send_to_child(sup, 1, T_FAIL);
	trp_down_t d = down_of(f);
	assert_int_equal(d.reason, TRP_STOP_FAILED);
	assert_int_equal(d.code, TRP_SUP_INTENSITY);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 3);
	assert_stop(&st[0], 'B', TRP_STOP_FAILED);
	assert_stop(&st[1], 'C', TRP_STOP_CLOSED);
	assert_stop(&st[2], 'A', TRP_STOP_CLOSED);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* ------------------------------------------------------------------ */
/* backoff                                                             */

/* Each restart in a row waits min, 2 min, 4 min, capped at max (jitter
 * only adds): lower bounds only, measured from the failed instance's
 * stop hook to the new one's start hook. */
static void test_backoff(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[1] = { kid_spec('K', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.intensity = 10;
	spec.period_ns = 60 * SEC;
	spec.backoff_min_ns = 30 * MS;
	spec.backoff_max_ns = 100 * MS;
	trp_actor_t *sup = start_sup(rt, &spec, c, 1);
	const int64_t want[4] = { 30 * MS, 60 * MS, 100 * MS, 100 * MS };
	uint64_t id = child_id(sup, 0, 0);
	for (int i = 0; i < 4; i++) {
		send_to_child(sup, 0, T_FAIL);
		id = child_id(sup, 0, id);
		settle(rt);
		struct ev st[8], sa[8];
		int ns = collect(EV_STOP, 'K', 0, st, 8);
		int nsa = collect(EV_START, 'K', 0, sa, 8);
		assert_int_equal(ns, i + 1);
		assert_int_equal(nsa, i + 2);
		int64_t waited = sa[i + 1].t - st[i].t;
		if (waited < want[i])
			fail_msg("restart %d after %lld ns, before its backoff "
				 "of %lld ns",
				 i + 1, (long long)waited, (long long)want[i]);
	}
	end_test(rt, sup);
}

/* ------------------------------------------------------------------ */
/* shutdown                                                            */

/* trp_supervisor_stop: C, then B, then A. B has a second of slow mail
 * and 50 ms to stop: it is killed, the rest of its mail dead letters. */
static void test_shutdown_order(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[3] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('C', TRP_RESTART_PERMANENT, NULL) };
	c[1].shutdown_ns = 50 * MS;
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	trp_actor_t *sup = start_sup(rt, &spec, c, 3);
	trp_actor_t *b = child_of(sup, 1, 0);
	const long slow = 200; /* 200 * 5 ms: a second of work */
	for (long i = 0; i < slow; i++)
		CHECK_OK(trp_send(b, T_SLOW, NULL, 0));
	trp_actor_release(b);
	wait_events(3);
	trp_future_t *f = watch(sup);
	CHECK_OK(trp_supervisor_stop(sup));
	CHECK_OK(trp_supervisor_stop(sup)); /* twice: harmless */
	trp_down_t d = down_of(f);
	assert_int_equal(d.reason, TRP_STOP_NORMAL);
	settle(rt);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 3);
	assert_stop(&st[0], 'C', TRP_STOP_CLOSED);
	assert_stop(&st[1], 'B', TRP_STOP_KILLED);
	assert_stop(&st[2], 'A', TRP_STOP_CLOSED);
	/* B was closed after C's stop, and had 50 ms */
	assert_true(st[1].t - st[0].t >= 50 * MS);
	long done = atomic_load(&work_done['B']);
	assert_true(done < slow);
	assert_int_equal(atomic_load(&dead.by[TRP_DEAD_KILLED]), slow - done);
	assert_int_equal(trp_supervisor_stop(sup), TRP_EDEAD);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* A tree: the parent stops Z, then the inner supervisor, which stops
 * its own Y, then X, before it stops itself. */
static void test_tree_shutdown(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t leaves[2] = {
		kid_spec('X', TRP_RESTART_PERMANENT, "x"),
		kid_spec('Y', TRP_RESTART_PERMANENT, NULL),
	};
	trp_supervisor_spec_t inner = TRP_SUPERVISOR_SPEC_INIT;
	inner.children = leaves;
	inner.nchildren = 2;
	trp_child_spec_t top[2] = {
		{ .def = *trp_supervisor_def(),
		  .arg = &inner,
		  .name = "inner",
		  .restart = TRP_RESTART_PERMANENT,
		  .shutdown_ns = -1 },
		kid_spec('Z', TRP_RESTART_PERMANENT, NULL),
	};
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	trp_actor_t *sup = start_sup(rt, &spec, top, 2);
	trp_actor_t *in = child_of(sup, 0, 0);
	(void)child_id(in, 0, 0);
	(void)child_id(in, 1, 0);
	settle(rt);
	trp_actor_t *h;
	CHECK_OK(trp_lookup(rt, "inner", &h));
	assert_ptr_equal(h, in);
	trp_actor_release(h);
	trp_future_t *f = watch(sup), *fin = watch(in);
	CHECK_OK(trp_supervisor_stop(sup));
	trp_down_t d = down_of(f);
	assert_int_equal(d.reason, TRP_STOP_NORMAL);
	d = down_of(fin);
	assert_int_equal(d.reason, TRP_STOP_NORMAL);
	d = wait_end(in);
	assert_int_equal(d.reason, TRP_STOP_NOPROC); /* gone already */
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 3);
	assert_stop(&st[0], 'Z', TRP_STOP_CLOSED);
	assert_stop(&st[1], 'Y', TRP_STOP_CLOSED);
	assert_stop(&st[2], 'X', TRP_STOP_CLOSED);
	trp_actor_release(in);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* trp_actor_close of a supervisor closes its children (no order is
 * waited for); trp_actor_kill kills them. */
static void test_close_and_kill(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[2] = { kid_spec('A', TRP_RESTART_PERMANENT, NULL),
				  kid_spec('B', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	trp_actor_t *sup = start_sup(rt, &spec, c, 2);
	wait_events(2);
	trp_future_t *f = watch(sup);
	CHECK_OK(trp_actor_close(sup));
	trp_down_t d = down_of(f);
	assert_int_equal(d.reason, TRP_STOP_CLOSED);
	wait_events(4);
	settle(rt);
	struct ev st[8];
	assert_int_equal(collect(EV_STOP, 0, 0, st, 8), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(st[i].reason, TRP_STOP_CLOSED);
	trp_actor_release(sup);

	sup = start_sup(rt, &spec, c, 2);
	wait_events(6);
	f = watch(sup);
	CHECK_OK(trp_actor_kill(sup));
	d = down_of(f);
	assert_int_equal(d.reason, TRP_STOP_KILLED);
	wait_events(8);
	settle(rt);
	assert_int_equal(collect(EV_STOP, 0, 6, st, 8), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(st[i].reason, TRP_STOP_KILLED);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* ------------------------------------------------------------------ */
/* trp_supervisor_child racing restarts                                */

struct reader {
	trp_actor_t *sup;
	atomic_int stop;
	atomic_long ok; /* read by the test before it starts the restarts */
	long noent, dead, other;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	while (!atomic_load(&r->stop)) {
		trp_actor_t *a;
		int rc = trp_supervisor_child(r->sup, 0, &a);
		if (rc == 0) {
			/* a live handle or one that just stopped: usable */
			if (trp_actor_id(a) == 0)
				r->other++;
			(void)trp_actor_alive(a);
			trp_actor_release(a);
			atomic_fetch_add(&r->ok, 1);
		} else if (rc == TRP_ENOENT) {
			r->noent++;
		} else if (rc == TRP_EDEAD) {
			r->dead++;
		} else {
			r->other++;
		}
		trp_supervisor_stats_t st;
		rc = trp_supervisor_get_stats(r->sup, &st);
		if (rc != 0 && rc != TRP_EDEAD)
			r->other++;
	}
	return NULL;
}

static void test_child_during_restarts(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t c[2] = { kid_spec('R', TRP_RESTART_PERMANENT, "r"),
				  kid_spec('S', TRP_RESTART_PERMANENT, NULL) };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_ONE_FOR_ALL;
	spec.intensity = 1000;
	spec.period_ns = 600 * SEC;
	trp_actor_t *sup = start_sup(rt, &spec, c, 2);
	struct reader r = { .sup = sup };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	/* The reader runs before the restarts start (on a busy machine it
	 * might otherwise not be scheduled until they are over). */
	int64_t until = now_ns() + 10 * SEC;
	while (atomic_load(&r.ok) == 0 && now_ns() < until)
		sched_yield();
	assert_true(atomic_load(&r.ok) > 0);
	uint64_t id = 0;
	for (int i = 0; i < 200; i++) {
		trp_actor_t *a = child_of(sup, 0, id);
		id = trp_actor_id(a);
		int rc = trp_send(a, T_FAIL, NULL, 0);
		if (rc != 0 && rc != TRP_EDEAD)
			fail_msg("trp_send: %s", trp_errname(rc));
		trp_actor_release(a);
	}
	(void)child_id(sup, 0, id);
	trp_supervisor_stats_t stats;
	settle(rt);
	CHECK_OK(trp_supervisor_get_stats(sup, &stats));
	assert_int_equal(stats.restarts, 400);
	trp_future_t *f = watch(sup);
	CHECK_OK(trp_supervisor_stop(sup));
	(void)down_of(f);
	trp_actor_t *a;
	assert_int_equal(trp_supervisor_child(sup, 0, &a), TRP_EDEAD);
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	assert_int_equal(r.other, 0);
	trp_actor_release(sup);
	end_test(rt, NULL);
}

/* ------------------------------------------------------------------ */
/* bad specs and calls                                                 */

static void test_bad_specs(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_child_spec_t ok = kid_spec('A', TRP_RESTART_PERMANENT, "a");
	trp_child_spec_t c[2];
	trp_supervisor_spec_t s = TRP_SUPERVISOR_SPEC_INIT;
	trp_actor_t *sup = NULL;

#define EXPECT(code)                                                           \
	assert_int_equal(trp_supervisor_start(rt, &s, &sup), (code));          \
	assert_null(sup);                                                      \
	s = (trp_supervisor_spec_t)TRP_SUPERVISOR_SPEC_INIT;                   \
	s.children = c;                                                        \
	s.nchildren = 1;                                                       \
	c[0] = ok;                                                             \
	c[1] = kid_spec('B', TRP_RESTART_PERMANENT, "b")

	assert_int_equal(trp_supervisor_start(NULL, &s, &sup), TRP_EINVAL);
	assert_int_equal(trp_supervisor_start(rt, NULL, &sup), TRP_EINVAL);
	s.children = NULL;
	EXPECT(TRP_EINVAL); /* no children */
	s.nchildren = 0;
	EXPECT(TRP_EINVAL);
	s.nchildren = TRP_SUPERVISOR_MAX_CHILDREN + 1;
	EXPECT(TRP_EINVAL);
	s.strategy = (trp_strategy_t)3;
	EXPECT(TRP_EINVAL);
	s.period_ns = 0;
	EXPECT(TRP_EINVAL);
	s.intensity = TRP_SUPERVISOR_MAX_INTENSITY + 1;
	EXPECT(TRP_EINVAL);
	s.backoff_min_ns = -1;
	EXPECT(TRP_EINVAL);
	s.backoff_min_ns = 10 * MS;
	s.backoff_max_ns = 5 * MS;
	EXPECT(TRP_EINVAL);
	c[0].def.behavior = NULL;
	EXPECT(TRP_EINVAL);
	c[0].restart = (trp_restart_t)7;
	EXPECT(TRP_EINVAL);
	c[0].def.state_size = TRP_MSG_MAX + 1;
	EXPECT(TRP_EINVAL);
	c[0].name = "";
	EXPECT(TRP_EINVAL);
	c[0].name = "a-name-that-is-much-longer-than-the-sixty-three-bytes-"
		    "a-name-may-have";
	EXPECT(TRP_ENAMETOOLONG);
	s.nchildren = 2;
	c[1].name = "a";
	EXPECT(TRP_EEXIST);
	/* a supervisor child without a spec, or with a bad one */
	c[0] = (trp_child_spec_t){ .def = *trp_supervisor_def() };
	EXPECT(TRP_EINVAL);
	trp_supervisor_spec_t bad = TRP_SUPERVISOR_SPEC_INIT;
	c[0] = (trp_child_spec_t){ .def = *trp_supervisor_def(), .arg = &bad };
	EXPECT(TRP_EINVAL);
	/* a spec that contains itself: too deep */
	trp_supervisor_spec_t loop = TRP_SUPERVISOR_SPEC_INIT;
	trp_child_spec_t self_child = { .def = *trp_supervisor_def(),
					.arg = &loop };
	loop.children = &self_child;
	loop.nchildren = 1;
	assert_int_equal(trp_supervisor_start(rt, &loop, &sup), TRP_EINVAL);
#undef EXPECT

	/* calls on things that are not supervisors */
	trp_actor_def_t def = { .behavior = kid_behavior,
				.state_size = sizeof(struct kid) };
	trp_actor_t *plain;
	CHECK_OK(trp_actor_spawn(rt, &def, &kids[0], &plain));
	trp_actor_t *h;
	trp_supervisor_stats_t st;
	assert_int_equal(trp_supervisor_child(plain, 0, &h), TRP_EINVAL);
	assert_int_equal(trp_supervisor_child(NULL, 0, &h), TRP_EINVAL);
	assert_int_equal(trp_supervisor_get_stats(plain, &st), TRP_EINVAL);
	assert_int_equal(trp_supervisor_get_stats(NULL, &st), TRP_EINVAL);
	assert_int_equal(trp_supervisor_stop(plain), TRP_EINVAL);
	assert_int_equal(trp_supervisor_stop(NULL), TRP_EINVAL);
	trp_future_t *f = watch(plain);
	CHECK_OK(trp_actor_close(plain));
	(void)down_of(f);
	assert_int_equal(trp_supervisor_child(plain, 0, &h), TRP_EDEAD);
	trp_actor_release(plain);

	/* a good one: index out of range, NULL out */
	s.children = c;
	s.nchildren = 1;
	c[0] = ok;
	CHECK_OK(trp_supervisor_start(rt, &s, &sup));
	assert_int_equal(trp_supervisor_child(sup, 1, &h), TRP_EINVAL);
	assert_int_equal(trp_supervisor_child(sup, 0, NULL), TRP_EINVAL);
	assert_int_equal(trp_supervisor_get_stats(sup, NULL), TRP_EINVAL);

	/* trp_supervisor_def spawned directly fails at once */
	trp_actor_t *wrong;
	CHECK_OK(trp_actor_spawn(rt, trp_supervisor_def(), &s, &wrong));
	assert_failed(wrong, TRP_EINVAL);
	trp_actor_release(wrong);
	end_test(rt, sup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_for_one),
		cmocka_unit_test(test_one_for_all),
		cmocka_unit_test(test_rest_for_one),
		cmocka_unit_test(test_restart_types),
		cmocka_unit_test(test_group_and_temporary),
		cmocka_unit_test(test_named_children),
		cmocka_unit_test(test_name_taken),
		cmocka_unit_test(test_intensity_escalates),
		cmocka_unit_test(test_intensity_stops_children),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_shutdown_order),
		cmocka_unit_test(test_tree_shutdown),
		cmocka_unit_test(test_close_and_kill),
		cmocka_unit_test(test_child_during_restarts),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
