/*
 * tests/api/exchange.c - exchanges (troupe/exchange.h) as a user sees them:
 * every call and every documented error, one copy per sink and payload
 * integrity (shared copies for large payloads), per-publisher order,
 * membership (attach after publish k sees only > k; nothing after detach;
 * a callback context freed right after detach is never touched), refused
 * deliveries counted in the stats, scoped subscriptions (functions and the
 * TRP_EXCHANGE_SCOPE macro), taps, the same sink attached twice
 * (TRP_EEXIST), and trp_runtime_destroy() with exchanges still open and
 * handles still held.
 *
 * Behaviours and callbacks never call the checks (they longjmp): they
 * record what they saw, and the test thread asserts after
 * trp_runtime_wait_idle() (or after the publishing threads were joined).
 * Memory: run under the asan preset, LeakSanitizer checks at exit that
 * shared payloads, retired subscriber arrays and exchanges were all freed.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* nanosleep, open_memstream */
#endif

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

#define SETTLE_NS (20 * SEC)
#include "api_util.h"

enum {
	MSG_DATA = 7,
	MSG_SEQ = 8,
	MSG_CTL = 9
};

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static trp_runtime_t *make_rt_limit(uint32_t workers, uint32_t limit)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	cfg.mailbox_limit = limit;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	return rt;
}

static trp_runtime_t *make_rt(uint32_t workers)
{
	return make_rt_limit(workers, 0);
}

static trp_exchange_stats_t xstats(trp_exchange_t *ex)
{
	trp_exchange_stats_t st;
	memset(&st, 0xab, sizeof st);
	CHECK_OK(trp_exchange_stats(ex, &st));
	return st;
}

/* delivered + every kind of drop == published * subscribers, for a run
 * during which the subscriber set did not change. */
static void assert_conserved(trp_exchange_t *ex, uint64_t published,
			     uint32_t subscribers)
{
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.published, published);
	assert_int_equal(st.subscribers, subscribers);
	assert_int_equal(st.delivered + st.dropped_full + st.dropped_dead +
				 st.dropped_other,
			 published * subscribers);
}

/* Payload of @size bytes for message @tag: every byte derived from both,
 * so a truncated, shifted, stale or mixed-up copy is caught. */
static uint8_t pattern_byte(size_t i, size_t size, uint32_t tag)
{
	return (uint8_t)(i * 131u + size * 7u + tag * 17u + (i >> 8) * 3u + 1u);
}

static void fill_pattern(uint8_t *p, size_t size, uint32_t tag)
{
	for (size_t i = 0; i < size; i++)
		p[i] = pattern_byte(i, size, tag);
}

static bool check_pattern(const void *data, size_t size, uint32_t tag)
{
	const uint8_t *p = data;
	if (size == 0)
		return true;
	if (p == NULL)
		return false;
	for (size_t i = 0; i < size; i++)
		if (p[i] != pattern_byte(i, size, tag))
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* a recording sink (actor or callback: same recorder)                 */

#define MAX_PUBS 8
#define MAX_ADDRS 64

/*
 * What one sink saw. Written by the behaviour (one at a time) or by the
 * callback (publishers call it concurrently: each publisher writes only
 * its own per-publisher slot; the shared counters are atomics).
 */
struct rec {
	atomic_ulong n;		 /* messages */
	atomic_ulong bytes;	 /* payload bytes */
	atomic_int bad;		 /* wrong type/size/content/order */
	uint64_t last[MAX_PUBS]; /* per publisher: last seq (0 = none) */
	uint64_t got[MAX_PUBS];	 /* per publisher: messages */
	/* MSG_DATA: expected (size, tag) of the message with this index,
	 * and the payload address each one arrived at. */
	const size_t *expect_size;
	const void *addr[MAX_ADDRS];
	/* blocking: the first message waits until release is set */
	bool block_first;
	atomic_int entered;
	atomic_int release;
	/* late-touch detection for callbacks: set once detach returned */
	atomic_int detached;
	atomic_int late;
};

/* Payload of MSG_SEQ messages: (publisher, seq). */
struct seqmsg {
	uint32_t pub;
	uint32_t pad;
	uint64_t seq;
};

static void rec_take(struct rec *r, const trp_msg_t *msg)
{
	if (atomic_load(&r->detached) != 0)
		atomic_fetch_add(&r->late, 1);
	if (r->block_first && atomic_fetch_add(&r->entered, 1) == 0) {
		while (atomic_load(&r->release) == 0)
			sleep_us(200);
	}
	unsigned long idx = atomic_load(&r->n);
	switch (msg->type) {
	case MSG_SEQ: {
		struct seqmsg s;
		if (msg->size != sizeof s || msg->data == NULL) {
			note_error(TRP_EINVAL);
			break;
		}
		memcpy(&s, msg->data, sizeof s);
		if (s.pub >= MAX_PUBS || s.seq <= r->last[s.pub]) {
			/* per publisher, seqs only rise (tests check the
			 * count and the last one where all must arrive) */
			note_error(TRP_EINVAL);
			atomic_fetch_add(&r->bad, 1);
			break;
		}
		r->last[s.pub] = s.seq;
		r->got[s.pub]++;
		break;
	}
	case MSG_DATA:
		/* message idx carries tag idx and size expect_size[idx] */
		if (r->expect_size == NULL)
			break; /* this test does not check content */
		if (msg->size != r->expect_size[idx] ||
		    !check_pattern(msg->data, msg->size, (uint32_t)idx)) {
			note_error(TRP_EINVAL);
			atomic_fetch_add(&r->bad, 1);
		}
		if (idx < MAX_ADDRS)
			r->addr[idx] = msg->data;
		break;
	default:
		break;
	}
	atomic_fetch_add(&r->bytes, msg->size);
	atomic_fetch_add(&r->n, 1);
}

static void rec_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	rec_take(state, msg);
}

static void rec_callback(void *ctx, const trp_msg_t *msg)
{
	rec_take(ctx, msg);
}

/*
 * Callback for concurrent publishers: only the per-publisher slot and the
 * atomics are written (rec_take's idx-based MSG_DATA path is for a single
 * publisher).
 */
static trp_actor_t *spawn_rec_limit(trp_runtime_t *rt, struct rec *r,
				    uint32_t limit)
{
	trp_actor_def_t def = { .behavior = rec_behavior,
				.mailbox_limit = limit };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
	assert_non_null(a);
	return a;
}

static trp_actor_t *spawn_rec(trp_runtime_t *rt, struct rec *r)
{
	return spawn_rec_limit(rt, r, 0);
}

static struct rec *new_rec(void)
{
	struct rec *r = calloc(1, sizeof *r);
	assert_non_null(r);
	return r;
}

/* A stopped actor (closed, stop hook done). */
static trp_actor_t *spawn_dead(trp_runtime_t *rt, struct rec *r)
{
	trp_actor_t *a = spawn_rec(rt, r);
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	assert_false(trp_actor_alive(a));
	return a;
}

static int publish_seq(trp_exchange_t *ex, uint32_t pub, uint64_t seq)
{
	struct seqmsg s = { pub, 0, seq };
	return trp_exchange_publish(ex, MSG_SEQ, &s, sizeof s);
}

static void nop_callback(void *ctx, const trp_msg_t *msg)
{
	(void)ctx;
	(void)msg;
}

/* ------------------------------------------------------------------ */
/* get / create / retain / release                                     */

static void test_get_and_names(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2), *rt2 = make_rt(1);
	trp_exchange_t *a = NULL, *b = NULL, *c = NULL, *d = NULL, *x = NULL;
	char name63[TRP_NAME_MAX + 1], name64[TRP_NAME_MAX + 2];

	memset(name63, 'n', TRP_NAME_MAX);
	name63[TRP_NAME_MAX] = '\0';
	memset(name64, 'n', TRP_NAME_MAX + 1);
	name64[TRP_NAME_MAX + 1] = '\0';

	/* bad arguments: *out untouched */
	x = (trp_exchange_t *)&x;
	assert_int_equal(trp_exchange_get(NULL, "name", &x), TRP_EINVAL);
	assert_int_equal(trp_exchange_get(rt, NULL, &x), TRP_EINVAL);
	assert_int_equal(trp_exchange_get(rt, "", &x), TRP_EINVAL);
	assert_int_equal(trp_exchange_get(rt, "name", NULL), TRP_EINVAL);
	assert_int_equal(trp_exchange_get(rt, name64, &x), TRP_ENAMETOOLONG);
	assert_ptr_equal(x, (trp_exchange_t *)&x);

	/* same name, same exchange; other names, other exchanges */
	CHECK_OK(trp_exchange_get(rt, "name", &a));
	CHECK_OK(trp_exchange_get(rt, "name", &b));
	assert_non_null(a);
	assert_ptr_equal(a, b);
	CHECK_OK(trp_exchange_get(rt, "Name", &c));
	assert_ptr_not_equal(a, c);
	CHECK_OK(trp_exchange_get(rt, name63, &d));
	assert_ptr_not_equal(a, d);
	assert_ptr_not_equal(c, d);
	trp_exchange_release(d);
	CHECK_OK(trp_exchange_get(rt, name63, &d));
	trp_exchange_t *d2 = NULL;
	CHECK_OK(trp_exchange_get(rt, name63, &d2));
	assert_ptr_equal(d, d2);
	trp_exchange_release(d2);

	/* a name with bytes beyond ASCII */
	trp_exchange_t *u1 = NULL, *u2 = NULL;
	CHECK_OK(trp_exchange_get(rt, "\xc3\xa9t\xc3\xa9", &u1));
	CHECK_OK(trp_exchange_get(rt, "\xc3\xa9t\xc3\xa9", &u2));
	assert_ptr_equal(u1, u2);
	trp_exchange_release(u1);
	trp_exchange_release(u2);

	/* The exchange survives its handles being released (the name holds
	 * it until the runtime goes): get returns the same one again. */
	struct rec *r = new_rec();
	trp_actor_t *act = spawn_rec(rt, r);
	trp_sub_t sub;
	CHECK_OK(trp_exchange_attach(a, trp_sink_actor(act), &sub));
	trp_exchange_release(a);
	trp_exchange_release(b);
	CHECK_OK(trp_exchange_get(rt, "name", &a));
	assert_int_equal(xstats(a).subscribers, 1);
	CHECK_OK(publish_seq(a, 0, 1));
	settle(rt);
	assert_int_equal(atomic_load(&r->n), 1);

	/* Exchange names and actor names are separate namespaces. */
	CHECK_OK(trp_register(rt, "name", act));
	CHECK_OK(trp_exchange_get(rt, "name", &b));
	assert_ptr_equal(a, b);
	trp_exchange_release(b);

	/* another runtime, another exchange of the same name */
	trp_exchange_t *other = NULL;
	CHECK_OK(trp_exchange_get(rt2, "name", &other));
	assert_ptr_not_equal(other, a);
	assert_int_equal(xstats(other).subscribers, 0);
	CHECK_OK(publish_seq(other, 0, 1));
	settle(rt2);
	assert_int_equal(atomic_load(&r->n), 1);
	trp_exchange_release(other);

	/* retain gives the same pointer and one more reference */
	assert_ptr_equal(trp_exchange_retain(a), a);
	trp_exchange_release(a);
	CHECK_OK(trp_exchange_detach(a, sub));
	trp_exchange_release(a);
	trp_exchange_release(c);
	trp_exchange_release(d);

	trp_actor_release(act);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	(void)api_assert_balanced(rt2);
	CHECK_OK(trp_runtime_destroy(rt2));
	free(r);
	assert_no_behaviour_errors();
}

