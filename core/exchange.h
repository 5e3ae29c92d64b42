/*
 * core/exchange.h - the runtime's side of exchanges (public API in
 * troupe/exchange.h; the mechanism is described in exchange.c).
 */
#ifndef TRP_CORE_EXCHANGE_H
#define TRP_CORE_EXCHANGE_H

struct trp_runtime;

/* Closes every exchange of @rt and drops the name directory's references.
 * Called by trp_runtime_destroy once the workers are joined. */
void trp__exchanges_shutdown(struct trp_runtime *rt);

#endif /* TRP_CORE_EXCHANGE_H */
