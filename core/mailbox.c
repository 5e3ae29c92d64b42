/*
 * core/mailbox.c - intrusive MPSC queue with an idle tag (see mailbox.h).
 *
 * Memory ordering, in one place:
 * - push: the exchange on head is acq_rel. Release: nothing needs to be
 *   published through head itself except for mark_idle's CAS (below); acquire
 *   makes the previous node's memory (written by its producer before its own
 *   exchange) ours to store into. The link store prev->next = n is release:
 *   it publishes n's contents (the message) to the consumer, whose acquire
 *   load of ->next pairs with it.
 * - take: the load of tail->next is acquire (pairs with the link store).
 * - mark_idle / close: the CAS head: last -> stub|IDLE is release so that a
 *   producer whose exchange reads the tag (acquire) sees every effect of the
 *   turn that just ended (the actor's state, and the consumer's reset of
 *   tail and stub.next) before it links behind the stub and schedules the
 *   next turn on another worker.
 */
#include "mailbox.h"

#include <stddef.h>

#define IDLE_TAG ((uintptr_t)TRP__MAILBOX_IDLE)
#define CLOSED_TAG ((uintptr_t)TRP__MAILBOX_CLOSED)
#define TAGS (IDLE_TAG | CLOSED_TAG)

void trp__mailbox_init(struct trp__mailbox *mb, bool idle)
{
	atomic_store_explicit(&mb->stub.next, NULL, memory_order_relaxed);
	mb->tail = &mb->stub;
	atomic_store_explicit(&mb->count, 0, memory_order_relaxed);
	/* relaxed: the queue is published to other threads by whatever
	 * publishes the object containing it (a release elsewhere). */
	atomic_store_explicit(&mb->head,
			      (uintptr_t)&mb->stub | (idle ? IDLE_TAG : 0),
			      memory_order_relaxed);
}

unsigned trp__mailbox_push_chain_mp(struct trp__mailbox *mb,
				    struct trp__mpsc_node *first,
				    struct trp__mpsc_node *last)
{
	/* relaxed: published by the release link store below (so are the
	 * chain's inner links, written by the caller before this call). */
	atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
	/* ORDER: acq_rel, see the file comment (pairs with other producers'
	 * exchanges and with mark_idle's release CAS). */
	uintptr_t prev = atomic_exchange_explicit(&mb->head, (uintptr_t)last,
						  memory_order_acq_rel);
	struct trp__mpsc_node *p = (struct trp__mpsc_node *)(prev & ~TAGS);
	/* ORDER: release publishes the chain (its nodes and inner links) to
	 * the consumer's acquire load of p->next; the consumer reaches the
	 * inner links only through it. */
	atomic_store_explicit(&p->next, first, memory_order_release);
	return (unsigned)(prev & TAGS);
}

unsigned trp__mailbox_push_mp(struct trp__mailbox *mb, struct trp__mpsc_node *n)
{
	return trp__mailbox_push_chain_mp(mb, n, n);
}

struct trp__mpsc_node *trp__mailbox_pop_sc(struct trp__mailbox *mb)
{
	struct trp__mpsc_node *tail = mb->tail;
	/* ORDER: acquire pairs with the producer's release link store. */
	struct trp__mpsc_node *next =
		atomic_load_explicit(&tail->next, memory_order_acquire);
	if (tail == &mb->stub) {
		if (next == NULL)
			return NULL;
		mb->tail = next;
		tail = next;
		/* ORDER: acquire, as above. */
		next = atomic_load_explicit(&tail->next, memory_order_acquire);
	}
	if (next != NULL) {
		mb->tail = next;
		return tail;
	}
	/* tail is the last linked node. If a producer already exchanged
	 * head past it but has not linked yet, we must wait for that link
	 * (report "busy"). relaxed: only compared, never dereferenced. */
	uintptr_t head = atomic_load_explicit(&mb->head, memory_order_relaxed);
	if ((struct trp__mpsc_node *)(head & ~TAGS) != tail)
		return NULL;
	/* Re-queue the stub behind the last node so that node can leave the
	 * queue entirely. The push cannot see the idle tag: the consumer only
	 * runs while the tag is clear. */
	(void)trp__mailbox_push_mp(mb, &mb->stub);
	/* ORDER: acquire, as above. */
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next != NULL) {
		mb->tail = next;
		return tail;
	}
	return NULL;
}