static void test_create_retain_release(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *a = NULL, *b = NULL, *n = NULL;
	trp_exchange_t *x = (trp_exchange_t *)&x;

	assert_int_equal(trp_exchange_create(NULL, &x), TRP_EINVAL);
	assert_int_equal(trp_exchange_create(rt, NULL), TRP_EINVAL);
	assert_ptr_equal(x, (trp_exchange_t *)&x);

	CHECK_OK(trp_exchange_create(rt, &a));
	CHECK_OK(trp_exchange_create(rt, &b));
	CHECK_OK(trp_exchange_get(rt, "anon", &n));
	assert_non_null(a);
	assert_ptr_not_equal(a, b);
	assert_ptr_not_equal(a, n);

	trp_exchange_stats_t st = xstats(a);
	assert_int_equal(st.published, 0);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(st.dropped_full, 0);
	assert_int_equal(st.dropped_dead, 0);
	assert_int_equal(st.dropped_other, 0);
	assert_int_equal(st.subscribers, 0);

	/* Publishing to nobody is fine and counts as published. */
	CHECK_OK(trp_exchange_publish(a, MSG_DATA, "x", 1));
	CHECK_OK(trp_exchange_publish(a, MSG_DATA, NULL, 0));
	assert_conserved(a, 2, 0);

	/* Extra references keep an anonymous exchange open. */
	struct rec *r = new_rec();
	trp_actor_t *act = spawn_rec(rt, r);
	CHECK_OK(trp_exchange_attach(a, trp_sink_actor(act), NULL));
	assert_ptr_equal(trp_exchange_retain(a), a);
	assert_ptr_equal(trp_exchange_retain(a), a);
	trp_exchange_release(a);
	trp_exchange_release(a);
	CHECK_OK(publish_seq(a, 0, 1));
	settle(rt);
	assert_int_equal(atomic_load(&r->n), 1);

	/* The last release closes it and detaches the actor (which keeps
	 * running: its life does not depend on the exchange). */
	trp_exchange_release(a);
	CHECK_OK(trp_send(act, MSG_CTL, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&r->n), 2);
	assert_true(trp_actor_alive(act));

	/* An anonymous exchange with sinks of every kind, released at
	 * once: nothing leaks (asan). */
	trp_tap_t tap;
	trp_tap_init(&tap, NULL, "t");
	CHECK_OK(trp_exchange_attach(b, trp_sink_actor(act), NULL));
	CHECK_OK(trp_exchange_attach(b, trp_sink_callback(nop_callback, NULL),
				     NULL));
	CHECK_OK(trp_exchange_attach(b, trp_sink_tap(&tap), NULL));
	CHECK_OK(publish_seq(b, 1, 1));
	trp_exchange_release(b);
	settle(rt);
	assert_int_equal(atomic_load(&r->n), 3);
	assert_int_equal(trp_tap_count(&tap), 1);

	trp_exchange_release(n);
	trp_actor_release(act);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* attach / detach / publish / close errors                            */

static void test_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2), *rt2 = make_rt(1);
	trp_exchange_t *ex = NULL;
	struct rec *r = new_rec(), *rdead = new_rec(), *r2 = new_rec();
	trp_actor_t *act = spawn_rec(rt, r);
	trp_actor_t *dead = spawn_dead(rt, rdead);
	trp_actor_t *foreign = spawn_rec(rt2, r2);
	trp_tap_t tap;
	trp_sub_t sub = 0, sub2 = 0, sub3 = 0;
	trp_exchange_stats_t st;
	char buf[16] = "0123456789abcde";

	trp_tap_init(&tap, NULL, "errors");
	CHECK_OK(trp_exchange_get(rt, "errors", &ex));

	/* NULL exchange everywhere */
	assert_int_equal(trp_exchange_attach(NULL, trp_sink_actor(act), &sub),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_detach(NULL, 1), TRP_EINVAL);
	assert_int_equal(trp_exchange_publish(NULL, MSG_DATA, buf, 1),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_stats(NULL, &st), TRP_EINVAL);
	assert_int_equal(trp_exchange_stats(ex, NULL), TRP_EINVAL);
	assert_int_equal(trp_exchange_close(NULL), TRP_EINVAL);

	/* bad sinks */
	trp_sink_t bad = trp_sink_actor(act);
	bad.kind = (trp_sink_kind_t)0;
	assert_int_equal(trp_exchange_attach(ex, bad, &sub), TRP_EINVAL);
	bad.kind = (trp_sink_kind_t)99;
	assert_int_equal(trp_exchange_attach(ex, bad, &sub), TRP_EINVAL);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(NULL), &sub),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_callback(NULL, r),
					     &sub),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_tap(NULL), &sub),
			 TRP_EINVAL);
	/* an actor of another runtime */
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(foreign), &sub),
			 TRP_EINVAL);
	/* a stopped actor */
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(dead), &sub),
			 TRP_EDEAD);
	assert_int_equal(xstats(ex).subscribers, 0);

	/* publish errors */
	assert_int_equal(trp_exchange_publish(ex, MSG_DATA, NULL, 1),
			 TRP_EINVAL);
	/* The size is checked before anything is read or copied. */
	assert_int_equal(trp_exchange_publish(ex, MSG_DATA, buf,
					      TRP_MSG_MAX + 1),
			 TRP_EMSGSIZE);
	assert_int_equal(trp_exchange_publish(ex, MSG_DATA, buf, SIZE_MAX),
			 TRP_EMSGSIZE);
	st = xstats(ex);
	assert_int_equal(st.published, 0);

	/* good attaches; sub may be NULL */
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(act), &sub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(rec_callback, r2),
				     &sub2));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap), &sub3));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(nop_callback, NULL),
				     NULL));
	assert_true(sub != sub2 && sub != sub3 && sub2 != sub3);
	assert_int_equal(xstats(ex).subscribers, 4);

	/* detach: unknown ids, then twice */
	assert_int_equal(trp_exchange_detach(ex, UINT64_MAX), TRP_ENOENT);
	assert_int_equal(trp_exchange_detach(ex, sub + sub2 + sub3 + 1000),
			 TRP_ENOENT);
	CHECK_OK(trp_exchange_detach(ex, sub2));
	assert_int_equal(trp_exchange_detach(ex, sub2), TRP_ENOENT);
	assert_int_equal(xstats(ex).subscribers, 3);

	/* ids are never reused by an exchange (a sink of its own each
	 * time: act is attached already, TRP_EEXIST) */
	trp_sub_t seen[64];
	for (int i = 0; i < 64; i++) {
		CHECK_OK(trp_exchange_attach(
			ex, trp_sink_callback(nop_callback, &seen[i]),
			&seen[i]));
		CHECK_OK(trp_exchange_detach(ex, seen[i]));
		assert_true(seen[i] != sub && seen[i] != sub2 &&
			    seen[i] != sub3);
		for (int j = 0; j < i; j++)
			assert_true(seen[i] != seen[j]);
	}
	assert_int_equal(trp_exchange_detach(ex, seen[5]), TRP_ENOENT);

	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, buf, 4));
	settle(rt);
	assert_conserved(ex, 1, 3);
	assert_int_equal(atomic_load(&r->n), 1);
	assert_int_equal(atomic_load(&r2->n), 0);
	assert_int_equal(trp_tap_count(&tap), 1);

	/* close: then publish/attach refused, close again refused, the
	 * sinks it detached are gone */
	CHECK_OK(trp_exchange_close(ex));
	assert_int_equal(trp_exchange_close(ex), TRP_ECLOSED);
	assert_int_equal(trp_exchange_publish(ex, MSG_DATA, buf, 4),
			 TRP_ECLOSED);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(act), NULL),
			 TRP_ECLOSED);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_tap(&tap), NULL),
			 TRP_ECLOSED);
	assert_int_equal(trp_exchange_detach(ex, sub), TRP_ENOENT);
	st = xstats(ex);
	assert_int_equal(st.subscribers, 0);
	assert_int_equal(st.published, 1);
	int brc = trp_exchange_attach(ex, trp_sink_tap(NULL), NULL);
	assert_true(brc == TRP_EINVAL || brc == TRP_ECLOSED);

	/* A closed named exchange stays closed under its name. */
	trp_exchange_t *again = NULL;
	CHECK_OK(trp_exchange_get(rt, "errors", &again));
	assert_ptr_equal(again, ex);
	assert_int_equal(trp_exchange_publish(again, MSG_DATA, buf, 4),
			 TRP_ECLOSED);
	trp_exchange_release(again);

	settle(rt);
	assert_int_equal(atomic_load(&r->n), 1);
	assert_int_equal(trp_tap_count(&tap), 1);

	/* A closed anonymous exchange: release is all that is left. */
	trp_exchange_t *anon = NULL;
	CHECK_OK(trp_exchange_create(rt, &anon));
	CHECK_OK(trp_exchange_attach(anon, trp_sink_actor(act), NULL));
	CHECK_OK(trp_exchange_close(anon));
	assert_int_equal(trp_exchange_close(anon), TRP_ECLOSED);
	assert_int_equal(trp_exchange_publish(anon, MSG_DATA, buf, 4),
			 TRP_ECLOSED);
	trp_exchange_release(anon);

	trp_exchange_release(ex);
	trp_actor_release(act);
	trp_actor_release(dead);
	trp_actor_release(foreign);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	(void)api_assert_balanced(rt2);
	CHECK_OK(trp_runtime_destroy(rt2));
	free(r);
	free(r2);
	free(rdead);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* one copy per sink                                                   */

