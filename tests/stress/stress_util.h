/*
 * tests/stress/stress_util.h - shared helpers for the stress validators
 * (tests/stress/<concept>_<shape>.c): size scaling, seeds, a start barrier,
 * failure reporting and the watchdog.
 *
 * Include this header FIRST in a stress test (it selects the POSIX feature
 * level before any system header is seen).
 *
 * Contract of a stress validator (STYLE.md "Tests", TESTPLAN.md):
 * - main() returns 0 on success, 1 on a failed check, after printing one
 *   "FAIL <test>: <what>" line that says which invariant broke and on what
 *   item; a check failing inside a worker thread calls stress_fail(), which
 *   prints and exits with 1 at once (the other threads' state is moot);
 * - sizes come from stress_scaled(base): base × TRP_STRESS_SCALE (a float,
 *   default 1.0; CI's asan/tsan presets set 0.1; a soak run turns it up);
 * - threads start together on a stress_barrier (the main thread joins it
 *   too, so it starts the clock when the workers are released);
 * - a watchdog thread samples progress counters (work that must finish:
 *   items sent, received, taken; informational counters such as turns or
 *   retries are printed but do not count, so a livelock trips it too): if
 *   none of them moved for 5 s (TRP_STRESS_STALL_S), or the run exceeds
 *   its total limit
 *   (TRP_STRESS_LIMIT_S, or the test's default), it prints every counter
 *   with the time since it last moved, the test's own state dump, a
 *   backtrace of every registered thread (and, with TRP_STRESS_GDB=1, a
 *   gdb "thread apply all bt"), then calls abort(): a hang is a failure
 *   with evidence, never a CI timeout.
 *
 * Everything is static inline: each stress test is one translation unit.
 * Shared counters are C11 atomics so ThreadSanitizer sees every edge.
 *
 * Environment:
 *   TRP_STRESS_SCALE    size multiplier (float > 0, default 1.0)
 *   TRP_STRESS_SEED     seed for the tests' PRNGs (default: from the clock;
 *                       always printed, so a failure can be replayed)
 *   TRP_STRESS_STALL_S  watchdog: seconds without progress (default 5)
 *   TRP_STRESS_LIMIT_S  watchdog: total seconds (default: per test)
 *   TRP_STRESS_GDB      1: on a watchdog trip also run gdb on the process
 */
#ifndef TRP_TESTS_STRESS_UTIL_H
#define TRP_TESTS_STRESS_UTIL_H

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <execinfo.h>
#define STRESS_HAVE_BACKTRACE 1
#else
#define STRESS_HAVE_BACKTRACE 0
#endif

#if defined(__GNUC__)
#define STRESS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define STRESS_NORETURN __attribute__((noreturn))
#else
#define STRESS_PRINTF(f, a)
#define STRESS_NORETURN
#endif

/* ------------------------------------------------------------ basics -- */

/* The test's name, for every message (set by stress_init). */
static const char *stress_name = "stress";

static inline uint64_t stress_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double stress_seconds_since(uint64_t start_ns)
{
	return (double)(stress_now_ns() - start_ns) / 1e9;
}

static inline void stress_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static inline void stress_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Set by the first failing thread; the others wait for it to exit. */
static _Atomic(uint32_t) stress_failing;

/* Prints "FAIL <test>: <message>" and exits with status 1 at once. Only the
 * first failure is printed: a broken invariant often trips several threads
 * at the same moment. */
STRESS_PRINTF(1, 2)
STRESS_NORETURN static inline void stress_fail(const char *fmt, ...)
{
	va_list ap;
	/* relaxed: only one thread may print; nothing is published. */
	if (atomic_exchange_explicit(&stress_failing, 1,
				     memory_order_relaxed) != 0) {
		for (;;)
			pause();
	}
	fflush(stdout);
	fprintf(stderr, "FAIL %s: ", stress_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	/* _Exit: other threads are still running; atexit handlers and
	 * stdio teardown would race with them. */
	_Exit(1);
}

#define STRESS_CHECK(cond, ...)                                                \
	do {                                                                   \
		if (!(cond))                                                   \
			stress_fail(__VA_ARGS__);                              \
	} while (0)

/* Reads a float from the environment; @def if unset; fails if malformed. */
static inline double stress_env_double(const char *var, double def)
{
	const char *s = getenv(var);
	if (s == NULL || *s == '\0')
		return def;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v == v))
		stress_fail("environment %s=\"%s\" is not a number", var, s);
	return v;
}

