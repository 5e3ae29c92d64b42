/*
 * core/message.h - message memory: a header (queue link, public view, how
 * the payload is held) followed by an inline payload, plus a per-worker pool
 * for the hot size class.
 *
 * Pool (release builds): each worker caches free blocks of the 64-byte class
 * on a private LIFO stack of pointers. Blocks are interchangeable: whichever
 * worker frees a block keeps it (it is hot in that core's cache); a worker
 * holding more than LOCAL_HIGH sheds 64 at a time, as an array of pointers,
 * onto another worker's lock-free stack of batches, which that worker pops
 * when its own stack runs dry.
 * So a worker that mostly allocates is fed by one that mostly frees, and
 * the cache is bounded by the peak number of messages in flight. Outside
 * threads and larger payloads use the allocator directly. TRP_NO_POOL (ASan
 * builds) turns the pool off so every block is a real allocation.
 *
 * Concurrency: trp__msg_alloc/trp__msg_free may run on any thread; the pool
 * argument is the calling worker's own pool or NULL (outside threads).
 */
#ifndef TRP_CORE_MESSAGE_H
#define TRP_CORE_MESSAGE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "invariant.h"
#include "mailbox.h"
#include "platform.h"
#include "troupe/actor.h"

enum trp__msg_hold {
	TRP__HOLD_INLINE = 0, /* payload follows the header */
	TRP__HOLD_OWNED = 1,  /* handed over by trp_send_owned */
	TRP__HOLD_SYS = 2,    /* payload inline, and u.sys: a system message
				 (a DOWN), struct trp__sys_msg below */
	TRP__HOLD_BUNDLE = 3, /* not one message: a bundle of them, below */
	TRP__HOLD_SHARED = 4, /* a bundle whose entries are in a shared
				 block (struct trp__shared_entries) */
};

enum trp__msg_request {
	TRP__REQ_NONE = 0,     /* a plain message */
	TRP__REQ_PENDING = 1,  /* a request; u.reply is where the answer goes */
	TRP__REQ_ANSWERED = 2, /* a request already replied to, or taken
				  (request.c: the reference moved out) */
};

/*
 * Where a request's answer goes: a future (future.c) today, a remote asker
 * later. The message layer knows only this interface, so the actor layer
 * answers an unanswered or dead-lettered request without knowing futures.
 * A request message holds one reference to its target until it is
 * answered, dropped unanswered or dead-lettered, or until a behaviour
 * takes the request (request.c): then the reference moves into the
 * holder's handle, and from there into a forwarded request, or is dropped
 * when the holder answers or stops.
 */
struct trp__reply_to;
struct trp__reply_ops {
	/* Completes @r with @status (0: the reply is @data/@len; otherwise
	 * an error without payload). False if @r had completed already (a
	 * late reply). Any thread. */
	bool (*answer)(struct trp__reply_to *r, int status, const void *data,
		       size_t len);
	/* Drops the request's reference to @r. */
	void (*release)(struct trp__reply_to *r);
};
struct trp__reply_to {
	const struct trp__reply_ops *ops;
	struct trp_runtime *rt; /* the runtime the request was sent in */
	/* The actor the request was sent to (identity only, no reference):
	 * whoever sends a request with this target sets it before the send
	 * publishes it (trp_ask, a forward). A taken request is filed under
	 * it, so that its stop answers it TRP_EDEAD (request.c); a thread
	 * actor's receive loop has no other way to name its actor. */
	struct trp_actor *receiver;
};

/*
 * A system message (a DOWN, an exit: monitor.c) carries an object the
 * consumer asks, once, just before the behaviour would see the message,
 * whether it still stands: a DOWN voided by trp_demonitor does not (it
 * becomes a dead letter, TRP_DEAD_DEMONITORED). The message layer knows
 * only this interface. The message holds one reference to the object,
 * dropped with its payload (trp__msg_drop_payload).
 */