static void test_one_copy_per_sink(void **unused)
{
	(void)unused;
	enum {
		NACT = 3,
		NCB = 2,
		K = 200
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra[NACT], *rc[NCB];
	trp_actor_t *acts[NACT];
	trp_tap_t tap;

	CHECK_OK(trp_exchange_get(rt, "copies", &ex));
	for (int i = 0; i < NACT; i++) {
		ra[i] = new_rec();
		acts[i] = spawn_rec(rt, ra[i]);
		CHECK_OK(
			trp_exchange_attach(ex, trp_sink_actor(acts[i]), NULL));
	}
	for (int i = 0; i < NCB; i++) {
		rc[i] = new_rec();
		CHECK_OK(trp_exchange_attach(
			ex, trp_sink_callback(rec_callback, rc[i]), NULL));
	}
	trp_tap_init(&tap, NULL, "copies");
	assert_int_equal(trp_tap_count(&tap), 0);
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap), NULL));

	for (uint64_t s = 1; s <= K; s++)
		CHECK_OK(publish_seq(ex, 0, s));
	/* callbacks run in the publisher's thread: done on return */
	for (int i = 0; i < NCB; i++) {
		assert_int_equal(atomic_load(&rc[i]->n), K);
		assert_int_equal(rc[i]->got[0], K);
	}
	assert_int_equal(trp_tap_count(&tap), K);
	settle(rt);
	for (int i = 0; i < NACT; i++) {
		assert_int_equal(atomic_load(&ra[i]->n), K);
		assert_int_equal(ra[i]->got[0], K);
		assert_int_equal(ra[i]->last[0], K);
		assert_int_equal(atomic_load(&ra[i]->bad), 0);
	}
	assert_conserved(ex, K, NACT + NCB + 1);
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.delivered, (uint64_t)K * (NACT + NCB + 1));
	assert_int_equal(st.dropped_full + st.dropped_dead + st.dropped_other,
			 0);

	/* The runtime sees one message per actor sink and publish. */
	trp_stats_t rs;
	CHECK_OK(trp_runtime_stats(rt, &rs));
	assert_int_equal(rs.sent, (uint64_t)K * NACT);
	assert_int_equal(rs.processed, (uint64_t)K * NACT);

	trp_exchange_release(ex);
	for (int i = 0; i < NACT; i++)
		trp_actor_release(acts[i]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	for (int i = 0; i < NACT; i++)
		free(ra[i]);
	for (int i = 0; i < NCB; i++)
		free(rc[i]);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* payload sizes, shared copies                                        */

static const size_t sizes[] = { 0,   1,	  8,   15,   16,       17,
				255, 256, 257, 4096, 1u << 20, 3u << 20 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_payload_sizes(void **unused)
{
	(void)unused;
	enum {
		NACT = 3
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra[NACT], *rc = new_rec();
	trp_actor_t *acts[NACT];

	assert_true(NSIZES <= MAX_ADDRS);
	CHECK_OK(trp_exchange_create(rt, &ex));
	for (int i = 0; i < NACT; i++) {
		ra[i] = new_rec();
		ra[i]->expect_size = sizes;
		acts[i] = spawn_rec(rt, ra[i]);
		CHECK_OK(
			trp_exchange_attach(ex, trp_sink_actor(acts[i]), NULL));
	}
	rc->expect_size = sizes;
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(rec_callback, rc),
				     NULL));

	for (size_t k = 0; k < NSIZES; k++) {
		size_t size = sizes[k];
		/* The publisher's buffer is scribbled over and freed as soon
		 * as publish returns: every sink must have its own or a
		 * shared copy (asan catches a read of the freed one). */
		uint8_t *buf = malloc(size + 1);
		assert_non_null(buf);
		fill_pattern(buf, size, (uint32_t)k);
		CHECK_OK(trp_exchange_publish(ex, MSG_DATA,
					      size == 0 ? NULL : buf, size));
		memset(buf, 0x5a, size + 1);
		free(buf);
	}
	settle(rt);
	assert_int_equal(atomic_load(&rc->n), NSIZES);
	assert_int_equal(atomic_load(&rc->bad), 0);
	for (int i = 0; i < NACT; i++) {
		assert_int_equal(atomic_load(&ra[i]->n), NSIZES);
		assert_int_equal(atomic_load(&ra[i]->bad), 0);
	}
	/* Above TRP_EXCHANGE_SHARE_MIN the actor sinks got one shared copy
	 * (same address while all of them held it). */
	for (size_t k = 0; k < NSIZES; k++) {
		if (sizes[k] <= TRP_EXCHANGE_SHARE_MIN)
			continue;
		assert_non_null(ra[0]->addr[k]);
		for (int i = 1; i < NACT; i++)
			assert_ptr_equal(ra[i]->addr[k], ra[0]->addr[k]);
	}
	assert_conserved(ex, NSIZES, NACT + 1);

	/* Shared payloads with sinks that are all stopped (the shared copy
	 * must still be freed); the first publish detaches them, the rest
	 * reach nobody. */
	struct rec *rdead = new_rec();
	trp_actor_t *dead[2] = { spawn_rec(rt, rdead), spawn_rec(rt, rdead) };
	trp_exchange_t *ex2 = NULL;
	CHECK_OK(trp_exchange_create(rt, &ex2));
	for (int i = 0; i < 2; i++)
		CHECK_OK(trp_exchange_attach(ex2, trp_sink_actor(dead[i]),
					     NULL));
	for (int i = 0; i < 2; i++)
		CHECK_OK(trp_actor_close(dead[i]));
	settle(rt);
	uint8_t *big = malloc(100000);
	assert_non_null(big);
	fill_pattern(big, 100000, 1);
	CHECK_OK(trp_exchange_publish(ex2, MSG_DATA, big, 100000));
	trp_exchange_stats_t st = xstats(ex2);
	assert_int_equal(st.dropped_dead, 2);
	assert_int_equal(st.subscribers, 0);
	for (int i = 1; i < 10; i++)
		CHECK_OK(trp_exchange_publish(ex2, MSG_DATA, big, 100000));
	free(big);
	st = xstats(ex2);
	assert_int_equal(st.published, 10);
	assert_int_equal(st.dropped_dead, 2);
	assert_int_equal(st.delivered, 0);
	trp_exchange_release(ex2);

	trp_exchange_release(ex);
	for (int i = 0; i < NACT; i++)
		trp_actor_release(acts[i]);
	trp_actor_release(dead[0]);
	trp_actor_release(dead[1]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	for (int i = 0; i < NACT; i++)
		free(ra[i]);
	free(rc);
	free(rdead);
	assert_no_behaviour_errors();
}

/* Large payloads still queued when the runtime is destroyed are freed
 * (dead-lettered shared copies; asan's leak check). */
static void test_shared_payload_dead_lettered(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_exchange_t *ex = NULL;
	struct rec *r = new_rec();
	r->block_first = true;
	struct rec *rb = new_rec();
	trp_actor_t *a = spawn_rec(rt, r);
	trp_actor_t *b = spawn_rec(rt, rb);
	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(b), NULL));
	static uint8_t big[5000];
	CHECK_OK(trp_exchange_publish(ex, MSG_CTL, big, sizeof big));
	while (atomic_load(&r->entered) == 0)
		sleep_us(100);
	for (int i = 0; i < 20; i++)
		CHECK_OK(trp_exchange_publish(ex, MSG_CTL, big, sizeof big));
	/* a is blocked on the one worker, b has not run: the copies sit in
	 * two mailboxes. Let a go; destroy does not wait for them. */
	atomic_store(&r->release, 1);
	trp_exchange_release(ex);
	trp_actor_release(a);
	(void)api_destroy_balanced(rt);
	trp_actor_release(b);
	free(r);
	free(rb);
}

/* ------------------------------------------------------------------ */
/* per-publisher order, publishers outside and inside the runtime      */

struct pubthread {
	trp_exchange_t *ex;
	uint32_t id;
	uint64_t n;
	int rc;
};

static void *publisher_main(void *arg)
{
	struct pubthread *p = arg;
	for (uint64_t s = 1; s <= p->n; s++) {
		int rc = publish_seq(p->ex, p->id, s);
		if (rc != 0) {
			p->rc = rc;
			break;
		}
		if ((s & 1023) == 0)
			sched_yield();
	}
	return NULL;
}

/* A publisher actor: publishes CHUNK of its sequence per turn and sends
 * itself MSG_CTL to go on. */
struct pubactor {
	trp_exchange_t *ex;
	uint32_t id;
	uint64_t next, n;
	atomic_int failed;
	atomic_int done;
};

static void pubactor_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct pubactor *p = state;
	(void)msg;
	for (int i = 0; i < 100 && p->next <= p->n; i++, p->next++)
		if (publish_seq(p->ex, p->id, p->next) != 0)
			atomic_fetch_add(&p->failed, 1);
	if (p->next <= p->n) {
		if (trp_send(self, MSG_CTL, NULL, 0) != 0)
			atomic_fetch_add(&p->failed, 1);
	} else {
		atomic_store(&p->done, 1);
	}
}

/* A callback sink for concurrent publishers: per-publisher slots only. */
struct multi_ctx {
	uint64_t last[MAX_PUBS];
	atomic_int bad;
	atomic_ulong n;
};

static void multi_callback(void *ctx, const trp_msg_t *msg)
{
	struct multi_ctx *m = ctx;
	struct seqmsg s;
	if (msg->type != MSG_SEQ || msg->size != sizeof s) {
		atomic_fetch_add(&m->bad, 1);
		return;
	}
	memcpy(&s, msg->data, sizeof s);
	if (s.pub >= MAX_PUBS || s.seq != m->last[s.pub] + 1)
		atomic_fetch_add(&m->bad, 1);
	else
		m->last[s.pub] = s.seq;
	atomic_fetch_add(&m->n, 1);
}

static void test_publisher_order(void **unused)
{
	(void)unused;
	enum {
		NTHR = 3,
		NPA = 2,
		NSINK = 3
	};
	const uint64_t n = 20000;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra[NSINK];
	trp_actor_t *acts[NSINK], *pa_h[NPA];
	struct multi_ctx mc;
	struct pubthread pt[NTHR];
	struct pubactor pa[NPA];
	pthread_t th[NTHR];

	memset(&mc, 0, sizeof mc);
	CHECK_OK(trp_exchange_get(rt, "order", &ex));
	for (int i = 0; i < NSINK; i++) {
		ra[i] = new_rec();
		acts[i] = spawn_rec(rt, ra[i]);
		CHECK_OK(
			trp_exchange_attach(ex, trp_sink_actor(acts[i]), NULL));
	}
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(multi_callback, &mc),
				     NULL));

	trp_actor_def_t def = { .behavior = pubactor_behavior };
	for (int i = 0; i < NPA; i++) {
		memset(&pa[i], 0, sizeof pa[i]);
		pa[i].ex = ex;
		pa[i].id = NTHR + (uint32_t)i;
		pa[i].next = 1;
		pa[i].n = n;
		CHECK_OK(trp_actor_spawn(rt, &def, &pa[i], &pa_h[i]));
	}
	for (int i = 0; i < NTHR; i++) {
		pt[i] = (struct pubthread){ ex, (uint32_t)i, n, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, publisher_main,
						&pt[i]),
				 0);
	}
	for (int i = 0; i < NPA; i++)
		CHECK_OK(trp_send(pa_h[i], MSG_CTL, NULL, 0));
	for (int i = 0; i < NTHR; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pt[i].rc, 0);
	}
	settle(rt);
	for (int i = 0; i < NPA; i++) {
		assert_int_equal(atomic_load(&pa[i].done), 1);
		assert_int_equal(atomic_load(&pa[i].failed), 0);
	}
	const uint64_t total = (uint64_t)(NTHR + NPA) * n;
	for (int i = 0; i < NSINK; i++) {
		assert_int_equal(atomic_load(&ra[i]->bad), 0);
		assert_int_equal(atomic_load(&ra[i]->n), total);
		for (int p = 0; p < NTHR + NPA; p++)
			assert_int_equal(ra[i]->last[p], n);
	}
	assert_int_equal(atomic_load(&mc.bad), 0);
	assert_int_equal(atomic_load(&mc.n), total);
	assert_conserved(ex, total, NSINK + 1);
	assert_int_equal(xstats(ex).delivered, total * (NSINK + 1));

	trp_exchange_release(ex);
	for (int i = 0; i < NSINK; i++)
		trp_actor_release(acts[i]);
	for (int i = 0; i < NPA; i++)
		trp_actor_release(pa_h[i]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	for (int i = 0; i < NSINK; i++)
		free(ra[i]);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* membership                                                          */

/* A recorder of the exact set of seqs received (single publisher). */
struct win {
	uint64_t seqs[256];
	atomic_uint n;
};

static void win_take(struct win *w, const trp_msg_t *msg)
{
	struct seqmsg s;
	if (msg->type != MSG_SEQ || msg->size != sizeof s) {
		note_error(TRP_EINVAL);
		return;
	}
	memcpy(&s, msg->data, sizeof s);
	unsigned i = atomic_load(&w->n);
	if (i < 256)
		w->seqs[i] = s.seq;
	atomic_store(&w->n, i + 1);
}

static void win_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	win_take(state, msg);
}

static void win_callback(void *ctx, const trp_msg_t *msg)
{
	win_take(ctx, msg);
}

static void assert_window(const struct win *w, uint64_t first, uint64_t last)
{
	unsigned n = atomic_load(&w->n);
	assert_int_equal(n, last - first + 1);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(w->seqs[i], first + i);
}

static void test_membership_exact(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	static struct win wa, wb, wc;
	memset(&wa, 0, sizeof wa);
	memset(&wb, 0, sizeof wb);
	memset(&wc, 0, sizeof wc);
	trp_actor_def_t def = { .behavior = win_behavior };
	trp_actor_t *a = NULL, *b = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, &wa, &a));
	CHECK_OK(trp_actor_spawn(rt, &def, &wb, &b));
	trp_sub_t sa, sb, sc, stap;
	trp_tap_t tap;
	uint64_t s = 0;

	trp_tap_init(&tap, NULL, "window");
	CHECK_OK(trp_exchange_create(rt, &ex));
	for (; s < 10;)
		CHECK_OK(publish_seq(ex, 0, ++s));
	/* a sink attached after publish 10 sees only 11.. */
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), &sa));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(win_callback, &wc),
				     &sc));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap), &stap));
	for (; s < 20;)
		CHECK_OK(publish_seq(ex, 0, ++s));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(b), &sb));
	CHECK_OK(trp_exchange_detach(ex, sc));
	CHECK_OK(trp_exchange_detach(ex, stap));
	for (; s < 30;)
		CHECK_OK(publish_seq(ex, 0, ++s));
	CHECK_OK(trp_exchange_detach(ex, sa));
	for (; s < 40;)
		CHECK_OK(publish_seq(ex, 0, ++s));
	CHECK_OK(trp_exchange_detach(ex, sb));
	for (; s < 50;)
		CHECK_OK(publish_seq(ex, 0, ++s));
	settle(rt);
	assert_window(&wa, 11, 30);
	assert_window(&wc, 11, 20);
	assert_window(&wb, 21, 40);
	assert_int_equal(trp_tap_count(&tap), 10);
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.published, 50);
	assert_int_equal(st.delivered, 20 + 10 + 10 + 20);
	assert_int_equal(st.subscribers, 0);

	trp_exchange_release(ex);
	trp_actor_release(a);
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

