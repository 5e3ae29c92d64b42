/*
 * tests/unit/alloc_failure.c - T10: allocation failure injected at every
 * allocation site of a fixed scenario (TESTPLAN.md).
 *
 * The scenario goes through the public API only: create a runtime (2
 * workers), spawn 3 actors with state, name 2 of them, publish 3 messages
 * to B through an exchange in one trp_exchange_publish_n, send 20 messages
 * (one of 1000 bytes, one by name; A's behaviour forwards what it gets, by
 * handle and by name - several to B in one turn, so they travel in bundles
 * - and sends itself two), look a name up, wait, close one actor, wait,
 * destroy. A first run with failure injection armed but unreachable counts
 * the allocation attempts (K); then for every k in 1..K+SLACK the k-th
 * attempt fails. Property: every call returns 0 or TRP_ENOMEM (or the
 * documented consequence of an earlier failure: TRP_ENOENT for a name whose
 * registration failed), at most one call sees TRP_ENOMEM, every accepted
 * message is processed or dead-lettered exactly once, every spawned actor's
 * stop hook runs once, nothing hangs (alarm), and nothing leaks (ASan: a
 * leak check after every run, so a leak names its k). When create fails,
 * it returns TRP_ENOMEM and leaves nothing behind.
 *
 * Workers allocate concurrently, so the k-th attempt is not always the same
 * site from run to run; each k is run for PASSES passes. The property holds
 * whatever fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include <troupe/troupe.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

#define SLACK 8	 /* k beyond the counted attempts: nothing fails */
#define PASSES 3 /* runs per k (the k-th site varies with scheduling) */
#define SETTLE_NS (10LL * 1000 * 1000 * 1000)
#define BIG 1000  /* the big payload */
#define N_TO_A 18 /* main -> A, the last one BIG */

enum {
	MSG_SMALL = 1,
	MSG_BIG = 2,
	MSG_SELF = 3
};

/* What the scenario's calls and behaviours saw (reset per run). */
struct counts {
	atomic_long accepted;  /* sends that returned 0 */
	atomic_long processed; /* behaviour calls */
	atomic_long dead;      /* dead-letter hook calls */
	atomic_long enomem;    /* calls that returned TRP_ENOMEM */
	atomic_long enoent;    /* send_named / lookup: TRP_ENOENT */
	atomic_long stops;     /* stop hook calls */
	atomic_long closed_stops;
	atomic_long bad; /* anything outside the contract */
	atomic_int bad_line;
	atomic_int bad_rc;
};

static struct counts cnt;

#define BAD(rc) bad_at((rc), __LINE__)
static void bad_at(int rc, int line)
{
	if (atomic_fetch_add(&cnt.bad, 1) == 0) {
		atomic_store(&cnt.bad_line, line);
		atomic_store(&cnt.bad_rc, rc);
	}
}

/*
 * Books the result of a send. @enoent_ok: a send by name whose name may be
 * missing because its registration failed.
 */
#define SENT(rc, enoent_ok) sent_at((rc), (enoent_ok), __LINE__)
static void sent_at(int rc, bool enoent_ok, int line)
{
	if (rc == 0)
		atomic_fetch_add(&cnt.accepted, 1);
	else if (rc == TRP_ENOMEM)
		atomic_fetch_add(&cnt.enomem, 1);
	else if (rc == TRP_ENOENT && enoent_ok)
		atomic_fetch_add(&cnt.enoent, 1);
	else
		bad_at(rc, line);
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)msg;
	(void)why;
	atomic_fetch_add(&cnt.dead, 1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned char big_byte(size_t i)
{
	return (unsigned char)(i * 13u + 5u);
}

/* A: forwards small messages to B (every 3rd by name), big ones to C. */
struct a_state {
	trp_actor_t *b, *c; /* handles owned by the test; may be NULL */
	bool b_named;	    /* "b" was registered */
	uint32_t n;
};

static void a_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct a_state *s = state;
	atomic_fetch_add(&cnt.processed, 1);
	if (msg->type == MSG_BIG) {
		if (s->c != NULL)
			SENT(trp_send(s->c, MSG_BIG, msg->data, msg->size),
			     false);
		return;
	}
	if (msg->type == MSG_SELF)
		return;
	if (s->n == 0) {
		/* Two self-sends: the worker's self bundle. */
		SENT(trp_send(self, MSG_SELF, &s->n, sizeof s->n), false);
		SENT(trp_send(self, MSG_SELF, &s->n, sizeof s->n), false);
	}
	if (++s->n % 3 == 0) {
		/* ENOENT only if the registration failed. */
		SENT(trp_send_named(trp_actor_runtime(self), "b", MSG_SMALL,
				    msg->data, msg->size),
		     !s->b_named);
	} else if (s->b != NULL) {
		SENT(trp_send(s->b, MSG_SMALL, msg->data, msg->size), false);
	}
}

