/*
 * core/supervisor.c - supervisors (troupe/supervisor.h), built on the
 * public API only: actors, monitors, timers and names. Layer 4; of the
 * core it uses only layer 1 (alloc, platform: the cold mutex and the
 * clock).
 *
 * A supervisor is an event actor whose state pointer (state_size 0, the
 * spawn argument) is a struct sup. Its start hook starts the children; its
 * behaviour takes three internal messages: a child's DOWN (its monitor),
 * a tick of one of its timers (a restart waiting for its backoff, a child
 * whose shutdown_ns ran out), and a stop request (trp_supervisor_stop).
 * Everything the supervisor decides, it decides in its own turns, so the
 * per-child state needs no synchronization: successive turns of one actor
 * are ordered by the runtime.
 *
 * The plan. Each child is IDLE (not running), RUNNING or STOPPING (closed
 * or killed by us, its DOWN not yet handled), and may carry two marks:
 * to_stop (stop it) and to_start (start it once nothing is left to stop
 * and the backoff is over). run() carries the plan out: while a child is
 * STOPPING it waits for the DOWN; otherwise it begins stopping the highest
 * marked child (so siblings stop one at a time, in reverse spec order);
 * when none is left it fails or stops the supervisor (escalation,
 * shutdown) or starts the marked children whose backoff is over
 * (start_at) in spec order, with one timer for the earliest of the rest
 * (a group's members share their start_at, so a group starts together,
 * in order). Start failures are handled as failures, in the same loop,
 * never by recursion (a lasting cause ends at the intensity). A failure
 * that arrives meanwhile only adds marks: the plan is the union of the
 * strategies' answers, and nothing waits inside a behaviour.
 *
 * Sharing with other threads (trp_supervisor_child, _get_stats, _stop):
 * - a process-wide table maps a supervisor's actor id to its struct sup
 *   (the public API has no way from a handle to an actor's state). Its
 *   cold mutex `table_lock` guards the buckets, and each sup's `listed`,
 *   `stopped` and `id`. A reader takes a reference to the sup under that
 *   lock; the stop hook unlists the sup under it before dropping the
 *   actor's reference, so a listed sup is never freed under a reader.
 *   Rejected: sending the supervisor a request and waiting for its reply
 *   (a child or the supervisor itself asking would wait on its own
 *   worker); a table per runtime (needs a feature row in runtime.c, which
 *   this file cannot add, for a map that is cold and small).
 * - the handles a reader may see (`published`) and the supervisor's `dead`
 *   flag are under the sup's own cold mutex, held for a load and a
 *   retain: the supervisor publishes a child after it is monitored and
 *   named, and unpublishes it before it drops its own reference to it, so
 *   a reader that found a handle under the lock can retain it. Rejected:
 *   an atomic pointer per child without a lock (a reader could load the
 *   handle just before the supervisor releases it: it would need hazard
 *   pointers or an epoch for a cold path).
 * - the counters are atomics with one writer (the supervisor), read
 *   relaxed: they are statistics.
 * Lock order: table_lock before a sup's lock (the readers never hold both;
 * the stop hook takes them one after the other).
 *
 * Lifetime of a struct sup: two references at birth, the spawner's
 * (dropped once the sup is listed, or not, in sup_spawn) and the actor's
 * (dropped at the end of its stop hook); readers add theirs under
 * table_lock. The spawner lists the sup after trp_actor_spawn() returns,
 * when the supervisor may already be running - or have stopped: its stop
 * hook marks it `stopped` under table_lock, and the spawner then does not
 * list it.
 *
 * Progress: the behaviour never blocks (no waiting for children: timers
 * and DOWN messages); the public calls take two cold mutexes briefly.
 */
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

static void sup_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg);
static void sup_start(trp_actor_t *self, void *state);
static void sup_stop(trp_actor_t *self, void *state, trp_stop_reason_t why);

