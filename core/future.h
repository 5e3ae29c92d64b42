/*
 * core/future.h - the runtime's side of request/reply (public API in
 * troupe/future.h; the mechanism is described in future.c).
 */
#ifndef TRP_CORE_FUTURE_H
#define TRP_CORE_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/runtime.h"

struct trp_future;
struct trp__msg;

/* A pending future with one reference; NULL on allocation failure. */
struct trp_future *trp__future_new(uint32_t type);

/* Completes @f with @status (and for status 0 a copy of the reply); false
 * if it had completed already. */
bool trp__future_complete(struct trp_future *f, int status, const void *data,
			  size_t len);

/* A request message leaves without an answer (@status: TRP_ENOREPLY when
 * processed, TRP_EDEAD when dead-lettered): completes its future and drops
 * the message's reference. No-op for other messages. */
void trp__request_done(struct trp__msg *m, int status);

/* Answers @request with an error @status instead of a payload (worker
 * pools report a failed function this way). Same rules as trp_reply. */
int trp__reply_error(const trp_msg_t *request, int status);

/* The message whose behaviour (or trp_recv) is running on this thread. */
extern _Thread_local const trp_msg_t *trp__current_msg;

#endif /* TRP_CORE_FUTURE_H */