/* B: counts small messages and checks their payload. */
static void b_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	uint32_t *sum = state;
	atomic_fetch_add(&cnt.processed, 1);
	uint32_t v;
	if (msg->type != MSG_SMALL || msg->size != sizeof v) {
		BAD(TRP_EINVAL);
		return;
	}
	memcpy(&v, msg->data, sizeof v);
	*sum += v;
}

/* C: checks big payloads. */
static void c_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	atomic_fetch_add(&cnt.processed, 1);
	if (msg->type != MSG_BIG || msg->size != BIG) {
		BAD(TRP_EINVAL);
		return;
	}
	const unsigned char *p = msg->data;
	for (size_t i = 0; i < BIG; i++)
		if (p[i] != big_byte(i)) {
			BAD(TRP_EINVAL);
			return;
		}
}

static void on_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	(void)state;
	atomic_fetch_add(&cnt.stops, 1);
	if (why == TRP_STOP_CLOSED)
		atomic_fetch_add(&cnt.closed_stops, 1);
	else if (why != TRP_STOP_SHUTDOWN)
		BAD((int)why);
}

/* 0 or TRP_ENOMEM, booked; anything else is a contract violation. */
#define CALL(expr) call_at((expr), __LINE__)
static int call_at(int rc, int line)
{
	if (rc == TRP_ENOMEM)
		atomic_fetch_add(&cnt.enomem, 1);
	else if (rc != 0)
		bad_at(rc, line);
	return rc;
}

struct outcome {
	bool created;
	int spawned;   /* actors spawned */
	bool injected; /* the armed failure was reached during the run */
};

/*
 * The scenario. Arms trp__alloc_fail_nth(k) right before create (k == 0:
 * nothing fails; UINT64_MAX: count only) and disarms after destroy.
 */
static struct outcome run_scenario(uint64_t k, uint64_t *attempts)
{
	struct outcome o = { 0 };
	memset(&cnt, 0, sizeof cnt);
	static unsigned char big[BIG];
	for (size_t i = 0; i < BIG; i++)
		big[i] = big_byte(i);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	trp_runtime_t *rt = NULL;
	trp_actor_t *a = NULL, *b = NULL, *c = NULL, *found = NULL;

	alarm(30); /* a hang fails this run with SIGALRM */
	uint64_t before = trp__alloc_attempts();
	trp__alloc_fail_nth(k);

	int rc = trp_runtime_create(&cfg, &rt);
	if (rc != 0) {
		trp__alloc_fail_nth(0);
		*attempts = trp__alloc_attempts() - before;
		o.injected = k != 0 && *attempts >= k;
		assert_int_equal(rc, TRP_ENOMEM);
		assert_null(rt);
		alarm(0);
		return o;
	}
	o.created = true;

	trp_actor_def_t bdef = { .behavior = b_behavior,
				 .stop = on_stop,
				 .state_size = sizeof(uint32_t) };
	trp_actor_def_t cdef = { .behavior = c_behavior,
				 .stop = on_stop,
				 .state_size = 64 };
	if (CALL(trp_actor_spawn(rt, &bdef, NULL, &b)) == 0)
		o.spawned++;
	if (CALL(trp_actor_spawn(rt, &cdef, NULL, &c)) == 0)
		o.spawned++;
	bool b_named = b != NULL && CALL(trp_register(rt, "b", b)) == 0;
	struct a_state as = { b, c, b_named, 0 };
	trp_actor_def_t adef = { .behavior = a_behavior,
				 .stop = on_stop,
				 .state_size = sizeof as };
	if (CALL(trp_actor_spawn(rt, &adef, &as, &a)) == 0)
		o.spawned++;
	bool a_named = a != NULL && CALL(trp_register(rt, "a", a)) == 0;
	/* An exchange with B attached: 3 small messages in one publish_n
	 * (one chain of bundles; a delivery that cannot be allocated is
	 * counted as dropped_other, and publish_n still returns 0). */
	trp_exchange_t *ex = NULL;
	if (CALL(trp_exchange_create(rt, &ex)) != 0)
		ex = NULL;
	if (ex != NULL && b != NULL)
		(void)CALL(trp_exchange_attach(ex, trp_sink_actor(b), NULL));
	if (ex != NULL) {
		static const uint32_t items[3] = { 7, 8, 9 };
		(void)CALL(trp_exchange_publish_n(ex, MSG_SMALL, items,
						  sizeof items[0], 3));
	}

