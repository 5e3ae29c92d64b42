/*
 * tests/stress/rt_util.h - helpers shared by the whole-runtime validators
 * (tests/stress/rt_*.c), on top of stress_util.h.
 *
 * Include this header FIRST in an rt_* validator: it selects _GNU_SOURCE
 * (futex syscall, getrusage) before any system header, then includes
 * stress_util.h and the public API.
 *
 * What is here:
 * - rt_rc(): every return code is checked against the set the validator
 *   allows for that call (RT_OK | RT_E(TRP_EDEAD) | ...); anything else is
 *   a failure naming the call and the code;
 * - rt_payload: the (sender, sequence) every validator message carries, plus
 *   a spare word;
 * - a doorbell (futex on a 32-bit atomic) for outside threads that wait for
 *   an actor, so the waiting thread sleeps and the worker really goes idle;
 * - rt_rss_kb(): peak resident set size (getrusage ru_maxrss);
 * - rt_idset: maps the process-unique actor ids of one run to dense
 *   indexes (ids are handed out by one global counter, so the actors one
 *   thread spawns in a row get increasing ids);
 * - rt_wait_idle(): trp_runtime_wait_idle in slices, so a stall is reported
 *   by the watchdog (with the test's counters) and not by the ctest timeout;
 * - rt_assert_balanced(): quiescence, then the delivery identity
 *   (tests/common/balance.h); rt_destroy_balanced(): the identity on the
 *   final counters of a destroy with work pending.
 */
#ifndef TRP_TESTS_RT_UTIL_H
#define TRP_TESTS_RT_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "stress_util.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <troupe/troupe.h>

#include "../common/balance.h"

/* ------------------------------------------------------ return codes -- */

/* Allowed-code masks: bit 0 is success, bit k is the code -k. */
#define RT_OK 1u
#define RT_E(code) (1u << (unsigned)(-(code)))

/* Fails (exits) unless @rc is in @allowed; returns @rc. */
static inline int rt_rc(const char *what, int rc, uint32_t allowed)
{
	if (rc > 0 || rc < -31 || (allowed & (1u << (unsigned)(-rc))) == 0)
		stress_fail(
			"%s returned %d (%s: %s), which is not allowed here",
			what, rc, trp_errname(rc), trp_strerror(rc));
	return rc;
}

/* Shorthand: the call must succeed. */
#define RT_MUST(what, expr) ((void)rt_rc((what), (expr), RT_OK))

/* ---------------------------------------------------------- payload -- */

/* What every validator message carries (16 bytes: the inline small size
 * of the message pool). */
struct rt_payload {
	uint32_t sender; /* sender index, test-defined */
	uint32_t aux;	 /* test-defined (ttl, name index, target index) */
	uint64_t seq;	 /* per (sender, receiver) or per sender, see test */
};

static inline struct rt_payload rt_payload_of(const trp_msg_t *msg)
{
	struct rt_payload p;
	if (msg->size != sizeof p || msg->data == NULL)
		stress_fail("message of type %u has size %zu, expected %zu",
			    msg->type, msg->size, sizeof p);
	memcpy(&p, msg->data, sizeof p);
	return p;
}

static inline int rt_send(trp_actor_t *to, uint32_t type, uint32_t sender,
			  uint32_t aux, uint64_t seq)
{
	struct rt_payload p = { sender, aux, seq };
	return trp_send(to, type, &p, sizeof p);
}

static inline int rt_send_named(trp_runtime_t *rt, const char *name,
				uint32_t type, uint32_t sender, uint32_t aux,
				uint64_t seq)
{
	struct rt_payload p = { sender, aux, seq };
	return trp_send_named(rt, name, type, &p, sizeof p);
}

/* --------------------------------------------------------- doorbell -- */

static inline void rt_futex_wait(_Atomic(uint32_t) *addr, uint32_t expected)
{
	/* A spurious or EINTR return is fine: callers re-check. */
	(void)syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected,
		      NULL, NULL, 0);
}

static inline void rt_futex_wake(_Atomic(uint32_t) *addr)
{
	(void)syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX,
		      NULL, NULL, 0);
}

/* ------------------------------------------------------------- misc -- */

/* Peak resident set size of the process so far, in KiB. */
static inline long rt_rss_kb(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		stress_fail("getrusage: %s", strerror(errno));
	return ru.ru_maxrss;
}

