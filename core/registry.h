/*
 * core/registry.h - names -> actors (public side in troupe/names.h).
 *
 * A ck_hs hash set in single-writer / many-reader mode: lookups run inside
 * an epoch section without locks; writers are serialized by a mutex and
 * free removed entries (and ck_hs's replaced tables) only after a grace
 * period. An entry holds a reference to its actor, so a reader that found
 * the entry inside its section may use the actor (or retain it) safely.
 */
#ifndef TRP_CORE_REGISTRY_H
#define TRP_CORE_REGISTRY_H

struct trp_runtime;
struct trp_actor;
struct trp__registry;

/* 0 or TRP_ENOMEM. */
int trp__registry_create(struct trp__registry **out);
/* Releases every name (and its actor reference) and frees the registry.
 * No concurrent registry calls. */
void trp__registry_destroy(struct trp__registry *r);
/* Removes @a's name, if any (called when @a stops). */
void trp__registry_forget(struct trp_runtime *rt, struct trp_actor *a);

#endif /* TRP_CORE_REGISTRY_H */