	/* 20 messages: 18 to A (the last BIG), 1 by name to B, 1 to C. */
	if (a != NULL) {
		for (uint32_t i = 0; i < N_TO_A - 1; i++)
			SENT(trp_send(a, MSG_SMALL, &i, sizeof i), false);
		SENT(trp_send(a, MSG_BIG, big, BIG), false);
	}
	uint32_t v = 1000;
	SENT(trp_send_named(rt, "b", MSG_SMALL, &v, sizeof v), !b_named);
	if (c != NULL)
		SENT(trp_send(c, MSG_BIG, big, BIG), false);

	rc = trp_lookup(rt, "a", &found);
	if (rc == TRP_ENOENT && !a_named)
		found = NULL;
	else if (CALL(rc) == 0)
		assert_ptr_equal(found, a);

	/* Wait first, so the close never races A's forward to C. */
	assert_int_equal(trp_runtime_wait_idle(rt, SETTLE_NS), 0);
	if (ex != NULL) {
		/* Deliveries are sends the runtime accepted. */
		trp_exchange_stats_t xs;
		assert_int_equal(trp_exchange_stats(ex, &xs), 0);
		assert_int_equal(xs.dropped_full + xs.dropped_dead, 0);
		atomic_fetch_add(&cnt.accepted, (long)xs.delivered);
		trp_exchange_release(ex);
	}
	if (c != NULL)
		assert_int_equal(trp_actor_close(c), 0); /* never allocates */
	assert_int_equal(trp_runtime_wait_idle(rt, SETTLE_NS), 0);

	/* Conservation, by our books and by the runtime's. */
	trp_stats_t st;
	assert_int_equal(trp_runtime_stats(rt, &st), 0);
	assert_int_equal(st.sent, atomic_load(&cnt.accepted));
	assert_int_equal(st.processed, atomic_load(&cnt.processed));
	assert_int_equal(st.dead_lettered, atomic_load(&cnt.dead));
	assert_int_equal(st.sent, st.processed + st.dead_lettered);
	assert_int_equal(st.rejected, 0);

	assert_int_equal(trp_runtime_destroy(rt), 0);
	trp__alloc_fail_nth(0);
	*attempts = trp__alloc_attempts() - before;
	o.injected = k != 0 && *attempts >= k;
	alarm(0);

	assert_int_equal(atomic_load(&cnt.accepted),
			 atomic_load(&cnt.processed) + atomic_load(&cnt.dead));
	assert_int_equal(atomic_load(&cnt.stops), o.spawned);
	assert_int_equal(atomic_load(&cnt.closed_stops), c != NULL ? 1 : 0);

	if (found != NULL)
		trp_actor_release(found);
	if (a != NULL)
		trp_actor_release(a);
	if (b != NULL)
		trp_actor_release(b);
	if (c != NULL)
		trp_actor_release(c);
	return o;
}

/* Checks the books of a run; @strict: nothing failed, exact counts. */
static void check_run(uint64_t k, const struct outcome *o, bool strict)
{
	long bad = atomic_load(&cnt.bad);
	if (bad != 0)
		fail_msg("k=%llu: %ld call(s) outside the contract, first "
			 "%s (%d) at line %d",
			 (unsigned long long)k, bad,
			 trp_errname(atomic_load(&cnt.bad_rc)),
			 atomic_load(&cnt.bad_rc), atomic_load(&cnt.bad_line));
	/* One allocation failed: one call (at most) can say so. */
	if (atomic_load(&cnt.enomem) > 1)
		fail_msg("k=%llu: %ld calls returned TRP_ENOMEM for one failed "
			 "allocation",
			 (unsigned long long)k, atomic_load(&cnt.enomem));
	if (!o->injected)
		assert_int_equal(atomic_load(&cnt.enomem), 0);
	if (strict) {
		assert_true(o->created);
		assert_int_equal(o->spawned, 3);
		assert_int_equal(atomic_load(&cnt.enomem), 0);
		assert_int_equal(atomic_load(&cnt.enoent), 0);
		/* 20 from main + A's 18 forwards and 2 self-sends + 3
		 * exchange deliveries. */
		assert_int_equal(atomic_load(&cnt.accepted), 43);
		assert_int_equal(atomic_load(&cnt.processed), 43);
		assert_int_equal(atomic_load(&cnt.dead), 0);
	}
}