/* Current resident set size in KiB (from /proc/self/statm). */
static inline long rt_rss_now_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

#if defined(TRP_SANITIZE_ADDRESS) || defined(TRP_SANITIZE_THREAD)
#define RT_SANITIZED 1
#else
#define RT_SANITIZED 0
#endif

/*
 * Waits for quiescence in 100 ms slices (the watchdog watches the test's
 * progress counters meanwhile). TRP_ETIMEDOUT just loops.
 */
static inline void rt_wait_idle(trp_runtime_t *rt)
{
	for (;;) {
		int rc = trp_runtime_wait_idle(rt, 100 * 1000 * 1000);
		if (rc == 0)
			return;
		rt_rc("trp_runtime_wait_idle", rc, RT_E(TRP_ETIMEDOUT));
	}
}

static inline trp_stats_t rt_stats(trp_runtime_t *rt)
{
	trp_stats_t s;
	RT_MUST("trp_runtime_stats", trp_runtime_stats(rt, &s));
	return s;
}

/*
 * Waits for quiescence (rt_wait_idle), then checks the delivery identity
 * (runtime.h, tests/common/balance.h); @label names the phase in the
 * failure. Every validator that ends at quiescence calls this before
 * destroying its runtime. Returns the counters it checked.
 */
static inline trp_stats_t rt_assert_balanced(trp_runtime_t *rt,
					     const char *label)
{
	char why[256];
	rt_wait_idle(rt);
	trp_stats_t s = rt_stats(rt);
	if (!balance_holds(&s, why, sizeof why))
		stress_fail("%s: %s", label, why);
	return s;
}

/*
 * For a validator that destroys its runtime with work still pending:
 * trp_runtime_destroy_ex, then the identity on its final counters.
 */
static inline trp_stats_t rt_destroy_balanced(trp_runtime_t *rt,
					      const char *label)
{
	char why[256];
	trp_stats_t fin;
	RT_MUST("trp_runtime_destroy_ex", trp_runtime_destroy_ex(rt, &fin));
	if (!balance_holds(&fin, why, sizeof why))
		stress_fail("%s: after destroy: %s", label, why);
	return fin;
}

static inline void rt_print_stats(const char *label, const trp_stats_t *s)
{
	printf("  %s: sent=%" PRIu64 " processed=%" PRIu64
	       " dead_lettered=%" PRIu64 " rejected=%" PRIu64
	       " spawned=%" PRIu64 " stopped=%" PRIu64 " steals=%" PRIu64
	       " parks=%" PRIu64 "\n",
	       label, s->sent, s->processed, s->dead_lettered, s->rejected,
	       s->spawned, s->stopped, s->steals, s->parks);
}

/* ------------------------------------------------------------ idset -- */

/*
 * Actor id -> dense index, for ids recorded in increasing order by one
 * thread (rt_idset_add), looked up from any thread after that (binary
 * search). Lookups of an unknown id return -1.
 */
struct rt_idset {
	uint64_t *ids;
	uint32_t n, cap;
};

static inline void rt_idset_init(struct rt_idset *s, uint32_t cap)
{
	s->ids = calloc(cap, sizeof *s->ids);
	if (s->ids == NULL)
		stress_fail("out of memory (idset of %u)", cap);
	s->n = 0;
	s->cap = cap;
}

static inline void rt_idset_free(struct rt_idset *s)
{
	free(s->ids);
	s->ids = NULL;
	s->n = s->cap = 0;
}

static inline uint32_t rt_idset_add(struct rt_idset *s, uint64_t id)
{
	if (s->n == s->cap)
		stress_fail("idset full (%u)", s->cap);
	if (s->n > 0 && id <= s->ids[s->n - 1])
		stress_fail("actor ids not increasing: %" PRIu64
			    " after %" PRIu64,
			    id, s->ids[s->n - 1]);
	s->ids[s->n] = id;
	return s->n++;
}

static inline int64_t rt_idset_find(const struct rt_idset *s, uint64_t id)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < s->n && s->ids[lo] == id) ? (int64_t)lo : -1;
}

