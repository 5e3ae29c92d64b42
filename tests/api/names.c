/*
 * tests/api/names.c - the name table (troupe/names.h) as a user sees it:
 * register / lookup / send_named / unregister round trips and every error
 * code, names released when their actor stops or the runtime goes (never
 * keeping an actor alive), retained lookups, concurrent flips against
 * sends by name, and the seeds' counter / say_hello / say_hi scenario with
 * exact counts.
 *
 * Behaviours never call the checks (they longjmp): they record what they
 * saw, and the test thread asserts after trp_runtime_wait_idle().
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static atomic_long dead_letters;
static void count_dead(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
		       trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)msg;
	(void)why;
	atomic_fetch_add(&dead_letters, 1);
}

static trp_runtime_t *make_rt(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	cfg.dead_letter = count_dead;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	atomic_store(&dead_letters, 0);
	return rt;
}

static trp_stats_t stats(trp_runtime_t *rt)
{
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	return st;
}

/* State of the counting actor: messages seen, last payload, stop hook. */
struct counter {
	atomic_long msgs;
	atomic_long payload_bytes;
	char last[128];
	atomic_int stops;
	uint32_t stop_on_type; /* trp_actor_stop() on this type */
};

static void counter_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct counter *c = state;
	if (msg->size > 0 && msg->size <= sizeof c->last)
		memcpy(c->last, msg->data, msg->size);
	atomic_fetch_add(&c->payload_bytes, (long)msg->size);
	atomic_fetch_add(&c->msgs, 1);
	if (c->stop_on_type != 0 && msg->type == c->stop_on_type) {
		int rc = trp_actor_stop(self);
		if (rc != 0)
			note_error(rc);
	}
}

static void counter_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	(void)why;
	struct counter *c = state;
	atomic_fetch_add(&c->stops, 1);
}

static trp_actor_t *spawn_counter(trp_runtime_t *rt, struct counter *c)
{
	trp_actor_def_t def = { .behavior = counter_behavior,
				.stop = counter_stop };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, c, &a));
	assert_non_null(a);
	return a;
}

/* ------------------------------------------------------------------ */
/* round trip                                                          */

static void test_round_trip(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct counter c = { 0 };
	trp_actor_t *a = spawn_counter(rt, &c);
	CHECK_OK(trp_register(rt, "alpha", a));

	trp_actor_t *h = NULL;
	CHECK_OK(trp_lookup(rt, "alpha", &h));
	assert_ptr_equal(h, a);

	char payload[32] = "sent by name";
	CHECK_OK(trp_send_named(rt, "alpha", 5, payload, sizeof payload));
	memset(payload, 0, sizeof payload); /* copied: ours again */
	CHECK_OK(trp_send_named(rt, "alpha", 5, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&c.msgs), 2);
	assert_string_equal(c.last, "sent by name");
	assert_int_equal(atomic_load(&c.payload_bytes), 32);

	CHECK_OK(trp_unregister(rt, "alpha"));
	trp_actor_t *x = NULL;
	assert_int_equal(trp_lookup(rt, "alpha", &x), TRP_ENOENT);
	assert_null(x);
	assert_int_equal(trp_send_named(rt, "alpha", 5, NULL, 0), TRP_ENOENT);
	assert_int_equal(trp_unregister(rt, "alpha"), TRP_ENOENT);
	/* Unregistering did not stop it, and freed its one name slot. */
	assert_true(trp_actor_alive(a));
	CHECK_OK(trp_register(rt, "beta", a));
	CHECK_OK(trp_send_named(rt, "beta", 5, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&c.msgs), 3);
	/* And "alpha" can go to another actor. */
	struct counter c2 = { 0 };
	trp_actor_t *b = spawn_counter(rt, &c2);
	CHECK_OK(trp_register(rt, "alpha", b));
	CHECK_OK(trp_send_named(rt, "alpha", 5, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&c2.msgs), 1);
	assert_int_equal(atomic_load(&c.msgs), 3);

	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 4);
	assert_int_equal(st.processed, 4);
	assert_int_equal(st.dead_lettered, 0);

	/*
	 * The lookup handle is a reference of its own: drop every other one
	 * (ours, and the runtime's by stopping the actor, and the name's),
	 * and h must still be valid (ASan reports a use after free if not).
	 */
	trp_actor_release(a);
	CHECK_OK(trp_actor_close(h));
	settle(rt);
	assert_false(trp_actor_alive(h));
	assert_int_equal(trp_send(h, 1, NULL, 0), TRP_EDEAD);
	assert_int_equal(trp_lookup(rt, "beta", &x), TRP_ENOENT);
	trp_actor_release(h);

	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&c.stops), 1);
	assert_int_equal(atomic_load(&c2.stops), 1);
}

