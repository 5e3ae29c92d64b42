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
	/* msg->status of the delivered message */
	int32_t status;
	/* the caller is an outside thread that already did
	 * trp__outside_enter (exchange publishes bracket their deliveries) */
	bool entered;
	/* push before returning, never into the turn's send batches
	 * (outbox.h): exchange deliveries, which must all be in their
	 * mailboxes once a detach's grace period is over */
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

#endif /* TRP_CORE_SEND_H */