static void leak_check(uint64_t k)
{
#if defined(HAVE_LSAN)
	if (__lsan_do_recoverable_leak_check() != 0)
		fail_msg("k=%llu: memory leaked (report above)",
			 (unsigned long long)k);
#else
	(void)k;
#endif
}

static void test_every_allocation_fails_once(void **unused)
{
	(void)unused;
	uint64_t attempts = 0;

	/* Warm-up without counting (first-use allocations of this thread,
	 * e.g. its epoch record, happen once per process). */
	struct outcome o = run_scenario(0, &attempts);
	check_run(0, &o, true);

	/* Count: armed, but the target is never reached. */
	uint64_t counted = 0;
	o = run_scenario(UINT64_MAX, &counted);
	check_run(0, &o, true);
	assert_false(o.injected);
	assert_true(counted > 0);
	leak_check(0);

	uint64_t max_seen = counted;
	int created_fail = 0, partial = 0, clean = 0, absorbed = 0;
	for (int pass = 0; pass < PASSES; pass++) {
		for (uint64_t k = 1; k <= counted + SLACK; k++) {
			o = run_scenario(k, &attempts);
			if (attempts > max_seen)
				max_seen = attempts;
			check_run(k, &o, !o.injected);
			leak_check(k);
			if (!o.created)
				created_fail++;
			else if (o.injected)
				partial++;
			else
				clean++;
			if (o.created && o.injected &&
			    atomic_load(&cnt.enomem) == 0)
				absorbed++; /* failed, handled internally */
		}
	}
	/* Create fails for its own allocations, and only for those. */
	assert_true(created_fail > 0);
	assert_true(partial > 0);
	print_message("K=%llu allocation attempts (max %llu in a run); "
		      "%d runs: create failed %d, later failure %d "
		      "(%d of them absorbed without an error), "
		      "no failure %d\n",
		      (unsigned long long)counted, (unsigned long long)max_seen,
		      PASSES * (int)(counted + SLACK), created_fail, partial,
		      absorbed, clean);
}

/* ------------------------------------------------------------------ */
/* storm: more sites, random failure points                            */

/*
 * A larger scenario reaching the sites the fixed one does not: actors
 * spawned from a behaviour (with start hooks, so their first turn is
 * scheduled from a worker and run queues grow), names registered from
 * start hooks until the name table grows, sends by name from behaviours,
 * zero-copy sends (the runtime must free each accepted buffer exactly once,
 * and never a refused one), lookups and unregistrations from the test
 * thread, destroy with actors still alive. One failure at a random
 * attempt per run; same property as above.
 */
#define STORM_CHILDREN 300 /* > a run queue's initial 256 slots */
#define STORM_NAMED 40	   /* > half the name table's initial 64 slots */
#define STORM_RUNS 150
#define STORM_BUDGET_NS (5LL * 1000 * 1000 * 1000)

enum {
	MSG_GO = 10,
	MSG_KICK,
	MSG_BY_NAME,
	MSG_OWNED
};

static trp_actor_t *storm_sink;
static atomic_int storm_named[STORM_CHILDREN];
static atomic_long storm_spawned, storm_owned_accepted, storm_owned_freed;

static void storm_name(char *buf, size_t n, uint32_t i)
{
	snprintf(buf, n, "child-%u", i);
}

static void storm_free(void *p)
{
	atomic_fetch_add(&storm_owned_freed, 1);
	free(p);
}

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	atomic_fetch_add(&cnt.processed, 1);
	if (msg->type != MSG_OWNED || msg->size != 32 ||
	    ((const unsigned char *)msg->data)[31] != 0x5A)
		BAD(TRP_EINVAL);
}

static void child_start(trp_actor_t *self, void *state)
{
	uint32_t i = *(uint32_t *)state;
	trp_runtime_t *rt = trp_actor_runtime(self);
	if (i < STORM_NAMED) {
		char name[32];
		storm_name(name, sizeof name, i);
		if (CALL(trp_register(rt, name, self)) == 0)
			atomic_store(&storm_named[i], 1);
	}
	SENT(trp_send(self, MSG_KICK, NULL, 0), false);
}