static inline uint64_t stress_env_u64(const char *var, uint64_t def)
{
	const char *s = getenv(var);
	if (s == NULL || *s == '\0')
		return def;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		stress_fail("environment %s=\"%s\" is not an integer", var, s);
	return (uint64_t)v;
}

/* TRP_STRESS_SCALE: > 0, default 1.0. */
static inline double stress_scale(void)
{
	double s = stress_env_double("TRP_STRESS_SCALE", 1.0);
	if (!(s > 0.0) || s > 1e6)
		stress_fail("TRP_STRESS_SCALE=%g must be > 0", s);
	return s;
}

/* @base × scale, rounded, at least @min. */
static inline uint64_t stress_scaled(uint64_t base, uint64_t min)
{
	double v = (double)base * stress_scale() + 0.5;
	uint64_t n = v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
	return n < min ? min : n;
}

/* --------------------------------------------------------------- PRNG -- */

/* splitmix64: seeds per thread from one printed seed. */
static inline uint64_t stress_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* xorshift64*: a thread-private generator (state must be non-zero). */
static inline uint64_t stress_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1du;
}

/* Uniform-ish in [0, n) (n > 0; modulo bias is irrelevant here). */
static inline uint64_t stress_rand_below(uint64_t *s, uint64_t n)
{
	return stress_rand(s) % n;
}

/* A thread's PRNG state derived from the run's seed and a stream id. */
static inline uint64_t stress_rand_init(uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03u);
	uint64_t s = stress_splitmix64(&x);
	return s != 0 ? s : 1;
}

/* ------------------------------------------------------------- start -- */

static uint64_t stress_run_seed;

/*
 * Names the test, reads the scale and seed, and prints them with a one-line
 * description of the run (so a failure in a CI log can be replayed).
 */
static inline uint64_t stress_init(const char *name)
{
	stress_name = name;
	uint64_t seed = stress_env_u64("TRP_STRESS_SEED", 0);
	if (seed == 0) {
		uint64_t x = stress_now_ns() ^ ((uint64_t)getpid() << 32);
		seed = stress_splitmix64(&x) | 1;
	}
	stress_run_seed = seed;
	printf("%s: TRP_STRESS_SCALE=%g TRP_STRESS_SEED=%" PRIu64 "\n", name,
	       stress_scale(), seed);
	fflush(stdout);
	return seed;
}

/* ----------------------------------------------------------- barrier -- */

/*
 * A reusable generation barrier for @parties threads. Waiters spin briefly,
 * then yield: stress tests run more threads than cores.
 */
struct stress_barrier {
	_Atomic(uint32_t) arrived;
	_Atomic(uint32_t) generation;
	uint32_t parties;
};

static inline void stress_barrier_init(struct stress_barrier *b,
				       uint32_t parties)
{
	atomic_init(&b->arrived, 0);
	atomic_init(&b->generation, 0);
	b->parties = parties;
}

static inline void stress_barrier_wait(struct stress_barrier *b)
{
	/* ORDER: acquire pairs with the last arriver's release of the
	 * previous generation (so it also sees arrived reset to 0). */
	uint32_t gen =
		atomic_load_explicit(&b->generation, memory_order_acquire);
	/* ORDER: acq_rel: the last arriver acquires everyone's setup. */
	if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) +
		    1 ==
	    b->parties) {
		/* relaxed: published by the release store below. */
		atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
		/* ORDER: release publishes the reset and everyone's setup
		 * (acquired above) to the waiters' acquire loads. */
		atomic_store_explicit(&b->generation, gen + 1,
				      memory_order_release);
		return;
	}
	for (unsigned i = 0;
	     atomic_load_explicit(&b->generation, memory_order_acquire) == gen;
	     i++) {
		if (i < 64)
			stress_cpu_relax();
		else
			sched_yield();
	}
}

