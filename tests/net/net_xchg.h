/*
 * tests/net/net_xchg.h - what exchange_churn.c and its peers (test_node.c,
 * role "xchg") share: a numbered publisher on a bridged exchange and a
 * subscriber that checks what it got from each publishing node.
 *
 * A publisher (one per node, id 0..NET_XPUBS-1) numbers its publishes
 * 1, 2, 3, ... (struct net_seq: sender = its id) from one thread and,
 * under the same mutex, its markers: net_xpub_mark() publishes the next
 * number at once and returns it, so the caller knows a number that the
 * node's ordered stream carries after everything it published before.
 *
 * A checker (a callback sink) keeps per publisher the first and the last
 * number it got, how many, the numbers it skipped (holes) and those that
 * came twice or backwards (violations). Each publisher's messages reach a
 * sink from one thread (the publisher's own, or the node's bridge thread
 * for all remote ones), so each per-publisher record has one writer; the
 * fields are relaxed atomics, read by the test thread.
 */
#ifndef TRP_TESTS_NET_XCHG_H
#define TRP_TESTS_NET_XCHG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <troupe/exchange.h>

#include "net_proto.h"

#define NET_XPUBS 3	      /* publishing nodes */
#define NET_XCHG "churn"      /* the bridged exchange */
#define NET_T_XPUB 12	      /* its messages: struct net_seq */
#define NET_XPUB_MAX 2000000u /* a publisher stops there at the latest */

struct net_xrec {
	atomic_uint_least64_t first, last, count, holes, violations;
};

struct net_xcheck {
	struct net_xrec from[NET_XPUBS];
	atomic_uint_least64_t bad; /* not a net_seq of a known publisher */
};

static inline void net_xcheck_sink(void *ctx, const trp_msg_t *m)
{
	struct net_xcheck *c = (struct net_xcheck *)ctx;
	struct net_seq q;
	if (m->type != NET_T_XPUB || m->size != sizeof q) {
		atomic_fetch_add_explicit(&c->bad, 1, memory_order_relaxed);
		return;
	}
	memcpy(&q, m->data, sizeof q);
	if (q.magic != NET_SEQ_MAGIC || q.sender >= NET_XPUBS || q.seq == 0) {
		atomic_fetch_add_explicit(&c->bad, 1, memory_order_relaxed);
		return;
	}
	struct net_xrec *r = &c->from[q.sender];
	/* relaxed: one writer per record (see above); readers poll */
	uint64_t last = atomic_load_explicit(&r->last, memory_order_relaxed);
	if (last == 0) {
		atomic_store_explicit(&r->first, q.seq, memory_order_relaxed);
	} else if (q.seq <= last) {
		atomic_fetch_add_explicit(&r->violations, 1,
					  memory_order_relaxed);
		return;
	} else if (q.seq > last + 1) {
		atomic_fetch_add_explicit(&r->holes, q.seq - last - 1,
					  memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	atomic_store_explicit(&r->last, q.seq, memory_order_relaxed);
}

static inline uint64_t net_xld(atomic_uint_least64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* A numbered publisher. */
struct net_xpub {
	trp_exchange_t *ex;
	uint32_t id;
	unsigned pause_us;
	pthread_mutex_t mu;
	uint64_t seq; /* under mu */
	int err;      /* first publish error, under mu */
	atomic_int stop;
	pthread_t th;
	bool running;
};

/* Publishes the next number (under mu). */
static inline uint64_t net_xpub_one_locked(struct net_xpub *p)
{
	struct net_seq q = { p->id, NET_SEQ_MAGIC, p->seq + 1 };
	int rc = trp_exchange_publish(p->ex, NET_T_XPUB, &q, sizeof q);
	if (rc != 0 && p->err == 0)
		p->err = rc;
	if (rc == 0)
		p->seq++;
	return p->seq;
}

static inline void *net_xpub_main(void *arg)
{
	struct net_xpub *p = (struct net_xpub *)arg;
	struct timespec ts = { 0, (long)p->pause_us * 1000 };
	for (uint64_t i = 0; i < NET_XPUB_MAX && !atomic_load(&p->stop); i++) {
		pthread_mutex_lock(&p->mu);
		(void)net_xpub_one_locked(p);
		pthread_mutex_unlock(&p->mu);
		if (p->pause_us != 0)
			nanosleep(&ts, NULL);
	}
	return NULL;
}

static inline void net_xpub_init(struct net_xpub *p, trp_exchange_t *ex,
				 uint32_t id, unsigned pause_us)
{
	memset(p, 0, sizeof *p);
	p->ex = ex;
	p->id = id;
	p->pause_us = pause_us;
	pthread_mutex_init(&p->mu, NULL);
}

static inline int net_xpub_start(struct net_xpub *p)
{
	atomic_store(&p->stop, 0);
	int rc = pthread_create(&p->th, NULL, net_xpub_main, p);
	p->running = rc == 0;
	return rc;
}

/* A marker: the next number, published now; returns it. */
static inline uint64_t net_xpub_mark(struct net_xpub *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t s = net_xpub_one_locked(p);
	pthread_mutex_unlock(&p->mu);
	return s;
}

/* Stops the thread; returns the last number published. */
static inline uint64_t net_xpub_stop(struct net_xpub *p)
{
	if (p->running) {
		atomic_store(&p->stop, 1);
		pthread_join(p->th, NULL);
		p->running = false;
	}
	pthread_mutex_lock(&p->mu);
	uint64_t s = p->seq;
	pthread_mutex_unlock(&p->mu);
	return s;
}

#endif /* TRP_TESTS_NET_XCHG_H */
