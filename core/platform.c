/*
 * core/platform.c - futex, eventfd, threads, affinity, clock (Linux).
 */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "invariant.h"
#include "troupe/error.h"

uint64_t trp__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void trp__futex_wait(_Atomic(uint32_t) *addr, uint32_t expected,
		     int64_t timeout_ns)
{
	struct timespec rel, *prel = NULL;
	if (timeout_ns >= 0) {
		rel.tv_sec = (time_t)(timeout_ns / 1000000000);
		rel.tv_nsec = (long)(timeout_ns % 1000000000);
		prel = &rel;
	}
	/* The kernel compares *addr with expected atomically with queueing
	 * the waiter; that is what makes the wait free of lost wake-ups. */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, prel,
		NULL, 0);
}

void trp__futex_wake(_Atomic(uint32_t) *addr, int n)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL,
		0);
}

void trp__futex_wait_bits(_Atomic(uint32_t) *addr, uint32_t expected,
			  int64_t timeout_ns, uint32_t bits)
{
	struct timespec abs, *pabs = NULL;
	if (timeout_ns >= 0) {
		/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time */
		uint64_t t = trp__now_ns() + (uint64_t)timeout_ns;
		abs.tv_sec = (time_t)(t / 1000000000u);
		abs.tv_nsec = (long)(t % 1000000000u);
		pabs = &abs;
	}
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET_PRIVATE,
		expected, pabs, NULL, bits);
}

int trp__futex_wake_bits(_Atomic(uint32_t) *addr, int n, uint32_t bits)
{
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_BITSET_PRIVATE,
			 n, NULL, NULL, bits);
	return r > 0 ? (int)r : 0;
}

int trp__current_cpu(void)
{
	return sched_getcpu(); /* glibc: rseq, no system call */
}

int trp__eventfd_open(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return fd >= 0 ? fd : TRP_ESYSTEM;
}

void trp__eventfd_signal(int fd)
{
	uint64_t one = 1;
	/* EAGAIN only if the counter would pass 2^64 - 2: it is read back
	 * to 0 by every drain, so never; EINTR cannot happen on a
	 * non-blocking eventfd, but costs nothing to handle. */
	while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

uint64_t trp__eventfd_clear(int fd)
{
	uint64_t n;
	ssize_t r;
	while ((r = read(fd, &n, sizeof n)) < 0 && errno == EINTR)
		;
	return r == (ssize_t)sizeof n ? n : 0; /* EAGAIN: it was 0 */
}

void trp__eventfd_close(int fd)
{
	(void)close(fd);
}

void trp__thread_yield(void)
{
	(void)sched_yield();
}

uint32_t trp__online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1u : (uint32_t)n;
}

int trp__thread_start(struct trp__thread *t, void *(*fn)(void *), void *arg)
{
	pthread_t th;
	if (pthread_create(&th, NULL, fn, arg) != 0)
		return TRP_ESYSTEM;
	t->handle = (uintptr_t)th;
	return 0;
}

void trp__thread_join(struct trp__thread *t)
{
	pthread_join((pthread_t)t->handle, NULL);
}

void trp__thread_detach(struct trp__thread *t)
{
	(void)pthread_detach((pthread_t)t->handle);
}

void trp__thread_pin(uint32_t cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % trp__online_cpus(), &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void trp__thread_name(const char *name)
{
	char buf[16];
	strncpy(buf, name, sizeof buf - 1);
	buf[sizeof buf - 1] = '\0';
	(void)pthread_setname_np(pthread_self(), buf);
}

/*
 * Drepper's three-state futex mutex ("Futexes Are Tricky", mutex 2).
 * Cold paths only.
 */
void trp__mutex_lock(struct trp__mutex *m)
{
	uint32_t c = 0;
	/* ORDER: acquire pairs with the release in trp__mutex_unlock. */
	if (atomic_compare_exchange_strong_explicit(&m->state, &c, 1,
						    memory_order_acquire,
						    memory_order_relaxed))
		return;
	if (c != 2)
		/* ORDER: acquire, as above. */
		c = atomic_exchange_explicit(&m->state, 2,
					     memory_order_acquire);
	while (c != 0) {
		trp__futex_wait(&m->state, 2, -1);
		/* ORDER: acquire, as above. */
		c = atomic_exchange_explicit(&m->state, 2,
					     memory_order_acquire);
	}
}

void trp__mutex_unlock(struct trp__mutex *m)
{
	/* ORDER: release publishes the critical section to the next owner. */
	if (atomic_exchange_explicit(&m->state, 0, memory_order_release) == 2)
		trp__futex_wake(&m->state, 1);
}

#if TRP__CHECKED
void trp__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "troupe: invariant failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}
#endif
