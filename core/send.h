/*
 * core/send.h - the internal entries of the send path (send.c), for the
 * features that send on a user's behalf: futures (requests, outcomes),
 * exchanges (publish), timers.
 *
 * Who may call: any thread. Lock-free: a send is one exchange on the
 * receiver's mailbox plus, when the push found it idle, one scheduling.
 */
#ifndef TRP_CORE_SEND_H
#define TRP_CORE_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "message.h"

struct trp__outside_run;
struct trp__worker;

/* Options of an internal send (NULL: a plain copy, as trp_send). */
struct trp__send_opts {
	/* != NULL: zero-copy, @data is handed over and freed with this after
	 * processing (kept by the caller on error) */
	trp_free_fn owned_free;
	/* != NULL: the message is a request answered into this target (the
	 * message owns one reference to it once the send succeeded) */
	struct trp__reply_to *reply;
	/* != NULL: a system message (message.h) carrying this object (the
	 * message owns one reference to it once the send succeeded); sent
	 * with `now` */
	struct trp__sys_msg *sys;
	/* != NULL: an outside thread's stash to take the message's block
	 * from (message.h) */
	struct trp__msg_stash *stash;
	/* msg->status of the delivered message */
	int32_t status;
	/* the caller is an outside thread that already did
	 * trp__outside_enter (exchange publishes bracket their deliveries) */
	bool entered;
	/* the caller knows @to is not a receiver of the turn's pending
	 * deliveries (outbox.h, trp__outbox_pending): they need not leave
	 * first (an exchange's own deliveries to its other sinks) */
	bool beside_pending;
	/* push before returning, never into the turn's send batches
	 * (outbox.h): system messages, and exchange deliveries that are
	 * not the turn's (an outside publisher's, a publish to the running
	 * actor itself, the one-by-one ones of publish_n); a turn's own
	 * exchange deliveries wait in its batches under its epoch read
	 * section instead (publish.c) */
	bool now;
};

/* trp_send with options. 0 or a trp_send error. */
int trp__actor_send(struct trp_actor *to, uint32_t type, const void *data,
		    size_t len, const struct trp__send_opts *opt);

/*
 * Sends @n messages of type @type to @to, message k being the @len bytes
 * at @items + k * @len (@len <= TRP__BUNDLE_PAYLOAD_MAX), as n sends with
 * opt.now would, but packed and enqueued with one exchange (an exchange's
 * publish_n). With @shared (the same n messages as entries, message.h),
 * the mailbox gets one small node referring to them instead of its own
 * copy; one reference to @shared is handed over in every case (kept by
 * that node, or dropped here). The caller is a worker or an outside thread
 * that did trp__outside_enter. Returns how many were accepted (n or 0) and
 * sets *@rc to 0 or why none was: TRP_EDEAD (also when the chain found the
 * mailbox closed: then they are dead letters, counted), TRP_ENOMEM.
 * Bounded mailboxes and actors whose kind does not batch take them one by
 * one (trp__actor_send), and so may accept some: *@rc is then the error of
 * the first refused one.
 */
uint32_t trp__actor_send_run(struct trp_actor *to, uint32_t type,
			     const void *items, size_t len, uint32_t n,
			     struct trp__shared_entries *shared, int *rc);

/*
 * An outside publisher's delivery of a copy to @to (an exchange's publish
 * from a thread that is not a worker of @to's runtime; it did
 * trp__outside_enter and checked @data and @len once for all its sinks):
 * as trp__actor_send with `entered` and `now`, with what is per call left
 * to @run (below): the block comes from its stash, the `sent` count and
 * the scheduling of an idle receiver wait for trp__outside_run_end
 * (quiescence cannot be observed while the caller is inside the runtime,
 * so counting late changes nothing). A bounded receiver takes the bounded
 * route, which counts and wakes itself. 0 or a trp_send error.
 */
int trp__actor_send_outside(struct trp_actor *to, uint32_t type,
			    const void *data, size_t len,
			    struct trp__outside_run *run);

/* What an outside publisher's call accumulates over its deliveries
 * (trp__actor_send_outside), settled once by trp__outside_run_end before
 * it leaves the runtime: the blocks (a stash, message.h), the `sent`
 * count, and the event actors its pushes found idle, which are scheduled
 * together (one push on the injection queue, one wake-up) instead of one
 * injection and wake-up each. They are in their mailboxes already; only
 * running them waits, until the call returns at the latest. At its end
 * the thread yields the processor once per receiver it found holding
 * TRP__MUTE_LOW messages or more (exchange.h): a thread that outruns the
 * workers on a busy machine made their mailboxes grow without bound
 * (90-240 MiB in the pubsub workload), and a behaviour would have been
 * muted there (backpressure.h). */
struct trp__outside_run {
	struct trp__msg_stash stash;
	uint64_t sent;
	uint32_t overloaded; /* receivers that held TRP__MUTE_LOW or more */
	struct trp__mpsc_node *woken_first, *woken_last;
	uint32_t woken;
};

/* Starts a run for an outside publisher of @rt. */
void trp__outside_run_begin(struct trp_runtime *rt,
			    struct trp__outside_run *run);
/* Counts the run's sends, schedules the actors it woke, hands its blocks
 * back. */
void trp__outside_run_end(struct trp_runtime *rt, struct trp__outside_run *run);

/*
 * From the turn running on @w: enqueues to @to one node referring to the
 * @n entries (@bytes bytes) of @shared (message.h), behind what the turn
 * holds back for @to, with one exchange; takes over one reference to
 * @shared. @to's kind batches and its mailbox is unbounded. Counted as n
 * sends; if @to stopped meanwhile they are dead letters (counted), as for
 * a chain. Returns false only when the node cannot be allocated (the
 * reference is dropped, nothing is sent).
 */
bool trp__actor_send_shared(struct trp__worker *w, struct trp_actor *to,
			    struct trp__shared_entries *shared, uint32_t bytes,
			    uint32_t n);

#endif /* TRP_CORE_SEND_H */