/* Two lookups, two references; names of any bytes but NUL. */
static void test_lookup_references_and_bytes(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct counter c[4] = { 0 };
	trp_actor_t *a[4];
	const char *names[4] = { "a", "ab", "\xff\x01\x7f name", "A" };
	for (int i = 0; i < 4; i++) {
		a[i] = spawn_counter(rt, &c[i]);
		CHECK_OK(trp_register(rt, names[i], a[i]));
	}
	for (int i = 0; i < 4; i++) {
		trp_actor_t *h1, *h2;
		CHECK_OK(trp_lookup(rt, names[i], &h1));
		CHECK_OK(trp_lookup(rt, names[i], &h2));
		assert_ptr_equal(h1, a[i]);
		assert_ptr_equal(h2, a[i]);
		CHECK_OK(trp_send_named(rt, names[i], 1, NULL, 0));
		trp_actor_release(h1);
		trp_actor_release(h2);
	}
	settle(rt);
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&c[i].msgs), 1);
	/* Names are compared whole: no prefix matches. */
	trp_actor_t *x;
	assert_int_equal(trp_lookup(rt, "abc", &x), TRP_ENOENT);
	assert_int_equal(trp_lookup(rt, "\xff\x01\x7f", &x), TRP_ENOENT);
	for (int i = 0; i < 4; i++)
		trp_actor_release(a[i]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void test_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct counter c = { 0 }, c2 = { 0 };
	trp_actor_t *a = spawn_counter(rt, &c);
	trp_actor_t *b = spawn_counter(rt, &c2);
	trp_actor_t *x = NULL;

	char n63[64], n64[65], n200[201];
	memset(n63, 'n', 63);
	n63[63] = '\0';
	memset(n64, 'n', 64);
	n64[64] = '\0';
	memset(n200, 'z', 200);
	n200[200] = '\0';

	/* NULL or empty names. */
	assert_int_equal(trp_register(rt, NULL, a), TRP_EINVAL);
	assert_int_equal(trp_register(rt, "", a), TRP_EINVAL);
	assert_int_equal(trp_lookup(rt, NULL, &x), TRP_EINVAL);
	assert_int_equal(trp_lookup(rt, "", &x), TRP_EINVAL);
	assert_int_equal(trp_unregister(rt, NULL), TRP_EINVAL);
	assert_int_equal(trp_unregister(rt, ""), TRP_EINVAL);
	assert_int_equal(trp_send_named(rt, NULL, 1, NULL, 0), TRP_EINVAL);
	assert_int_equal(trp_send_named(rt, "", 1, NULL, 0), TRP_EINVAL);
	/* NULL runtime, actor, out. */
	assert_int_equal(trp_register(NULL, "a", a), TRP_EINVAL);
	assert_int_equal(trp_register(rt, "a", NULL), TRP_EINVAL);
	assert_int_equal(trp_lookup(NULL, "a", &x), TRP_EINVAL);
	assert_int_equal(trp_lookup(rt, "a", NULL), TRP_EINVAL);
	assert_int_equal(trp_unregister(NULL, "a"), TRP_EINVAL);
	assert_int_equal(trp_send_named(NULL, "a", 1, NULL, 0), TRP_EINVAL);
	assert_null(x);

	/* Length: 63 bytes fit, 64 do not. */
	assert_int_equal(trp_register(rt, n64, a), TRP_ENAMETOOLONG);
	assert_int_equal(trp_register(rt, n200, a), TRP_ENAMETOOLONG);
	assert_int_equal(trp_lookup(rt, n64, &x), TRP_ENAMETOOLONG);
	assert_int_equal(trp_unregister(rt, n64), TRP_ENAMETOOLONG);
	assert_int_equal(trp_send_named(rt, n64, 1, NULL, 0), TRP_ENAMETOOLONG);
	CHECK_OK(trp_register(rt, n63, a));
	CHECK_OK(trp_lookup(rt, n63, &x));
	assert_ptr_equal(x, a);
	trp_actor_release(x);
	x = NULL;
	CHECK_OK(trp_send_named(rt, n63, 1, NULL, 0));
	/* A 64-byte name is not its 63-byte prefix. */
	assert_int_equal(trp_lookup(rt, n64, &x), TRP_ENAMETOOLONG);

	/* Taken name, named actor. */
	assert_int_equal(trp_register(rt, n63, b), TRP_EEXIST);
	assert_int_equal(trp_register(rt, "second", a), TRP_EBUSY);
	assert_int_equal(trp_lookup(rt, "second", &x), TRP_ENOENT);
	CHECK_OK(trp_register(rt, "b", b));
	assert_int_equal(trp_register(rt, "b", b), TRP_EBUSY);

	/* Unknown names. */
	assert_int_equal(trp_lookup(rt, "nobody", &x), TRP_ENOENT);
	assert_int_equal(trp_send_named(rt, "nobody", 1, "x", 1), TRP_ENOENT);
	assert_int_equal(trp_unregister(rt, "nobody"), TRP_ENOENT);
	assert_null(x);

	/* send_named refuses what trp_send refuses. */
	assert_int_equal(trp_send_named(rt, "b", 1, NULL, 1), TRP_EINVAL);
	assert_int_equal(trp_send_named(rt, "b", 1, "x", TRP_MSG_MAX + 1),
			 TRP_EMSGSIZE);

	/* An actor of another runtime. */
	trp_runtime_t *rt2 = make_rt(1);
	struct counter c3 = { 0 };
	trp_actor_t *foreign = spawn_counter(rt2, &c3);
	assert_int_equal(trp_register(rt, "foreign", foreign), TRP_EINVAL);
	assert_int_equal(trp_lookup(rt, "foreign", &x), TRP_ENOENT);
	CHECK_OK(trp_register(rt2, "foreign", foreign));
	/* Each runtime has its own table. */
	assert_int_equal(trp_lookup(rt, "foreign", &x), TRP_ENOENT);
	assert_int_equal(trp_lookup(rt2, "b", &x), TRP_ENOENT);

	/* A stopped actor. */
	CHECK_OK(trp_unregister(rt, "b"));
	CHECK_OK(trp_actor_close(b));
	settle(rt);
	assert_false(trp_actor_alive(b));
	assert_int_equal(trp_register(rt, "b", b), TRP_EDEAD);
	assert_int_equal(trp_lookup(rt, "b", &x), TRP_ENOENT);

	settle(rt);
	assert_int_equal(atomic_load(&c.msgs), 1);
	assert_int_equal(atomic_load(&c2.msgs), 0);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 1);
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(foreign);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	(void)api_assert_balanced(rt2);
	CHECK_OK(trp_runtime_destroy(rt2));
}