/* --------------------------------------------------------- watchdog -- */

#define STRESS_MAX_COUNTERS 64
#define STRESS_MAX_THREADS 64
#define STRESS_BT_SIGNAL SIGUSR2

struct stress_counter {
	const char *name;
	_Atomic(uint64_t) *value;
	bool info;     /* printed on a trip, but its moving is not progress */
	uint64_t last; /* watchdog thread only */
	uint64_t moved_ns; /* watchdog thread only */
};

struct stress_thread_slot {
	_Atomic(uint32_t) ready;
	pthread_t thread;
	const char *name;
};

struct stress_watchdog {
	double stall_s;
	double limit_s;
	/* Optional: prints the test's own state (called from the watchdog
	 * thread while the others may still run: read atomics only). */
	void (*dump)(void *arg);
	void *dump_arg;
	struct stress_counter counters[STRESS_MAX_COUNTERS];
	unsigned ncounters;
	struct stress_thread_slot threads[STRESS_MAX_THREADS];
	_Atomic(uint32_t) nthreads;
	_Atomic(uint32_t) stop;
	uint64_t start_ns;
	pthread_t thread;
};

/* Set by the signal handler of each thread it has dumped. */
static _Atomic(uint32_t) stress_bt_acks;
static _Thread_local const char *stress_thread_label;

/* Async-signal-safe enough: write(2), backtrace_symbols_fd (no malloc
 * once backtrace() has been called once, done in watchdog_start). */
static inline void stress_bt_handler(int sig)
{
	(void)sig;
	int saved = errno;
	const char *label = stress_thread_label != NULL ? stress_thread_label :
							  "?";
	/* results ignored: nothing to do about a failed diagnostic write */
	if (write(2, "---- thread ", 12) < 0 ||
	    write(2, label, strlen(label)) < 0 || write(2, " ----\n", 6) < 0)
		errno = saved;
#if STRESS_HAVE_BACKTRACE
	void *frames[64];
	int n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, 2);
#endif
	/* ORDER: release: the dump is written before the ack is seen. */
	atomic_fetch_add_explicit(&stress_bt_acks, 1, memory_order_release);
	errno = saved;
}

/*
 * @limit_s: the test's default total limit (overridden by
 * TRP_STRESS_LIMIT_S). Register counters and threads, then start.
 */
static inline void stress_watchdog_init(struct stress_watchdog *w,
					double limit_s)
{
	memset(w, 0, sizeof *w);
	w->stall_s = stress_env_double("TRP_STRESS_STALL_S", 5.0);
	w->limit_s = stress_env_double("TRP_STRESS_LIMIT_S", limit_s);
	atomic_init(&w->nthreads, 0);
	atomic_init(&w->stop, 0);
}

static inline void stress_watchdog_add(struct stress_watchdog *w,
				       const char *name,
				       _Atomic(uint64_t) *value, bool info)
{
	if (w->ncounters == STRESS_MAX_COUNTERS)
		stress_fail("too many watchdog counters");
	w->counters[w->ncounters].name = name;
	w->counters[w->ncounters].value = value;
	w->counters[w->ncounters].info = info;
	w->ncounters++;
}

/*
 * Registers a progress counter (before stress_watchdog_start): items
 * produced, received, taken - work that must finish. The watchdog trips
 * when none of them moved for the stall time.
 */
static inline void stress_watchdog_counter(struct stress_watchdog *w,
					   const char *name,
					   _Atomic(uint64_t) *value)
{
	stress_watchdog_add(w, name, value, false);
}

/*
 * Registers an informational counter: printed on a trip but NOT progress
 * (turns, retries, failed attempts). A livelock moves these while every
 * progress counter stands still, and must still trip the watchdog.
 */
static inline void stress_watchdog_info(struct stress_watchdog *w,
					const char *name,
					_Atomic(uint64_t) *value)
{
	stress_watchdog_add(w, name, value, true);
}