struct trp__sys_msg;
struct trp__sys_ops {
	/* The consumer is about to deliver the message: true to deliver,
	 * false if it was voided. Called at most once per message. */
	bool (*admit)(struct trp__sys_msg *s);
	/* The message is done (delivered, voided or dead-lettered). */
	void (*release)(struct trp__sys_msg *s);
};
struct trp__sys_msg {
	const struct trp__sys_ops *ops;
};

struct trp__msg {
	struct trp__mpsc_node node; /* first: mailbox link */
	trp_msg_t pub;		    /* what the behaviour sees */
	uint8_t hold;		    /* enum trp__msg_hold */
	uint8_t pooled;		    /* block of the pooled 64-byte class */
	uint8_t request;	    /* enum trp__msg_request */
	uint8_t unused;
	uint32_t block; /* block size in bytes */
	union {
		trp_free_fn free_fn;	     /* TRP__HOLD_OWNED */
		struct trp__reply_to *reply; /* requests (always copied) */
		struct trp__sys_msg *sys;    /* TRP__HOLD_SYS */
	} u;
	alignas(16) unsigned char inline_data[];
};

/*
 * Bundles: several small copied messages from one sender to one receiver,
 * packed one after the other into one block that travels through the
 * mailbox as one node (outbox.h builds them). The receiver reads them from
 * consecutive cache lines, which the hardware prefetcher streams, instead
 * of chasing one separately allocated block per message; the sender
 * allocates and the receiver frees one block per bundle. A bundle is a
 * struct trp__msg with hold == TRP__HOLD_BUNDLE, pooled == 0 and request ==
 * TRP__REQ_NONE; pub.size is the number of bytes of entries written into
 * inline_data (entries are walked by their sizes). Each entry is a header
 * and the payload, padded to 16 bytes so every payload is 16-byte aligned.
 */
struct trp__bundle_entry {
	uint32_t type;
	int32_t status;
	uint32_t size; /* payload bytes */
	uint32_t unused;
	alignas(16) unsigned char data[];
};

/*
 * Entries shared by several bundles (an exchange's publish_n: every actor
 * sink gets the same n messages): written once, then only read; each
 * TRP__HOLD_SHARED message holds one reference, in pub.data (the entries)
 * and pub.size (their bytes), and drops it with
 * trp__msg_drop_payload once its entries are processed or dead-lettered.
 */
struct trp__shared_entries {
	_Atomic(uint32_t) refs;
	uint32_t block; /* bytes allocated */
	alignas(16) unsigned char data[];
};

/* Entries of @n messages of @len bytes at @items, type @type, holding
 * @refs references; NULL on allocation failure. */
struct trp__shared_entries *trp__shared_entries_make(uint32_t type,
						     const void *items,
						     size_t len, uint32_t n,
						     uint32_t refs);
/* Drops a reference; the last one frees the block. */
void trp__shared_entries_release(struct trp__shared_entries *s);
/* Room for @bytes bytes of entries, written by the caller (bundle_put),
 * which sets refs (atomic_init) before anyone else sees the block; NULL
 * on allocation failure. */
struct trp__shared_entries *trp__shared_entries_alloc(uint32_t bytes);

/* True for both kinds of bundle. */
static inline bool trp__msg_is_bundle(const struct trp__msg *m);
/* Where bundle @m's entries start. */
static inline const unsigned char *trp__bundle_base(const struct trp__msg *m);

/* Payloads up to this size may travel in a bundle. */
#define TRP__BUNDLE_PAYLOAD_MAX 240u

/* Bytes an entry with @size payload bytes takes in a bundle. */
static inline uint32_t trp__bundle_entry_size(uint32_t size)
{
	return (uint32_t)sizeof(struct trp__bundle_entry) +
	       ((size + 15u) & ~15u);
}

/* Copies a payload: the common small sizes without a call. */
static inline void trp__copy_payload(void *dst, const void *src, size_t len)
{
	if (len == 8)
		memcpy(dst, src, 8);
	else if (len == 16)
		memcpy(dst, src, 16);
	else if (len == 4)
		memcpy(dst, src, 4);
	else if (len != 0)
		memcpy(dst, src, len);
}