static const trp_actor_def_t sup_def = {
	.behavior = sup_behavior,
	.start = sup_start,
	.stop = sup_stop,
	.state_size = 0,
	/* DOWNs, ticks and stop requests must never be refused. */
	.mailbox_limit = TRP_MAILBOX_UNBOUNDED,
};

const trp_actor_def_t *trp_supervisor_def(void)
{
	return &sup_def;
}

static bool is_supervisor_def(const trp_actor_def_t *def)
{
	return def->behavior == sup_behavior;
}

static void spec_free(struct spec_copy *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; c->block != NULL && i < c->n; i++) {
		if (c->block[i] == NULL)
			continue;
		if (is_supervisor_def(&c->child[i].def))
			spec_free(c->block[i]);
		else
			trp__free(c->block[i], c->child[i].def.state_size);
	}
	trp__free(c->block, 0);
	trp__free(c->names, 0);
	trp__free(c->child, 0);
	trp__free(c, sizeof *c);
}

/* The checks that need no copy; 0 or the code supervisor.h names. */
static int spec_check(const trp_supervisor_spec_t *s, unsigned depth)
{
	if (s == NULL || depth >= TRP_SUPERVISOR_MAX_DEPTH)
		return TRP_EINVAL;
	if (s->children == NULL || s->nchildren == 0 ||
	    s->nchildren > TRP_SUPERVISOR_MAX_CHILDREN)
		return TRP_EINVAL;
	if ((unsigned)s->strategy > TRP_REST_FOR_ONE)
		return TRP_EINVAL;
	if (s->intensity > TRP_SUPERVISOR_MAX_INTENSITY || s->period_ns <= 0)
		return TRP_EINVAL;
	if (s->backoff_min_ns < 0 || s->backoff_max_ns < 0 ||
	    (s->backoff_min_ns > 0 && s->backoff_max_ns < s->backoff_min_ns))
		return TRP_EINVAL;
	for (uint32_t i = 0; i < s->nchildren; i++) {
		const trp_child_spec_t *c = &s->children[i];
		if (c->def.behavior == NULL ||
		    (unsigned)c->restart > TRP_RESTART_TEMPORARY ||
		    c->def.state_size > TRP_MSG_MAX)
			return TRP_EINVAL;
		if (is_supervisor_def(&c->def) && c->arg == NULL)
			return TRP_EINVAL;
		if (c->name == NULL)
			continue;
		size_t len = strnlen(c->name, TRP_NAME_MAX + 1);
		if (len == 0)
			return TRP_EINVAL;
		if (len > TRP_NAME_MAX)
			return TRP_ENAMETOOLONG;
		/* Quadratic, but at most 1024 children, once per start. */
		for (uint32_t k = 0; k < i; k++)
			if (s->children[k].name != NULL &&
			    strcmp(s->children[k].name, c->name) == 0)
				return TRP_EEXIST;
	}
	return 0;
}