/*
 * Publishers run all the time while the test thread attaches a callback
 * whose context it frees right after detach returns. Half the contexts are
 * kept instead, marked "detached": a callback that sees the mark ran after
 * detach returned (caught without asan too); asan catches a touch of a
 * freed one.
 */
struct spin_pub {
	trp_exchange_t *ex;
	uint32_t id;
	atomic_int stop;
	uint64_t sent;
	atomic_int rc;
};

static void *spin_publisher(void *arg)
{
	struct spin_pub *p = arg;
	while (atomic_load(&p->stop) == 0) {
		int rc = publish_seq(p->ex, p->id, ++p->sent);
		if (rc != 0) {
			atomic_store(&p->rc, rc);
			break;
		}
	}
	return NULL;
}

static void late_callback(void *ctx, const trp_msg_t *msg)
{
	struct rec *r = ctx;
	(void)msg;
	if (atomic_load(&r->detached) != 0)
		atomic_fetch_add(&r->late, 1);
	atomic_fetch_add(&r->n, 1);
}

static void test_detach_then_free_context(void **unused)
{
	(void)unused;
	enum {
		NPUB = 2,
		ROUNDS = 300
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct spin_pub sp[NPUB];
	pthread_t th[NPUB];
	struct rec *kept[ROUNDS];
	int nkept = 0;
	unsigned long touched = 0;

	CHECK_OK(trp_exchange_create(rt, &ex));
	for (int i = 0; i < NPUB; i++) {
		memset(&sp[i], 0, sizeof sp[i]);
		sp[i].ex = ex;
		sp[i].id = (uint32_t)i;
		assert_int_equal(pthread_create(&th[i], NULL, spin_publisher,
						&sp[i]),
				 0);
	}
	for (int round = 0; round < ROUNDS; round++) {
		struct rec *r = new_rec();
		trp_sub_t sub;
		CHECK_OK(trp_exchange_attach(
			ex, trp_sink_callback(late_callback, r), &sub));
		/* wait for a delivery or two (publishers are running) */
		for (int spin = 0; spin < 2000 && atomic_load(&r->n) < 2;
		     spin++)
			sched_yield();
		CHECK_OK(trp_exchange_detach(ex, sub));
		atomic_store(&r->detached, 1);
		touched += atomic_load(&r->n) != 0;
		if (round % 2 == 0) {
			kept[nkept++] = r;
		} else {
			memset(r, 0xdd, sizeof *r);
			free(r); /* at once */
		}
	}
	for (int i = 0; i < NPUB; i++) {
		atomic_store(&sp[i].stop, 1);
		pthread_join(th[i], NULL);
		assert_int_equal(atomic_load(&sp[i].rc), 0);
	}
	for (int i = 0; i < nkept; i++) {
		assert_int_equal(atomic_load(&kept[i]->late), 0);
		free(kept[i]);
	}
	/* most contexts were really used while attached */
	assert_true(touched > ROUNDS / 4);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_release(ex);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* deliveries are in the mailbox when detach returns                    */

/* What a sink got, in order: MSG_SEQ seqs, and 0 for a MSG_CTL marker. */
struct order_log {
	atomic_uint n;
	uint64_t what[16];
};

static void order_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct order_log *l = state;
	struct seqmsg sm;
	(void)self;
	unsigned i = atomic_load(&l->n);
	if (i >= 16)
		return;
	if (msg->type == MSG_SEQ && msg->size == sizeof sm) {
		memcpy(&sm, msg->data, sizeof sm);
		l->what[i] = sm.seq;
	} else {
		l->what[i] = 0;
	}
	atomic_store(&l->n, i + 1);
}

/* Publishes 1..3 in one turn, then holds the turn until told to go or
 * HELD_PUB_MS passed. */
#define HELD_PUB_MS 200
struct held_pub {
	trp_exchange_t *ex;
	atomic_int published;
	atomic_int go;
};

static void held_pub_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct held_pub *h = state;
	(void)self;
	(void)msg;
	for (uint64_t seq = 1; seq <= 3; seq++)
		if (publish_seq(h->ex, 0, seq) != 0)
			note_error(TRP_EINVAL);
	atomic_store(&h->published, 1);
	int64_t until = now_ns() + (int64_t)HELD_PUB_MS * 1000000;
	while (atomic_load(&h->go) == 0 && now_ns() < until)
		sleep_us(100);
}

/*
 * A publish from a behaviour whose turn has not ended yet: once detach
 * returned, every delivery that publish made is in the sink's mailbox, so
 * a marker sent after detach arrives after them (the rule rt_exchange_churn
 * relies on for its FIN). A turn's exchange deliveries join its send
 * batches (publish.c), so detach returns only once the publishing turn
 * pushed them, at its end: the behaviour holds its turn for a bounded
 * time (a behaviour must not block; one that blocked for good would hold
 * the detach as long).
 */
static void test_detach_after_behaviour_publish(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	static struct order_log log;
	static struct held_pub hp;
	trp_actor_def_t sdef = { .behavior = order_behavior,
				 .mailbox_limit = TRP_MAILBOX_UNBOUNDED };
	trp_actor_def_t pdef = { .behavior = held_pub_behavior };
	trp_actor_t *sink = NULL, *pub = NULL;
	trp_sub_t sub;

	memset(&log, 0, sizeof log);
	memset(&hp, 0, sizeof hp);
	CHECK_OK(trp_exchange_create(rt, &ex));
	hp.ex = ex;
	CHECK_OK(trp_actor_spawn(rt, &sdef, &log, &sink));
	CHECK_OK(trp_actor_spawn(rt, &pdef, &hp, &pub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(sink), &sub));
	CHECK_OK(trp_send(pub, MSG_CTL, NULL, 0));
	while (atomic_load(&hp.published) == 0)
		sleep_us(100);
	CHECK_OK(trp_exchange_detach(ex, sub));
	CHECK_OK(trp_send(sink, MSG_CTL, NULL, 0));
	atomic_store(&hp.go, 1);
	settle(rt);
	assert_int_equal(atomic_load(&log.n), 4);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(log.what[i], i + 1);
	assert_int_equal(log.what[3], 0);

	trp_exchange_release(ex);
	trp_actor_release(sink);
	trp_actor_release(pub);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

/* Publishes 1..3, detaches the sink, sends it a marker, attaches and
 * detaches a callback sink and publishes 4 (to nobody), all in one turn. */
struct turn_detach {
	trp_exchange_t *ex;
	trp_actor_t *sink;
	trp_sub_t sub;
	atomic_int rc_detach, rc_attach, rc_detach2, done;
};

static void turn_detach_behavior(trp_actor_t *self, void *state,
				 const trp_msg_t *msg)
{
	struct turn_detach *t = state;
	trp_sub_t cb;
	(void)self;
	(void)msg;
	for (uint64_t seq = 1; seq <= 3; seq++)
		if (publish_seq(t->ex, 0, seq) != 0)
			note_error(TRP_EINVAL);
	atomic_store(&t->rc_detach, trp_exchange_detach(t->ex, t->sub));
	if (trp_send(t->sink, MSG_CTL, NULL, 0) != 0)
		note_error(TRP_EINVAL);
	atomic_store(&t->rc_attach,
		     trp_exchange_attach(
			     t->ex, trp_sink_callback(nop_callback, t), &cb));
	if (publish_seq(t->ex, 0, 4) != 0)
		note_error(TRP_EINVAL);
	atomic_store(&t->rc_detach2, trp_exchange_detach(t->ex, cb));
	atomic_store(&t->done, 1);
}

/*
 * Attach and detach from a behaviour that published earlier in the same
 * turn: they push the turn's held deliveries and end its read section
 * before waiting for a grace period (no TRP_EDEADLK, no wait for the own
 * turn), and the sink gets 1, 2, 3, then the marker, and not 4.
 */
static void test_detach_in_publishing_turn(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	static struct order_log log;
	static struct turn_detach td;
	trp_actor_def_t sdef = { .behavior = order_behavior };
	trp_actor_def_t pdef = { .behavior = turn_detach_behavior };
	trp_actor_t *pub = NULL;

	memset(&log, 0, sizeof log);
	memset(&td, 0, sizeof td);
	CHECK_OK(trp_exchange_create(rt, &ex));
	td.ex = ex;
	CHECK_OK(trp_actor_spawn(rt, &sdef, &log, &td.sink));
	CHECK_OK(trp_actor_spawn(rt, &pdef, &td, &pub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(td.sink), &td.sub));
	CHECK_OK(trp_send(pub, MSG_CTL, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&td.done), 1);
	assert_int_equal(atomic_load(&td.rc_detach), 0);
	assert_int_equal(atomic_load(&td.rc_attach), 0);
	assert_int_equal(atomic_load(&td.rc_detach2), 0);
	assert_int_equal(atomic_load(&log.n), 4);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(log.what[i], i + 1);
	assert_int_equal(log.what[3], 0);

	trp_exchange_release(ex);
	trp_actor_release(td.sink);
	trp_actor_release(pub);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

static int publish_seq_n(trp_exchange_t *ex, uint32_t pub, uint64_t first,
			 size_t n);

/* A publisher subscribed to its own exchange, mixing publishes with
 * plain sends and a self-send in one turn; it logs what it gets (MSG_SEQ:
 * the seq, MSG_DATA: 100, the trigger MSG_CTL: not logged). */
struct mix_pub {
	trp_exchange_t *ex;
	trp_actor_t *sink;
	struct order_log log;
};

static void mix_pub_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct mix_pub *p = state;
	unsigned i = atomic_load(&p->log.n);
	if (msg->type != MSG_CTL) {
		if (i < 16) {
			struct seqmsg sm;
			if (msg->type == MSG_SEQ && msg->size == sizeof sm)
				memcpy(&sm, msg->data, sizeof sm);
			else
				sm.seq = 100;
			p->log.what[i] = sm.seq;
			atomic_store(&p->log.n, i + 1);
		}
		return;
	}
	int rc = trp_send(p->sink, MSG_CTL, NULL, 0); /* the turn's first */
	rc |= publish_seq(p->ex, 0, 1);
	rc |= publish_seq(p->ex, 0, 2);
	rc |= trp_send(self, MSG_DATA, NULL, 0);
	rc |= trp_send(p->sink, MSG_CTL, NULL, 0);
	rc |= publish_seq(p->ex, 0, 3);
	rc |= publish_seq_n(p->ex, 0, 4, 2);
	rc |= publish_seq(p->ex, 0, 6);
	if (rc != 0)
		note_error(TRP_EINVAL);
}

/*
 * A turn's publishes are held back and sent together (publish.c), yet
 * every receiver gets the turn's messages in the order the behaviour made
 * them, published or sent: the sink 0, 1, 2, 0, 3, 4, 5, 6 (0: a plain
 * send); the publisher itself, subscribed, 1, 2, its self-send, 3 .. 6.
 */
static void test_publish_send_order(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	static struct order_log log;
	static struct mix_pub mp;
	trp_actor_def_t sdef = { .behavior = order_behavior };
	trp_actor_def_t pdef = { .behavior = mix_pub_behavior };
	trp_actor_t *pub = NULL;
	static const uint64_t want_sink[] = { 0, 1, 2, 0, 3, 4, 5, 6 };
	static const uint64_t want_pub[] = { 1, 2, 100, 3, 4, 5, 6 };

	memset(&log, 0, sizeof log);
	memset(&mp, 0, sizeof mp);
	CHECK_OK(trp_exchange_create(rt, &ex));
	mp.ex = ex;
	CHECK_OK(trp_actor_spawn(rt, &sdef, &log, &mp.sink));
	CHECK_OK(trp_actor_spawn(rt, &pdef, &mp, &pub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(mp.sink), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(pub), NULL));
	for (int round = 0; round < 50; round++) {
		memset(&log, 0, sizeof log);
		memset(&mp.log, 0, sizeof mp.log);
		CHECK_OK(trp_send(pub, MSG_CTL, NULL, 0));
		settle(rt);
		assert_int_equal(atomic_load(&log.n), 8);
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(log.what[i], want_sink[i]);
		assert_int_equal(atomic_load(&mp.log.n), 7);
		for (unsigned i = 0; i < 7; i++)
			assert_int_equal(mp.log.what[i], want_pub[i]);
	}

	trp_exchange_release(ex);
	trp_actor_release(mp.sink);
	trp_actor_release(pub);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* refused deliveries are counted                                      */

static void test_drops_full(void **unused)
{
	(void)unused;
	enum {
		LIMIT = 2,
		K = 20
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *rg = new_rec(), *rn = new_rec();
	rg->block_first = true;
	trp_actor_t *gate = spawn_rec_limit(rt, rg, LIMIT);
	trp_actor_t *norm = spawn_rec_limit(rt, rn, TRP_MAILBOX_UNBOUNDED);

	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(gate), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(norm), NULL));
	CHECK_OK(publish_seq(ex, 0, 1));
	while (atomic_load(&rg->entered) == 0)
		sleep_us(100);
	/* gate is stuck in its first message: its mailbox fills */
	for (uint64_t s = 2; s <= K; s++)
		CHECK_OK(publish_seq(ex, 0, s));
	trp_exchange_stats_t st = xstats(ex);
	assert_true(st.dropped_full >= K - 1 - LIMIT - 1);
	assert_true(st.dropped_full > 0);
	assert_int_equal(st.dropped_dead, 0);
	assert_conserved(ex, K, 2);
	atomic_store(&rg->release, 1);
	settle(rt);
	st = xstats(ex);
	assert_int_equal(atomic_load(&rn->n), K);
	/* what was accepted was processed */
	assert_int_equal(atomic_load(&rg->n) + atomic_load(&rn->n),
			 st.delivered);
	assert_int_equal(st.delivered + st.dropped_full, 2 * K);

	trp_exchange_release(ex);
	trp_actor_release(gate);
	trp_actor_release(norm);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(rg);
	free(rn);
	assert_no_behaviour_errors();
}

/* A stopped subscriber: the publish that finds it counts the drop and
 * detaches it before returning; later publishes do not see it; its id is
 * gone (TRP_ENOENT) and never handed out again. */
static void test_drops_dead(void **unused)
{
	(void)unused;
	enum {
		K = 5
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra = new_rec(), *rb = new_rec();
	trp_actor_t *a = spawn_rec(rt, ra), *b = spawn_rec(rt, rb);
	trp_sub_t sa, sb, sc;

	CHECK_OK(trp_exchange_get(rt, "dead", &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), &sa));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(b), &sb));
	CHECK_OK(publish_seq(ex, 0, 1));
	settle(rt);
	CHECK_OK(trp_actor_close(b));
	settle(rt);
	assert_false(trp_actor_alive(b));
	assert_int_equal(xstats(ex).subscribers, 2); /* nobody looked yet */
	CHECK_OK(publish_seq(ex, 0, 2));
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.dropped_dead, 1);
	assert_int_equal(st.subscribers, 1);
	for (uint64_t s = 3; s <= K + 1; s++)
		CHECK_OK(publish_seq(ex, 0, s));
	settle(rt);
	st = xstats(ex);
	assert_int_equal(st.published, K + 1);
	assert_int_equal(st.dropped_dead, 1);
	assert_int_equal(st.dropped_full, 0);
	assert_int_equal(st.dropped_other, 0);
	assert_int_equal(st.delivered, 2 + K);
	assert_int_equal(st.subscribers, 1);
	assert_int_equal(atomic_load(&ra->n), K + 1);
	assert_int_equal(atomic_load(&rb->n), 1);
	/* detached automatically: the id is gone */
	assert_int_equal(trp_exchange_detach(ex, sb), TRP_ENOENT);
	assert_int_equal(trp_exchange_detach(ex, sb), TRP_ENOENT);
	/* a stopped actor cannot come back; ids are not reused */
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(b), &sc),
			 TRP_EDEAD);
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(nop_callback, NULL),
				     &sc));
	assert_true(sc > sb && sb > sa);
	assert_int_equal(xstats(ex).subscribers, 2);
	CHECK_OK(trp_exchange_detach(ex, sc));
	CHECK_OK(trp_exchange_detach(ex, sa));
	assert_int_equal(xstats(ex).subscribers, 0);

	trp_exchange_release(ex);
	trp_actor_release(a);
	/* the exchange dropped its reference when it detached b: this is
	 * the last one (asan: b's memory must not leak) */
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
	assert_no_behaviour_errors();
}