/* Copies a payload of at most 16 bytes without a call: two overlapping
 * loads and stores of 8 (or 4) bytes, bytes below 4. */
static inline void trp__copy_small(void *dst, const void *src, size_t len)
{
	unsigned char *d = dst;
	const unsigned char *p = src;
	trp__assert(len <= 16);
	if (len >= 8) {
		uint64_t x, y;
		memcpy(&x, p, 8);
		memcpy(&y, p + len - 8, 8);
		memcpy(d, &x, 8);
		memcpy(d + len - 8, &y, 8);
	} else if (len >= 4) {
		uint32_t x, y;
		memcpy(&x, p, 4);
		memcpy(&y, p + len - 4, 4);
		memcpy(d, &x, 4);
		memcpy(d + len - 4, &y, 4);
	} else {
		for (size_t i = 0; i < len; i++)
			d[i] = p[i];
	}
}

/* trp__bundle_put for a payload of at most 16 bytes, without a call. */
static inline void trp__bundle_put_small(unsigned char *at, uint32_t type,
					 const void *data, size_t len)
{
	struct trp__bundle_entry *e = (struct trp__bundle_entry *)(void *)at;
	e->type = type;
	e->status = 0;
	e->size = (uint32_t)len;
	trp__copy_small(e->data, data, len);
}

/* Writes a bundle entry (header, then a copy of the payload) at @at, a
 * 16-byte aligned place with trp__bundle_entry_size(len) bytes of room. */
static inline void trp__bundle_put(unsigned char *at, uint32_t type,
				   int32_t status, const void *data, size_t len)
{
	struct trp__bundle_entry *e = (struct trp__bundle_entry *)(void *)at;
	e->type = type;
	e->status = status;
	e->size = (uint32_t)len;
	trp__copy_payload(e->data, data, len);
}

/* The entry of bundle @b at byte offset @off. */
static inline const struct trp__bundle_entry *
trp__bundle_entry_at(const struct trp__msg *b, uint32_t off);

/* How a behaviour sees bundle entry @e. */
static inline trp_msg_t trp__bundle_view(const struct trp__bundle_entry *e)
{
	return (trp_msg_t){ .type = e->type,
			    .status = e->status,
			    .size = e->size,
			    .data = e->size != 0 ? e->data : NULL };
}

/* Payloads up to this size fit the pooled 64-byte block. */
#define TRP__MSG_POOL_BLOCK 64u
#define TRP__MSG_INLINE_SMALL (TRP__MSG_POOL_BLOCK - sizeof(struct trp__msg))

/* The header is 48 bytes on LP64: a pooled block carries 16 payload bytes
 * inline (the storm's and most workloads' messages). Growing it moves
 * those messages out of the pool. */
static_assert(sizeof(struct trp__msg) == 48, "message header is 48 bytes");
static_assert(offsetof(struct trp__msg, node) == 0,
	      "the mailbox link is the first field");
static_assert(offsetof(struct trp__msg, inline_data) % 16 == 0,
	      "inline payloads are 16-byte aligned");
static_assert(sizeof(struct trp__bundle_entry) == 16,
	      "bundle entry payloads stay 16-byte aligned");

/* Blocks handed from one worker's pool to another's, as an array of
 * pointers: taking a batch never reads the (cold) blocks themselves. */
#define TRP__MSG_BATCH 64u
struct trp__msg_batch {
	struct trp__msg_batch *next;
	uint32_t n;
	void *blocks[TRP__MSG_BATCH];
};

/* Batches a worker's pool keeps aside for outside threads, at most
 * (struct trp__msg_stash): 64 x 64 blocks, 256 KiB, as many as it may
 * hold from other workers (GIVEN_MAX, message.c). With 16, an outside
 * publisher to 100 actors ran short between its subscribers' turns and
 * went back to the allocator for ~40 % of its blocks (callgrind). */