/* Called by a thread on itself: names it and lets the watchdog dump its
 * backtrace. @name must outlive the test. Any time, any thread. */
static inline void stress_watchdog_thread(struct stress_watchdog *w,
					  const char *name)
{
	stress_thread_label = name;
	uint32_t i = atomic_fetch_add_explicit(&w->nthreads, 1,
					       memory_order_relaxed);
	if (i >= STRESS_MAX_THREADS)
		return;
	w->threads[i].thread = pthread_self();
	w->threads[i].name = name;
	/* ORDER: release publishes thread and name to the watchdog's
	 * acquire load of ready. */
	atomic_store_explicit(&w->threads[i].ready, 1, memory_order_release);
}

/* Unregisters the calling thread before it exits (signals to an exited
 * thread's id are undefined). */
static inline void stress_watchdog_thread_exit(struct stress_watchdog *w)
{
	uint32_t n = atomic_load_explicit(&w->nthreads, memory_order_relaxed);
	for (uint32_t i = 0; i < n && i < STRESS_MAX_THREADS; i++) {
		/* ORDER: acquire pairs with the registration's release. */
		if (atomic_load_explicit(&w->threads[i].ready,
					 memory_order_acquire) == 1 &&
		    pthread_equal(w->threads[i].thread, pthread_self())) {
			/* relaxed: only this thread clears its own slot. */
			atomic_store_explicit(&w->threads[i].ready, 2,
					      memory_order_relaxed);
		}
	}
}

STRESS_NORETURN static inline void
stress_watchdog_trip(struct stress_watchdog *w, const char *why)
{
	uint64_t now = stress_now_ns();
	fflush(stdout);
	fprintf(stderr,
		"FAIL %s: watchdog: %s (after %.1f s; seed %" PRIu64 ")\n",
		stress_name, why, (double)(now - w->start_ns) / 1e9,
		stress_run_seed);
	fprintf(stderr, "counters (value, seconds since it last moved):\n");
	for (unsigned i = 0; i < w->ncounters; i++) {
		struct stress_counter *c = &w->counters[i];
		double idle = (double)(now - c->moved_ns) / 1e9;
		const char *mark = "";
		if (c->info)
			mark = "  (info)";
		else if (idle >= w->stall_s)
			mark = "  STALLED";
		fprintf(stderr, "  %-28s %14" PRIu64 "  %6.1f s%s\n", c->name,
			atomic_load_explicit(c->value, memory_order_relaxed),
			idle, mark);
	}
	if (w->dump != NULL) {
		fprintf(stderr, "state:\n");
		w->dump(w->dump_arg);
	}
	fflush(stderr);

	/* One thread at a time, so the backtraces do not interleave. A
	 * thread that never reaches a point where the signal is delivered
	 * (TSan defers signals) is skipped after 1 s. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stress_bt_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(STRESS_BT_SIGNAL, &sa, NULL);
	uint32_t n = atomic_load_explicit(&w->nthreads, memory_order_relaxed);
	for (uint32_t i = 0; i < n && i < STRESS_MAX_THREADS; i++) {
		/* ORDER: acquire pairs with the registration's release. */
		if (atomic_load_explicit(&w->threads[i].ready,
					 memory_order_acquire) != 1)
			continue;
		uint32_t before = atomic_load_explicit(&stress_bt_acks,
						       memory_order_acquire);
		if (pthread_kill(w->threads[i].thread, STRESS_BT_SIGNAL) != 0)
			continue;
		for (int ms = 0; ms < 1000; ms += 5) {
			/* ORDER: acquire pairs with the handler's ack. */
			if (atomic_load_explicit(&stress_bt_acks,
						 memory_order_acquire) !=
			    before)
				break;
			stress_sleep_ms(5);
		}
		if (atomic_load_explicit(&stress_bt_acks,
					 memory_order_acquire) == before)
			fprintf(stderr,
				"---- thread %s: no backtrace within "
				"1 s ----\n",
				w->threads[i].name);
	}
	fprintf(stderr, "(symbolize a frame: addr2line -f -e <test "
			"executable> <offset in parentheses>; or rerun with "
			"TRP_STRESS_GDB=1)\n");
	if (stress_env_u64("TRP_STRESS_GDB", 0) != 0) {
		char cmd[128];
		snprintf(cmd, sizeof cmd,
			 "gdb -p %d -batch -ex 'thread apply all bt' 1>&2",
			 (int)getpid());
		/* NOLINTNEXTLINE(cert-env33-c): opt-in debugging aid */
		if (system(cmd) != 0)
			fprintf(stderr, "(gdb failed)\n");
	}
	fprintf(stderr, "FAIL %s: watchdog: %s\n", stress_name, why);
	fflush(stderr);
	abort();
}

