/*
 * tests/api/api_util.h - helpers shared by the API tests (public API only).
 *
 * Checks (cmocka) run on the test's own thread only, never in a behaviour:
 * a failed check longjmps out of the test. Behaviours record errors with
 * note_error(rc) and the test thread calls assert_no_behaviour_errors().
 *
 * Also: a gate a behaviour blocks on until the test opens it (struct
 * api_gate), and a dead-letter hook that counts dead letters by reason and
 * keeps the last one's details (struct api_dead_letters).
 */
#ifndef TRP_TESTS_API_UTIL_H
#define TRP_TESTS_API_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <troupe/troupe.h>

#include "../common/balance.h"

#define SEC 1000000000LL
/* Generous bound for "the runtime settles": a hang is a failure with a
 * message, not a CI timeout. */
#ifndef SETTLE_NS
#define SETTLE_NS (10 * SEC)
#endif

#define CHECK_OK(expr) assert_int_equal((expr), 0)

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Waits (politely) until *v >= want or SETTLE_NS pass; true if reached. */
static inline bool wait_for(atomic_long *v, long want)
{
	int64_t deadline = now_ns() + SETTLE_NS;
	while (atomic_load(v) < want) {
		if (now_ns() > deadline)
			return false;
		struct timespec pause = { 0, 100000 };
		nanosleep(&pause, NULL);
	}
	return true;
}

/* Waits (at most SETTLE_NS) until the runtime is quiescent. */
static inline void settle(trp_runtime_t *rt)
{
	CHECK_OK(trp_runtime_wait_idle(rt, SETTLE_NS));
}

/*
 * Waits for quiescence, then checks the delivery identity (runtime.h,
 * tests/common/balance.h): every test that ends at quiescence calls this
 * before destroying its runtime. Returns the counters it checked.
 */
static inline trp_stats_t api_assert_balanced(trp_runtime_t *rt)
{
	trp_stats_t st;
	char why[256];
	settle(rt);
	CHECK_OK(trp_runtime_stats(rt, &st));
	if (!balance_holds(&st, why, sizeof why))
		fail_msg("%s", why);
	return st;
}

/*
 * For a test that destroys its runtime with work still pending (it becomes
 * dead letters, TRP_DEAD_SHUTDOWN): trp_runtime_destroy_ex, then the same
 * identity on its final counters. Returns them.
 */
static inline trp_stats_t api_destroy_balanced(trp_runtime_t *rt)
{
	trp_stats_t final;
	char why[256];
	CHECK_OK(trp_runtime_destroy_ex(rt, &final));
	if (!balance_holds(&final, why, sizeof why))
		fail_msg("after destroy: %s", why);
	return final;
}

/* Errors seen inside behaviours and hooks (the first one is kept). */
static atomic_int behaviour_errors;
static atomic_int first_error;
static atomic_int first_error_line;

#define note_error(rc) note_error_at((rc), __LINE__)
static inline void note_error_at(int rc, int line)
{
	if (atomic_fetch_add(&behaviour_errors, 1) == 0) {
		atomic_store(&first_error, rc);
		atomic_store(&first_error_line, line);
	}
}

static inline void assert_no_behaviour_errors(void)
{
	int n = atomic_exchange(&behaviour_errors, 0);
	if (n != 0)
		fail_msg("%d error(s) inside behaviours, first: %s at line %d",
			 n, trp_errname(atomic_load(&first_error)),
			 atomic_load(&first_error_line));
}

/* ----------------------------------------------------------------- gate -- */

/* A gate a behaviour blocks on until the test opens it (SETTLE_NS at
 * most: then it notes TRP_ETIMEDOUT and goes on). */
struct api_gate {
	atomic_long entered; /* behaviours that reached the gate */
	atomic_int open;     /* set by the test */
};

static inline void api_gate_block(struct api_gate *g)
{
	atomic_fetch_add(&g->entered, 1);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&g->open)) {
		if (now_ns() > deadline) {
			note_error(TRP_ETIMEDOUT);
			return;
		}
		struct timespec pause = { 0, 50000 };
		nanosleep(&pause, NULL);
	}
}

static inline void api_gate_reset(struct api_gate *g)
{
	atomic_store(&g->entered, 0);
	atomic_store(&g->open, 0);
}

/* --------------------------------------------------------- dead letters -- */

/* What the runtime's dead-letter hook saw (api_dead_letters_install). */
struct api_dead_letters {
	atomic_long count;		  /* every dead letter */
	atomic_long by[TRP_DEAD_REASONS]; /* per reason */
	atomic_long bad_reason;		  /* a reason out of range */
	/* the last one */
	atomic_int why;
	_Atomic(trp_actor_t *) to;
	atomic_uint type;
	atomic_int status;
	atomic_ulong size;
	atomic_uint x; /* its payload, if it was a uint32_t */
};

static inline void api_dead_letter_hook(void *ctx, trp_actor_t *to,
					const trp_msg_t *msg,
					trp_dead_reason_t why)
{
	struct api_dead_letters *d = ctx;
	uint32_t x = 0;
	if (msg->size == sizeof x && msg->data != NULL)
		memcpy(&x, msg->data, sizeof x);
	atomic_store(&d->why, (int)why);
	atomic_store(&d->to, to);
	atomic_store(&d->type, msg->type);
	atomic_store(&d->status, msg->status);
	atomic_store(&d->size, msg->size);
	atomic_store(&d->x, x);
	atomic_fetch_add(&d->count, 1);
	if ((int)why >= 0 && why < TRP_DEAD_REASONS)
		atomic_fetch_add(&d->by[why], 1);
	else
		atomic_fetch_add(&d->bad_reason, 1);
}

/* Zeroes @d (before the runtime exists) and makes it @cfg's dead-letter
 * hook. */
static inline void api_dead_letters_install(trp_config_t *cfg,
					    struct api_dead_letters *d)
{
	memset(d, 0, sizeof *d);
	cfg->dead_letter = api_dead_letter_hook;
	cfg->dead_letter_ctx = d;
}

/* A runtime of @workers workers whose dead letters @d records (zeroed
 * first). */
static inline trp_runtime_t *api_runtime_new(uint32_t workers,
					     struct api_dead_letters *d)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	api_dead_letters_install(&cfg, d);
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	return rt;
}

#endif /* TRP_TESTS_API_UTIL_H */