#define TRP__MSG_SPARE_MAX 64u

/* The bundle sizes a pool keeps free blocks of (outbox.h's chain bundles;
 * the self bundle is the larger one): a few of each, LIFO, owner only. A
 * bundle is allocated by the sender's worker and freed by the receiver's;
 * the freeing worker keeps the block (hot in its cache) for its own next
 * bundle, and one beyond TRP__BUNDLE_CACHE goes back to the allocator, so
 * a worker that only frees or only allocates bundles costs what it did. */
#define TRP__BUNDLE_SMALL 1024u
#define TRP__BUNDLE_LARGE 2048u
#define TRP__BUNDLE_CACHE 16u

/* One per worker. Fields written by the owner only, except `returned`
 * and the spare group. */
struct trp__msg_pool {
	void **stack;	 /* owner only: free blocks, LIFO (hot on top) */
	uint32_t n_free; /* owner only: blocks on the stack */
	uint16_t index;	 /* this worker's index */
	uint16_t nworkers;
	uint16_t give_to; /* owner only: next worker to shed a batch to */
	/* owner only: free bundle blocks, [0] TRP__BUNDLE_SMALL bytes, [1]
	 * TRP__BUNDLE_LARGE */
	uint8_t n_bundles[2];
	struct trp__msg_batch *out; /* owner only: batch being filled */
	void *bundles[2][TRP__BUNDLE_CACHE];
	/* any worker pushes batches here; only the owner pops */
	alignas(64) _Atomic(struct trp__msg_batch *) returned;
	_Atomic(uint32_t) given; /* batches waiting on `returned` */
	/* the pools of all workers of the runtime, indexed by worker */
	struct trp__msg_pool **all;
	/* Surplus kept for outside threads (struct trp__msg_stash): a stack
	 * of batches the owner sheds to while `spare_want` is set (an
	 * outside thread found none) and fewer than TRP__MSG_SPARE_MAX are
	 * here, and outside threads return what they did not use to; popped
	 * by outside threads, one at a time (`spare_lock`, so a pop never
	 * meets ABA: other threads only push meanwhile). */
	alignas(64) _Atomic(struct trp__msg_batch *) spare;
	_Atomic(uint32_t) spare_n; /* batches on `spare` (approximate) */
	_Atomic(uint32_t) spare_lock;
	_Atomic(uint32_t) spare_want;
};

/*
 * Pooled blocks for one call of an outside thread that sends many small
 * messages at once (an exchange publish from a thread that is not a
 * worker: one block per actor sink): taken a batch at a time from the
 * workers' spare stacks (the blocks the subscribers' workers freed)
 * instead of one allocation each, which the workers then free across
 * threads; what is left goes back when the call ends. It lives on the
 * caller's stack for one call, never longer: a thread may outlive the
 * runtime, so no block stays with it between calls. With no spares (at
 * first, and in TRP_NO_POOL builds) the blocks come from the allocator,
 * as trp__msg_alloc(NULL, ...) would, and the workers are asked to keep
 * some.
 */
struct trp__msg_stash {
	struct trp__msg_pool **all;
	uint32_t nworkers;
	uint32_t first;		  /* worker whose spares are tried first */
	bool tried;		  /* found none in this call: stop looking */
	struct trp__msg_batch *b; /* blocks being handed out, or NULL */
};

/* An empty stash over the pools @all of @nworkers workers; @first picks
 * where it looks first (spreads concurrent outside callers). */
static inline void trp__msg_stash_init(struct trp__msg_stash *st,
				       struct trp__msg_pool **all,
				       uint32_t nworkers, uint32_t first)
{
	st->all = all;
	st->nworkers = nworkers;
	st->first = first % nworkers;
	st->tried = false;
	st->b = NULL;
}
/* As trp__msg_alloc(NULL, @payload), from the stash when it fits. */
struct trp__msg *trp__msg_stash_alloc(struct trp__msg_stash *st,
				      size_t payload);

