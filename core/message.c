/*
 * core/message.c - message allocation and the per-worker pool.
 */
#include "message.h"

#include <string.h>

#include "alloc.h"
#include "platform.h"
#include "troupe/error.h"

#define BATCH 64u           /* blocks returned to their owner at once */
#define LOCAL_MAX 65536u    /* cap on a worker's private cache */

/* A free block seen as a list node. `next_batch` is only meaningful in the
 * first block of a returned batch. */
struct free_block {
	struct free_block *next;
	struct free_block *next_batch;
	uint32_t count; /* blocks in this batch (first block only) */
};

struct trp__msg_outbox {
	struct free_block *head;
	struct free_block *tail;
	uint32_t count;
};

int trp__msg_pool_init(struct trp__msg_pool *p, uint16_t index,
		       uint16_t nworkers, struct trp__msg_pool **all)
{
	memset(p, 0, sizeof *p);
	p->index = index;
	p->nworkers = nworkers;
	p->all = all;
	p->outbox = trp__calloc(nworkers, sizeof *p->outbox);
	if (p->outbox == NULL)
		return TRP_ENOMEM;
	atomic_init(&p->returned, NULL);
	return 0;
}

static void free_chain(struct free_block *b)
{
	while (b != NULL) {
		struct free_block *next = b->next;
		trp__free(b, TRP__MSG_POOL_BLOCK);
		b = next;
	}
}

void trp__msg_pool_destroy(struct trp__msg_pool *p)
{
	free_chain(p->free_list);
	p->free_list = NULL;
	p->n_free = 0;
	if (p->outbox != NULL) {
		for (uint16_t i = 0; i < p->nworkers; i++)
			free_chain(p->outbox[i].head);
		trp__free(p->outbox, 0);
		p->outbox = NULL;
	}
	/* relaxed: workers are joined. */
	struct free_block *b =
		atomic_load_explicit(&p->returned, memory_order_relaxed);
	while (b != NULL) {
		struct free_block *nb = b->next_batch;
		free_chain(b);
		b = nb;
	}
	atomic_store_explicit(&p->returned, NULL, memory_order_relaxed);
}

/* Owner: takes every batch other workers returned. */
static void reclaim_returned(struct trp__msg_pool *p)
{
	/* relaxed check first: the common case is nothing returned, and
	 * the exchange below would dirty the line for nothing. */
	if (atomic_load_explicit(&p->returned, memory_order_relaxed) == NULL)
		return;
	/* ORDER: acquire pairs with the release CAS in return_batch, so the
	 * batch's links are visible. */
	struct free_block *b =
		atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
	while (b != NULL) {
		struct free_block *nb = b->next_batch;
		struct free_block *last = b;
		while (last->next != NULL)
			last = last->next;
		last->next = p->free_list;
		p->free_list = b;
		p->n_free += b->count;
		b = nb;
	}
}

static void return_batch(struct trp__msg_pool *owner, struct free_block *first,
			 uint32_t count)
{
	first->count = count;
	/* relaxed: validated by the CAS. */
	void *top = atomic_load_explicit(&owner->returned, memory_order_relaxed);
	do {
		first->next_batch = top;
		/* ORDER: release publishes the batch links to the owner's
		 * acquire exchange. No ABA: the owner only ever takes the
		 * whole stack. */
	} while (!atomic_compare_exchange_weak_explicit(
		&owner->returned, &top, first, memory_order_release,
		memory_order_relaxed));
}

struct trp__msg *trp__msg_alloc(struct trp__msg_pool *pool, size_t payload)
{
	struct trp__msg *m;
#if !defined(TRP_NO_POOL)
	if (pool != NULL && payload <= TRP__MSG_INLINE_SMALL) {
		if (pool->free_list == NULL)
			reclaim_returned(pool);
		struct free_block *b = pool->free_list;
		if (b != NULL) {
			pool->free_list = b->next;
			pool->n_free--;
			m = (struct trp__msg *)(void *)b;
		} else {
			m = trp__alloc(TRP__MSG_POOL_BLOCK);
			if (m == NULL)
				return NULL;
		}
		m->pooled = 1;
		m->owner = pool->index;
		m->block = TRP__MSG_POOL_BLOCK;
		m->hold = TRP__HOLD_INLINE;
		return m;
	}
#else
	(void)pool;
#endif
	if (payload > TRP_MSG_MAX)
		return NULL;
	size_t block = sizeof *m + payload;
	m = trp__alloc(block);
	if (m == NULL)
		return NULL;
	m->pooled = 0;
	m->owner = 0;
	m->block = (uint32_t)block;
	m->hold = TRP__HOLD_INLINE;
	return m;
}

void trp__msg_free_block(struct trp__msg_pool *pool, struct trp__msg *m)
{
#if !defined(TRP_NO_POOL)
	if (m->pooled && pool != NULL) {
		struct free_block *b = (struct free_block *)(void *)m;
		if (m->owner == pool->index) {
			if (pool->n_free < LOCAL_MAX) {
				b->next = pool->free_list;
				pool->free_list = b;
				pool->n_free++;
				return;
			}
		} else if (m->owner < pool->nworkers) {
			struct trp__msg_outbox *o = &pool->outbox[m->owner];
			b->next = NULL;
			if (o->tail != NULL)
				o->tail->next = b;
			else
				o->head = b;
			o->tail = b;
			if (++o->count == BATCH) {
				return_batch(pool->all[m->owner], o->head,
					     o->count);
				o->head = o->tail = NULL;
				o->count = 0;
			}
			return;
		}
	}
#else
	(void)pool;
#endif
	trp__free(m, m->block);
}

void trp__msg_free(struct trp__msg_pool *pool, struct trp__msg *m)
{
	if (m->hold == TRP__HOLD_OWNED && m->pub.data != NULL) {
		trp_free_fn fn = m->free_fn;
		fn((void *)m->pub.data);
	}
	trp__msg_free_block(pool, m);
}
