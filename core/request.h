/*
 * core/request.h - answering a request's reply target (message.h), shared
 * by trp_reply (future.c) and the taken requests of request.c
 * (troupe/future.h, trp_request_*).
 *
 * Who may call: any thread that owns a reference to the target. Lock-free
 * but for what the target's answer does (a future's continuation sends).
 */
#ifndef TRP_CORE_REQUEST_H
#define TRP_CORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "platform.h"

/* A late answer the user made: a dead letter (cold half of
 * trp__reply_answer). */
void trp__reply_late(struct trp__reply_to *r, uint32_t type, int status,
		     const void *data, size_t len);

/*
 * Completes @r with @status (0: a copy of the reply @data/@len) and drops
 * the caller's reference to it. If @r had completed already, an answer the
 * user made (@by_user: a reply, a failure) is a dead letter
 * (TRP_DEAD_LATE_REPLY, type @type, counted as sent); the runtime's own
 * (TRP_ENOREPLY, TRP_EDEAD, a release) is just dropped, as
 * trp__request_done drops it. Inline: every trp_reply runs it.
 */
static inline void trp__reply_answer(struct trp__reply_to *r, uint32_t type,
				     int status, const void *data, size_t len,
				     bool by_user)
{
	if (trp__unlikely(!r->ops->answer(r, status, data, len)) && by_user)
		trp__reply_late(r, type, status, data, len);
	r->ops->release(r);
}

#endif /* TRP_CORE_REQUEST_H */
