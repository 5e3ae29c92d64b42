/*
 * core/monitor.c - monitors, links and exit trapping (troupe/monitor.h).
 *
 * Records. A monitor is one 64-byte record; it sits in its target's list
 * (targets_of) until the target stops or the monitor is removed, and in
 * its watcher's list (watching) until its DOWN is delivered or the monitor
 * is removed. A link is two 16-byte nodes, one in each actor's list. The
 * lists hang off the actor's record (struct ext), whose pointer is in the
 * actor's cold block (actor.h: struct trp__actor_ext, monitors); both are
 * made on first use.
 *
 * Locking: every list and state change is made under the runtime's actors
 * lock, the lock under which an actor is retired. So a monitor or link
 * made before a target's retirement is in its list when the target's
 * actor_stopped hook runs (the hook takes the same lock after the
 * retirement released it), and one made after sees `retired` and answers
 * at once (DOWN(noproc), or the link's exit). Monitors are a cold path:
 * one lock per monitor, demonitor, link, and per stop of an actor that has
 * an ext block; an actor that never had one pays one relaxed load on its
 * stop.
 *
 * Exactly one DOWN per monitor: the record's state moves ACTIVE -> FIRED
 * (the target stopped; one DOWN is sent) or ACTIVE -> CANCELLED
 * (demonitor, or the watcher stopped); FIRED -> DELIVERED (the watcher's
 * consumer admits the DOWN: trp__sys_ops.admit) or FIRED -> CANCELLED
 * (demonitor before the delivery: the DOWN is voided, a dead letter). All
 * under the lock, so each transition happens once.
 *
 * Order: the DOWN is sent by the target's stopping thread from its
 * actor_stopped hook, after the target's last sends were pushed (stop.c
 * flushes the turn's batches before it drains and retires), so it comes
 * after them in the watcher's mailbox (per-pair FIFO).
 *
 * Atomics: every access to an actor's record pointer (the monitors slot
 * of its cold block) is relaxed. It is written only under the actors
 * lock, and every read but two is under it too (the lock orders them);
 * the two lock-free reads (the stop hook's NULL peek, exit_signal's trap
 * type) say why relaxed suffices where they are. The cold block itself is
 * made before the lock (ext_blocks: a lock-free install, never replaced)
 * and its pointer loaded with acquire (trp__actor_ext, actor.h). The shutdown checks are courtesies: destroy refuses sends anyway.
 *
 * References: a record holds one reference to its watcher (or its future)
 * while it is in the watcher's list; each list a record is in and each
 * DOWN message in flight holds one reference to the record. A link node
 * holds none: a stopping actor removes its nodes from its peers' lists
 * under the lock before its memory can go, and the hook retains a peer
 * before acting on it outside the lock.
 */
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "future.h"
#include "message.h"
#include "monitor.h"
#include "runtime.h"
#include "send.h"
#include "worker.h"
#include "troupe/monitor.h"

enum {
	MON_ACTIVE = 0,
	MON_FIRED = 1,
	MON_DELIVERED = 2,
	MON_CANCELLED = 3,
};

struct mon {
	struct trp__sys_msg sys; /* first: DOWN messages point here */
	_Atomic(uint32_t) refs;
	uint32_t state; /* under the actors lock */
	trp_ref_t ref;
	union {
		struct trp_actor *actor;   /* holds a reference */
		struct trp_future *future; /* trp_actor_watch: one ref */
	} to;
	struct trp_actor *target; /* while in its list */
	struct mon *tnext;	  /* target's targets_of */
	struct mon *wnext;	  /* watcher's watching */
	uint32_t down_type;
	uint8_t to_future;
	uint8_t in_target, in_watcher;
};

static_assert(sizeof(struct mon) <= 64, "a monitor costs at most 64 bytes");

struct link {
	struct trp_actor *peer;
	struct link *next;
};

/* An actor's record (actor.h: ext), under the actors lock. */
struct ext {
	struct mon *targets_of; /* monitors of this actor */
	struct mon *watching;	/* monitors this actor holds */
	struct link *links;
	_Atomic(uint32_t) trap_type; /* 0: exits are not trapped */
};