static bool tag_if_empty(struct trp__mailbox *mb, uintptr_t tag,
			 struct trp__mpsc_node **done)
{
	/* Empty means: head is the node last taken. Then no producer has
	 * exchanged past it (tail->next is NULL and stays so until head
	 * moves), and no node is ever pushed twice while queued, so the
	 * comparison has no ABA. */
	struct trp__mpsc_node *last = mb->tail;
	uintptr_t expect = (uintptr_t)last;
	*done = NULL;
	/* relaxed pre-check: an actor that sent to itself during its turn
	 * is not empty, and a failing CAS would still cost a locked
	 * instruction. */
	if (atomic_load_explicit(&mb->head, memory_order_relaxed) != expect)
		return false;
	/* Reset the consumer side to "stub only" before the CAS publishes
	 * it: the first push after the CAS links behind the stub, and the
	 * next consumer may run on another thread at once. relaxed: the
	 * release CAS below publishes both. If the stub is the tail it is
	 * still in the queue - a producer may link behind it right now -
	 * and its next is NULL already: leave it alone. */
	if (last != &mb->stub) {
		mb->tail = &mb->stub;
		atomic_store_explicit(&mb->stub.next, NULL,
				      memory_order_relaxed);
	}
	/* ORDER: release publishes the finished turn and the reset to the
	 * producer that will see the tag (its acq_rel exchange); acquire on
	 * failure is not needed (we only learn "not empty"). */
	if (atomic_compare_exchange_strong_explicit(
		    &mb->head, &expect, (uintptr_t)&mb->stub | tag,
		    memory_order_release, memory_order_relaxed)) {
		*done = last != &mb->stub ? last : NULL;
		return true;
	}
	/* A push won: last stays the tail (the stub was not in the queue,
	 * so its reset touched nothing). */
	mb->tail = last;
	return false;
}

bool trp__mailbox_mark_idle_sc(struct trp__mailbox *mb,
			       struct trp__mpsc_node **done)
{
	return tag_if_empty(mb, IDLE_TAG, done);
}

bool trp__mailbox_close_sc(struct trp__mailbox *mb,
			   struct trp__mpsc_node **done)
{
	return tag_if_empty(mb, CLOSED_TAG, done);
}

bool trp__mailbox_reclaim_sc(struct trp__mailbox *mb)
{
	uintptr_t idle = (uintptr_t)&mb->stub | IDLE_TAG;
	/* ORDER: acquire; pairs with our own release when tagging (no other
	 * thread consumed meanwhile) - nothing else to publish. */
	return atomic_compare_exchange_strong_explicit(&mb->head, &idle,
						       (uintptr_t)&mb->stub,
						       memory_order_acquire,
						       memory_order_relaxed);
}

bool trp__mailbox_idle_acquire(struct trp__mailbox *mb)
{
	/* ORDER: acquire; pairs with the release of the CAS that set the
	 * tag (tag_if_empty), so everything the consumer did before it went
	 * idle happens before what the caller does next. */
	return (atomic_load_explicit(&mb->head, memory_order_acquire) &
		IDLE_TAG) != 0;
}

bool trp__mailbox_is_idle(const struct trp__mailbox *mb)
{
	/* relaxed: a snapshot for diagnostics and tests. */
	return (atomic_load_explicit(&((struct trp__mailbox *)mb)->head,
				     memory_order_relaxed) &
		IDLE_TAG) != 0;
}
