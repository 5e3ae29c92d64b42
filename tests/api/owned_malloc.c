/*
 * tests/api/owned_malloc.c - trp_send_owned() with buffers from the C
 * library's allocator, freed by the runtime: with free_fn NULL the runtime
 * must free them with the free() the application's malloc() pairs with,
 * never with an allocator private to troupe (issue 10: libtroupe.so freed
 * them with its own jemalloc and crashed).
 *
 * Buffers come from malloc, calloc, realloc, aligned_alloc and
 * posix_memalign, in sizes from 1 byte to past glibc's mmap threshold, and
 * are handed over from outside threads, from behaviours (allocated on one
 * worker, freed on another), to the sender itself, to a thread actor, and
 * into dead letters (a stopped receiver, a destroyed runtime). A user
 * free_fn is called once per accepted buffer, mixed with NULL ones in one
 * stream. Each buffer carries (sequence, size, kind) and is checked when
 * received.
 *
 * ctest runs this file twice: api.owned_malloc (libtroupe.a) and
 * api_shared.owned_malloc (libtroupe.so). Before the fix the shared run
 * crashed in the runtime's free; under ASan a mismatched free is reported.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

/* Messages per scenario; the sender keeps at most WINDOW in flight so the
 * large buffers never pile up (at most WINDOW * 300 KB). */
#define N 1200
#define WINDOW 64

enum {
	T_DATA = 1,
	T_TRIGGER,
	T_STOP,
	T_BLOCK
};

/* Sizes across jemalloc's small and large classes and glibc's mmap
 * threshold (128 KiB by default). */
static const size_t sizes[] = { 1,   8,	   16,	  48,	 64,	100,
				240, 256,  1000,  4096,	 20000, 70000,
				8,   4096, 65536, 300000 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

enum kind {
	K_MALLOC,
	K_CALLOC,
	K_REALLOC,
	K_ALIGNED,
	K_POSIX,
	K_KINDS
};

struct hdr {
	uint32_t magic;
	uint32_t seq;
};
#define MAGIC 0x0a110c8du

static size_t size_of(uint32_t seq)
{
	return sizes[seq % NSIZES];
}

/* A buffer of size_of(seq) bytes from the allocator @seq picks, stamped
 * with seq; NULL only if the C library is out of memory. */
static void *make_buf(uint32_t seq)
{
	size_t n = size_of(seq);
	void *p = NULL;
	switch ((enum kind)(seq / NSIZES % K_KINDS)) {
	case K_MALLOC:
		p = malloc(n);
		break;
	case K_CALLOC:
		p = calloc(1, n);
		break;
	case K_REALLOC:
		p = malloc(1);
		if (p != NULL) {
			void *q = realloc(p, n);
			if (q == NULL)
				free(p);
			p = q;
		}
		break;
	case K_ALIGNED: /* size must be a multiple of the alignment */
		p = aligned_alloc(64, (n + 63) & ~(size_t)63);
		break;
	case K_POSIX:
		if (posix_memalign(&p, 256, n) != 0)
			p = NULL;
		break;
	case K_KINDS:
		break;
	}
	if (p == NULL)
		return NULL;
	unsigned char *b = p;
	/* The header if it fits, the last byte if it is not the header's. */
	if (n >= sizeof(struct hdr)) {
		struct hdr h = { MAGIC, seq };
		memcpy(b, &h, sizeof h);
	}
	if (n != sizeof(struct hdr))
		b[n - 1] = (unsigned char)seq;
	return p;
}

static bool buf_ok(const trp_msg_t *msg, uint32_t seq)
{
	size_t n = size_of(seq);
	const unsigned char *b = msg->data;
	if (msg->size != n || b == NULL)
		return false;
	if (n != sizeof(struct hdr) && b[n - 1] != (unsigned char)seq)
		return false;
	if (n >= sizeof(struct hdr)) {
		struct hdr h;
		memcpy(&h, b, sizeof h);
		if (h.magic != MAGIC || h.seq != seq)
			return false;
	}
	return true;
}

/* The sequence number travels in the message type's upper bits. */
static uint32_t type_of(uint32_t kind, uint32_t seq)
{
	return kind | seq << 4;
}

/* ------------------------------------------------------------------ */
/* runtime, dead letters, user free_fn                                 */

static atomic_long dead[TRP_DEAD_REASONS];
static atomic_int dead_bad;

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	if (why <= 0 || why >= TRP_DEAD_REASONS) {
		atomic_fetch_add(&dead_bad, 1);
		return;
	}
	atomic_fetch_add(&dead[why], 1);
	/* Owned buffers are still intact when the hook sees them. */
	if ((msg->type & 15) == T_DATA && !buf_ok(msg, msg->type >> 4))
		atomic_fetch_add(&dead_bad, 1);
}

