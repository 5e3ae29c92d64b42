/*
 * troupe/names.h - registering actors under names and sending by name.
 *
 * Each runtime has one name table. Lookups and sends by name take no lock
 * (readers run inside an epoch section); registering and unregistering are
 * serialized on a cold-path lock. An actor has at most one name. A name never
 * keeps its actor alive: when the actor stops, its name is released, and
 * trp_runtime_destroy() releases every name.
 *
 * Names are 1 to TRP_NAME_MAX bytes, any bytes but NUL.
 */
#ifndef TROUPE_NAMES_H
#define TROUPE_NAMES_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest accepted name, in bytes, not counting the terminating NUL. */
#define TRP_NAME_MAX 63

/**
 * Registers @p a under @p name.
 * Threads: any. Errors: TRP_EINVAL (NULL or empty name, NULL actor, actor of
 * another runtime), TRP_ENAMETOOLONG, TRP_EEXIST (name taken), TRP_EBUSY
 * (actor already named), TRP_EDEAD (actor stopped), TRP_ENOMEM,
 * TRP_ESHUTDOWN, TRP_EDEADLK (called from an exchange callback sink).
 */
TRP_API int trp_register(trp_runtime_t *rt, const char *name, trp_actor_t *a);

/**
 * Removes @p name. Threads: any. Errors: TRP_EINVAL, TRP_ENAMETOOLONG,
 * TRP_ENOENT, TRP_ESHUTDOWN, TRP_EDEADLK (from an exchange callback sink).
 */
TRP_API int trp_unregister(trp_runtime_t *rt, const char *name);

/**
 * Looks @p name up; on success *out holds a new reference the caller must
 * release with trp_actor_release().
 * Threads: any. Errors: TRP_EINVAL, TRP_ENAMETOOLONG, TRP_ENOENT,
 * TRP_ENOMEM (the calling thread's first lock-free read section could not
 * be set up), TRP_ESHUTDOWN.
 */
TRP_API int trp_lookup(trp_runtime_t *rt, const char *name, trp_actor_t **out);

/**
 * Sends a copy of the payload to the actor registered as @p name (the
 * seeds' sched.send('counter', n)), without touching any reference count.
 * Threads: any. Errors: those of trp_lookup() and trp_send().
 */
TRP_API int trp_send_named(trp_runtime_t *rt, const char *name, uint32_t type,
			   const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_NAMES_H */