static int spec_copy(const trp_supervisor_spec_t *s, unsigned depth,
		     struct spec_copy **out)
{
	int rc = spec_check(s, depth);
	if (rc != 0)
		return rc;
	uint32_t n = s->nchildren;
	struct spec_copy *c = trp__calloc(1, sizeof *c);
	if (c == NULL)
		return TRP_ENOMEM;
	c->n = n;
	c->child = trp__calloc(n, sizeof *c->child);
	c->names = trp__calloc(n, sizeof *c->names);
	c->block = trp__calloc(n, sizeof *c->block);
	if (c->child == NULL || c->names == NULL || c->block == NULL) {
		spec_free(c);
		return TRP_ENOMEM;
	}
	c->pub = *s;
	c->pub.children = c->child;
	for (uint32_t i = 0; i < n; i++) {
		const trp_child_spec_t *src = &s->children[i];
		trp_child_spec_t *dst = &c->child[i];
		*dst = *src;
		if (src->name != NULL) {
			strcpy(c->names[i], src->name); /* checked above */
			dst->name = c->names[i];
		}
		if (is_supervisor_def(&src->def)) {
			struct spec_copy *nested;
			dst->def = sup_def;
			rc = spec_copy(src->arg, depth + 1, &nested);
			if (rc != 0) {
				spec_free(c);
				return rc;
			}
			c->block[i] = nested;
			dst->arg = &nested->pub;
		} else if (src->def.state_size > 0 && src->arg != NULL) {
			void *b = trp__alloc(src->def.state_size);
			if (b == NULL) {
				spec_free(c);
				return TRP_ENOMEM;
			}
			memcpy(b, src->arg, src->def.state_size);
			c->block[i] = b;
			dst->arg = b;
		}
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the supervisor's state                                              */

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

/* The process-wide map actor id -> struct sup (file comment). */
#define TABLE_BUCKETS 64u
static struct trp__mutex table_lock = TRP__MUTEX_INIT;
static struct sup *table[TABLE_BUCKETS];

static struct sup **bucket_of(uint64_t id)
{
	/* Fibonacci hashing: ids are sequential. */
	return &table[(id * 0x9e3779b97f4a7c15u) >> 58];
}

static_assert(TABLE_BUCKETS == 64, "bucket_of takes the top 6 bits");

static void sup_free(struct sup *s)
{
	spec_free(s->spec);
	trp__free(s->ring, 0);
	trp__free(s->child, 0);
	trp__free(s, sizeof *s);
}

static void sup_unref(struct sup *s)
{
	/* ORDER: acq_rel: the last holder sees every other holder's use of
	 * the sup before it frees it. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		sup_free(s);
}

static int sup_new(trp_runtime_t *rt, struct spec_copy *spec, struct sup **out)
{
	struct sup *s = trp__alloc_aligned(TRP_CACHELINE, sizeof *s);
	if (s == NULL)
		return TRP_ENOMEM;
	memset(s, 0, sizeof *s);
	s->magic = SUP_MAGIC;
	s->rt = rt;
	s->spec = spec;
	s->child = trp__calloc(spec->n, sizeof *s->child);
	if (spec->pub.intensity > 0)
		s->ring = trp__calloc(spec->pub.intensity, sizeof *s->ring);
	if (s->child == NULL || (spec->pub.intensity > 0 && s->ring == NULL)) {
		s->spec = NULL; /* the caller keeps it */
		sup_free(s);
		return TRP_ENOMEM;
	}
	atomic_init(&s->refs, 2); /* the spawner's and the actor's */
	atomic_init(&s->restarts, 0);
	atomic_init(&s->stops, 0);
	s->lock = (struct trp__mutex)TRP__MUTEX_INIT;
	*out = s;
	return 0;
}

/*
 * Starts a supervisor for @spec (copied again: each instance owns its
 * copy) and lists it. *out receives a handle (one reference).
 */
static int sup_spawn(trp_runtime_t *rt, const trp_supervisor_spec_t *spec,
		     trp_actor_t **out)
{
	struct spec_copy *copy;
	struct sup *s;
	trp_actor_t *a;
	int rc = spec_copy(spec, 0, &copy);
	if (rc != 0)
		return rc;
	if ((rc = sup_new(rt, copy, &s)) != 0) {
		spec_free(copy);
		return rc;
	}
	/* Spawn publishes everything written to *s so far to the actor. */
	rc = trp_actor_spawn(rt, &sup_def, s, &a);
	if (rc != 0) {
		sup_free(s); /* no actor: no hook ever sees it */
		return rc;
	}
	trp__mutex_lock(&table_lock);
	if (!s->stopped) {
		struct sup **b = bucket_of(trp_actor_id(a));
		s->id = trp_actor_id(a);
		s->next = *b;
		*b = s;
		s->listed = true;
	}
	trp__mutex_unlock(&table_lock);
	sup_unref(s);
	*out = a;
	return 0;
}

/*
 * The listed sup of actor @a with a reference for the caller, or NULL
 * and *rc: TRP_EDEAD if @a has stopped, else TRP_EINVAL (no supervisor).
 */
static struct sup *sup_acquire(trp_actor_t *a, int *rc)
{
	uint64_t id = trp_actor_id(a);
	struct sup *s;
	trp__mutex_lock(&table_lock);
	for (s = *bucket_of(id); s != NULL && s->id != id; s = s->next)
		;
	if (s != NULL)
		/* relaxed: the table lock orders it before the stop hook's
		 * unlisting, hence before the actor's own unref. */
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	trp__mutex_unlock(&table_lock);
	if (s == NULL)
		/* The stop hook unlists after the actor is STOPPED, so a
		 * supervisor that is not listed and alive never was one. */
		*rc = trp_actor_alive(a) ? TRP_EINVAL : TRP_EDEAD;
	return s;
}

static void stat_add(_Atomic(uint64_t) *c)
{
	/* relaxed: one writer; readers take a snapshot (statistics). */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void publish(struct sup *s, uint32_t i, trp_actor_t *a)
{
	trp__mutex_lock(&s->lock);
	s->child[i].published = a;
	trp__mutex_unlock(&s->lock);
}

/* splitmix64 (Steele, Lea, Flood 2014): the jitter's generator. */
static uint64_t prng_next(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ */
/* timers                                                              */

/* Cancels and drops one of our timers; a tick already queued is ignored
 * (its token no longer matches). */
static void timer_drop(trp_timer_t **t)
{
	if (*t == NULL)
		return;
	(void)trp_timer_cancel(*t); /* 0, or TRP_ENOENT: it fired */
	trp_timer_release(*t);
	*t = NULL;
}

static int timer_arm(struct sup *s, int64_t delay_ns, uint32_t what,
		     uint32_t index, trp_timer_t **t, uint64_t *token)
{
	struct sup_tick tick = { what, index, ++s->token_seq };
	int rc = trp_send_after(s->rt, s->self, delay_ns, 0, SUP_T_TICK, &tick,
				sizeof tick, t);
	*token = rc == 0 ? tick.token : 0;
	return rc;
}

/* ------------------------------------------------------------------ */
/* starting and stopping children                                      */

/* Registers @a under its child's name, taking the name back from the
 * child's previous instance if that one still holds it. */
static int name_child(struct sup *s, uint32_t i, trp_actor_t *a)
{
	const char *name = s->spec->child[i].name;
	int rc = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = trp_register(s->rt, name, a);
		if (rc != TRP_EEXIST)
			break;
		trp_actor_t *holder;
		if (trp_lookup(s->rt, name, &holder) != 0)
			continue; /* released meanwhile: try again */
		bool ours = trp_actor_id(holder) == s->child[i].last_id;
		trp_actor_release(holder);
		if (!ours)
			break; /* another actor's name: a start failure */
		/* The old instance stopped (its DOWN was handled) but the
		 * runtime has not released its name yet. TRP_ENOENT: it
		 * just did. */
		(void)trp_unregister(s->rt, name);
	}
	/* TRP_EDEAD: the new instance stopped already; its DOWN comes. */
	return rc == TRP_EDEAD || rc == TRP_ESHUTDOWN ? 0 : rc;
}

static void start_child(struct sup *s, uint32_t i)
{
	struct sup_child *c = &s->child[i];
	const trp_child_spec_t *cs = &s->spec->child[i];
	trp_actor_t *a;
	int rc;

	trp__assert(c->state == C_IDLE);
	c->to_start = false;
	c->started_ns = trp__now_ns();
	if (c->started_once)
		stat_add(&s->restarts);
	c->started_once = true;
	if (is_supervisor_def(&cs->def))
		rc = sup_spawn(s->rt, cs->arg, &a);
	else
		rc = trp_actor_spawn(s->rt, &cs->def, (void *)cs->arg, &a);
	if (rc == TRP_ESHUTDOWN)
		return; /* the runtime is going: so is everyone */
	if (rc == 0) {
		rc = trp_monitor(s->self, a, SUP_T_DOWN, &c->ref);
		if (rc != 0) {
			/* Unwatched, it could not be supervised. */
			(void)trp_actor_kill(a);
			trp_actor_release(a);
		}
	}
	if (rc != 0) {
		c->start_failed = true;
		s->nstart_failed++;
		return;
	}
	c->actor = a;
	c->state = C_RUNNING;
	if (cs->name != NULL && name_child(s, i, a) != 0)
		/* Its name is held by another actor: the start failed. The
		 * DOWN (KILLED, abnormal) makes that a failure. */
		(void)trp_actor_kill(a);
	c->last_id = trp_actor_id(a);
	publish(s, i, a);
}

/* Closes (or kills) running child @i; its DOWN continues the plan. */
static void begin_stop(struct sup *s, uint32_t i)
{
	struct sup_child *c = &s->child[i];
	const trp_child_spec_t *cs = &s->spec->child[i];
	int rc = 0;

	trp__assert(c->state == C_RUNNING && c->to_stop);
	c->to_stop = false;
	c->state = C_STOPPING;
	s->nstopping++;
	publish(s, i, NULL);
	if (cs->shutdown_ns != 0) {
		/* TRP_EDEAD: it stopped by itself; its DOWN is coming. */
		if (is_supervisor_def(&cs->def))
			rc = trp_send(c->actor, SUP_T_STOP, NULL, 0);
		else
			rc = trp_actor_close(c->actor);
		if (rc == TRP_EDEAD || rc == TRP_ESHUTDOWN)
			return;
		if (rc == 0 && cs->shutdown_ns < 0)
			return; /* waits for as long as it takes */
		if (rc == 0)
			rc = timer_arm(s, cs->shutdown_ns, TICK_KILL, i,
				       &c->kill_timer, &c->kill_token);
	}
	if (cs->shutdown_ns == 0 || rc != 0)
		/* At once, or because its deadline could not be armed (a
		 * stop that cannot be enforced is not a stop). */
		(void)trp_actor_kill(c->actor);
}

/* Child @i's DOWN was handled: it is IDLE now. */
static void child_gone(struct sup *s, uint32_t i)
{
	struct sup_child *c = &s->child[i];
	trp__assert(c->state != C_IDLE);
	stat_add(&s->stops);
	publish(s, i, NULL);
	timer_drop(&c->kill_timer);
	c->kill_token = 0;
	if (c->state == C_STOPPING)
		s->nstopping--;
	c->state = C_IDLE;
	c->to_stop = false;
	c->ref = 0;
	trp_actor_release(c->actor);
	c->actor = NULL;
	if (s->spec->child[i].restart == TRP_RESTART_TEMPORARY) {
		c->gone = true;
		c->to_start = false;
	}
}

/* Stops every running child, starts none: then the phase decides. */
static void stop_all(struct sup *s, enum phase phase)
{
	s->phase = phase;
	timer_drop(&s->restart_timer);
	s->restart_token = 0;
	s->restart_timer_at = 0;
	for (uint32_t i = 0; i < s->spec->n; i++) {
		s->child[i].to_start = false;
		if (s->child[i].state == C_RUNNING)
			s->child[i].to_stop = true;
	}
}

/* One more restart at @now: true if it is one too many (the ring holds
 * the last `intensity` restart times, the oldest at ring_head when full). */
static bool intensity_trips(struct sup *s, uint64_t now)
{
	uint32_t max = s->spec->pub.intensity;
	if (max == 0)
		return true;
	if (s->ring_n == max &&
	    now - s->ring[s->ring_head] < (uint64_t)s->spec->pub.period_ns)
		return true;
	s->ring[s->ring_head] = now;
	s->ring_head = (s->ring_head + 1) % max;
	if (s->ring_n < max)
		s->ring_n++;
	return false;
}

/* The backoff before child @i's next restart (supervisor.h). */
static uint64_t backoff_ns(struct sup *s, struct sup_child *c, uint64_t now)
{
	uint64_t min = (uint64_t)s->spec->pub.backoff_min_ns;
	uint64_t max = (uint64_t)s->spec->pub.backoff_max_ns;
	if (min == 0)
		return 0;
	if (now - c->started_ns >= (uint64_t)s->spec->pub.period_ns)
		c->level = 0; /* it ran long enough: a new row */
	uint64_t d = c->level >= 63 || min > (max >> c->level) ?
			     max :
			     min << c->level;
	if (c->level < 63)
		c->level++;
	return d + prng_next(&s->prng) % (d / 4 + 1);
}

/* Child @i stopped by itself (or could not start) with @why. */
static void child_failed(struct sup *s, uint32_t i, trp_stop_reason_t why)
{
	const trp_child_spec_t *cs = &s->spec->child[i];
	struct sup_child *c = &s->child[i];
	if (cs->restart == TRP_RESTART_TEMPORARY) {
		c->gone = true;
		return;
	}
	if (cs->restart == TRP_RESTART_TRANSIENT && !trp_stop_abnormal(why))
		return;
	uint64_t now = trp__now_ns();
	if (intensity_trips(s, now)) {
		stop_all(s, P_ESCALATE);
		return;
	}
	uint64_t at = now + backoff_ns(s, c, now);
	uint32_t lo = i, hi = i;
	if (s->spec->pub.strategy == TRP_ONE_FOR_ALL)
		lo = 0, hi = s->spec->n - 1;
	else if (s->spec->pub.strategy == TRP_REST_FOR_ONE)
		hi = s->spec->n - 1;
	for (uint32_t k = lo; k <= hi; k++) {
		struct sup_child *o = &s->child[k];
		if (k != i && o->state == C_RUNNING)
			o->to_stop = true;
		if (s->spec->child[k].restart == TRP_RESTART_TEMPORARY ||
		    o->gone)
			continue;
		/* A group starts together: when its longest wait is over. */
		if (!o->to_start || o->start_at < at)
			o->start_at = at;
		o->to_start = true;
	}
}

/*
 * Carries the plan out as far as it can without waiting (file comment).
 * Runs inside the supervisor's start hook or behaviour only: it may fail
 * or stop the supervisor.
 */
static void run(struct sup *s)
{
	uint32_t n = s->spec->n;
	for (;;) {
		if (s->phase == P_DONE)
			return;
		if (s->nstart_failed > 0) {
			for (uint32_t i = 0; i < n; i++) {
				if (!s->child[i].start_failed)
					continue;
				s->child[i].start_failed = false;
				s->nstart_failed--;
				if (s->phase == P_RUNNING)
					child_failed(s, i, TRP_STOP_FAILED);
			}
			continue;
		}
		if (s->nstopping > 0)
			return; /* one at a time: wait for its DOWN */
		uint32_t j = n;
		while (j > 0 && !s->child[j - 1].to_stop)
			j--;
		if (j > 0) {
			begin_stop(s, j - 1);
			continue;
		}
		if (s->phase == P_ESCALATE) {
			s->phase = P_DONE;
			(void)trp_actor_fail(s->self, TRP_SUP_INTENSITY);
			return;
		}
		if (s->phase == P_SHUTDOWN) {
			s->phase = P_DONE;
			(void)trp_actor_stop(s->self);
			return;
		}
		/* Start what is due, in spec order; wait for the rest. */
		uint64_t now = trp__now_ns(), next = UINT64_MAX;
		bool started = false;
		for (uint32_t i = 0; i < n; i++) {
			struct sup_child *c = &s->child[i];
			if (!c->to_start)
				continue;
			/* Marked children that run are marked to_stop too,
			 * and none is left to stop here. */
			trp__assert(c->state == C_IDLE);
			if (c->start_at <= now) {
				start_child(s, i);
				started = true;
			} else if (c->start_at < next) {
				next = c->start_at;
			}
		}
		if (next != UINT64_MAX &&
		    (s->restart_timer == NULL || s->restart_timer_at != next)) {
			timer_drop(&s->restart_timer);
			s->restart_timer_at = next;
			if (timer_arm(s, (int64_t)(next - now), TICK_RESTART, 0,
				      &s->restart_timer,
				      &s->restart_token) != 0) {
				/* No timer (TRP_ENOMEM, TRP_ESYSTEM): a
				 * backoff we cannot wait for is skipped
				 * rather than hanging the restart. */
				for (uint32_t i = 0; i < n; i++)
					s->child[i].start_at = 0;
				continue;
			}
		}
		if (!started)
			return;
		/* Again: a start may have failed. */
	}
}

/* ------------------------------------------------------------------ */
/* the supervisor actor                                                */

static struct sup *sup_of(void *state)
{
	/* Read as bytes: a misused spawn's state is a spec (or anything),
	 * not aligned as a struct sup. */
	uint32_t magic;
	if (state == NULL)
		return NULL;
	memcpy(&magic, state, sizeof magic);
	return magic == SUP_MAGIC ? state : NULL;
}

static void sup_start(trp_actor_t *self, void *state)
{
	struct sup *s = sup_of(state);
	if (s == NULL) {
		/* trp_actor_spawn(trp_supervisor_def(), ...): unsupported. */
		(void)trp_actor_fail(self, TRP_EINVAL);
		return;
	}
	s->self = self;
	uint64_t seed = trp_actor_id(self) ^ trp__now_ns();
	s->prng = prng_next(&seed);
	for (uint32_t i = 0; i < s->spec->n; i++)
		start_child(s, i);
	run(s);
}

static void on_down(struct sup *s, const trp_msg_t *msg)
{
	trp_down_t d;
	if (msg->size != sizeof d)
		return;
	memcpy(&d, msg->data, sizeof d);
	uint32_t i;
	for (i = 0; i < s->spec->n; i++)
		if (s->child[i].state != C_IDLE && s->child[i].ref == d.ref)
			break;
	if (i == s->spec->n)
		return; /* not ours (a stray message of our type) */
	/* Planned: we stopped it, or were about to (a group restart or a
	 * shutdown had marked it): the plan has its answer already. */
	bool planned = s->child[i].state == C_STOPPING || s->child[i].to_stop;
	child_gone(s, i);
	if (!planned && s->phase == P_RUNNING)
		child_failed(s, i, (trp_stop_reason_t)d.reason);
	run(s);
}

static void on_tick(struct sup *s, const trp_msg_t *msg)
{
	struct sup_tick t;
	if (msg->size != sizeof t)
		return;
	memcpy(&t, msg->data, sizeof t);
	if (t.token == 0)
		return;
	if (t.what == TICK_RESTART && t.token == s->restart_token) {
		s->restart_token = 0;
		trp_timer_release(s->restart_timer); /* it fired */
		s->restart_timer = NULL;
		s->restart_timer_at = 0;
		run(s);
	} else if (t.what == TICK_KILL && t.index < s->spec->n) {
		struct sup_child *c = &s->child[t.index];
		if (c->state != C_STOPPING || c->kill_token != t.token)
			return;
		c->kill_token = 0;
		trp_timer_release(c->kill_timer);
		c->kill_timer = NULL;
		/* Its shutdown_ns ran out. TRP_EDEAD: its DOWN is coming. */
		(void)trp_actor_kill(c->actor);
	}
}

static void sup_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct sup *s = sup_of(state);
	if (s == NULL)
		return;
	switch (msg->type) {
	case SUP_T_DOWN:
		on_down(s, msg);
		break;
	case SUP_T_TICK:
		on_tick(s, msg);
		break;
	case SUP_T_STOP:
		if (s->phase == P_RUNNING)
			stop_all(s, P_SHUTDOWN);
		run(s);
		break;
	default:
		break; /* not ours: ignored (supervisor.h) */
	}
}

static void sup_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct sup *s = sup_of(state);
	if (s == NULL)
		return;
	trp__mutex_lock(&table_lock);
	s->stopped = true;
	if (s->listed) {
		struct sup **p = bucket_of(s->id);
		while (*p != s)
			p = &(*p)->next;
		*p = s->next;
		s->listed = false;
	}
	trp__mutex_unlock(&table_lock);