static _Atomic(uint64_t) next_ref = 1;

/* ------------------------------------------------------------------ */
/* records                                                             */

static void mon_unref(struct mon *m, uint32_t n)
{
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&m->refs, n, memory_order_acq_rel) != n)
		return;
	if (m->to_future)
		trp_future_release(m->to.future);
	else
		trp_actor_release(m->to.actor);
	trp__free(m, sizeof *m);
}

/* @a's record, or NULL. */
static struct ext *ext_get(struct trp_actor *a)
{
	struct trp__actor_ext *x = trp__actor_ext(a);
	/* relaxed: see the file comment ("Atomics"). */
	return x != NULL ? atomic_load_explicit(&x->monitors,
						memory_order_relaxed) :
			   NULL;
}

/* Makes the cold blocks (actor.h) of @a and @b (NULL: none) that hold
 * their records; false: no memory. Before the actors lock. */
static bool ext_blocks(struct trp_actor *a, struct trp_actor *b)
{
	return (a == NULL || trp__actor_ext_make(a) != NULL) &&
	       (b == NULL || trp__actor_ext_make(b) != NULL);
}

/* The DOWN's consumer admits it (see the file comment). */
static bool mon_admit(struct trp__sys_msg *s)
{
	struct mon *m = (struct mon *)(void *)s;
	struct trp_runtime *rt = m->to.actor->rt;
	bool deliver = false;
	uint32_t drop = 0;
	trp__mutex_lock(&rt->actors_lock);
	if (m->state == MON_FIRED) {
		m->state = MON_DELIVERED;
		deliver = true;
	}
	if (m->in_watcher) {
		/* unlink from the watcher's list (its own record) */
		struct ext *e = ext_get(m->to.actor);
		for (struct mon **p = &e->watching; *p != NULL;
		     p = &(*p)->wnext)
			if (*p == m) {
				*p = m->wnext;
				break;
			}
		m->in_watcher = 0;
		drop++;
	}
	trp__mutex_unlock(&rt->actors_lock);
	if (drop != 0)
		mon_unref(m, drop);
	return deliver;
}

static void mon_release(struct trp__sys_msg *s)
{
	mon_unref((struct mon *)(void *)s, 1);
}

static const struct trp__sys_ops mon_ops = {
	.admit = mon_admit,
	.release = mon_release,
};

/* @a's record, made if it has none. Under the actors lock, after
 * ext_blocks(@a); NULL: no memory. */
static struct ext *ext_of_locked(struct trp_actor *a, struct ext **spare)
{
	struct trp__actor_ext *x = trp__actor_ext(a);
	trp__assert(x != NULL); /* ext_blocks */
	/* relaxed: written only under the lock we hold. */
	struct ext *e =
		atomic_load_explicit(&x->monitors, memory_order_relaxed);
	if (e == NULL && *spare != NULL) {
		e = *spare;
		*spare = NULL;
		memset(e, 0, sizeof *e);
		atomic_store_explicit(&x->monitors, e, memory_order_relaxed);
		/* callers checked `retired` under this lock */
		(void)trp__actor_attach_locked(a);
	}
	return e;
}

/* Takes @m out of its target's list (under the actors lock); the caller
 * drops the list's reference. */
static void target_unlink_locked(struct mon *m)
{
	/* relaxed: the ext pointer is written only under the lock we hold. */
	struct ext *te = ext_get(m->target);
	for (struct mon **p = &te->targets_of; *p != NULL; p = &(*p)->tnext)
		if (*p == m) {
			*p = m->tnext;
			break;
		}
	m->in_target = 0;
}

