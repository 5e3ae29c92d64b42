/*
 * core/thread_actor.h - the runtime's side of thread-backed actors (public
 * API in troupe/thread_actor.h; the mechanism is described in
 * thread_actor.c).
 */
#ifndef TRP_CORE_THREAD_ACTOR_H
#define TRP_CORE_THREAD_ACTOR_H

struct trp_actor;
struct trp_runtime;

/* A push found the thread actor's mailbox idle: wake its thread. */
void trp__thread_actor_wake(struct trp_actor *a);

/* trp_runtime_destroy: closes every thread actor and waits for its
 * function to return. */
void trp__thread_actors_shutdown(struct trp_runtime *rt);

#endif /* TRP_CORE_THREAD_ACTOR_H */