static trp_runtime_t *make_rt(uint32_t workers)
{
	for (int i = 0; i < TRP_DEAD_REASONS; i++)
		atomic_store(&dead[i], 0);
	atomic_store(&dead_bad, 0);
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = workers;
	cfg.dead_letter = dead_letter_hook;
	trp_runtime_t *rt = NULL;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	return rt;
}

/* Destroys @rt and checks that every accepted message was processed or
 * dead-lettered (api_destroy_balanced). */
static trp_stats_t destroy(trp_runtime_t *rt)
{
	trp_stats_t st = api_destroy_balanced(rt);
	assert_int_equal(atomic_load(&dead_bad), 0);
	assert_no_behaviour_errors();
	return st;
}

static atomic_long user_frees;
static void user_free(void *p)
{
	atomic_fetch_add(&user_frees, 1);
	free(p);
}

/* ------------------------------------------------------------------ */
/* actors                                                              */

/* Checks each T_DATA buffer; counts them. */
struct sink {
	atomic_long got;
};

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct sink *s = state;
	if ((msg->type & 15) == T_DATA && !buf_ok(msg, msg->type >> 4))
		note_error(TRP_EINVAL);
	atomic_fetch_add(&s->got, 1);
}

/* Sends @seq's buffer to @to with @fn; on refusal frees it itself. */
static int send_buf(trp_actor_t *to, uint32_t seq, trp_free_fn fn)
{
	void *p = make_buf(seq);
	if (p == NULL)
		return TRP_ENOMEM;
	int rc = trp_send_owned(to, type_of(T_DATA, seq), p, size_of(seq), fn);
	if (rc != 0)
		free(p); /* refused: still ours */
	return rc;
}

/* Sends N buffers (from @first) to @to, at most WINDOW ahead of @done. */
static void send_window(trp_actor_t *to, uint32_t first, trp_free_fn fn,
			atomic_long *done, long done_base)
{
	for (uint32_t i = 0; i < N; i++) {
		if (i >= WINDOW)
			assert_true(wait_for(done, done_base + i - WINDOW));
		CHECK_OK(send_buf(to, first + i, fn));
	}
}

/* ------------------------------------------------------------------ */
/* from outside threads                                                */

struct outside {
	trp_actor_t *to;
	uint32_t first;
	atomic_long *done;
	atomic_int failed;
};

static void *outside_sender(void *arg)
{
	struct outside *o = arg;
	for (uint32_t i = 0; i < N; i++) {
		if (i >= WINDOW && !wait_for(o->done, (long)i - WINDOW)) {
			atomic_store(&o->failed, TRP_ETIMEDOUT);
			break;
		}
		int rc = send_buf(o->to, o->first + i, NULL);
		if (rc != 0) {
			atomic_store(&o->failed, rc);
			break;
		}
	}
	return NULL;
}

/* Two outside threads and the test thread, free_fn NULL. */
static void test_outside_default_free(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct sink s = { 0 };
	trp_actor_def_t def = { .behavior = sink_behavior };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, &s, &a));

	struct outside o[2] = { { a, 0, &s.got, 0 }, { a, N, &s.got, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, outside_sender, &o[i]), 0);
	send_window(a, 2 * N, NULL, &s.got, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(atomic_load(&o[i].failed), 0);
	}
	settle(rt);
	assert_int_equal(atomic_load(&s.got), 3 * N);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	trp_stats_t st = destroy(rt);
	assert_int_equal(st.processed, 3 * N);
}