/* Sends the DOWN of fired monitor @m (its message takes one reference). */
static void send_down(struct mon *m, trp_stop_reason_t why, int32_t code,
		      uint64_t actor_id)
{
	trp_down_t d = { .ref = m->ref,
			 .actor_id = actor_id,
			 .reason = (int32_t)why,
			 .code = code };
	if (m->to_future) {
		(void)trp__future_complete(m->to.future, 0, &d, sizeof d);
		return;
	}
	/* relaxed: the caller holds a reference; the send publishes the
	 * message (and so this count) to whoever drops it. */
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	struct trp__send_opts o = { .sys = &m->sys, .now = true };
	/* A watcher that stopped meanwhile: it never gets it (TRP_EDEAD,
	 * nothing was accepted); at shutdown sends are refused too. */
	if (trp__actor_send(m->to.actor, m->down_type, &d, sizeof d, &o) != 0)
		mon_unref(m, 1);
}

/* ------------------------------------------------------------------ */
/* monitors                                                            */

/* Makes a monitor of @target for the actor @watcher, or for a future. */
static int monitor(struct trp_actor *watcher, struct trp_future *future,
		   struct trp_actor *target, uint32_t down_type, trp_ref_t *ref)
{
	struct trp_runtime *rt = target->rt;
	struct mon *m = trp__alloc(sizeof *m);
	struct ext *spare[2] = { trp__alloc(sizeof(struct ext)),
				 trp__alloc(sizeof(struct ext)) };
	if (m == NULL || spare[0] == NULL || spare[1] == NULL ||
	    !ext_blocks(target, watcher)) {
		trp__free(m, sizeof *m);
		trp__free(spare[0], sizeof(struct ext));
		trp__free(spare[1], sizeof(struct ext));
		return TRP_ENOMEM;
	}
	memset(m, 0, sizeof *m);
	m->sys.ops = &mon_ops;
	/* relaxed: refs only need to be unique. */
	m->ref = atomic_fetch_add_explicit(&next_ref, 1, memory_order_relaxed);
	m->target = target;
	m->down_type = down_type;
	if (future != NULL) {
		m->to_future = 1;
		m->to.future = future;
	} else {
		m->to.actor = trp_actor_retain(watcher);
	}
	int rc = 0;
	bool noproc = false;
	uint32_t refs = 0;
	trp__mutex_lock(&rt->actors_lock);
	if (watcher != NULL && watcher->retired) {
		rc = TRP_EDEAD;
	} else if (target->retired) {
		noproc = true;
		m->state = MON_FIRED;
	} else {
		struct ext *te = ext_of_locked(target, &spare[0]);
		m->tnext = te->targets_of;
		te->targets_of = m;
		m->in_target = 1;
		refs++;
	}
	if (rc == 0 && watcher != NULL) {
		struct ext *we = ext_of_locked(watcher, &spare[1]);
		if (we == NULL)
			we = ext_of_locked(watcher, &spare[0]);
		m->wnext = we->watching;
		we->watching = m;
		m->in_watcher = 1;
		refs++;
	}
	atomic_init(&m->refs, refs + 1); /* + ours, for what follows */
	trp__mutex_unlock(&rt->actors_lock);
	trp__free(spare[0], sizeof(struct ext));
	trp__free(spare[1], sizeof(struct ext));
	if (rc != 0) {
		trp_actor_release(m->to.actor);
		trp__free(m, sizeof *m);
		return rc;
	}
	if (ref != NULL)
		*ref = m->ref;
	if (noproc)
		send_down(m, TRP_STOP_NOPROC, 0, target->id);
	else if (target->kind->watched != NULL)
		/* a remote proxy: its node watches the real target */
		target->kind->watched(target);
	mon_unref(m, 1);
	return 0;
}