static inline void *stress_watchdog_main(void *arg)
{
	struct stress_watchdog *w = arg;
	stress_thread_label = "watchdog";
	uint64_t stall_ns = (uint64_t)(w->stall_s * 1e9);
	uint64_t limit_ns = (uint64_t)(w->limit_s * 1e9);
	/* ORDER: acquire pairs with stress_watchdog_stop's release. */
	while (atomic_load_explicit(&w->stop, memory_order_acquire) == 0) {
		stress_sleep_ms(50);
		uint64_t now = stress_now_ns();
		uint64_t newest = w->start_ns;
		for (unsigned i = 0; i < w->ncounters; i++) {
			struct stress_counter *c = &w->counters[i];
			/* relaxed: a progress sample, not a sync point. */
			uint64_t v = atomic_load_explicit(c->value,
							  memory_order_relaxed);
			if (v != c->last) {
				c->last = v;
				c->moved_ns = now;
			}
			if (!c->info && c->moved_ns > newest)
				newest = c->moved_ns;
		}
		if (atomic_load_explicit(&w->stop, memory_order_acquire) != 0)
			break;
		if (now - newest >= stall_ns) {
			char why[96];
			snprintf(why, sizeof why, "no counter moved for %.1f s",
				 w->stall_s);
			stress_watchdog_trip(w, why);
		}
		if (now - w->start_ns >= limit_ns) {
			char why[96];
			snprintf(why, sizeof why,
				 "total time limit %.0f s exceeded",
				 w->limit_s);
			stress_watchdog_trip(w, why);
		}
	}
	return NULL;
}

static inline void stress_watchdog_start(struct stress_watchdog *w)
{
#if STRESS_HAVE_BACKTRACE
	/* The first backtrace() loads libgcc_s (malloc): do it here, not in
	 * the signal handler. */
	void *frames[4];
	(void)backtrace(frames, 4);
#endif
	w->start_ns = stress_now_ns();
	for (unsigned i = 0; i < w->ncounters; i++) {
		w->counters[i].last = atomic_load_explicit(
			w->counters[i].value, memory_order_relaxed);
		w->counters[i].moved_ns = w->start_ns;
	}
	if (pthread_create(&w->thread, NULL, stress_watchdog_main, w) != 0)
		stress_fail("cannot start the watchdog thread");
}

static inline void stress_watchdog_stop(struct stress_watchdog *w)
{
	/* ORDER: release pairs with the watchdog loop's acquire. */
	atomic_store_explicit(&w->stop, 1, memory_order_release);
	pthread_join(w->thread, NULL);
}

/*
 * Bumps a progress counter that has ONE writer (the calling thread): a
 * relaxed load and store, no read-modify-write on the hot path. relaxed:
 * the watchdog only needs to see it move; counters that carry data
 * between threads use their own ordered operations.
 */
static inline void stress_progress(_Atomic(uint64_t) *c, uint64_t by)
{
	atomic_store_explicit(
		c, atomic_load_explicit(c, memory_order_relaxed) + by,
		memory_order_relaxed);
}

/* ----------------------------------------------------------- threads -- */

static inline pthread_t stress_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);
	if (rc != 0)
		stress_fail("pthread_create: %s", strerror(rc));
	return t;
}