/* An actor closed while it is still running a behaviour is stopping: sends
 * get TRP_EDEAD, so the next publish detaches it at once, and the messages
 * accepted before the close are still processed. */
static void test_auto_detach_closing(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *rg = new_rec(), *rn = new_rec();
	rg->block_first = true;
	trp_actor_t *gate = spawn_rec(rt, rg), *norm = spawn_rec(rt, rn);
	trp_sub_t sg;

	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(gate), &sg));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(norm), NULL));
	CHECK_OK(publish_seq(ex, 0, 1));
	while (atomic_load(&rg->entered) == 0)
		sleep_us(100);
	CHECK_OK(publish_seq(ex, 0, 2)); /* queued behind the blocked one */
	CHECK_OK(trp_actor_close(gate));
	assert_true(trp_actor_alive(gate)); /* still in its behaviour */
	CHECK_OK(publish_seq(ex, 0, 3));
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.dropped_dead, 1);
	assert_int_equal(st.subscribers, 1);
	assert_int_equal(trp_exchange_detach(ex, sg), TRP_ENOENT);
	atomic_store(&rg->release, 1);
	settle(rt);
	assert_false(trp_actor_alive(gate));
	assert_int_equal(atomic_load(&rg->n), 2);
	assert_int_equal(atomic_load(&rn->n), 3);
	st = xstats(ex);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(st.dropped_dead, 1);
	trp_stats_t rs;
	CHECK_OK(trp_runtime_stats(rt, &rs));
	assert_int_equal(rs.dead_lettered, 0);

	trp_exchange_release(ex);
	trp_actor_release(gate);
	trp_actor_release(norm);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(rg);
	free(rn);
	assert_no_behaviour_errors();
}

/* A callback sink of exchange x publishing to y. */
struct relay {
	trp_exchange_t *to;
};

static void relay_callback(void *ctx, const trp_msg_t *msg)
{
	struct relay *r = ctx;
	int rc = trp_exchange_publish(r->to, msg->type, msg->data, msg->size);
	if (rc != 0)
		note_error(rc);
}

/* Publishing from a behaviour. */
struct pub_state {
	trp_exchange_t *ex;
};

static void pub_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct pub_state *p = state;
	(void)self;
	int rc = trp_exchange_publish(p->ex, msg->type, msg->data, msg->size);
	if (rc != 0)
		note_error(rc);
}

/* Who else detaches stopped sinks: not a publish nested in a callback sink
 * (it cannot wait for a grace period), but the next publish from a thread
 * or a behaviour, and any attach or detach. */
static void test_auto_detach_where(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *x = NULL, *y = NULL, *z = NULL;
	struct rec *rl = new_rec(), *rd = new_rec();
	trp_actor_t *live = spawn_rec(rt, rl);
	trp_actor_t *d1 = spawn_rec(rt, rd), *d2 = spawn_rec(rt, rd),
		    *d3 = spawn_rec(rt, rd), *d4 = spawn_rec(rt, rd);
	struct relay relay;
	struct pub_state ps;
	trp_actor_t *pub = NULL;
	trp_sub_t s1, s2, s3, s4;

	CHECK_OK(trp_exchange_create(rt, &x));
	CHECK_OK(trp_exchange_create(rt, &y));
	CHECK_OK(trp_exchange_create(rt, &z));
	relay.to = y;
	CHECK_OK(trp_exchange_attach(
		x, trp_sink_callback(relay_callback, &relay), NULL));
	CHECK_OK(trp_exchange_attach(y, trp_sink_actor(live), NULL));
	CHECK_OK(trp_exchange_attach(y, trp_sink_actor(d1), &s1));
	CHECK_OK(trp_exchange_attach(y, trp_sink_actor(d2), &s2));
	CHECK_OK(trp_exchange_attach(z, trp_sink_actor(d3), &s3));
	CHECK_OK(trp_exchange_attach(z, trp_sink_actor(d4), &s4));
	CHECK_OK(trp_actor_close(d1));
	settle(rt);

	/* nested: counted, not detached */
	CHECK_OK(publish_seq(x, 0, 1));
	assert_int_equal(xstats(y).dropped_dead, 1);
	assert_int_equal(xstats(y).subscribers, 3);
	/* from a behaviour: detached when it is done */
	ps.ex = y;
	trp_actor_def_t def = { .behavior = pub_behavior };
	CHECK_OK(trp_actor_spawn(rt, &def, &ps, &pub));
	struct seqmsg sm = { 0, 0, 2 };
	CHECK_OK(trp_send(pub, MSG_SEQ, &sm, sizeof sm));
	settle(rt);
	assert_int_equal(xstats(y).dropped_dead, 2);
	assert_int_equal(xstats(y).subscribers, 2);
	assert_int_equal(trp_exchange_detach(y, s1), TRP_ENOENT);
	/* from the test thread */
	CHECK_OK(trp_actor_close(d2));
	settle(rt);
	CHECK_OK(publish_seq(y, 0, 3));
	assert_int_equal(xstats(y).dropped_dead, 3);
	assert_int_equal(xstats(y).subscribers, 1);
	assert_int_equal(trp_exchange_detach(y, s2), TRP_ENOENT);
	settle(rt);
	assert_int_equal(atomic_load(&rl->n), 3);

	/* attach and detach prune what they find stopped, unpublished */
	CHECK_OK(trp_actor_close(d3));
	settle(rt);
	CHECK_OK(trp_exchange_attach(z, trp_sink_callback(nop_callback, NULL),
				     NULL));
	assert_int_equal(xstats(z).subscribers, 2);
	assert_int_equal(trp_exchange_detach(z, s3), TRP_ENOENT);
	CHECK_OK(trp_actor_close(d4));
	settle(rt);
	/* detaching a sink that stopped but was not pruned yet: 0 */
	CHECK_OK(trp_exchange_detach(z, s4));
	assert_int_equal(xstats(z).subscribers, 1);
	assert_int_equal(xstats(z).dropped_dead, 0);

	trp_exchange_release(x);
	trp_exchange_release(y);
	trp_exchange_release(z);
	trp_actor_release(pub);
	trp_actor_release(live);
	trp_actor_release(d1);
	trp_actor_release(d2);
	trp_actor_release(d3);
	trp_actor_release(d4);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(rl);
	free(rd);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* scopes                                                              */

static void test_scope_functions(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra = new_rec(), *rb = new_rec(), *rcb = new_rec(),
		   *rd = new_rec();
	trp_actor_t *a = spawn_rec(rt, ra), *b = spawn_rec(rt, rb);
	trp_actor_t *dead = spawn_dead(rt, rd);
	trp_tap_t tap;

	trp_tap_init(&tap, NULL, "scope");
	CHECK_OK(trp_exchange_get(rt, "scope", &ex));
	trp_sink_t sinks[TRP_EXCHANGE_SCOPE_MAX + 1];
	sinks[0] = trp_sink_actor(a);
	sinks[1] = trp_sink_actor(b);
	sinks[2] = trp_sink_callback(rec_callback, rcb);
	sinks[3] = trp_sink_tap(&tap);

	trp_exchange_scope_t sc = trp_exchange_scope_enter(ex, sinks, 4);
	assert_int_equal(sc.rc, 0);
	assert_int_equal(sc.n, 4);
	assert_ptr_equal(sc.ex, ex);
	assert_int_equal(xstats(ex).subscribers, 4);
	CHECK_OK(publish_seq(ex, 0, 1));
	CHECK_OK(publish_seq(ex, 0, 2));
	trp_exchange_scope_exit(&sc);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_scope_exit(&sc); /* idempotent */
	CHECK_OK(publish_seq(ex, 0, 3));
	settle(rt);
	assert_int_equal(atomic_load(&ra->n), 2);
	assert_int_equal(atomic_load(&rb->n), 2);
	assert_int_equal(atomic_load(&rcb->n), 2);
	assert_int_equal(trp_tap_count(&tap), 2);
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.published, 3);
	assert_int_equal(st.delivered, 8);

	/* exactly TRP_EXCHANGE_SCOPE_MAX is fine (distinct sinks: the same
	 * one twice is TRP_EEXIST) */
	trp_tap_t taps[TRP_EXCHANGE_SCOPE_MAX + 1];
	for (int i = 0; i <= TRP_EXCHANGE_SCOPE_MAX; i++) {
		trp_tap_init(&taps[i], NULL, "scope");
		sinks[i] = trp_sink_tap(&taps[i]);
	}
	sc = trp_exchange_scope_enter(ex, sinks, TRP_EXCHANGE_SCOPE_MAX);
	assert_int_equal(sc.rc, 0);
	assert_int_equal(sc.n, TRP_EXCHANGE_SCOPE_MAX);
	assert_int_equal(xstats(ex).subscribers, TRP_EXCHANGE_SCOPE_MAX);
	trp_exchange_scope_exit(&sc);
	assert_int_equal(xstats(ex).subscribers, 0);

	/* too many sinks: EINVAL, nothing attached */
	sc = trp_exchange_scope_enter(ex, sinks, TRP_EXCHANGE_SCOPE_MAX + 1);
	assert_int_equal(sc.rc, TRP_EINVAL);
	assert_int_equal(sc.n, 0);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_scope_exit(&sc);

	/* all or none: a bad sink after good ones attaches nothing */
	unsigned long before = atomic_load(&ra->n);
	sinks[0] = trp_sink_actor(a);
	sinks[1] = trp_sink_callback(rec_callback, rcb);
	sinks[2] = trp_sink_actor(dead);
	sc = trp_exchange_scope_enter(ex, sinks, 3);
	assert_int_equal(sc.rc, TRP_EDEAD);
	assert_int_equal(sc.n, 0);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_scope_exit(&sc);
	sinks[2] = trp_sink_tap(NULL);
	sc = trp_exchange_scope_enter(ex, sinks, 3);
	assert_int_equal(sc.rc, TRP_EINVAL);
	assert_int_equal(sc.n, 0);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_scope_exit(&sc);
	CHECK_OK(publish_seq(ex, 0, 4));
	settle(rt);
	assert_int_equal(atomic_load(&ra->n), before);
	assert_int_equal(atomic_load(&rcb->n), 2);

	/* NULL exchange, NULL sinks */
	sc = trp_exchange_scope_enter(NULL, sinks, 1);
	assert_int_equal(sc.rc, TRP_EINVAL);
	assert_int_equal(sc.n, 0);
	trp_exchange_scope_exit(&sc);
	sc = trp_exchange_scope_enter(ex, NULL, 1);
	assert_int_equal(sc.rc, TRP_EINVAL);
	assert_int_equal(sc.n, 0);
	trp_exchange_scope_exit(&sc);

	/* closing under an open scope: the scope's exit is harmless */
	sc = trp_exchange_scope_enter(ex, sinks, 2);
	assert_int_equal(sc.rc, 0);
	CHECK_OK(trp_exchange_close(ex));
	trp_exchange_scope_exit(&sc);
	sc = trp_exchange_scope_enter(ex, sinks, 2);
	assert_int_equal(sc.rc, TRP_ECLOSED);
	assert_int_equal(sc.n, 0);
	trp_exchange_scope_exit(&sc);

	trp_exchange_release(ex);
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(dead);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
	free(rcb);
	free(rd);
	assert_no_behaviour_errors();
}

