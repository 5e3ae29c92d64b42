/*
 * core/supervisor.h - the supervisor feature's shared parts (public API in
 * troupe/supervisor.h). The design, its locks and its lifetimes are
 * described in supervisor.c; the files:
 *
 *   supervisor.c        the supervisor actor: starting, stopping and
 *                       restarting children (strategies, intensity,
 *                       backoff), trp_supervisor_start/_stop
 *   supervisor_spec.c   validated deep copies of specs
 *   supervisor_table.c  the process-wide map from a supervisor's actor id
 *                       to its state; trp_supervisor_child, _get_stats
 */
#ifndef TRP_CORE_SUPERVISOR_H
#define TRP_CORE_SUPERVISOR_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "invariant.h"
#include "platform.h"
#include "troupe/monitor.h"
#include "troupe/names.h"
#include "troupe/supervisor.h"
#include "troupe/timer.h"

/* The supervisor's own message types (supervisor.h names the range). */
enum {
	SUP_T_DOWN = 0x53555001u, /* a child's DOWN, trp_down_t */
	SUP_T_TICK = 0x53555002u, /* a timer of ours, struct sup_tick */
	SUP_T_STOP = 0x53555003u, /* trp_supervisor_stop(), no payload */
};

enum tick_what {
	TICK_RESTART = 1, /* the backoff is over */
	TICK_KILL = 2,	  /* a child's shutdown_ns ran out */
};

struct sup_tick {
	uint32_t what;	/* enum tick_what */
	uint32_t index; /* TICK_KILL: the child */
	uint64_t token; /* stale ticks (cancelled too late) don't match */
};

/* First word of a struct sup: tells a misused spawn (state = a spec or
 * NULL, supervisor.h) from ours. */
#define SUP_MAGIC 0x53555053u /* "SUPS" */

/* ------------------------------------------------------------------ */
/* spec copies                                                         */

/*
 * A validated, deep copy of a trp_supervisor_spec_t. pub.children points
 * to child[], whose names point to names[] and whose args point to this
 * copy's own blocks: a state block (state_size > 0) or, for a supervisor
 * child, a nested spec_copy's pub. So &copy->pub is itself a valid spec
 * that outlives the caller's, and can be copied again (each instance of
 * a nested supervisor owns its own copy). Immutable once built.
 */
struct spec_copy {
	trp_supervisor_spec_t pub;
	uint32_t n;
	trp_child_spec_t *child;
	char (*names)[TRP_NAME_MAX + 1];
	void **block; /* per child: state copy, struct spec_copy *, NULL */
};

/* The supervisor actor's definition (supervisor.c). */
extern const trp_actor_def_t trp__sup_def;

enum child_state {
	C_IDLE = 0, /* not running */
	C_RUNNING,  /* started and monitored */
	C_STOPPING, /* closed or killed by us; its DOWN not handled yet */
};

enum phase {
	P_RUNNING = 0, /* restarting what fails */
	P_ESCALATE,    /* intensity tripped: stop all, then fail */
	P_SHUTDOWN,    /* trp_supervisor_stop(): stop all, then stop */
	P_DONE,	       /* failed or stopped itself: nothing more */
};

struct sup_child {
	/* Written by the supervisor only (start hook, behaviour, stop
	 * hook). */
	trp_actor_t *actor; /* our reference while RUNNING or STOPPING */
	trp_ref_t ref;	    /* its monitor */
	uint64_t last_id;   /* the latest instance's id (its name) */
	uint64_t started_ns;
	uint64_t start_at;	 /* to_start: not before then (backoff) */
	trp_timer_t *kill_timer; /* STOPPING with shutdown_ns > 0 */
	uint64_t kill_token;
	uint32_t level;	   /* backoff: restarts in a row */
	uint8_t state;	   /* enum child_state */
	bool to_stop;	   /* planned: stop it (RUNNING only) */
	bool to_start;	   /* planned: start it when nothing stops */
	bool start_failed; /* its last start failed, not handled yet */
	bool started_once; /* the next start is a restart */
	bool gone;	   /* temporary and stopped: never again */
	/* Under sup->lock: what trp_supervisor_child() hands out. */
	trp_actor_t *published;
};

struct sup {
	/* Immutable after sup_new(). */
	uint32_t magic;
	trp_runtime_t *rt;
	struct spec_copy *spec;
	struct sup_child *child; /* spec->n */
	uint64_t *ring;		 /* spec->pub.intensity restart times */

	/* Written by the supervisor only. */
	alignas(TRP_CACHELINE) trp_actor_t *self; /* no reference */
	enum phase phase;
	uint32_t ring_n, ring_head;
	uint32_t nstopping;	    /* children in C_STOPPING */
	uint32_t nstart_failed;	    /* children with start_failed */
	trp_timer_t *restart_timer; /* for the earliest start_at */
	uint64_t restart_timer_at;
	uint64_t restart_token;
	uint64_t token_seq;
	uint64_t prng; /* splitmix64 state */

	/* Shared with other threads. */
	alignas(TRP_CACHELINE) _Atomic(uint32_t) refs;
	_Atomic(uint64_t) restarts, stops; /* one writer */
	struct trp__mutex lock;		   /* published[], dead */
	bool dead;			   /* under lock: stop hook ran */
	/* Under table_lock. */
	bool listed, stopped;
	uint64_t id;
	struct sup *next; /* bucket chain */
};

/* ---- spec copies (supervisor_spec.c) ---- */

/* True if @def is a supervisor's (a nested supervisor child). */
bool trp__sup_is_def(const trp_actor_def_t *def);
/* A validated deep copy of @s (@depth: nesting so far); 0 or the code
 * supervisor.h names. */
int trp__sup_spec_copy(const trp_supervisor_spec_t *s, unsigned depth,
		       struct spec_copy **out);
void trp__sup_spec_free(struct spec_copy *c);

/* ---- states and the table (supervisor_table.c) ---- */

/* A new state for @spec with two references (the spawner's, the
 * actor's); 0 or TRP_ENOMEM (then the caller keeps @spec). */
int trp__sup_new(trp_runtime_t *rt, struct spec_copy *spec, struct sup **out);
void trp__sup_free(struct sup *s);
void trp__sup_unref(struct sup *s);
/* Lists @s under its actor's @id, unless its stop hook ran already. */
void trp__sup_list(struct sup *s, uint64_t id);
/* The stop hook: unlists @s; it is never listed again. */
void trp__sup_unlist(struct sup *s);
/* The listed state of @a with a reference, or NULL and *rc. */
struct sup *trp__sup_acquire(trp_actor_t *a, int *rc);
/* Publishes child @i's handle @a (NULL: none) to trp_supervisor_child. */
void trp__sup_publish(struct sup *s, uint32_t i, trp_actor_t *a);
/* Adds one to a counter only the supervisor writes. */
void trp__sup_stat_add(_Atomic(uint64_t) *c);

#endif /* TRP_CORE_SUPERVISOR_H */