int trp_monitor(trp_actor_t *watcher, trp_actor_t *target, uint32_t down_type,
		trp_ref_t *ref)
{
	if (watcher == NULL || target == NULL || watcher->rt != target->rt)
		return TRP_EINVAL;
	/* relaxed: a courtesy; destroy refuses sends anyway. */
	if (atomic_load_explicit(&target->rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	return monitor(watcher, NULL, target, down_type, ref);
}

int trp_actor_watch(trp_actor_t *target, trp_future_t **out)
{
	if (target == NULL || out == NULL)
		return TRP_EINVAL;
	if (atomic_load_explicit(&target->rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	struct trp_future *f = trp__future_new(target->rt, 0);
	if (f == NULL)
		return TRP_ENOMEM;
	/* one reference for the caller, one for the monitor */
	trp_future_retain(f);
	int rc = monitor(NULL, f, target, 0, NULL);
	if (rc != 0) {
		trp_future_release(f);
		trp_future_release(f);
		return rc;
	}
	*out = f;
	return 0;
}

int trp_demonitor(trp_actor_t *watcher, trp_ref_t ref)
{
	if (watcher == NULL || ref == 0)
		return TRP_EINVAL;
	struct trp_runtime *rt = watcher->rt;
	uint32_t drop = 0;
	struct mon *m = NULL;
	trp__mutex_lock(&rt->actors_lock);
	struct ext *we = ext_get(watcher);
	for (struct mon **p = we != NULL ? &we->watching : NULL;
	     p != NULL && *p != NULL; p = &(*p)->wnext) {
		if ((*p)->ref != ref)
			continue;
		m = *p;
		*p = m->wnext;
		m->in_watcher = 0;
		drop++;
		break;
	}
	if (m != NULL) {
		/* ACTIVE: it never fires; FIRED: its DOWN is voided. */
		m->state = MON_CANCELLED;
		if (m->in_target) {
			target_unlink_locked(m);
			drop++;
		}
	}
	trp__mutex_unlock(&rt->actors_lock);
	if (m == NULL)
		return TRP_ENOENT;
	mon_unref(m, drop);
	return 0;
}

/* ------------------------------------------------------------------ */
/* links                                                               */

/* Removes @peer's node from list @p; true if it was there. */
static bool link_remove(struct link **p, struct trp_actor *peer)
{
	for (; *p != NULL; p = &(*p)->next)
		if ((*p)->peer == peer) {
			struct link *l = *p;
			*p = l->next;
			trp__free(l, sizeof *l);
			return true;
		}
	return false;
}

/* @peer hears that @from stopped with @why/@code: an exit message if it
 * traps exits, else it stops too if @why is abnormal. A remote proxy
 * passes it on to its node (actor.h: link_exit), for every reason. */
static void exit_signal(struct trp_actor *peer, uint64_t from_id,
			trp_stop_reason_t why, int32_t code)
{
	if (peer->kind->link_exit != NULL) {
		peer->kind->link_exit(peer, from_id, why, code);
		return;
	}
	trp__link_signal(peer, from_id, why, code);
}

void trp__link_signal(struct trp_actor *peer, uint64_t from_id,
		      trp_stop_reason_t why, int32_t code)
{
	/* relaxed: set only under the lock, or by the actor itself; a
	 * stale value is a race the caller cannot tell from an earlier
	 * call. */
	struct ext *e = ext_get(peer);
	uint32_t trap = e != NULL ? atomic_load_explicit(&e->trap_type,
							 memory_order_relaxed) :
				    0;
	if (trap != 0) {
		trp_down_t d = { .ref = 0,
				 .actor_id = from_id,
				 .reason = (int32_t)why,
				 .code = code };
		struct trp__send_opts o = { .now = true };
		(void)trp__actor_send(peer, trap, &d, sizeof d, &o);
	} else if (trp_stop_abnormal(why)) {
		(void)trp__actor_kill(peer, TRP_STOP_LINKED);
	}
}

/* A remote proxy still alive: its node watches the real target and
 * mirrors the link with @peer (@on), or forgets it. */
static void link_remote(struct trp_actor *a, struct trp_actor *peer, bool on)
{
	/* relaxed: a courtesy (a proxy stopping meanwhile sends a WATCH
	 * whose DOWN finds nobody), as for a monitor made just before the
	 * target stops. */
	if (a->kind->linked != NULL &&
	    atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
		    TRP__ALIVE)
		a->kind->linked(a, peer->id, on);
}

int trp_link(trp_actor_t *a, trp_actor_t *b)
{
	if (a == NULL || b == NULL || a == b || a->rt != b->rt)
		return TRP_EINVAL;
	struct trp_runtime *rt = a->rt;
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	struct link *la = trp__alloc(sizeof *la), *lb = trp__alloc(sizeof *lb);
	struct ext *spare[2] = { trp__alloc(sizeof(struct ext)),
				 trp__alloc(sizeof(struct ext)) };
	int rc = 0;
	struct trp_actor *gone = NULL, *other = NULL;
	if (la == NULL || lb == NULL || spare[0] == NULL || spare[1] == NULL ||
	    !ext_blocks(a, b)) {
		rc = TRP_ENOMEM;
		goto out;
	}
	/* A remote proxy: its node watches the real target. Before the link
	 * exists, so that the WATCH reaches the target's node before any
	 * exit signal this link can send there (node_watch.c: the node
	 * honours an EXIT only for a target it watches). */
	link_remote(a, b, true);
	link_remote(b, a, true);
	trp__mutex_lock(&rt->actors_lock);
	if (a->retired || b->retired) {
		/* the one still running hears of the other at once */
		gone = a->retired ? a : b;
		other = a->retired ? b : a;
		if (other->retired || !trp__actor_try_retain(other))
			other = NULL;
	} else {
		struct ext *ea = ext_of_locked(a, &spare[0]);
		struct ext *eb = ext_of_locked(b, &spare[1]);
		bool linked = false;
		for (struct link *l = ea->links; l != NULL && !linked;
		     l = l->next)
			linked = l->peer == b;
		if (!linked) {
			la->peer = b;
			la->next = ea->links;
			ea->links = la;
			lb->peer = a;
			lb->next = eb->links;
			eb->links = lb;
			la = lb = NULL;
		}
	}
	trp__mutex_unlock(&rt->actors_lock);
	if (other != NULL) {
		exit_signal(other, gone->id, TRP_STOP_NOPROC, 0);
		trp_actor_release(other);
	}
out:
	trp__free(la, sizeof *la);
	trp__free(lb, sizeof *lb);
	trp__free(spare[0], sizeof(struct ext));
	trp__free(spare[1], sizeof(struct ext));
	return rc;
}

int trp_unlink(trp_actor_t *a, trp_actor_t *b)
{
	if (a == NULL || b == NULL || a == b || a->rt != b->rt)
		return TRP_EINVAL;
	struct trp_runtime *rt = a->rt;
	trp__mutex_lock(&rt->actors_lock);
	struct ext *ea = ext_get(a);
	struct ext *eb = ext_get(b);
	bool found = ea != NULL && eb != NULL && link_remove(&ea->links, b);
	if (found)
		(void)link_remove(&eb->links, a);
	trp__mutex_unlock(&rt->actors_lock);
	if (!found)
		return TRP_ENOENT;
	link_remote(a, b, false);
	link_remote(b, a, false);
	return 0;
}

int trp_actor_trap_exits(trp_actor_t *self, uint32_t exit_type)
{
	if (self == NULL)
		return TRP_EINVAL;
	struct trp_runtime *rt = self->rt;
	/* An event actor's own turn; a thread actor's thread cannot be told
	 * apart from others here: it is trusted (thread_actor.h). */
	if (trp__kind_has_turns(self->kind)) {
		struct trp__worker *w = trp__self_worker;
		if (w == NULL || w->rt != rt || w->current != self)
			return TRP_EPERM;
	}
	struct ext *spare = trp__alloc(sizeof *spare);
	if (spare == NULL || !ext_blocks(self, NULL)) {
		trp__free(spare, sizeof *spare);
		return TRP_ENOMEM;
	}
	trp__mutex_lock(&rt->actors_lock);
	struct ext *e = ext_of_locked(self, &spare);
	/* relaxed: read by a stopping peer (exit_signal), which may see
	 * the change a little late, as if it had stopped a little earlier. */
	atomic_store_explicit(&e->trap_type, exit_type, memory_order_relaxed);
	trp__mutex_unlock(&rt->actors_lock);
	trp__free(spare, sizeof *spare);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the feature                                                         */

/* @a stopped (retired: see the file comment). */
/* Takes, under the lock, the monitors of @a and its links (each link
 * leaves its peer's list; a peer still running is retained to be told);
 * with @stopped also cancels the monitors @a holds. */
struct fired {
	struct mon *cancel, *fire;
	struct link *links;
};

static void take_locked(struct trp_actor *a, struct ext *e, bool stopped,
			struct fired *f)
{
	f->cancel = NULL;
	if (stopped) {
		/* Monitors @a held: they never fire now. */
		f->cancel = e->watching;
		e->watching = NULL;
		for (struct mon *m = f->cancel; m != NULL; m = m->wnext) {
			m->in_watcher = 0;
			if (m->state == MON_ACTIVE || m->state == MON_FIRED)
				m->state = MON_CANCELLED;
			if (m->in_target) {
				target_unlink_locked(m);
				/* relaxed: the watcher list's reference,
				 * dropped after the lock, keeps the count
				 * above zero here. */
				atomic_fetch_sub_explicit(&m->refs, 1,
							  memory_order_relaxed);
			}
		}
	}
	/* Monitors of @a: each fires once. */
	f->fire = e->targets_of;
	e->targets_of = NULL;
	for (struct mon *m = f->fire; m != NULL; m = m->tnext) {
		m->in_target = 0;
		m->state = MON_FIRED;
	}
	/* Links: leave the peers' lists, keep each peer alive to tell it. */
	f->links = e->links;
	e->links = NULL;
	for (struct link *l = f->links; l != NULL; l = l->next) {
		struct ext *pe = ext_get(l->peer);
		(void)link_remove(&pe->links, a);
		if (l->peer->retired || !trp__actor_try_retain(l->peer))
			l->peer = NULL;
	}
}

/* Sends what take_locked took: DOWNs and exit signals with @why/@code. */
static void deliver_fired(struct fired *f, uint64_t id, trp_stop_reason_t why,
			  int32_t code)
{
	while (f->cancel != NULL) {
		struct mon *next = f->cancel->wnext;
		mon_unref(f->cancel, 1); /* the watcher list's reference */
		f->cancel = next;
	}
	while (f->fire != NULL) {
		struct mon *next = f->fire->tnext;
		send_down(f->fire, why, code, id);
		mon_unref(f->fire, 1); /* the target list's reference */
		f->fire = next;
	}
	while (f->links != NULL) {
		struct link *next = f->links->next;
		if (f->links->peer != NULL) {
			exit_signal(f->links->peer, id, why, code);
			trp_actor_release(f->links->peer);
		}
		trp__free(f->links, sizeof *f->links);
		f->links = next;
	}
}

static void monitors_actor_stopped(struct trp_runtime *rt, void *state,
				   struct trp_actor *a)
{
	(void)state;
	/* relaxed: installed under the actors lock, which the retirement
	 * took after; most actors never get one. */
	if (ext_get(a) == NULL)
		return;
	struct fired f;
	trp__mutex_lock(&rt->actors_lock);
	take_locked(a, ext_get(a), true, &f);
	trp__mutex_unlock(&rt->actors_lock);
	deliver_fired(&f, a->id, (trp_stop_reason_t)a->exit_reason,
		      a->exit_code);
}

void trp__monitors_fire(struct trp_actor *a, trp_stop_reason_t why,
			int32_t code)
{
	struct trp_runtime *rt = a->rt;
	struct fired f = { 0 };
	trp__mutex_lock(&rt->actors_lock);
	/* relaxed: under the lock, as every write of it. A retired actor's
	 * monitors fired with its stop. */
	struct ext *e = ext_get(a);
	if (e != NULL && !a->retired)
		take_locked(a, e, false, &f);
	trp__mutex_unlock(&rt->actors_lock);
	deliver_fired(&f, a->id, why, code);
}

const struct trp__feature trp__feature_monitors = {
	.name = "monitors",
	.actor_stopped = monitors_actor_stopped,
};
