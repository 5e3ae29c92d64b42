/*
 * core/message.c - message allocation and the per-worker pool.
 */
#include "message.h"

#include <string.h>

#include "alloc.h"
#include "platform.h"
#include "troupe/error.h"

#define BATCH 64u	 /* blocks handed to another worker at once */
#define LOCAL_HIGH 4096u /* a worker's cache beyond this sheds a batch */

/* A free block seen as a list node. next_batch, last and count are only
 * meaningful in the first block of a batch on a `returned` stack. */
struct free_block {
	struct free_block *next;
	struct free_block *next_batch;
	struct free_block *last;
	uint32_t count;
};

int trp__msg_pool_init(struct trp__msg_pool *p, uint16_t index,
		       uint16_t nworkers, struct trp__msg_pool **all)
{
	memset(p, 0, sizeof *p);
	p->index = index;
	p->nworkers = nworkers;
	p->all = all;
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
	free_chain(p->out_head);
	p->free_list = NULL;
	p->out_head = p->out_tail = NULL;
	p->n_free = 0;
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

#if !defined(TRP_NO_POOL)
/* Owner: takes every batch other workers handed over (no walk: each
 * batch knows its last block). */
static void take_returned(struct trp__msg_pool *p)
{
	/* relaxed check first: the common case is nothing returned, and
	 * the exchange below would dirty the line for nothing. */
	if (atomic_load_explicit(&p->returned, memory_order_relaxed) == NULL)
		return;
	/* ORDER: acquire pairs with the release CAS in give_batch, so the
	 * batch's links are visible. */
	struct free_block *b = atomic_exchange_explicit(&p->returned, NULL,
							memory_order_acquire);
	while (b != NULL) {
		struct free_block *nb = b->next_batch;
		b->last->next = p->free_list;
		p->free_list = b;
		p->n_free += b->count;
		b = nb;
	}
}

/* Owner: hands the full outgoing batch to the next other worker. */
static void give_batch(struct trp__msg_pool *p)
{
	struct free_block *first = p->out_head;
	first->last = p->out_tail;
	first->count = p->out_count;
	p->out_head = p->out_tail = NULL;
	p->out_count = 0;
	p->give_to = (uint16_t)((p->give_to + 1) % p->nworkers);
	if (p->give_to == p->index)
		p->give_to = (uint16_t)((p->give_to + 1) % p->nworkers);
	struct trp__msg_pool *to = p->all[p->give_to];
	/* relaxed: validated by the CAS. */
	void *top = atomic_load_explicit(&to->returned, memory_order_relaxed);
	do {
		first->next_batch = top;
		/* ORDER: release publishes the batch links to the owner's
		 * acquire exchange. No ABA: the owner only ever takes the
		 * whole stack. */
	} while (!atomic_compare_exchange_weak_explicit(
		&to->returned, &top, first, memory_order_release,
		memory_order_relaxed));
}

#endif

struct trp__msg *trp__msg_alloc(struct trp__msg_pool *pool, size_t payload)
{
	struct trp__msg *m;
#if !defined(TRP_NO_POOL)
	if (pool != NULL && payload <= TRP__MSG_INLINE_SMALL) {
		if (pool->free_list == NULL)
			take_returned(pool);
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
	if (block < TRP__MSG_POOL_BLOCK)
		block = TRP__MSG_POOL_BLOCK;
	m = trp__alloc(block);
	if (m == NULL)
		return NULL;
	m->pooled = block == TRP__MSG_POOL_BLOCK;
	m->block = (uint32_t)block;
	m->hold = TRP__HOLD_INLINE;
	return m;
}

void trp__msg_free_block(struct trp__msg_pool *pool, struct trp__msg *m)
{
#if !defined(TRP_NO_POOL)
	/* Blocks of the pooled class are interchangeable between workers:
	 * the freeing worker keeps it (it is hot in this core's cache), and
	 * sheds batches to another worker when it holds too many. */
	if (m->pooled && pool != NULL) {
		struct free_block *b = (struct free_block *)(void *)m;
		if (pool->n_free < LOCAL_HIGH) {
			b->next = pool->free_list;
			pool->free_list = b;
			pool->n_free++;
			return;
		}
		if (pool->nworkers > 1) {
			/* Too many cached here: collect a batch for a worker
			 * that allocates more than it frees. */
			b->next = NULL;
			if (pool->out_tail != NULL)
				pool->out_tail->next = b;
			else
				pool->out_head = b;
			pool->out_tail = b;
			if (++pool->out_count == BATCH)
				give_batch(pool);
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