/* ------------------------------------------- owner against thieves -- */

/*
 * The run of a queue stress test (deque_steal, lifo_steal): starts
 * owner(NULL) and thief(thieves + i * size) for i < nthieves, then the
 * watchdog; releases them all through @start (nthieves + 2 parties: this
 * thread too); joins them; stops the watchdog. Returns the seconds from
 * the release to the last join.
 */
static inline double stress_run_owner_thieves(void *(*owner)(void *),
					      void *(*thief)(void *),
					      void *thieves, size_t size,
					      unsigned nthieves,
					      struct stress_barrier *start,
					      struct stress_watchdog *wd)
{
	pthread_t threads[64];
	STRESS_CHECK(nthieves < 64, "at most 63 thieves");
	threads[0] = stress_thread_start(owner, NULL);
	for (unsigned i = 0; i < nthieves; i++)
		threads[i + 1] =
			stress_thread_start(thief, (char *)thieves + i * size);
	stress_watchdog_start(wd);
	stress_barrier_wait(start);
	uint64_t t0 = stress_now_ns();
	for (unsigned i = 0; i < nthieves + 1; i++)
		pthread_join(threads[i], NULL);
	double secs = stress_seconds_since(t0);
	stress_watchdog_stop(wd);
	return secs;
}

/* Fails unless every one of the @n items was taken exactly once
 * (taken_by[s] counts the takes of item s; read after the joins). */
static inline void stress_check_taken_once(_Atomic(uint8_t) *taken_by,
					   uint64_t n)
{
	for (uint64_t s = 0; s < n; s++) {
		/* relaxed: after the joins. */
		uint8_t c = atomic_load_explicit(&taken_by[s],
						 memory_order_relaxed);
		if (c != 1)
			stress_fail("item %" PRIu64 " was taken %u times", s,
				    (unsigned)c);
	}
}

