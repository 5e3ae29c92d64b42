/*
 * core/message.c - message allocation and the per-worker pool.
 */
#include "message.h"

#include <string.h>

#include "alloc.h"
#include "platform.h"
#include "troupe/error.h"

/*
 * LOCAL_HIGH: a worker's cache beyond this sheds a batch. GIVEN_MAX: batches
 * one worker may hold from the others. Kept after trying smaller ones for
 * issue 4 (peak RSS, medians of 5 runs, 2 workers): LOCAL_HIGH 256 took
 * 0.5 MiB off fanin's peak but added 0.4 MiB to storm's (1024: +1.7 MiB),
 * because the surplus then goes back to jemalloc and is allocated again:
 * 4 to 25 times as many 64-byte mallocx calls (fanin 1.4M -> 6.4M, storm
 * 0.5M -> 12M). 2048 with GIVEN_MAX 32 or 64 changed the peaks by less
 * than the run-to-run noise.
 */
#define LOCAL_HIGH 4096u

_Thread_local const trp_msg_t *trp__current_msg TRP__TLS_IE;
#define GIVEN_MAX 64u

int trp__msg_pool_init(struct trp__msg_pool *p, uint16_t index,
		       uint16_t nworkers, struct trp__msg_pool **all)
{
	memset(p, 0, sizeof *p);
	p->index = index;
	p->nworkers = nworkers;
	p->all = all;
	atomic_init(&p->returned, NULL);
	atomic_init(&p->given, 0);
	atomic_init(&p->spare, NULL);
	atomic_init(&p->spare_n, 0);
	atomic_init(&p->spare_lock, 0);
	atomic_init(&p->spare_want, 0);
#if !defined(TRP_NO_POOL)
	p->stack = trp__alloc(LOCAL_HIGH * sizeof *p->stack);
	if (p->stack == NULL)
		return TRP_ENOMEM;
#endif
	return 0;
}

static void free_batch(struct trp__msg_batch *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		trp__free(b->blocks[i], TRP__MSG_POOL_BLOCK);
	trp__free(b, sizeof *b);
}

void trp__msg_pool_destroy(struct trp__msg_pool *p)
{
	for (uint32_t i = 0; i < p->n_free; i++)
		trp__free(p->stack[i], TRP__MSG_POOL_BLOCK);
	p->n_free = 0;
	for (int c = 0; c < 2; c++) {
		for (uint32_t i = 0; i < p->n_bundles[c]; i++)
			trp__free(p->bundles[c][i], c == 0 ? TRP__BUNDLE_SMALL :
							     TRP__BUNDLE_LARGE);
		p->n_bundles[c] = 0;
	}
	trp__free(p->stack, LOCAL_HIGH * sizeof *p->stack);
	p->stack = NULL;
	if (p->out != NULL)
		free_batch(p->out);
	p->out = NULL;
	/* relaxed: workers are joined. */
	struct trp__msg_batch *b =
		atomic_load_explicit(&p->returned, memory_order_relaxed);
	while (b != NULL) {
		struct trp__msg_batch *next = b->next;
		free_batch(b);
		b = next;
	}
	atomic_store_explicit(&p->returned, NULL, memory_order_relaxed);
	/* relaxed: no outside thread is inside the runtime any more. */
	b = atomic_load_explicit(&p->spare, memory_order_relaxed);
	while (b != NULL) {
		struct trp__msg_batch *next = b->next;
		free_batch(b);
		b = next;
	}
	atomic_store_explicit(&p->spare, NULL, memory_order_relaxed);
}