	trp__mutex_lock(&s->lock);
	s->dead = true;
	for (uint32_t i = 0; i < s->spec->n; i++)
		s->child[i].published = NULL;
	trp__mutex_unlock(&s->lock);

	timer_drop(&s->restart_timer);
	/* Children still running: the ordered shutdown did not happen
	 * (supervisor.h). Reverse order, without waiting. */
	for (uint32_t i = s->spec->n; i-- > 0;) {
		struct sup_child *c = &s->child[i];
		timer_drop(&c->kill_timer);
		if (c->actor == NULL)
			continue;
		if (why != TRP_STOP_SHUTDOWN) {
			/* Nobody will read its DOWN now. */
			(void)trp_demonitor(self, c->ref);
			if (why != TRP_STOP_CLOSED)
				(void)trp_actor_kill(c->actor);
			else if (is_supervisor_def(&s->spec->child[i].def))
				(void)trp_send(c->actor, SUP_T_STOP, NULL, 0);
			else
				(void)trp_actor_close(c->actor);
		}
		trp_actor_release(c->actor);
		c->actor = NULL;
	}
	sup_unref(s);
}

/* ------------------------------------------------------------------ */
/* the public calls                                                    */

int trp_supervisor_start(trp_runtime_t *rt, const trp_supervisor_spec_t *spec,
			 trp_actor_t **out)
{
	if (rt == NULL || spec == NULL)
		return TRP_EINVAL;
	trp_actor_t *a;
	int rc = sup_spawn(rt, spec, &a);
	if (rc != 0)
		return rc;
	if (out != NULL)
		*out = a;
	else
		trp_actor_release(a);
	return 0;
}