/* Relaxed load of a counter read after every thread was joined. */
static inline uint64_t stress_load(_Atomic(uint64_t) *c)
{
	/* relaxed: the joins published every write. */
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Simulated work on an item (an actor's turn), so that the thieves get a
 * real share of the items on two cores. */
static inline void stress_work(uint64_t *rng)
{
	unsigned spin = (unsigned)(stress_rand(rng) & 15);
	for (unsigned i = 0; i < spin; i++)
		stress_cpu_relax();
}

/*
 * The items of a queue test: item seq is a pointer to payload[seq], a
 * plain (non-atomic) word the owner writes just before pushing it and the
 * taker reads and poisons, so ThreadSanitizer checks that the queue
 * publishes what an item points to; taken_by[seq] counts its takes
 * (checked as it is taken, scanned at the end: stress_check_taken_once).
 */
struct stress_items {
	_Atomic(uint8_t) *taken_by; /* per item: times taken */
	uint32_t *payload; /* per item: written by owner, read by taker */
	uint64_t n;
};

#define STRESS_POISON 0xdeadbeefu

static inline uint32_t stress_payload_of(uint64_t seq)
{
	uint32_t v = (uint32_t)(seq * 0x9e3779b1u) ^ 0x5bd1e995u;
	return v == STRESS_POISON ? 1 : v;
}

static inline void stress_items_init(struct stress_items *it, uint64_t n)
{
	it->n = n;
	it->taken_by = calloc(n, sizeof *it->taken_by);
	it->payload = calloc(n, sizeof *it->payload);
	if (it->taken_by == NULL || it->payload == NULL)
		stress_fail("out of memory");
}

static inline void stress_items_free(struct stress_items *it)
{
	free(it->taken_by);
	free(it->payload);
}

/* Owner: fills item seq's payload and returns the item to push. */
static inline void *stress_item_make(struct stress_items *it, uint64_t seq)
{
	it->payload[seq] = stress_payload_of(seq);
	return &it->payload[seq];
}

/* Decodes and records one take by @who; returns its seq. Fails on
 * garbage, a second take or a payload the taker does not see. */
static inline uint64_t stress_item_take(struct stress_items *it, void *item,
					const char *who)
{
	uintptr_t a = (uintptr_t)item, base = (uintptr_t)it->payload;
	if (a < base || a >= base + it->n * sizeof *it->payload ||
	    (a - base) % sizeof *it->payload != 0)
		stress_fail("%s took %p, which was never pushed (stale or "
			    "torn slot)",
			    who, item);
	uint64_t seq = (a - base) / sizeof *it->payload;
	/* relaxed: the count is read after the join; the payload's
	 * visibility is the queue's business (TSan checks it). */
	uint8_t before = atomic_fetch_add_explicit(&it->taken_by[seq], 1,
						   memory_order_relaxed);
	if (before != 0)
		stress_fail("%s took item %" PRIu64
			    ", which was already taken: duplicated",
			    who, seq);
	uint32_t v = it->payload[seq];
	if (v != stress_payload_of(seq))
		stress_fail("%s took item %" PRIu64 " but its payload is "
			    "%#x, not %#x%s: the item was not published",
			    who, seq, v, stress_payload_of(seq),
			    v == STRESS_POISON ? " (poison: taken before)" :
						 "");
	it->payload[seq] = STRESS_POISON;
	return seq;
}

/* How many items the owner pushes next, from a random @r: mostly short
 * bursts (1..8), one in 16 long (1..4096) enough to grow the ring. */
static inline uint64_t stress_burst_len(uint64_t r)
{
	return (r & 15) == 0 ? 1 + ((r >> 4) & 4095) : 1 + ((r >> 4) & 7);
}

/*
 * Rounds of a queue test: each starts from a fresh owner queue, so growth
 * (a new ring published while thieves read the old one) happens all
 * through the run. The owner, its queue drained, calls
 * stress_round_end_owner; a thief that finds the queue empty checks
 * stress_round_done() && size == 0 (in that order), then calls
 * stress_round_end_thief.
 */
struct stress_rounds {
	/* 1: the owner pushed this round's items and its queue is empty */
	_Atomic(uint32_t) round_done;
	/* 1: that was the last round (written between the two barriers) */
	_Atomic(uint32_t) finished;
	_Atomic(uint64_t) rounds;    /* progress: rounds done */
	struct stress_barrier end;   /* nobody touches the owner queue now */
	struct stress_barrier start; /* the owner queue is fresh again */
};

static inline void stress_rounds_init(struct stress_rounds *r,
				      unsigned nthieves)
{
	stress_barrier_init(&r->end, nthieves + 1);
	stress_barrier_init(&r->start, nthieves + 1);
}

/* Owner: ends the round; @renew (alone: no thief touches the queue)
 * replaces the queue with a fresh one. */
static inline void stress_round_end_owner(struct stress_rounds *r, bool last,
					  void (*renew)(void))
{
	/* ORDER: release: a thief that sees round_done sees the queue empty
	 * (it rechecks the size anyway). */
	atomic_store_explicit(&r->round_done, 1, memory_order_release);
	stress_barrier_wait(&r->end);
	/* Alone now (the barrier orders the thieves' last accesses before
	 * this). */
	renew();
	/* relaxed: published by the barrier below. */
	atomic_store_explicit(&r->round_done, 0, memory_order_relaxed);
	atomic_store_explicit(&r->finished, last, memory_order_relaxed);
	stress_progress(&r->rounds, 1);
	stress_barrier_wait(&r->start);
}

/* Thief: true once the owner ended the round (then check the size). */
static inline bool stress_round_done(struct stress_rounds *r)
{
	/* ORDER: acquire pairs with stress_round_end_owner's release. */
	return atomic_load_explicit(&r->round_done, memory_order_acquire) != 0;
}

/* Thief: waits out the switch to the next round; true if there is none. */
static inline bool stress_round_end_thief(struct stress_rounds *r)
{
	stress_barrier_wait(&r->end);
	stress_barrier_wait(&r->start);
	/* relaxed: published by the barrier. */
	return atomic_load_explicit(&r->finished, memory_order_relaxed) != 0;
}

#endif /* TRP_TESTS_STRESS_UTIL_H */