#if !defined(TRP_NO_POOL)
/* Pushes batch @b onto the Treiber stack @head (any thread). */
static void batch_push(_Atomic(struct trp__msg_batch *) *head,
		       struct trp__msg_batch *b)
{
	/* relaxed: validated by the CAS. */
	struct trp__msg_batch *top =
		atomic_load_explicit(head, memory_order_relaxed);
	do {
		b->next = top;
		/* ORDER: release publishes the batch (its pointers, and the
		 * blocks' last writes by whoever freed them) to the acquire
		 * of the stack's popper (spare_pop, take_batch). */
	} while (!atomic_compare_exchange_weak_explicit(
		head, &top, b, memory_order_release, memory_order_relaxed));
}

/* Pushes batch @b onto @p's spare stack (the owner, or an outside thread
 * giving back). */
static void spare_push(struct trp__msg_pool *p, struct trp__msg_batch *b)
{
	batch_push(&p->spare, b);
	/* relaxed: a bound, approximate by the racing pushers at most. */
	atomic_fetch_add_explicit(&p->spare_n, 1, memory_order_relaxed);
}
#endif

#if !defined(TRP_NO_POOL)
/* Owner: refills the empty stack from one batch another worker gave us. */
static bool take_batch(struct trp__msg_pool *p)
{
	/* ORDER: acquire pairs with the release CAS in give_batch, so the
	 * batch's contents are visible. */
	struct trp__msg_batch *b =
		atomic_load_explicit(&p->returned, memory_order_acquire);
	/* Only the owner pops, so b cannot be popped, freed or re-pushed
	 * behind our back: no ABA. Pushers only add on top. */
	while (b != NULL && !atomic_compare_exchange_weak_explicit(
				    &p->returned, &b, b->next,
				    memory_order_acquire, memory_order_acquire))
		;
	if (b == NULL)
		return false;
	/* relaxed: see give_batch. */
	atomic_fetch_sub_explicit(&p->given, 1, memory_order_relaxed);
	memcpy(p->stack, b->blocks, b->n * sizeof b->blocks[0]);
	p->n_free = b->n;
	/* Keep the descriptor for our own next shed. */
	if (p->out == NULL) {
		b->n = 0;
		p->out = b;
	} else {
		trp__free(b, sizeof *b);
	}
	return true;
}

/* Pops a batch from @p's spare stack, or NULL (none, or another outside
 * thread is popping). */
static struct trp__msg_batch *spare_pop(struct trp__msg_pool *p)
{
	/* relaxed: a hint, checked again under the lock. */
	if (atomic_load_explicit(&p->spare, memory_order_relaxed) == NULL)
		return NULL;
	/* ORDER: acquire/release: poppers take turns, so the one popping
	 * sees b->next of a b no other thread can pop and push again
	 * meanwhile (no ABA; pushers only add on top). */
	if (atomic_exchange_explicit(&p->spare_lock, 1, memory_order_acquire) !=
	    0)
		return NULL;
	/* ORDER: acquire pairs with spare_push's release CAS. */
	struct trp__msg_batch *b =
		atomic_load_explicit(&p->spare, memory_order_acquire);
	while (b != NULL && !atomic_compare_exchange_weak_explicit(
				    &p->spare, &b, b->next,
				    memory_order_acquire, memory_order_acquire))
		;
	atomic_store_explicit(&p->spare_lock, 0, memory_order_release);
	if (b != NULL)
		/* relaxed: see spare_push. */
		atomic_fetch_sub_explicit(&p->spare_n, 1, memory_order_relaxed);
	return b;
}

/* Owner: outside threads asked for spares and there is room for one
 * more batch. relaxed: both are hints; a late look sheds one batch
 * elsewhere. */
static bool spare_wanted(const struct trp__msg_pool *p)
{
	return atomic_load_explicit(&p->spare_want, memory_order_relaxed) &&
	       atomic_load_explicit(&p->spare_n, memory_order_relaxed) <
		       TRP__MSG_SPARE_MAX;
}

/* Owner: hands the full outgoing batch to outside threads (spare_wanted),
 * else to the next other worker. */