/* The macro: attached for the block, detached when it is left, also by
 * break / goto / return. */
static uint64_t macro_seq = 10;

static int scoped_publish(trp_exchange_t *ex, trp_actor_t *a, struct rec *cb,
			  bool early)
{
	TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_actor(a),
			   trp_sink_callback(rec_callback, cb));
	if (sub.rc != 0)
		return sub.rc;
	if (sub.n != 2)
		return -100;
	if (early)
		return publish_seq(ex, 0, ++macro_seq); /* detached on return */
	int rc = publish_seq(ex, 0, ++macro_seq);
	if (rc != 0)
		return rc;
	return publish_seq(ex, 0, ++macro_seq);
}

static void test_scope_macro(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *ra = new_rec(), *rcb = new_rec(), *rb = new_rec();
	trp_actor_t *a = spawn_rec(rt, ra), *b = spawn_rec(rt, rb);
	trp_tap_t tap;

	trp_tap_init(&tap, NULL, "macro");
	CHECK_OK(trp_exchange_get(rt, "macro", &ex));
	{
		TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_actor(a),
				   trp_sink_actor(b), trp_sink_tap(&tap));
		assert_int_equal(sub.rc, 0);
		assert_int_equal(sub.n, 3);
		assert_int_equal(xstats(ex).subscribers, 3);
		CHECK_OK(publish_seq(ex, 0, 1));
		CHECK_OK(publish_seq(ex, 0, 2));
	}
	assert_int_equal(xstats(ex).subscribers, 0);
	CHECK_OK(publish_seq(ex, 0, 3));
	for (int i = 0; i < 3; i++) {
		TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_tap(&tap));
		assert_int_equal(sub.rc, 0);
		assert_int_equal(xstats(ex).subscribers, 1);
		if (i == 1)
			break;
		CHECK_OK(publish_seq(ex, 0, 4));
	}
	assert_int_equal(xstats(ex).subscribers, 0);
	settle(rt);
	assert_int_equal(atomic_load(&ra->n), 2);
	assert_int_equal(atomic_load(&rb->n), 2);
	assert_int_equal(trp_tap_count(&tap), 2 + 1);

	assert_int_equal(scoped_publish(ex, a, rcb, true), 0);
	assert_int_equal(xstats(ex).subscribers, 0);
	assert_int_equal(scoped_publish(ex, a, rcb, false), 0);
	assert_int_equal(xstats(ex).subscribers, 0);
	CHECK_OK(publish_seq(ex, 0, 3));
	settle(rt);
	assert_int_equal(atomic_load(&rcb->n), 3);
	assert_int_equal(atomic_load(&ra->n), 5);

	/* too many sinks through the macro */
	{
		TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap),
				   trp_sink_tap(&tap), trp_sink_tap(&tap));
		assert_int_equal(sub.rc, TRP_EINVAL);
		assert_int_equal(sub.n, 0);
		assert_int_equal(xstats(ex).subscribers, 0);
	}
	assert_int_equal(xstats(ex).subscribers, 0);

	trp_exchange_release(ex);
	trp_actor_release(a);
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
	free(rcb);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* taps                                                                */

static unsigned count_occurrences(const char *hay, const char *needle)
{
	unsigned n = 0;
	size_t len = strlen(needle);
	for (const char *p = strstr(hay, needle); p != NULL;
	     p = strstr(p + len, needle))
		n++;
	return n;
}

static void test_tap(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_exchange_t *ex = NULL;
	trp_tap_t tap, quiet;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);

	memset(&tap, 0x77, sizeof tap);
	trp_tap_init(&tap, f, "TAPLABEL");
	assert_int_equal(trp_tap_count(&tap), 0);
	trp_tap_init(&quiet, NULL, "quiet");
	CHECK_OK(trp_exchange_get(rt, "tap", &ex));
	trp_sub_t st;
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap), &st));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&quiet), NULL));
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, "hello", 5));
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, "world", 5));
	static const uint8_t bin[4] = { 0, 1, 0xff, '\n' };
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, bin, sizeof bin));
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, NULL, 0));
	CHECK_OK(trp_exchange_detach(ex, st));
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, "after", 5));
	assert_int_equal(trp_tap_count(&tap), 4);
	assert_int_equal(trp_tap_count(&quiet), 5);
	assert_int_equal(fflush(f), 0);
	assert_non_null(text);
	/* the label before each message it saw, not after detach */
	assert_int_equal(count_occurrences(text, "TAPLABEL"), 4);
	assert_non_null(strstr(text, "hello"));
	assert_non_null(strstr(text, "world"));
	assert_null(strstr(text, "after"));
	fclose(f);
	free(text);

	/* to a real FILE as well */
	FILE *tf = tmpfile();
	assert_non_null(tf);
	trp_tap_t t2;
	trp_tap_init(&t2, tf, "second-tap");
	{
		TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_tap(&t2));
		assert_int_equal(sub.rc, 0);
		CHECK_OK(trp_exchange_publish(ex, MSG_DATA, "x", 1));
	}
	assert_int_equal(trp_tap_count(&t2), 1);
	assert_int_equal(fflush(tf), 0);
	rewind(tf);
	char line[512] = "";
	size_t got = fread(line, 1, sizeof line - 1, tf);
	line[got] = '\0';
	assert_non_null(strstr(line, "second-tap"));
	fclose(tf);

	trp_exchange_release(ex);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* sinks attached and publishes made from behaviours                   */

struct selfsub {
	trp_exchange_t *ex;
	trp_sub_t sub;
	atomic_int attached; /* 1 after attach, 2 after detach */
	atomic_ulong got;
	atomic_int rc;
};

static void selfsub_start(trp_actor_t *self, void *state)
{
	struct selfsub *s = state;
	int rc = trp_exchange_attach(s->ex, trp_sink_actor(self), &s->sub);
	if (rc != 0)
		atomic_store(&s->rc, rc);
	atomic_store(&s->attached, 1);
}

static void selfsub_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct selfsub *s = state;
	(void)self;
	if (msg->type == MSG_CTL) {
		int rc = trp_exchange_detach(s->ex, s->sub);
		if (rc != 0)
			atomic_store(&s->rc, rc);
		/* publishing from a behaviour, to nobody but the others */
		rc = trp_exchange_publish(s->ex, MSG_DATA, "bye", 3);
		if (rc != 0)
			atomic_store(&s->rc, rc);
		atomic_store(&s->attached, 2);
		return;
	}
	atomic_fetch_add(&s->got, 1);
}

/* ------------------------------------------------------------------ */
/* publish_n                                                           */

/* Publishes seqs first..first+n-1 of publisher @pub with one call. */
static int publish_seq_n(trp_exchange_t *ex, uint32_t pub, uint64_t first,
			 size_t n)
{
	struct seqmsg v[64];
	assert_true(n <= 64);
	for (size_t k = 0; k < n; k++)
		v[k] = (struct seqmsg){ pub, 0, first + k };
	return trp_exchange_publish_n(ex, MSG_SEQ, v, sizeof v[0], n);
}

/*
 * Every kind of sink gets every message of a publish_n, in order, mixed
 * with single publishes: unbounded actors (bundles), a bounded one (one
 * by one), a callback; then payloads of 0, 240 (the largest bundled) and
 * 241 and 1000 bytes (one message each, shared) arrive intact.
 */