int trp_supervisor_stop(trp_actor_t *sup)
{
	if (sup == NULL)
		return TRP_EINVAL;
	int rc;
	struct sup *s = sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	sup_unref(s);
	return trp_send(sup, SUP_T_STOP, NULL, 0);
}

int trp_supervisor_child(trp_actor_t *sup, uint32_t index, trp_actor_t **out)
{
	if (sup == NULL || out == NULL)
		return TRP_EINVAL;
	int rc;
	struct sup *s = sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	trp_actor_t *a = NULL;
	if (index >= s->spec->n) {
		rc = TRP_EINVAL;
	} else {
		trp__mutex_lock(&s->lock);
		if (s->dead) {
			rc = TRP_EDEAD;
		} else if ((a = s->child[index].published) != NULL) {
			/* Published handles are held by the supervisor
			 * until it unpublishes them (under this lock). */
			trp_actor_retain(a);
			rc = 0;
		} else {
			rc = TRP_ENOENT;
		}
		trp__mutex_unlock(&s->lock);
	}
	sup_unref(s);
	if (rc == 0)
		*out = a;
	return rc;
}

int trp_supervisor_get_stats(trp_actor_t *sup, trp_supervisor_stats_t *out)
{
	if (sup == NULL || out == NULL)
		return TRP_EINVAL;
	int rc;
	struct sup *s = sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	trp__mutex_lock(&s->lock);
	rc = s->dead ? TRP_EDEAD : 0;
	trp__mutex_unlock(&s->lock);
	if (rc == 0) {
		/* relaxed: statistics (stat_add). */
		out->restarts = atomic_load_explicit(&s->restarts,
						     memory_order_relaxed);
		out->stops =
			atomic_load_explicit(&s->stops, memory_order_relaxed);
	}
	sup_unref(s);
	return rc;
}