static void child_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	uint32_t i = *(uint32_t *)state;
	atomic_fetch_add(&cnt.processed, 1);
	if (msg->type != MSG_KICK)
		return;
	unsigned char *buf = malloc(32);
	if (buf == NULL) {
		BAD(TRP_ENOMEM); /* the test's own malloc */
		return;
	}
	memset(buf, 0x5A, 32);
	int rc = trp_send_owned(storm_sink, MSG_OWNED, buf, 32, storm_free);
	SENT(rc, false);
	if (rc == 0)
		atomic_fetch_add(&storm_owned_accepted, 1);
	else
		free(buf); /* refused: still ours */
	if (atomic_load(&storm_named[i])) {
		char name[32];
		storm_name(name, sizeof name, i);
		/* Our own name: registered, and we are alive. */
		SENT(trp_send_named(trp_actor_runtime(self), name, MSG_BY_NAME,
				    &i, sizeof i),
		     false);
	}
}

static void root_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	atomic_fetch_add(&cnt.processed, 1);
	trp_actor_def_t def = { .behavior = child_behavior,
				.start = child_start,
				.stop = on_stop,
				.state_size = sizeof(uint32_t) };
	for (uint32_t i = 0; i < STORM_CHILDREN; i++)
		if (CALL(trp_actor_spawn(trp_actor_runtime(self), &def, &i,
					 NULL)) == 0)
			atomic_fetch_add(&storm_spawned, 1);
}

static struct outcome run_storm(uint64_t k, uint64_t *attempts)
{
	struct outcome o = { 0 };
	memset(&cnt, 0, sizeof cnt);
	for (int i = 0; i < STORM_CHILDREN; i++)
		atomic_store(&storm_named[i], 0);
	atomic_store(&storm_spawned, 0);
	atomic_store(&storm_owned_accepted, 0);
	atomic_store(&storm_owned_freed, 0);
	storm_sink = NULL;

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	trp_runtime_t *rt = NULL;
	trp_actor_t *root = NULL;

	alarm(30);
	uint64_t before = trp__alloc_attempts();
	trp__alloc_fail_nth(k);
	int rc = trp_runtime_create(&cfg, &rt);
	if (rc != 0) {
		trp__alloc_fail_nth(0);
		*attempts = trp__alloc_attempts() - before;
		o.injected = k != 0 && *attempts >= k;
		assert_int_equal(rc, TRP_ENOMEM);
		alarm(0);
		return o;
	}
	o.created = true;
	trp_actor_def_t sdef = { .behavior = sink_behavior, .stop = on_stop };
	trp_actor_def_t rdef = { .behavior = root_behavior, .stop = on_stop };
	if (CALL(trp_actor_spawn(rt, &sdef, NULL, &storm_sink)) == 0)
		atomic_fetch_add(&storm_spawned, 1);
	if (storm_sink != NULL &&
	    CALL(trp_actor_spawn(rt, &rdef, NULL, &root)) == 0) {
		atomic_fetch_add(&storm_spawned, 1);
		SENT(trp_send(root, MSG_GO, NULL, 0), false);
	}
	assert_int_equal(trp_runtime_wait_idle(rt, SETTLE_NS), 0);

	/* Names: present exactly for the registrations that succeeded. */
	for (uint32_t i = 0; i < STORM_NAMED; i++) {
		char name[32];
		storm_name(name, sizeof name, i);
		trp_actor_t *h = NULL;
		rc = trp_lookup(rt, name, &h);
		if (atomic_load(&storm_named[i])) {
			if (CALL(rc) == 0)
				trp_actor_release(h);
			if (i % 2 == 0)
				assert_int_equal(trp_unregister(rt, name), 0);
		} else {
			assert_int_equal(rc, TRP_ENOENT);
		}
	}
	trp_stats_t st;
	assert_int_equal(trp_runtime_stats(rt, &st), 0);
	assert_int_equal(st.sent, atomic_load(&cnt.accepted));
	assert_int_equal(st.processed + st.dead_lettered,
			 atomic_load(&cnt.accepted));
	assert_int_equal(st.spawned, atomic_load(&storm_spawned));

	assert_int_equal(trp_runtime_destroy(rt), 0);
	trp__alloc_fail_nth(0);
	*attempts = trp__alloc_attempts() - before;
	o.injected = k != 0 && *attempts >= k;
	alarm(0);
	o.spawned = (int)atomic_load(&storm_spawned);
	assert_int_equal(atomic_load(&cnt.accepted),
			 atomic_load(&cnt.processed) + atomic_load(&cnt.dead));
	assert_int_equal(atomic_load(&cnt.stops), o.spawned);
	assert_int_equal(atomic_load(&storm_owned_freed),
			 atomic_load(&storm_owned_accepted));
	if (root != NULL)
		trp_actor_release(root);
	if (storm_sink != NULL)
		trp_actor_release(storm_sink);
	return o;
}