static void test_publish_n(void **unused)
{
	(void)unused;
	enum {
		ROUNDS = 40,
		BURST = 50
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	struct rec *r[4];
	for (int i = 0; i < 4; i++)
		r[i] = new_rec();
	trp_actor_t *a = spawn_rec(rt, r[0]), *b = spawn_rec(rt, r[1]);
	trp_actor_t *c = spawn_rec_limit(rt, r[2], 100000);
	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(b), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(c), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(rec_callback, r[3]),
				     NULL));
	uint64_t seq = 1;
	for (int k = 0; k < ROUNDS; k++) {
		CHECK_OK(publish_seq_n(ex, 0, seq, BURST));
		seq += BURST;
		CHECK_OK(publish_seq(ex, 0, seq++));
	}
	settle(rt);
	uint64_t total = seq - 1;
	assert_conserved(ex, total, 4);
	assert_int_equal(xstats(ex).delivered, 4 * total);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(atomic_load(&r[i]->n), total);
		assert_int_equal(r[i]->got[0], total);
		assert_int_equal(r[i]->last[0], total);
		assert_int_equal(atomic_load(&r[i]->bad), 0);
	}
	assert_no_behaviour_errors();

	/* payload integrity, in a fresh exchange with one actor sink */
	static const size_t n_sizes[] = { 0, 240, 241, 1000 };
	enum {
		N = 3
	};
	static size_t expect[4 * N];
	struct rec *rd = new_rec();
	rd->expect_size = expect;
	trp_actor_t *d = spawn_rec(rt, rd);
	trp_exchange_t *ex2 = NULL;
	CHECK_OK(trp_exchange_create(rt, &ex2));
	CHECK_OK(trp_exchange_attach(ex2, trp_sink_actor(d), NULL));
	CHECK_OK(trp_exchange_attach(ex2, trp_sink_actor(a), NULL));
	uint32_t tag = 0;
	for (size_t i = 0; i < 4; i++) {
		uint8_t *buf = malloc(n_sizes[i] * N + 1);
		assert_non_null(buf);
		for (size_t k = 0; k < N; k++) {
			expect[tag] = n_sizes[i];
			fill_pattern(buf + k * n_sizes[i], n_sizes[i], tag++);
		}
		CHECK_OK(trp_exchange_publish_n(ex2, MSG_DATA,
						n_sizes[i] != 0 ? buf : NULL,
						n_sizes[i], N));
		free(buf);
	}
	settle(rt);
	assert_int_equal(atomic_load(&rd->n), 4 * N);
	assert_int_equal(atomic_load(&rd->bad), 0);
	for (size_t k = 0; k < N; k++)
		assert_null(rd->addr[k]); /* size 0: data is NULL */
	for (size_t k = N; k < 4 * N; k++)
		assert_int_equal((uintptr_t)rd->addr[k] & 15, 0);
	assert_conserved(ex2, 4 * N, 2);
	assert_no_behaviour_errors();

	trp_exchange_release(ex);
	trp_exchange_release(ex2);
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(c);
	trp_actor_release(d);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	for (int i = 0; i < 4; i++)
		free(r[i]);
	free(rd);
}

static void test_publish_n_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_exchange_t *ex = NULL;
	struct rec *ra = new_rec(), *rb = new_rec();
	trp_actor_t *a = spawn_rec(rt, ra);
	trp_actor_t *dead = spawn_rec(rt, rb);
	struct seqmsg v[2] = { { 0, 0, 1 }, { 0, 0, 2 } };

	CHECK_OK(trp_exchange_create(rt, &ex));
	assert_int_equal(trp_exchange_publish_n(NULL, MSG_SEQ, v, sizeof v[0],
						2),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_publish_n(ex, MSG_SEQ, NULL, sizeof v[0],
						2),
			 TRP_EINVAL);
	assert_int_equal(trp_exchange_publish_n(ex, MSG_SEQ, v, TRP_MSG_MAX + 1,
						2),
			 TRP_EMSGSIZE);
	if (sizeof(size_t) > sizeof(uint32_t))
		assert_int_equal(trp_exchange_publish_n(ex, MSG_SEQ, v,
							sizeof v[0],
							(size_t)UINT32_MAX + 1),
				 TRP_EINVAL);
	CHECK_OK(trp_exchange_publish_n(ex, MSG_SEQ, v, sizeof v[0], 0));
	CHECK_OK(trp_exchange_publish_n(ex, MSG_SEQ, NULL, 0, 0));
	assert_int_equal(xstats(ex).published, 0);

	/* a stopped actor sink: all n counted as dropped, then detached */
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(dead), NULL));
	CHECK_OK(trp_actor_close(dead));
	settle(rt);
	assert_false(trp_actor_alive(dead));
	CHECK_OK(trp_exchange_publish_n(ex, MSG_SEQ, v, sizeof v[0], 2));
	settle(rt);
	trp_exchange_stats_t st = xstats(ex);
	assert_int_equal(st.published, 2);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.dropped_dead, 2);
	assert_int_equal(st.subscribers, 1);
	assert_int_equal(atomic_load(&ra->n), 2);

	CHECK_OK(trp_exchange_close(ex));
	assert_int_equal(trp_exchange_publish_n(ex, MSG_SEQ, v, sizeof v[0], 2),
			 TRP_ECLOSED);
	trp_exchange_release(ex);
	trp_actor_release(a);
	trp_actor_release(dead);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
	assert_no_behaviour_errors();
}

/*
 * Actor sinks of one publish_n share one copy of the entries. A sink that
 * stops in the middle of them (short turns, batch 3: it goes on from the
 * middle of the block in later turns first) leaves the rest to the dead
 * letters; the other sink still gets all of them; under ASan, the shared
 * block is freed exactly once whoever lets go of it last.
 */
static atomic_long shared_dead;

static void count_dead(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
		       trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)why;
	struct seqmsg m;
	if (msg->size == sizeof m && msg->data != NULL)
		atomic_fetch_add(&shared_dead, 1);
}

static void stop_at_5(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct rec *r = state;
	rec_take(r, msg);
	if (atomic_load(&r->n) == 5) {
		int rc = trp_actor_stop(self);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_publish_n_shared_stop(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = 3;
	cfg.dead_letter = count_dead;
	trp_runtime_t *rt = NULL;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	atomic_store(&shared_dead, 0);
	struct rec *ra = new_rec(), *rb = new_rec();
	trp_actor_def_t def = { .behavior = stop_at_5 };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, ra, &a));
	trp_actor_t *b = spawn_rec(rt, rb);
	trp_exchange_t *ex = NULL;
	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(b), NULL));
	CHECK_OK(publish_seq_n(ex, 0, 1, 20));
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&ra->n), 5);
	assert_int_equal(ra->last[0], 5);
	assert_int_equal(atomic_load(&rb->n), 20);
	assert_int_equal(rb->last[0], 20);
	assert_int_equal(atomic_load(&shared_dead), 15);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, 40);
	assert_int_equal(st.processed, 25);
	assert_int_equal(st.dead_lettered, 15);
	trp_exchange_release(ex);
	trp_actor_release(a);
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
}

/*
 * A behaviour sends seqs 1..3 to R (2 and 3 may be held back until its
 * turn ends, actor.h), publishes 4..10 to an exchange R is attached to,
 * publishes 11 and sends 12: R sees 1..12 in order - a publish does not
 * overtake what the same turn sent before it.
 */
struct order_pub {
	trp_actor_t *to;
	trp_exchange_t *ex;
};

static void order_pub_behavior(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	(void)self;
	(void)msg;
	struct order_pub *o = state;
	int rc = 0;
	for (uint64_t s = 1; s <= 3 && rc == 0; s++) {
		struct seqmsg m = { 0, 0, s };
		rc = trp_send(o->to, MSG_SEQ, &m, sizeof m);
	}
	if (rc == 0)
		rc = publish_seq_n(o->ex, 0, 4, 7);
	if (rc == 0)
		rc = publish_seq(o->ex, 0, 11);
	if (rc == 0) {
		struct seqmsg m = { 0, 0, 12 };
		rc = trp_send(o->to, MSG_SEQ, &m, sizeof m);
	}
	if (rc != 0)
		note_error(rc);
}

static void test_publish_n_after_sends(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	for (int round = 0; round < 20; round++) {
		struct rec *r = new_rec();
		trp_actor_t *to = spawn_rec(rt, r);
		trp_exchange_t *ex = NULL;
		CHECK_OK(trp_exchange_create(rt, &ex));
		CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(to), NULL));
		struct order_pub o = { to, ex };
		trp_actor_def_t def = { .behavior = order_pub_behavior,
					.state_size = sizeof o };
		trp_actor_t *p;
		CHECK_OK(trp_actor_spawn(rt, &def, &o, &p));
		CHECK_OK(trp_send(p, MSG_CTL, NULL, 0));
		settle(rt);
		assert_no_behaviour_errors();
		assert_int_equal(atomic_load(&r->n), 12);
		assert_int_equal(r->last[0], 12);
		assert_int_equal(atomic_load(&r->bad), 0);
		trp_exchange_release(ex);
		trp_actor_release(p);
		trp_actor_release(to);
		free(r);
	}
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_from_behaviours(void **unused)
{
	(void)unused;
	enum {
		N = 4
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL;
	static struct selfsub ss[N];
	trp_actor_t *h[N];
	trp_actor_def_t def = { .behavior = selfsub_behavior,
				.start = selfsub_start };

	CHECK_OK(trp_exchange_get(rt, "selfsub", &ex));
	for (int i = 0; i < N; i++) {
		memset(&ss[i], 0, sizeof ss[i]);
		ss[i].ex = ex;
		CHECK_OK(trp_actor_spawn(rt, &def, &ss[i], &h[i]));
	}
	settle(rt);
	assert_int_equal(xstats(ex).subscribers, N);
	CHECK_OK(trp_exchange_publish(ex, MSG_DATA, "hi", 2));
	settle(rt);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&ss[i].got), 1);
	/* each detaches itself, then publishes "bye" to the rest, in turn */
	for (int i = 0; i < N; i++) {
		CHECK_OK(trp_send(h[i], MSG_CTL, NULL, 0));
		settle(rt);
		assert_int_equal(atomic_load(&ss[i].attached), 2);
		assert_int_equal(atomic_load(&ss[i].rc), 0);
	}
	/* actor i saw "hi" plus the byes of 0..i-1 */
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&ss[i].got), 1 + (unsigned)i);
	assert_int_equal(xstats(ex).subscribers, 0);
	trp_exchange_release(ex);
	for (int i = 0; i < N; i++)
		trp_actor_release(h[i]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* runtime destroyed with exchanges open                               */

struct count_ctx {
	atomic_ulong n;
};

static void count_callback(void *ctx, const trp_msg_t *msg)
{
	struct count_ctx *c = ctx;
	(void)msg;
	atomic_fetch_add(&c->n, 1);
}

/* ------------------------------------------------------------------ */
/* the same sink twice                                                 */

/*
 * One sink attached twice to one exchange would get every message twice:
 * the second attach is refused with TRP_EEXIST ("same" is same kind and
 * target: the actor, the callback's fn and ctx, the tap), also among the
 * sinks of one scope (all or none). After a detach the sink may come
 * back. (Before, the second attach returned 0 and the actor got each
 * message twice.)
 */
static void test_same_sink_twice(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *ex = NULL, *other = NULL;
	struct rec *ra = new_rec(), *rb = new_rec();
	trp_actor_t *a = spawn_rec(rt, ra), *b = spawn_rec(rt, rb);
	struct count_ctx c1 = { 0 }, c2 = { 0 };
	trp_tap_t tap, tap2;
	trp_sub_t sub = 0, again = 12345;

	trp_tap_init(&tap, NULL, "same");
	trp_tap_init(&tap2, NULL, "same2");
	CHECK_OK(trp_exchange_create(rt, &ex));
	CHECK_OK(trp_exchange_create(rt, &other));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), &sub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(count_callback, &c1),
				     NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap), NULL));
	assert_int_equal(xstats(ex).subscribers, 3);

	/* the same sinks again: refused, *sub untouched */
	assert_int_equal(trp_exchange_attach(ex, trp_sink_actor(a), &again),
			 TRP_EEXIST);
	assert_int_equal(again, 12345);
	assert_int_equal(
		trp_exchange_attach(ex, trp_sink_callback(count_callback, &c1),
				    &again),
		TRP_EEXIST);
	assert_int_equal(trp_exchange_attach(ex, trp_sink_tap(&tap), &again),
			 TRP_EEXIST);
	assert_int_equal(again, 12345);
	assert_int_equal(xstats(ex).subscribers, 3);

	/* different targets are different sinks: same fn with another
	 * ctx, another tap, another actor; the same sink on another
	 * exchange */
	CHECK_OK(trp_exchange_attach(ex, trp_sink_callback(count_callback, &c2),
				     NULL));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_tap(&tap2), NULL));
	CHECK_OK(trp_exchange_attach(other, trp_sink_actor(a), NULL));
	assert_int_equal(xstats(ex).subscribers, 5);

	/* within one scope, and a scope with one sink attached already:
	 * nothing of it is attached */
	const trp_sink_t twice[2] = { trp_sink_actor(b), trp_sink_actor(b) };
	trp_exchange_scope_t s = trp_exchange_scope_enter(ex, twice, 2);
	assert_int_equal(s.rc, TRP_EEXIST);
	assert_int_equal(s.n, 0);
	const trp_sink_t one_old[2] = { trp_sink_actor(b), trp_sink_actor(a) };
	s = trp_exchange_scope_enter(ex, one_old, 2);
	assert_int_equal(s.rc, TRP_EEXIST);
	assert_int_equal(s.n, 0);
	trp_exchange_scope_exit(&s);
	assert_int_equal(xstats(ex).subscribers, 5);

	/* every sink gets each message once */
	CHECK_OK(trp_exchange_publish(ex, MSG_CTL, "x", 1));
	settle(rt);
	assert_int_equal(atomic_load(&ra->n), 1);
	assert_int_equal(atomic_load(&rb->n), 0);
	assert_int_equal(atomic_load(&c1.n), 1);
	assert_int_equal(atomic_load(&c2.n), 1);
	assert_int_equal(trp_tap_count(&tap), 1);
	assert_int_equal(trp_tap_count(&tap2), 1);
	assert_int_equal(xstats(ex).delivered, 5);

	/* detached, it may come back */
	CHECK_OK(trp_exchange_detach(ex, sub));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), &again));
	assert_true(again != sub);
	CHECK_OK(trp_exchange_publish(ex, MSG_CTL, "y", 1));
	settle(rt);
	assert_int_equal(atomic_load(&ra->n), 2);

	trp_exchange_release(ex);
	trp_exchange_release(other);
	trp_actor_release(a);
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(ra);
	free(rb);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* many names                                                          */

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a,
		  y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