/* ------------------------------------------------------------------ */
/* names and actor lifetime                                            */

static void test_name_released_on_stop(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct counter c = { .stop_on_type = 9 };
	trp_actor_t *a = spawn_counter(rt, &c);
	CHECK_OK(trp_register(rt, "worker", a));
	/* The name is our only way in: drop the handle. */
	trp_actor_release(a);
	CHECK_OK(trp_send_named(rt, "worker", 1, NULL, 0));
	CHECK_OK(trp_send_named(rt, "worker", 9, NULL, 0)); /* stops */
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&c.msgs), 2);
	assert_int_equal(atomic_load(&c.stops), 1);
	trp_actor_t *x = NULL;
	assert_int_equal(trp_lookup(rt, "worker", &x), TRP_ENOENT);
	assert_int_equal(trp_send_named(rt, "worker", 1, NULL, 0), TRP_ENOENT);
	assert_int_equal(trp_unregister(rt, "worker"), TRP_ENOENT);

	/* The name is free for another actor. */
	struct counter c2 = { 0 };
	trp_actor_t *b = spawn_counter(rt, &c2);
	CHECK_OK(trp_register(rt, "worker", b));
	CHECK_OK(trp_send_named(rt, "worker", 1, NULL, 0));
	/* Closed: the name goes when it has stopped. */
	CHECK_OK(trp_actor_close(b));
	settle(rt);
	assert_int_equal(atomic_load(&c2.msgs), 1);
	assert_int_equal(atomic_load(&c2.stops), 1);
	assert_int_equal(trp_lookup(rt, "worker", &x), TRP_ENOENT);
	struct counter c3 = { 0 };
	trp_actor_t *d = spawn_counter(rt, &c3);
	CHECK_OK(trp_register(rt, "worker", d));
	CHECK_OK(trp_lookup(rt, "worker", &x));
	assert_ptr_equal(x, d);
	trp_actor_release(x);

	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.processed, 3);
	assert_int_equal(st.stopped, 2);
	trp_actor_release(b);
	trp_actor_release(d);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&c3.stops), 1);
}