/* A pooled block's header, as every pooled allocation hands it out. */
static inline struct trp__msg *trp__msg_pooled_init(struct trp__msg *m)
{
	m->pooled = 1;
	m->block = TRP__MSG_POOL_BLOCK;
	m->hold = TRP__HOLD_INLINE;
	m->request = TRP__REQ_NONE;
	return m;
}

/* trp__msg_stash_alloc with its common case inline: a small payload and
 * a block left in the batch being handed out (an outside publisher's
 * delivery, once per actor sink). */
static inline struct trp__msg *trp__msg_stash_take(struct trp__msg_stash *st,
						   size_t payload)
{
#if !defined(TRP_NO_POOL)
	struct trp__msg_batch *b = st->b;
	if (trp__likely(payload <= TRP__MSG_INLINE_SMALL && b != NULL &&
			b->n != 0))
		return trp__msg_pooled_init(
			(struct trp__msg *)b->blocks[--b->n]);
#endif
	return trp__msg_stash_alloc(st, payload);
}
/* Returns the blocks not handed out. */
void trp__msg_stash_done(struct trp__msg_stash *st);

/* 0 or TRP_ENOMEM. */
int trp__msg_pool_init(struct trp__msg_pool *p, uint16_t index,
		       uint16_t nworkers, struct trp__msg_pool **all);
/* Frees every cached block; no concurrent use (workers joined). */
void trp__msg_pool_destroy(struct trp__msg_pool *p);

/*
 * A message able to hold @payload bytes inline (hold = INLINE), or just the
 * header if @payload is 0. NULL on allocation failure.
 */
struct trp__msg *trp__msg_alloc(struct trp__msg_pool *pool, size_t payload);
/* An empty bundle of @block bytes in all, or NULL; @pool: the calling
 * worker's, or NULL (an outside thread). */
struct trp__msg *trp__bundle_alloc(struct trp__msg_pool *pool, uint32_t block);

/* Releases the payload (free_fn for owned ones) and the block. */
void trp__msg_free(struct trp__msg_pool *pool, struct trp__msg *m);
/* Releases an owned payload now (the block may stay queued as a mailbox's
 * last node, see mailbox.h); a later trp__msg_free frees only the block. */
void trp__msg_drop_payload(struct trp__msg *m);
/* Frees the block only, leaving an owned payload to the caller. */
void trp__msg_free_block(struct trp__msg_pool *pool, struct trp__msg *m);

/* A request leaves without an answer (@status: TRP_ENOREPLY when it was
 * processed, TRP_EDEAD when it became a dead letter): completes its target
 * and drops the message's reference. No-op for other messages. */
static inline void trp__request_done(struct trp__msg *m, int status)
{
	if (m->request != TRP__REQ_PENDING)
		return;
	struct trp__reply_to *r = m->u.reply;
	m->request = TRP__REQ_ANSWERED;
	m->u.reply = NULL;
	(void)r->ops->answer(r, status, NULL, 0);
	r->ops->release(r);
}

/* The message whose behaviour (or trp_recv) is running on this thread, or
 * NULL: the only one trp_reply may answer. */
extern _Thread_local const trp_msg_t *trp__current_msg TRP__TLS_IE;

static inline struct trp__msg *trp__msg_of(struct trp__mpsc_node *n)
{
	return (struct trp__msg *)(void *)n;
}

static inline bool trp__msg_is_bundle(const struct trp__msg *m)
{
	return m->hold >= TRP__HOLD_BUNDLE;
}

static inline const unsigned char *trp__bundle_base(const struct trp__msg *m)
{
	return m->hold == TRP__HOLD_BUNDLE ? m->inline_data :
					     (const unsigned char *)m->pub.data;
}

static inline const struct trp__bundle_entry *
trp__bundle_entry_at(const struct trp__msg *b, uint32_t off)
{
	return (const struct trp__bundle_entry
			*)(const void *)(trp__bundle_base(b) + off);
}

#endif /* TRP_CORE_MESSAGE_H */