/* 10^4 named exchanges (the directory grows many times), with anonymous
 * ones created and released in between: every name keeps its exchange,
 * through releases of every handle, until the runtime is destroyed. */
static void test_many_names(void **unused)
{
	(void)unused;
	enum {
		N = 10000
	};
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t **ex = calloc(N, sizeof *ex), **sorted;
	trp_exchange_t *anon_first = NULL, *anon = NULL, *again = NULL;
	char name[32];
	assert_non_null(ex);

	/* an anonymous exchange older than every name */
	CHECK_OK(trp_exchange_create(rt, &anon_first));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "ex.%d", i);
		CHECK_OK(trp_exchange_get(rt, name, &ex[i]));
		CHECK_OK(trp_exchange_get(rt, name, &again));
		assert_ptr_equal(again, ex[i]);
		trp_exchange_release(again);
		if (i % 1000 == 0) {
			/* newest on the runtime's list, then gone */
			CHECK_OK(trp_exchange_create(rt, &anon));
			trp_exchange_release(anon);
		}
	}
	sorted = malloc(N * sizeof *sorted);
	assert_non_null(sorted);
	memcpy(sorted, ex, N * sizeof *sorted);
	qsort(sorted, N, sizeof *sorted, cmp_ptr);
	for (int i = 1; i < N; i++)
		assert_ptr_not_equal(sorted[i], sorted[i - 1]);
	free(sorted);

	/* every handle released: the names still hold the exchanges */
	trp_exchange_release(anon_first);
	for (int i = 0; i < N; i++)
		trp_exchange_release(ex[i]);
	for (int i = N - 1; i >= 0; i--) {
		snprintf(name, sizeof name, "ex.%d", i);
		CHECK_OK(trp_exchange_get(rt, name, &again));
		assert_ptr_equal(again, ex[i]);
		trp_exchange_release(again);
	}
	/* and they work */
	struct count_ctx cc = { 0 };
	CHECK_OK(trp_exchange_get(rt, "ex.4242", &again));
	CHECK_OK(trp_exchange_attach(
		again, trp_sink_callback(count_callback, &cc), NULL));
	trp_exchange_release(again);
	CHECK_OK(trp_exchange_get(rt, "ex.4242", &again));
	CHECK_OK(trp_exchange_publish(again, MSG_CTL, "x", 1));
	assert_int_equal(atomic_load(&cc.n), 1);
	assert_int_equal(xstats(again).subscribers, 1);
	/* a new name after all that */
	trp_exchange_t *late = NULL;
	CHECK_OK(trp_exchange_get(rt, "ex.late", &late));
	assert_ptr_not_equal(late, again);
	trp_exchange_release(late);

	/* destroy closes all of them; a handle held across it still works */
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	int rc = trp_exchange_publish(again, MSG_CTL, "x", 1);
	assert_true(rc == TRP_ECLOSED || rc == TRP_ESHUTDOWN);
	assert_int_equal(atomic_load(&cc.n), 1);
	assert_int_equal(xstats(again).subscribers, 0);
	trp_exchange_release(again);
	free(ex);
	assert_no_behaviour_errors();
}

static void test_destroy_with_open_exchanges(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_exchange_t *named = NULL, *anon = NULL, *unheld = NULL;
	struct rec *r1 = new_rec(), *r2 = new_rec();
	trp_actor_t *a1 = spawn_rec(rt, r1), *a2 = spawn_rec(rt, r2);
	struct count_ctx cc = { 0 };
	trp_tap_t tap;
	static uint8_t big[1000];

	trp_tap_init(&tap, NULL, "destroy");
	CHECK_OK(trp_exchange_get(rt, "held", &named));
	CHECK_OK(trp_exchange_create(rt, &anon));
	CHECK_OK(trp_exchange_get(rt, "unheld", &unheld));
	trp_exchange_t *xs[3] = { named, anon, unheld };
	for (int i = 0; i < 3; i++) {
		CHECK_OK(trp_exchange_attach(xs[i], trp_sink_actor(a1), NULL));
		CHECK_OK(trp_exchange_attach(xs[i], trp_sink_actor(a2), NULL));
		CHECK_OK(trp_exchange_attach(
			xs[i], trp_sink_callback(count_callback, &cc), NULL));
		CHECK_OK(trp_exchange_attach(xs[i], trp_sink_tap(&tap), NULL));
		CHECK_OK(publish_seq(xs[i], (uint32_t)i, 1));
		/* leave shared payloads in flight too */
		CHECK_OK(trp_exchange_publish(xs[i], MSG_CTL, big, sizeof big));
	}
	trp_exchange_release(unheld); /* only the name holds it now */
	unsigned long cb_before = atomic_load(&cc.n);
	unsigned long long tap_before = trp_tap_count(&tap);
	assert_int_equal(cb_before, 6);
	uint64_t delivered_before[2] = { xstats(named).delivered,
					 xstats(anon).delivered };
	assert_int_equal(delivered_before[0], 2 * 4);

	(void)api_destroy_balanced(rt);

	/* The handles still work: errors or counted drops, no delivery to
	 * a sink (destroy closed the exchanges and detached them). */
	for (int h = 0; h < 2; h++) {
		trp_exchange_t *ex = h == 0 ? named : anon;
		int rc = publish_seq(ex, 9, 2);
		if (rc != 0) {
			assert_true(rc == TRP_ECLOSED || rc == TRP_ESHUTDOWN);
		} else {
			/* accepted, but reached nobody */
			assert_int_equal(xstats(ex).delivered,
					 delivered_before[h]);
		}
		rc = trp_exchange_publish(ex, MSG_CTL, big, sizeof big);
		assert_true(rc == 0 || rc == TRP_ECLOSED ||
			    rc == TRP_ESHUTDOWN);
		rc = trp_exchange_attach(ex, trp_sink_tap(&tap), NULL);
		assert_true(rc == TRP_ECLOSED || rc == TRP_ESHUTDOWN);
		rc = trp_exchange_attach(ex, trp_sink_actor(a1), NULL);
		assert_true(rc == TRP_ECLOSED || rc == TRP_ESHUTDOWN ||
			    rc == TRP_EDEAD);
		trp_exchange_stats_t st;
		CHECK_OK(trp_exchange_stats(ex, &st));
		assert_int_equal(st.subscribers, 0);
		rc = trp_exchange_close(ex);
		assert_true(rc == TRP_ECLOSED);
		assert_int_equal(trp_exchange_detach(ex, 1), TRP_ENOENT);
	}
	assert_int_equal(atomic_load(&cc.n), cb_before);
	assert_int_equal(trp_tap_count(&tap), tap_before);

	assert_ptr_equal(trp_exchange_retain(named), named);
	trp_exchange_release(named);
	trp_exchange_release(named);
	trp_exchange_release(anon);
	trp_actor_release(a1);
	trp_actor_release(a2);
	free(r1);
	free(r2);
	assert_no_behaviour_errors();
}

/* Destroy while an outside thread keeps publishing through its handle. */
static void test_destroy_while_publishing(void **unused)
{
	(void)unused;
	for (int round = 0; round < 20; round++) {
		trp_runtime_t *rt = make_rt(2);
		trp_exchange_t *ex = NULL;
		struct rec *r = new_rec();
		trp_actor_t *a = spawn_rec(rt, r);
		struct count_ctx cc = { 0 };
		struct spin_pub sp;

		CHECK_OK(trp_exchange_get(rt, "racing", &ex));
		CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(a), NULL));
		CHECK_OK(trp_exchange_attach(
			ex, trp_sink_callback(count_callback, &cc), NULL));
		memset(&sp, 0, sizeof sp);
		sp.ex = ex;
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, spin_publisher, &sp),
				 0);
		while (atomic_load(&cc.n) < 100)
			sched_yield();
		(void)api_destroy_balanced(rt);
		unsigned long after_destroy = atomic_load(&cc.n);
		/* let it run into the closed exchange, or stop it */
		for (int i = 0; i < 100 && atomic_load(&sp.rc) == 0; i++)
			sleep_us(100);
		atomic_store(&sp.stop, 1);
		pthread_join(th, NULL);
		int src = atomic_load(&sp.rc);
		assert_true(src == 0 || src == TRP_ECLOSED ||
			    src == TRP_ESHUTDOWN);
		/* destroy closed the exchange: no callback after it */
		assert_int_equal(atomic_load(&cc.n), after_destroy);
		trp_exchange_release(ex);
		trp_actor_release(a);
		free(r);
	}
	assert_no_behaviour_errors();
}

int main(void)
{
	alarm(110);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_and_names),
		cmocka_unit_test(test_create_retain_release),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_one_copy_per_sink),
		cmocka_unit_test(test_payload_sizes),
		cmocka_unit_test(test_shared_payload_dead_lettered),
		cmocka_unit_test(test_publisher_order),
		cmocka_unit_test(test_membership_exact),
		cmocka_unit_test(test_detach_then_free_context),
		cmocka_unit_test(test_detach_after_behaviour_publish),
		cmocka_unit_test(test_detach_in_publishing_turn),
		cmocka_unit_test(test_publish_send_order),
		cmocka_unit_test(test_drops_full),
		cmocka_unit_test(test_drops_dead),
		cmocka_unit_test(test_auto_detach_closing),
		cmocka_unit_test(test_auto_detach_where),
		cmocka_unit_test(test_scope_functions),
		cmocka_unit_test(test_scope_macro),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_publish_n),
		cmocka_unit_test(test_publish_n_errors),
		cmocka_unit_test(test_publish_n_after_sends),
		cmocka_unit_test(test_publish_n_shared_stop),
		cmocka_unit_test(test_from_behaviours),
		cmocka_unit_test(test_same_sink_twice),
		cmocka_unit_test(test_many_names),
		cmocka_unit_test(test_destroy_with_open_exchanges),
		cmocka_unit_test(test_destroy_while_publishing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
