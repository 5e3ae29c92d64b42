/*
 * core/platform.h - the only place troupe touches the operating system:
 * futexes, eventfds (ports), threads, CPU affinity, the monotonic clock,
 * and the ThreadSanitizer annotations used where TSan cannot see an edge
 * (ck's inline assembly).
 *
 * Concurrency: every function may be called from any thread.
 */
#ifndef TRP_CORE_PLATFORM_H
#define TRP_CORE_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TRP_CACHELINE 64

#if defined(__GNUC__)
#define trp__likely(x) __builtin_expect(!!(x), 1)
#define trp__unlikely(x) __builtin_expect(!!(x), 0)
#else
#define trp__likely(x) (x)
#define trp__unlikely(x) (x)
#endif

/*
 * For the thread-locals the hot paths read (the calling thread's worker,
 * the current message): the initial-exec model, one %fs-relative load.
 * The library is compiled position-independent, where the default model
 * is a call to __tls_get_addr (rewritten by the linker only in a static
 * link): the compiler must assume the call, so every function that reads
 * the variable saved its live registers around it (trp_send's fast path
 * pushed four). libtroupe.so is marked STATIC_TLS already (its private
 * jemalloc's thread data is initial-exec), so this adds no new limit on
 * loading it with dlopen.
 */
#if defined(__GNUC__)
#define TRP__TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define TRP__TLS_IE
#endif

/* Monotonic time in nanoseconds. */
uint64_t trp__now_ns(void);

/*
 * Timeouts as the API takes them (< 0 forever, 0 poll, > 0 relative ns):
 * trp__deadline() turns one into an absolute deadline (0 when it has none),
 * and trp__remaining() says how long a wait may still block: -1 forever,
 * 0 expired (or a poll), else the nanoseconds left.
 */
static inline uint64_t trp__deadline(int64_t timeout_ns)
{
	return timeout_ns > 0 ? trp__now_ns() + (uint64_t)timeout_ns : 0;
}

static inline int64_t trp__remaining(int64_t timeout_ns, uint64_t deadline)
{
	if (timeout_ns < 0)
		return -1;
	if (timeout_ns == 0)
		return 0;
	uint64_t now = trp__now_ns();
	return now >= deadline ? 0 : (int64_t)(deadline - now);
}

/*
 * Blocks while *addr == expected, for at most timeout_ns (< 0: forever).
 * May return spuriously; callers re-check their condition.
 */
void trp__futex_wait(_Atomic(uint32_t) *addr, uint32_t expected,
		     int64_t timeout_ns);
/* Wakes up to n threads blocked in trp__futex_wait on addr. */
void trp__futex_wake(_Atomic(uint32_t) *addr, int n);
/* As trp__futex_wait, tagged with @bits: only wakes whose bits intersect
 * wake this waiter (trp__futex_wake wakes every waiter). */
void trp__futex_wait_bits(_Atomic(uint32_t) *addr, uint32_t expected,
			  int64_t timeout_ns, uint32_t bits);
/* Wakes up to n waiters whose bits intersect @bits. */
int trp__futex_wake_bits(_Atomic(uint32_t) *addr, int n, uint32_t bits);
/* The CPU the calling thread runs on, or -1 (a hint: it may move). */
int trp__current_cpu(void);

/*
 * eventfds (ports, port.c): a 64-bit counter behind a descriptor that is
 * readable while the counter is non-zero. The kernel serialises writes and
 * reads of one eventfd under the lock of its wait queue, so a read that
 * returns a write's count happens after that write, and after everything
 * the writer did before it (the ordering a port's wake-up relies on).
 */
/* A new eventfd (counter 0, EFD_NONBLOCK | EFD_CLOEXEC): the descriptor,
 * or TRP_ESYSTEM. */
int trp__eventfd_open(void);
/* Adds 1 to the counter: the descriptor becomes readable, and every
 * epoll instance watching it gets an event (also an edge-triggered one
 * whose descriptor was readable already). */
void trp__eventfd_signal(int fd);
/* Reads and resets the counter: returns what it was (0: not readable). */
uint64_t trp__eventfd_clear(int fd);
/* Closes it. */
void trp__eventfd_close(int fd);

/* CPU relaxation hint for spin loops. */
static inline void trp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Gives the CPU to another runnable thread (cold waits only). */
void trp__thread_yield(void);

/* Number of online CPUs (>= 1). */
uint32_t trp__online_cpus(void);

struct trp__thread {
	uintptr_t handle;
};
/* Starts fn(arg) on a new thread. 0 or TRP_ESYSTEM. */
int trp__thread_start(struct trp__thread *t, void *(*fn)(void *), void *arg);
/* Joins the thread. */
void trp__thread_join(struct trp__thread *t);
/* Lets the thread's resources go when it exits (no join). */
void trp__thread_detach(struct trp__thread *t);
/* Pins the calling thread to @cpu (mod online CPUs); best effort. */
void trp__thread_pin(uint32_t cpu);
/* Names the calling thread (truncated to 15 bytes). */
void trp__thread_name(const char *name);

/* A cold-path mutex (registry writers, spawn bookkeeping). */
struct trp__mutex {
	_Atomic(uint32_t) state; /* 0 free, 1 locked, 2 locked + waiters */
};
#define TRP__MUTEX_INIT                                                        \
	{                                                                      \
		0                                                              \
	}
void trp__mutex_lock(struct trp__mutex *m);
void trp__mutex_unlock(struct trp__mutex *m);

/* Takes @m if it is free: true, or false at once (never waits). */
static inline bool trp__mutex_trylock(struct trp__mutex *m)
{
	uint32_t c = 0;
	/* ORDER: acquire pairs with the release in trp__mutex_unlock. */
	return atomic_compare_exchange_strong_explicit(
		&m->state, &c, 1, memory_order_acquire, memory_order_relaxed);
}

/* ThreadSanitizer annotations (no-ops in other builds). */
#if defined(TRP_SANITIZE_THREAD)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define trp__tsan_acquire(p) __tsan_acquire((void *)(p))
#define trp__tsan_release(p) __tsan_release((void *)(p))
#else
#define trp__tsan_acquire(p) ((void)(p))
#define trp__tsan_release(p) ((void)(p))
#endif

#endif /* TRP_CORE_PLATFORM_H */