static void give_batch(struct trp__msg_pool *p)
{
	struct trp__msg_batch *b = p->out;
	p->out = NULL;
	if (spare_wanted(p)) {
		spare_push(p, b);
		return;
	}
	if (p->nworkers == 1) {
		free_batch(b);
		return;
	}
	p->give_to = (uint16_t)((p->give_to + 1) % p->nworkers);
	if (p->give_to == p->index)
		p->give_to = (uint16_t)((p->give_to + 1) % p->nworkers);
	struct trp__msg_pool *to = p->all[p->give_to];
	/* Workers that only free (messages allocated by outside threads)
	 * would pile batches up forever: past GIVEN_MAX waiting at the
	 * receiver, the blocks go back to the allocator. relaxed: a bound,
	 * approximate by the number of racing givers at most. */
	if (atomic_fetch_add_explicit(&to->given, 1, memory_order_relaxed) >=
	    GIVEN_MAX) {
		atomic_fetch_sub_explicit(&to->given, 1, memory_order_relaxed);
		free_batch(b);
		return;
	}
	batch_push(&to->returned, b);
}
#endif

struct trp__msg *trp__msg_alloc(struct trp__msg_pool *pool, size_t payload)
{
	struct trp__msg *m;
#if !defined(TRP_NO_POOL)
	if (pool != NULL && payload <= TRP__MSG_INLINE_SMALL) {
		if (pool->n_free != 0 || take_batch(pool)) {
			m = pool->stack[--pool->n_free];
		} else {
			m = trp__alloc(TRP__MSG_POOL_BLOCK);
			if (m == NULL)
				return NULL;
		}
		return trp__msg_pooled_init(m);
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
	m->request = TRP__REQ_NONE;
	return m;
}

#if !defined(TRP_NO_POOL)
/* Which of a pool's bundle caches takes blocks of @block bytes, or -1. */
static inline int bundle_class(uint32_t block)
{
	return block == TRP__BUNDLE_SMALL ? 0 :
	       block == TRP__BUNDLE_LARGE ? 1 :
					    -1;
}
#endif

struct trp__msg *trp__bundle_alloc(struct trp__msg_pool *pool, uint32_t block)
{
	struct trp__msg *b = NULL;
#if !defined(TRP_NO_POOL)
	int c = bundle_class(block);
	if (pool != NULL && c >= 0 && pool->n_bundles[c] != 0)
		b = pool->bundles[c][--pool->n_bundles[c]];
#else
	(void)pool;
#endif
	if (b == NULL)
		b = trp__alloc(block);
	if (b == NULL)
		return NULL;
	b->pooled = 0;
	b->block = block;
	b->hold = TRP__HOLD_BUNDLE;
	b->request = TRP__REQ_NONE;
	b->pub.size = 0;
	return b;
}

void trp__msg_free_block(struct trp__msg_pool *pool, struct trp__msg *m)
{
#if !defined(TRP_NO_POOL)
	/* Blocks of the pooled class are interchangeable between workers:
	 * the freeing worker keeps it (it is hot in this core's cache), and
	 * sheds batches to another worker when it holds too many. */
	if (m->pooled && pool != NULL) {
		if (pool->n_free < LOCAL_HIGH) {
			pool->stack[pool->n_free++] = m;
			return;
		}
		if (pool->nworkers > 1 || spare_wanted(pool)) {
			if (pool->out == NULL) {
				pool->out = trp__alloc(sizeof *pool->out);
				if (pool->out != NULL)
					pool->out->n = 0;
			}
			if (pool->out != NULL) {
				pool->out->blocks[pool->out->n++] = m;
				if (pool->out->n == TRP__MSG_BATCH)
					give_batch(pool);
				return;
			}
		}
	} else if (pool != NULL) {
		/* Any block of a cached size will do: blocks are memory. */
		int c = bundle_class(m->block);
		if (c >= 0 && pool->n_bundles[c] < TRP__BUNDLE_CACHE) {
			pool->bundles[c][pool->n_bundles[c]++] = m;
			return;
		}
	}
#else
	(void)pool;
#endif
	trp__free(m, m->block);
}

struct trp__msg *trp__msg_stash_alloc(struct trp__msg_stash *st, size_t payload)
{
#if !defined(TRP_NO_POOL)
	if (payload <= TRP__MSG_INLINE_SMALL) {
		struct trp__msg_batch *b = st->b;
		if ((b == NULL || b->n == 0) && !st->tried) {
			struct trp__msg_batch *got = NULL;
			for (uint32_t k = 0; k < st->nworkers && got == NULL;
			     k++)
				got = spare_pop(
					st->all[(st->first + k) % st->nworkers]);
			if (got != NULL) {
				if (b != NULL) /* an empty descriptor */
					trp__free(b, sizeof *b);
				st->b = b = got;
			} else {
				/* None: ask every worker to keep some (they
				 * free what we allocate below). relaxed: a
				 * hint. */
				for (uint32_t k = 0; k < st->nworkers; k++)
					if (!atomic_load_explicit(
						    &st->all[k]->spare_want,
						    memory_order_relaxed))
						atomic_store_explicit(
							&st->all[k]->spare_want,
							1,
							memory_order_relaxed);
				st->tried = true;
			}
		}
		if (b != NULL && b->n != 0) {
			return trp__msg_pooled_init(b->blocks[--b->n]);
		}
	}
#else
	(void)st;
#endif
	return trp__msg_alloc(NULL, payload);
}

void trp__msg_stash_done(struct trp__msg_stash *st)
{
	struct trp__msg_batch *b = st->b;
	st->b = NULL;
	if (b == NULL)
		return;
#if !defined(TRP_NO_POOL)
	if (b->n != 0) {
		spare_push(st->all[st->first], b);
		return;
	}
#endif
	trp__free(b, sizeof *b);
}

struct trp__shared_entries *trp__shared_entries_make(uint32_t type,
						     const void *items,
						     size_t len, uint32_t n,
						     uint32_t refs)
{
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	size_t block = sizeof(struct trp__shared_entries) + (size_t)need * n;
	struct trp__shared_entries *s = trp__alloc(block);
	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, refs);
	s->block = (uint32_t)block;
	const unsigned char *p = items;
	for (uint32_t k = 0; k < n; k++)
		trp__bundle_put(s->data + (size_t)k * need, type, 0,
				p + (size_t)k * len, len);
	return s;
}