/* Relaxed counter helpers for counters with many writers. */
static inline void rt_add(_Atomic(uint64_t) *c, uint64_t n)
{
	/* relaxed: a count, read after the threads are joined / quiescent
	 * or only sampled by the watchdog. */
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t rt_get(_Atomic(uint64_t) *c)
{
	/* relaxed: see rt_add. */
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A dead-letter hook that only counts them: cfg.dead_letter =
 * rt_count_dead_letter, cfg.dead_letter_ctx = the _Atomic(uint64_t)
 * counter (rt_add). */
static inline void rt_count_dead_letter(void *ctx, trp_actor_t *to,
					const trp_msg_t *msg,
					trp_dead_reason_t why)
{
	(void)to;
	(void)msg;
	(void)why;
	rt_add(ctx, 1);
}

/* ------------------------------------------- exchange publish phase -- */

/* A publisher actor's state in the exchange stress tests. */
struct rt_pubactor {
	uint32_t p;    /* publisher index */
	uint64_t next; /* next seq to publish */
};

#define RT_PUB_MAX 16 /* threads of each kind a phase starts, at most */

/*
 * The publishing phase of the exchange stress tests (rt_exchange_churn,
 * rt_exchange_dead): publisher threads 0..nthreads-1, publisher actors
 * nthreads..nthreads+nactors-1 (state struct rt_pubactor {p, 1}, started
 * by a message of type go_type) and churn threads, released together.
 */
struct rt_pub_phase {
	trp_runtime_t *rt;
	uint32_t nthreads, nactors, nchurn;
	void *(*pub_thread)(void *); /* arg: (void *)(uintptr_t)p */
	trp_behavior_fn pub_behavior;
	uint32_t go_type;
	trp_actor_t **actors; /* out: the nactors publisher actors */
	void *(*churn_thread)(void *);
	void *churn_args; /* nchurn of churn_size bytes: thread i's arg */
	size_t churn_size;
	/* every thread above waits on it (nthreads + nchurn + 1 parties) */
	struct stress_barrier *start;
	_Atomic(uint32_t) *finished; /* per publisher, set by it when done */
	_Atomic(uint32_t) *stop_churn;
	struct stress_watchdog *wd; /* started once the threads are */
};

/*
 * Runs the phase: spawns the publisher actors, starts the threads and the
 * watchdog, releases everyone, waits until every publisher finished, then
 * stops and joins the churn threads. Returns the publishing time (s).
 */
static inline double rt_pub_phase_run(const struct rt_pub_phase *ph)
{
	pthread_t pub_th[RT_PUB_MAX], churn_th[RT_PUB_MAX];
	STRESS_CHECK(ph->nthreads <= RT_PUB_MAX && ph->nchurn <= RT_PUB_MAX,
		     "rt_pub_phase_run: at most %d threads of each kind",
		     RT_PUB_MAX);
	for (uint32_t i = 0; i < ph->nactors; i++) {
		struct rt_pubactor pa = { ph->nthreads + i, 1 };
		trp_actor_def_t def = { ph->pub_behavior, NULL, NULL, sizeof pa,
					0 };
		RT_MUST("trp_actor_spawn (publisher)",
			trp_actor_spawn(ph->rt, &def, &pa, &ph->actors[i]));
	}
	stress_barrier_init(ph->start, ph->nthreads + ph->nchurn + 1);
	for (uint32_t p = 0; p < ph->nthreads; p++)
		pub_th[p] = stress_thread_start(ph->pub_thread,
						(void *)(uintptr_t)p);
	for (uint32_t i = 0; i < ph->nchurn; i++)
		churn_th[i] = stress_thread_start(ph->churn_thread,
						  (char *)ph->churn_args +
							  i * ph->churn_size);
	stress_watchdog_start(ph->wd);
	stress_barrier_wait(ph->start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < ph->nactors; i++)
		RT_MUST("trp_send GO",
			trp_send(ph->actors[i], ph->go_type, NULL, 0));
	for (uint32_t p = 0; p < ph->nthreads; p++)
		pthread_join(pub_th[p], NULL);
	for (uint32_t p = 0; p < ph->nthreads + ph->nactors; p++)
		/* ORDER: acquire pairs with the publisher's release. */
		while (atomic_load_explicit(&ph->finished[p],
					    memory_order_acquire) == 0)
			stress_sleep_ms(2);
	double seconds = stress_seconds_since(t0);
	/* relaxed: a stop request; the churners' work is published by the
	 * joins. */
	atomic_store_explicit(ph->stop_churn, 1, memory_order_relaxed);
	for (uint32_t i = 0; i < ph->nchurn; i++)
		pthread_join(churn_th[i], NULL);
	return seconds;
}

#endif /* TRP_TESTS_RT_UTIL_H */