static void test_storm_random_failures(void **unused)
{
	(void)unused;
	uint64_t counted = 0, attempts = 0;
	struct outcome o = run_storm(UINT64_MAX, &counted);
	check_run(0, &o, false);
	assert_true(o.created);
	assert_int_equal(o.spawned, STORM_CHILDREN + 2);
	assert_int_equal(atomic_load(&cnt.enomem), 0);
	assert_int_equal(atomic_load(&cnt.dead), 0);
	/* go + 100 kicks + 100 owned + one by name per named child */
	assert_int_equal(atomic_load(&cnt.accepted),
			 1 + 2 * STORM_CHILDREN + STORM_NAMED);
	leak_check(0);

	uint64_t seed = (uint64_t)time(NULL);
	const char *env = getenv("TRP_ALLOC_SEED");
	if (env != NULL)
		seed = strtoull(env, NULL, 0);
	print_message("storm: K=%llu, seed %llu (TRP_ALLOC_SEED)\n",
		      (unsigned long long)counted, (unsigned long long)seed);
	/* TRP_ALLOC_EXHAUSTIVE=1 (soak runs): every k, no time budget. */
	bool every = getenv("TRP_ALLOC_EXHAUSTIVE") != NULL;
	int max_runs = every ? (int)(counted + SLACK) : STORM_RUNS;
	uint64_t x = seed | 1;
	int64_t end = now_ns() + STORM_BUDGET_NS;
	int runs = 0, enomem_seen = 0;
	for (; runs < max_runs && (every || now_ns() < end); runs++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t k = every ? (uint64_t)runs + 1 :
				     1 + x % (counted + SLACK);
		o = run_storm(k, &attempts);
		check_run(k, &o, false);
		leak_check(k);
		if (atomic_load(&cnt.enomem) != 0)
			enomem_seen++;
	}
	print_message("storm: %d runs, %d saw TRP_ENOMEM\n", runs, enomem_seen);
	assert_true(enomem_seen > 0);
}

/* ------------------------------------------------------------------ */
/* the hook itself                                                     */

/*
 * Counting mode: arming a k so large that it is never reached (as the
 * scenario tests do with UINT64_MAX) must keep counting, whatever the count
 * already is. alloc.c stores now + k; when that wraps to exactly 0 (k ==
 * 2^64 - now, e.g. UINT64_MAX after exactly one counted attempt) the hook
 * reads "disarmed" and stops counting.
 */
static void test_count_mode_keeps_counting(void **unused)
{
	(void)unused;
	/* Make sure at least one attempt was counted. */
	trp__alloc_fail_nth(1000);
	void *p = trp__alloc(8);
	assert_non_null(p);
	trp__free(p, 8);
	uint64_t now = trp__alloc_attempts();
	assert_true(now > 0);

	/* k = 0 - count: now + k is 2^64, i.e. 0. */
	for (int i = 0; i < 3; i++) {
		uint64_t before = trp__alloc_attempts();
		uint64_t k = i == 0 ? UINT64_MAX / 2 :
			     i == 1 ? UINT64_MAX :
				      (uint64_t)0 - before;
		trp__alloc_fail_nth(k);
		p = trp__alloc(8);
		assert_non_null(p); /* never the k-th */
		trp__free(p, 8);
		uint64_t after = trp__alloc_attempts();
		trp__alloc_fail_nth(0);
		if (after != before + 1)
			fail_msg("armed with k=%llu after %llu attempts: the "
				 "allocation was not counted (%llu -> %llu)",
				 (unsigned long long)k,
				 (unsigned long long)before,
				 (unsigned long long)before,
				 (unsigned long long)after);
	}
	/* And a near k still fails exactly that attempt. */
	trp__alloc_fail_nth(2);
	p = trp__alloc(8);
	assert_non_null(p);
	trp__free(p, 8);
	assert_null(trp__alloc(8));
	p = trp__alloc(8); /* disarmed again */
	assert_non_null(p);
	trp__free(p, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_fails_once),
		cmocka_unit_test(test_storm_random_failures),
		cmocka_unit_test(test_count_mode_keeps_counting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