/*
 * Names never keep actors (or the runtime) alive past destroy: register,
 * drop every handle, destroy; ASan's leak check at exit sees any actor or
 * registry entry left behind. One lookup handle held across destroy must
 * stay valid and free everything when released.
 */
static void test_names_do_not_leak(void **unused)
{
	(void)unused;
	for (int round = 0; round < 3; round++) {
		trp_runtime_t *rt = make_rt(2);
		struct counter c[16] = { 0 };
		for (int i = 0; i < 16; i++) {
			char name[32];
			snprintf(name, sizeof name, "actor-%d", i);
			trp_actor_t *a = spawn_counter(rt, &c[i]);
			CHECK_OK(trp_register(rt, name, a));
			trp_actor_release(a);
			CHECK_OK(trp_send_named(rt, name, 1, "hi", 2));
		}
		trp_actor_t *kept = NULL;
		if (round == 1)
			CHECK_OK(trp_lookup(rt, "actor-3", &kept));
		/* round 2: destroy with messages queued */
		if (round != 2) {
			(void)api_assert_balanced(rt);
			CHECK_OK(trp_runtime_destroy(rt));
		} else {
			(void)api_destroy_balanced(rt);
		}
		long total = atomic_load(&dead_letters);
		for (int i = 0; i < 16; i++) {
			assert_int_equal(atomic_load(&c[i].stops), 1);
			total += atomic_load(&c[i].msgs);
		}
		assert_int_equal(total, 16);
		if (kept != NULL) {
			assert_false(trp_actor_alive(kept));
			trp_actor_t *y = NULL;
			assert_int_equal(trp_lookup(rt, "actor-3", &y),
					 TRP_ESHUTDOWN);
			assert_null(y);
			trp_actor_release(kept);
		}
	}
}

/* Registering and looking up from behaviours (worker threads). */
static atomic_int self_register_rc = 1;
static atomic_int self_lookup_ok;
static atomic_long self_msgs;

static void self_named_start(trp_actor_t *self, void *state)
{
	(void)state;
	atomic_store(&self_register_rc,
		     trp_register(trp_actor_runtime(self), "me", self));
}

static void self_named_behavior(trp_actor_t *self, void *state,
				const trp_msg_t *msg)
{
	(void)state;
	trp_runtime_t *rt = trp_actor_runtime(self);
	atomic_fetch_add(&self_msgs, 1);
	if (msg->type == 1) {
		trp_actor_t *h = NULL;
		int rc = trp_lookup(rt, "me", &h);
		if (rc == 0 && h == self)
			atomic_store(&self_lookup_ok, 1);
		if (h != NULL)
			trp_actor_release(h);
		rc = trp_send_named(rt, "me", 2, NULL, 0);
		if (rc != 0)
			note_error(rc);
	} else if (msg->type == 2) {
		int rc = trp_unregister(rt, "me");
		if (rc != 0)
			note_error(rc);
		rc = trp_unregister(rt, "me");
		if (rc != TRP_ENOENT)
			note_error(rc);
	}
}