/* A user free_fn and NULL alternate in one stream: each buffer is freed
 * once, by the function it was sent with. */
static void test_user_free_fn(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct sink s = { 0 };
	trp_actor_def_t def = { .behavior = sink_behavior };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, &s, &a));
	atomic_store(&user_frees, 0);

	for (uint32_t i = 0; i < N; i++) {
		if (i >= WINDOW)
			assert_true(wait_for(&s.got, (long)i - WINDOW));
		CHECK_OK(send_buf(a, i, i % 2 ? user_free : NULL));
	}
	settle(rt);
	assert_int_equal(atomic_load(&s.got), N);
	assert_int_equal(atomic_load(&user_frees), N / 2);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	destroy(rt);
	assert_int_equal(atomic_load(&user_frees), N / 2);
}

/* ------------------------------------------------------------------ */
/* from behaviours                                                     */

/* On T_TRIGGER seq: allocates seq's buffer on this worker and hands it to
 * the sink and (another buffer) to itself; checks its own on arrival. */
struct relay {
	trp_actor_t *sink;
	atomic_long triggers;
	atomic_long own;
};

static void relay_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct relay *r = state;
	uint32_t seq = msg->type >> 4;
	switch (msg->type & 15) {
	case T_TRIGGER: {
		int rc = send_buf(r->sink, seq, NULL);
		if (rc == 0)
			rc = send_buf(self, seq + 1, NULL);
		if (rc != 0)
			note_error(rc);
		atomic_fetch_add(&r->triggers, 1);
		break;
	}
	case T_DATA:
		if (!buf_ok(msg, seq))
			note_error(TRP_EINVAL);
		atomic_fetch_add(&r->own, 1);
		break;
	default:
		note_error(TRP_EINVAL);
	}
}

static void test_behaviour_default_free(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct sink s = { 0 };
	struct relay r = { 0 };
	trp_actor_def_t sdef = { .behavior = sink_behavior };
	trp_actor_def_t rdef = { .behavior = relay_behavior };
	trp_actor_t *sink, *relay;
	CHECK_OK(trp_actor_spawn(rt, &sdef, &s, &sink));
	r.sink = sink;
	CHECK_OK(trp_actor_spawn(rt, &rdef, &r, &relay));

	for (uint32_t i = 0; i < N; i++) {
		if (i >= WINDOW)
			assert_true(wait_for(&s.got, (long)i - WINDOW));
		CHECK_OK(trp_send(relay, type_of(T_TRIGGER, 2 * i), NULL, 0));
	}
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&r.triggers), N);
	assert_int_equal(atomic_load(&r.own), N);
	assert_int_equal(atomic_load(&s.got), N);
	trp_actor_release(relay);
	trp_actor_release(sink);
	(void)api_assert_balanced(rt);
	destroy(rt);
}

/* ------------------------------------------------------------------ */
/* a thread actor                                                      */

struct receiver {
	atomic_long got;
	atomic_int bad;
	int end_rc;
};

static void receiver_thread(trp_actor_t *self, void *arg)
{
	struct receiver *t = arg;
	const trp_msg_t *msg;
	int rc;
	while ((rc = trp_recv(self, 10 * SEC, &msg)) == 0) {
		if (!buf_ok(msg, msg->type >> 4))
			atomic_fetch_add(&t->bad, 1);
		atomic_fetch_add(&t->got, 1);
	}
	t->end_rc = rc;
}

static void test_thread_actor_default_free(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct receiver t = { 0 };
	trp_actor_t *a;
	CHECK_OK(trp_thread_actor_spawn(rt, receiver_thread, &t, &a));
	send_window(a, 0, NULL, &t.got, 0);
	CHECK_OK(trp_actor_close(a));
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(t.end_rc, TRP_ECLOSED);
	assert_int_equal(atomic_load(&t.got), N);
	assert_int_equal(atomic_load(&t.bad), 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	destroy(rt);
}

/* ------------------------------------------------------------------ */
/* dead letters                                                        */

/* Holds the only worker until the test opens the gate. */
static atomic_long blocked;
static atomic_int gate_open;

static void blocker_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_fetch_add(&blocked, 1);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&gate_open)) {
		if (now_ns() > deadline) {
			note_error(TRP_ETIMEDOUT);
			return;
		}
		usleep(50);
	}
}

