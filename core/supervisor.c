/*
 * core/supervisor.c - supervisors (troupe/supervisor.h; the files:
 * supervisor.h), built on the
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
#include "sim.h"
#include "supervisor.h"

#include "metrics.h"

static void sup_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg);
static void sup_start(trp_actor_t *self, void *state);
static void sup_stop(trp_actor_t *self, void *state, trp_stop_reason_t why);

const trp_actor_def_t trp__sup_def = {
	.behavior = sup_behavior,
	.start = sup_start,
	.stop = sup_stop,
	.state_size = 0,
	/* DOWNs, ticks and stop requests must never be refused. */
	.mailbox_limit = TRP_MAILBOX_UNBOUNDED,
};

const trp_actor_def_t *trp_supervisor_def(void)
{
	return &trp__sup_def;
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
	int rc = trp__sup_spec_copy(spec, 0, &copy);
	if (rc != 0)
		return rc;
	if ((rc = trp__sup_new(rt, copy, &s)) != 0) {
		trp__sup_spec_free(copy);
		return rc;
	}
	/* Spawn publishes everything written to *s so far to the actor. */
	rc = trp_actor_spawn(rt, &trp__sup_def, s, &a);
	if (rc != 0) {
		trp__sup_free(s); /* no actor: no hook ever sees it */
		return rc;
	}
	trp__sup_list(s, trp_actor_id(a));
	trp__sup_unref(s);
	*out = a;
	return 0;
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
	c->started_ns = trp__clock_ns(s->rt);
	if (c->started_once) {
		trp__sup_stat_add(&s->restarts);
		trp__metrics_restarted(s->rt);
	}
	c->started_once = true;
	if (trp__sup_is_def(&cs->def))
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
	trp__sup_publish(s, i, a);
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
	trp__sup_publish(s, i, NULL);
	if (cs->shutdown_ns != 0) {
		/* TRP_EDEAD: it stopped by itself; its DOWN is coming. */
		if (trp__sup_is_def(&cs->def))
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
	trp__sup_stat_add(&s->stops);
	trp__sup_publish(s, i, NULL);
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
	uint64_t now = trp__clock_ns(s->rt);
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
		uint64_t now = trp__clock_ns(s->rt), next = UINT64_MAX;
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
	/* simulation mode: the run's seed, so that a replay backs off the
	 * same way */
	uint64_t seed;
	if (!trp__sim_seed(s->rt, self, &seed))
		seed = trp_actor_id(self) ^ trp__now_ns();
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
	trp__sup_unlist(s);

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
			else if (trp__sup_is_def(&s->spec->child[i].def))
				(void)trp_send(c->actor, SUP_T_STOP, NULL, 0);
			else
				(void)trp_actor_close(c->actor);
		}
		trp_actor_release(c->actor);
		c->actor = NULL;
	}
	trp__sup_unref(s);
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
	struct sup *s = trp__sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	trp__sup_unref(s);
	return trp_send(sup, SUP_T_STOP, NULL, 0);
}