struct trp__shared_entries *trp__shared_entries_alloc(uint32_t bytes)
{
	size_t block = sizeof(struct trp__shared_entries) + bytes;
	struct trp__shared_entries *s = trp__alloc(block);
	if (s != NULL)
		s->block = (uint32_t)block;
	return s;
}

void trp__shared_entries_release(struct trp__shared_entries *s)
{
	/* ORDER: acq_rel, as for any reference count: every reader's loads
	 * of the entries happen before the free. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		trp__free(s, s->block);
}

void trp__msg_drop_payload(struct trp__msg *m)
{
	if (m->hold == TRP__HOLD_OWNED && m->pub.data != NULL) {
		trp_free_fn fn = m->u.free_fn;
		fn((void *)m->pub.data);
		m->pub.data = NULL;
	} else if (m->hold == TRP__HOLD_SYS && m->u.sys != NULL) {
		struct trp__sys_msg *s = m->u.sys;
		m->u.sys = NULL;
		s->ops->release(s);
	} else if (m->hold == TRP__HOLD_SHARED && m->pub.data != NULL) {
		trp__shared_entries_release(
			(struct trp__shared_entries
				 *)(void *)((unsigned char *)m->pub.data -
					    offsetof(struct trp__shared_entries,
						     data)));
		m->pub.data = NULL;
	}
}

void trp__msg_free(struct trp__msg_pool *pool, struct trp__msg *m)
{
	trp__msg_drop_payload(m);
	trp__msg_free_block(pool, m);
}
