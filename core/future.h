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

/* A pending future with one reference for requests sent in @rt; NULL on
 * allocation failure. */
struct trp_future *trp__future_new(struct trp_runtime *rt, uint32_t type);

/* The future as a request's reply target (message.h). */
struct trp__reply_to *trp__future_reply_to(struct trp_future *f);

/* Completes @f with @status (and for status 0 a copy of the reply); false
 * if it had completed already. */
bool trp__future_complete(struct trp_future *f, int status, const void *data,
			  size_t len);

/* Answers @request with an error @status instead of a payload (worker
 * pools report a failed function this way). Same rules as trp_reply. */
int trp__reply_error(const trp_msg_t *request, int status);

#endif /* TRP_CORE_FUTURE_H */