static void test_names_from_behaviours(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = self_named_behavior,
				.start = self_named_start };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, NULL));
	settle(rt);
	CHECK_OK(atomic_load(&self_register_rc));
	CHECK_OK(trp_send_named(rt, "me", 1, NULL, 0));
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&self_lookup_ok), 1);
	assert_int_equal(atomic_load(&self_msgs), 2);
	trp_actor_t *x;
	assert_int_equal(trp_lookup(rt, "me", &x), TRP_ENOENT);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/*
 * A thread flips a name on and off while the test thread sends by name:
 * every send returns 0 or TRP_ENOENT, and exactly the accepted ones are
 * processed.
 */
struct flipper {
	trp_runtime_t *rt;
	trp_actor_t *a;
	atomic_int stop;
	atomic_long flips;
	int error;
};

static void *flip_thread(void *arg)
{
	struct flipper *f = arg;
	while (!atomic_load(&f->stop)) {
		int rc = trp_register(f->rt, "flip", f->a);
		/* Hold each state a moment so sends see both. */
		for (int i = 0; i < 20 && rc == 0; i++)
			sched_yield();
		if (rc == 0)
			rc = trp_unregister(f->rt, "flip");
		for (int i = 0; i < 20 && rc == 0; i++)
			sched_yield();
		if (rc != 0) {
			f->error = rc;
			break;
		}
		atomic_fetch_add(&f->flips, 1);
	}
	return NULL;
}

/* The same from a behaviour (a worker thread), 100 sends per turn. */
static atomic_int probe_stop;
static atomic_long probe_accepted, probe_refused;