/* Stops itself on T_STOP: what is behind it in the mailbox is dead. */
static void stopper_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct sink *s = state;
	if ((msg->type & 15) == T_STOP) {
		int rc = trp_actor_stop(self);
		if (rc != 0)
			note_error(rc);
		return;
	}
	sink_behavior(self, s, msg);
}

static void block_worker(trp_actor_t *blocker)
{
	atomic_store(&gate_open, 0);
	long before = atomic_load(&blocked);
	CHECK_OK(trp_send(blocker, T_BLOCK, NULL, 0));
	assert_true(wait_for(&blocked, before + 1));
}

/* Sends probes to @arg until the runtime refuses them (destroy has begun),
 * then lets the blocked turn go. */
static atomic_long probes_accepted;
static void *open_when_refused(void *arg)
{
	trp_actor_t *to = arg;
	int64_t deadline = now_ns() + SETTLE_NS;
	while (trp_send(to, T_TRIGGER, NULL, 0) == 0) {
		atomic_fetch_add(&probes_accepted, 1);
		if (now_ns() > deadline) {
			note_error(TRP_ETIMEDOUT);
			break;
		}
		usleep(100);
	}
	atomic_store(&gate_open, 1);
	return NULL;
}

/* Buffers queued behind a stop, and queued when the runtime is destroyed,
 * are freed by the default free after the dead-letter hook saw them. */
static void test_dead_letters_default_free(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct sink s = { 0 };
	trp_actor_def_t bdef = { .behavior = blocker_behavior };
	trp_actor_def_t sdef = { .behavior = stopper_behavior };
	trp_actor_t *blocker, *stopper, *late;
	CHECK_OK(trp_actor_spawn(rt, &bdef, NULL, &blocker));
	CHECK_OK(trp_actor_spawn(rt, &sdef, &s, &stopper));
	CHECK_OK(trp_actor_spawn(rt, &sdef, &s, &late));

	/* Stopped receiver: T_STOP first, then buffers that die with it. */
	enum {
		QUEUED = 200
	};
	block_worker(blocker);
	CHECK_OK(trp_send(stopper, T_STOP, NULL, 0));
	for (uint32_t i = 0; i < QUEUED; i++)
		CHECK_OK(send_buf(stopper, i, NULL));
	atomic_store(&gate_open, 1);
	settle(rt);
	assert_int_equal(atomic_load(&dead[TRP_DEAD_STOPPED]), QUEUED);
	assert_int_equal(atomic_load(&s.got), 0);
	/* Refused now: the caller still owns the buffer (send_buf frees it). */
	assert_int_equal(send_buf(stopper, 0, NULL), TRP_EDEAD);

	/* Destroyed runtime: buffers queued for an actor that never runs
	 * again; destroy dead-letters them on this thread. The blocked turn
	 * is let go once sends are refused, so no worker runs `late`. */
	block_worker(blocker);
	for (uint32_t i = 0; i < QUEUED; i++)
		CHECK_OK(send_buf(late, QUEUED + i, NULL));
	trp_actor_release(blocker);
	trp_actor_release(stopper);
	atomic_store(&probes_accepted, 0);
	pthread_t opener;
	assert_int_equal(pthread_create(&opener, NULL, open_when_refused, late),
			 0);
	trp_stats_t st = destroy(rt);
	assert_int_equal(pthread_join(opener, NULL), 0);
	trp_actor_release(late);
	assert_int_equal(atomic_load(&s.got) +
				 (long)st.dead_by_reason[TRP_DEAD_SHUTDOWN],
			 QUEUED + atomic_load(&probes_accepted));
}

int main(void)
{
	alarm(100);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outside_default_free),
		cmocka_unit_test(test_user_free_fn),
		cmocka_unit_test(test_behaviour_default_free),
		cmocka_unit_test(test_thread_actor_default_free),
		cmocka_unit_test(test_dead_letters_default_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