static void probe_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	trp_runtime_t *rt = trp_actor_runtime(self);
	for (int i = 0; i < 100; i++) {
		int rc = trp_send_named(rt, "flip", 1, &i, sizeof i);
		if (rc == 0)
			atomic_fetch_add(&probe_accepted, 1);
		else if (rc == TRP_ENOENT)
			atomic_fetch_add(&probe_refused, 1);
		else
			note_error(rc);
	}
	if (!atomic_load(&probe_stop)) {
		int rc = trp_send(self, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_flip_against_send_named(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct counter c = { 0 };
	trp_actor_t *a = spawn_counter(rt, &c);
	struct flipper f = { .rt = rt, .a = a };
	trp_actor_def_t pdef = { .behavior = probe_behavior };
	trp_actor_t *probe;
	atomic_store(&probe_stop, 0);
	CHECK_OK(trp_actor_spawn(rt, &pdef, NULL, &probe));
	CHECK_OK(trp_send(probe, 1, NULL, 0));
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, flip_thread, &f), 0);
	long accepted = 0, refused = 0;
	/* Until both outcomes were seen often, for 3 s at most. */
	int64_t end = now_ns() + 3 * SEC;
	for (int i = 0; i < 5000 || ((accepted < 500 || refused < 500 ||
				      atomic_load(&f.flips) < 20) &&
				     now_ns() < end);
	     i++) {
		if (i % 256 == 0)
			sched_yield(); /* let the flipper run on 2 cores */
		int rc = trp_send_named(rt, "flip", 1, &i, sizeof i);
		if (rc == 0)
			accepted++;
		else if (rc == TRP_ENOENT)
			refused++;
		else
			fail_msg("send_named: %s", trp_errname(rc));
		if (i % 64 == 0) {
			trp_actor_t *h = NULL;
			rc = trp_lookup(rt, "flip", &h);
			if (rc == 0) {
				assert_ptr_equal(h, a);
				trp_actor_release(h);
			} else {
				assert_int_equal(rc, TRP_ENOENT);
			}
		}
	}
	atomic_store(&f.stop, 1);
	atomic_store(&probe_stop, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	CHECK_OK(f.error);
	assert_true(accepted > 0 && refused > 0);
	settle(rt);
	assert_no_behaviour_errors();
	long total = accepted + atomic_load(&probe_accepted);
	assert_int_equal(atomic_load(&c.msgs), total);
	trp_stats_t st = stats(rt);
	/* + the probe's self-sends, each processed once */
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(atomic_load(&c.msgs), total);
	printf("  flip: %ld+%ld accepted, %ld+%ld refused, %ld flips\n",
	       accepted, atomic_load(&probe_accepted), refused,
	       atomic_load(&probe_refused), atomic_load(&f.flips));
	trp_actor_release(probe);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* the seeds' scenario                                                 */

/*
 * examples/actor_scheduler.c's shape: counter(n) prints and sends n to
 * say_hello and say_hi and n - 1 to itself, by name, until n == 0, when
 * it stops. Each actor logs the numbers it got, in order.
 */
enum {
	MSG_INT = 1
};

struct seed_log {
	int64_t got[16];
	atomic_long n;
};
static struct seed_log log_counter, log_hello, log_hi;

static int64_t msg_int(const trp_msg_t *msg)
{
	int64_t v = -1;
	if (msg->type != MSG_INT || msg->size != sizeof v)
		note_error(TRP_EINVAL);
	else
		memcpy(&v, msg->data, sizeof v);
	return v;
}

static void seed_log_add(struct seed_log *l, int64_t v)
{
	long i = atomic_load(&l->n);
	if (i < 16)
		l->got[i] = v;
	atomic_store(&l->n, i + 1);
}

static void send_int(trp_runtime_t *rt, const char *name, int64_t n)
{
	int rc = trp_send_named(rt, name, MSG_INT, &n, sizeof n);
	if (rc != 0)
		note_error(rc);
}

static void say_hello(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	seed_log_add(&log_hello, msg_int(msg));
}

static void say_hi(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	seed_log_add(&log_hi, msg_int(msg));
}

static void seed_counter(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	trp_runtime_t *rt = trp_actor_runtime(self);
	int64_t n = msg_int(msg);
	seed_log_add(&log_counter, n);
	if (n == 0) {
		int rc = trp_actor_stop(self);
		if (rc != 0)
			note_error(rc);
		return;
	}
	send_int(rt, "say_hello", n);
	send_int(rt, "say_hi", n);
	send_int(rt, "counter", n - 1);
}

static void new_actor(trp_runtime_t *rt, const char *name, trp_behavior_fn fn)
{
	trp_actor_def_t def = { .behavior = fn };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	CHECK_OK(trp_register(rt, name, a));
	trp_actor_release(a);
}

static void test_seeds_scenario(void **unused)
{
	(void)unused;
	for (uint32_t workers = 1; workers <= 3; workers++) {
		trp_runtime_t *rt = make_rt(workers);
		memset(&log_counter, 0, sizeof log_counter);
		memset(&log_hello, 0, sizeof log_hello);
		memset(&log_hi, 0, sizeof log_hi);
		new_actor(rt, "say_hello", say_hello);
		new_actor(rt, "say_hi", say_hi);
		new_actor(rt, "counter", seed_counter);
		int64_t n = 10;
		CHECK_OK(trp_send_named(rt, "counter", MSG_INT, &n, sizeof n));
		settle(rt);
		assert_no_behaviour_errors();

		assert_int_equal(atomic_load(&log_counter.n), 11);
		assert_int_equal(atomic_load(&log_hello.n), 10);
		assert_int_equal(atomic_load(&log_hi.n), 10);
		for (int i = 0; i <= 10; i++)
			assert_int_equal(log_counter.got[i], 10 - i);
		for (int i = 0; i < 10; i++) {
			assert_int_equal(log_hello.got[i], 10 - i);
			assert_int_equal(log_hi.got[i], 10 - i);
		}
		trp_stats_t st = stats(rt);
		assert_int_equal(st.spawned, 3);
		assert_int_equal(st.sent, 31);
		assert_int_equal(st.processed, 31);
		assert_int_equal(st.dead_lettered, 0);
		assert_int_equal(st.stopped, 1);

		/* The counter's name went with it; the others stay. */
		trp_actor_t *x;
		assert_int_equal(trp_lookup(rt, "counter", &x), TRP_ENOENT);
		CHECK_OK(trp_lookup(rt, "say_hello", &x));
		trp_actor_release(x);
		CHECK_OK(trp_lookup(rt, "say_hi", &x));
		trp_actor_release(x);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
	}
}

int main(void)
{
	alarm(100);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lookup_references_and_bytes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_name_released_on_stop),
		cmocka_unit_test(test_names_do_not_leak),
		cmocka_unit_test(test_names_from_behaviours),
		cmocka_unit_test(test_flip_against_send_named),
		cmocka_unit_test(test_seeds_scenario),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
