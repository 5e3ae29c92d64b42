/*
 * core/port.c - ports: actor addresses drained by an application's event
 * loop (troupe/port.h).
 *
 * A port is an actor of its own kind (kind_port): it runs no turns on the
 * workers; its mailbox's consumer is whichever thread is inside
 * trp_port_drain(), one at a time (the drain guard below). The kind's wake
 * writes the port's eventfd. Everything else is the actor layer's: sends,
 * the close marker, kills, dead letters, retirement (and so monitors,
 * names, exchanges, held requests through the features' hooks).
 *
 * The wake protocol (tests/models/port_wake.pml checks it exhaustively;
 * docs/architecture.md, "Ports", has the prose):
 *
 *   push (any thread): one exchange on the mailbox head (delivery.h); the
 *     push that clears the idle tag, exactly one per idle period, calls
 *     the kind's wake after its link store: one eventfd write.
 *   drain (the loop): take the guard; read (reset) the eventfd; if the
 *     mailbox is still idle-tagged, nothing waits: done; else take and
 *     handle up to `budget` messages; at the end mark the mailbox idle if
 *     it is empty (one CAS, which fails if a push came in between), and
 *     otherwise - mail left at the budget, or a push between its exchange
 *     and its link - write the eventfd; release the guard.
 *
 * Invariant: whenever a message waits (or a push is in flight) and no
 * drain runs, the eventfd's counter is non-zero or a write is on its way.
 * A push that finds the tag writes after it linked its message: if that
 * write lands before a drain's read, the kernel's eventfd lock orders the
 * write (and so the link) before the read, and the drain sees the
 * message; if it lands after, the counter stays set. A push that finds
 * the mailbox busy leaves it to its owner: the idle-clearing push (above)
 * or a drain, which either takes the message or ends without going idle
 * and then writes - after its own read. A drain's mark idle succeeds only
 * while no push has exchanged past the last message taken, so a later
 * push finds the tag. Reading the eventfd after draining instead would
 * lose the write of a push that found the tag just after the mark idle
 * (port_wake_broken.pml); not writing at the budget would strand the rest
 * in a busy mailbox nobody signals (port_wake_nosignal_broken.pml).
 *
 * Edge-triggered epoll: every eventfd write queues an event for each
 * epoll instance watching it, even if the counter was non-zero already,
 * and epoll_wait reports it if the fd is still readable then (a drain in
 * between may have read it: then the event is dropped, and that drain
 * took what the write announced). With the invariant, a write follows
 * every state in which mail waits undrained, so EPOLLET never misses one.
 *
 * The drain guard (port->guard): 0 free, DRAINING while a drain runs,
 * WAITER added by destroy waiting for that drain, SHUT (sticky) once
 * destroy took the port. Taking it is a CAS (acquire) and leaving it an
 * exchange (release): the consumer's private state (the mailbox's tail and
 * stub, `carry`, port->idle) passes from one drain to the next through
 * it, whichever threads they run on. A drain that finds it taken returns
 * TRP_EBUSY and touches nothing.
 *
 * Stopping: a port stops on its consumer, inside a drain (the close
 * marker, or a kill) or in destroy's quiesce step after taking the guard
 * for good (ports_quiesce). Either way the port is the mailbox's consumer
 * when it stops, so its mail is dead-lettered exactly once and later
 * sends find the closed tag (delivery.c). Its eventfd is signalled, and
 * closed only when the last reference goes (the kind's free_state).
 *
 * Who may call: as troupe/port.h says. Lock-free but for the handler the
 * user wrote, retirement (the actors lock) and destroy's wait for a drain
 * in progress.
 */
#include <stdalign.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "backpressure.h"
#include "dead_letter.h"
#include "delivery.h"
#include "message.h"
#include "platform.h"
#include "probes.h"
#include "runtime.h"
#include "worker.h"
#include "troupe/port.h"

enum {
	GUARD_DRAINING = 1u, /* a drain runs */
	GUARD_WAITER = 2u,   /* destroy waits for it (futex on guard) */
	GUARD_SHUT = 4u,     /* destroy took the port: no drain ever again */
};

/* A long drain lowers the mailbox count as it goes (turn.c does the
 * same), so senders muted on the port go back to work once it caught up. */
#define CONSUMED_EVERY 256u

/* Takes a drain makes while a push is between its exchange and its link
 * (a cache-line transfer away, most likely) before it leaves the rest to
 * the next readiness (an eventfd write and an epoll round trip). A push
 * preempted between its two steps outlasts any such wait: the loop then
 * comes back until its sender runs again (tests/stress/port_storm on the
 * loaded 2-core VM: 2000-5000 busy ends of ~50000 drains, 150-360 of them
 * saved by these takes). */
#define BUSY_TAKES 64

struct port {
	/* read-mostly: written at open; pushes that wake read fd */
	alignas(TRP_CACHELINE) trp_behavior_fn handler;
	void *state; /* the application's */
	int fd;	     /* the eventfd */

	/* the drains, one at a time (and destroy, once) */
	alignas(TRP_CACHELINE) _Atomic(uint32_t) guard;
	/* the consumer's: this port's last drain left the mailbox
	 * idle-tagged; the next push clears the tag (and signals) */
	bool idle;
};

static_assert(offsetof(struct port, guard) % TRP_CACHELINE == 0,
	      "the drains' line is not the wakers' line");

static void port_wake(struct trp_runtime *rt, struct trp_actor *a);
static void port_free(struct trp_actor *a);

/* Ports: no turns (the loop drains them), so nothing is ever batched to
 * them (their drain reads plain messages, like trp_recv); woken through
 * their eventfd. */
static const struct trp__actor_kind kind_port = {
	.name = "port",
	.wake = port_wake,
	.batches = false,
	.free_state = port_free,
};

static struct port *port_of(struct trp_actor *a)
{
	return a->state;
}

static bool is_port(const struct trp_actor *a)
{
	return a != NULL && a->kind == &kind_port;
}

/* A behaviour placeholder: ports never run turns on workers. */
static void no_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

/* The kind's wake: a push found the mailbox idle (once per idle period). */
static void port_wake(struct trp_runtime *rt, struct trp_actor *a)
{
	(void)rt;
	TRP_PROBE1(port_wake, a->id);
	/* The push linked its message before this write; a drain whose
	 * eventfd read returns it sees the message (see the file comment). */
	trp__eventfd_signal(port_of(a)->fd);
}

/* Last reference gone: the descriptor outlived the port for the loop. */
static void port_free(struct trp_actor *a)
{
	struct port *p = port_of(a);
	trp__eventfd_close(p->fd);
	trp__free(p, sizeof *p);
}

/* Stop hook: runs only if the destroying thread stops a port (a port
 * opened while its runtime was being destroyed; the others stop in
 * ports_quiesce): a loop still watching learns of it. */
static void port_stopped(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	(void)why;
	trp__eventfd_signal(((struct port *)state)->fd);
}

int trp_port_open(trp_runtime_t *rt, trp_behavior_fn handler, void *state,
		  trp_actor_t **out)
{
	if (rt == NULL || handler == NULL || out == NULL)
		return TRP_EINVAL;
	struct port *p = trp__alloc_aligned(TRP_CACHELINE, sizeof *p);
	if (p == NULL)
		return TRP_ENOMEM;
	memset(p, 0, sizeof *p);
	p->handler = handler;
	p->state = state;
	atomic_init(&p->guard, 0);
	p->fd = trp__eventfd_open();
	if (p->fd < 0) {
		trp__free(p, sizeof *p);
		return TRP_ESYSTEM;
	}
	trp_actor_def_t def = { .behavior = no_behavior, .stop = port_stopped };
	struct trp_actor *a;
	int rc = trp__actor_create(rt, &def, p, &kind_port, &a);
	if (rc != 0) {
		trp__eventfd_close(p->fd);
		trp__free(p, sizeof *p);
		return rc;
	}
	/* A kind without turns starts owning its mailbox (actor.c). Nobody
	 * else knows the port yet: go idle now, so the first send signals. */
	struct trp__mpsc_node *done;
	bool idle = trp__mailbox_mark_idle_sc(&a->mailbox, &done);
	trp__assert(idle && done == NULL);
	p->idle = idle;
	*out = a;
	return 0;
}

int trp_port_fd(const trp_actor_t *port)
{
	if (!is_port(port))
		return TRP_EINVAL;
	return ((const struct port *)port->state)->fd;
}

bool trp_actor_is_port(const trp_actor_t *a)
{
	return is_port(a);
}

int trp_port_close(trp_actor_t *port)
{
	return is_port(port) ? trp_actor_close(port) : TRP_EINVAL;
}

/* ------------------------------------------------------------------ */
/* draining                                                            */

/* Leaves the guard (keeping the sticky SHUT, which only destroy sets
 * and which no drain holds). */
static void guard_leave(struct port *p)
{
	/* ORDER: release publishes this drain's consumer state (mailbox
	 * tail and stub, carry, p->idle) to the next drain's acquire CAS,
	 * and to destroy's (ports_quiesce). */
	uint32_t old =
		atomic_exchange_explicit(&p->guard, 0, memory_order_release);
	trp__assert((old & GUARD_DRAINING) != 0 && (old & GUARD_SHUT) == 0);
	if (trp__unlikely(old & GUARD_WAITER))
		trp__futex_wake(&p->guard, 1);
}

/* The consumer stops @a (the mailbox is its, not idle-tagged): stopped
 * with @why, its mail dead-lettered with @dead (requests TRP_EDEAD),
 * retired (monitors fire, held requests end), its fd signalled. */
static void port_stop(struct trp_actor *a, trp_stop_reason_t why,
		      trp_dead_reason_t dead)
{
	struct trp_runtime *rt = a->rt;
	a->exit_reason = (uint8_t)why;
	a->exit_code = 0;
	/* ORDER: release: whoever sees STOPPED (trp_actor_alive, a drain
	 * after ours) also sees what the handler did; senders read it
	 * relaxed for an early TRP_EDEAD only. */
	atomic_store_explicit(&a->lifecycle, TRP__STOPPED,
			      memory_order_release);
	(void)trp__drain_and_close(rt, NULL, a, NULL, dead);
	if (dead == TRP_DEAD_SHUTDOWN)
		/* drain_and_close leaves the muted alone at shutdown (the
		 * workers may be gone); ours stop while they still run. */
		trp__unmute_all(rt, a);
	trp__actor_retire(rt, a);
	trp__eventfd_signal(port_of(a)->fd);
}

/* The reason of a kill of @a (it is KILLED). */
static trp_stop_reason_t kill_reason(struct trp_actor *a)
{
	/* ORDER: acquire pairs with the kill's CAS (release), which
	 * published kill_reason. */
	(void)atomic_load_explicit(&a->lifecycle, memory_order_acquire);
	/* relaxed: ordered by the acquire above. */
	return (trp_stop_reason_t)atomic_load_explicit(&a->kill_reason,
						       memory_order_relaxed);
}

/* Handles message @m, taken from @a's mailbox; true if the handler ran
 * (a DOWN voided by trp_demonitor is a dead letter instead). */
static bool handle(struct trp_actor *a, struct port *p, struct trp__msg *m)
{
	bool ran = false;
	trp__assert(!trp__msg_is_bundle(m)); /* kind_port never batches */
	if (trp__likely(m->hold != TRP__HOLD_SYS) ||
	    m->u.sys->ops->admit(m->u.sys)) {
		/* trp_reply and trp_request_take look for it here. */
		trp__current_msg = &m->pub;
		p->handler(a, p->state, &m->pub);
		trp__current_msg = NULL;
		ran = true;
	} else {
		trp__dead_letter(a->rt, NULL, a, &m->pub, TRP_DEAD_DEMONITORED);
	}
	/* Neither answered nor taken: the asker learns it was handled. */
	if (trp__unlikely(m->request != TRP__REQ_NONE))
		trp__request_done(m, TRP_ENOREPLY);
	/* The block stays: it is the mailbox's last node until the next
	 * take or the idle mark. */
	if (trp__unlikely(m->hold != TRP__HOLD_INLINE))
		trp__msg_drop_payload(m);
	return ran;
}

/* Takes from a mailbox that is not empty (mark idle failed): the node, or
 * NULL if a push stays between its exchange and its link (BUSY_TAKES). */
static struct trp__mpsc_node *take_busy(struct trp_actor *a,
					struct trp__mpsc_node **done)
{
	for (int i = 0;; i++) {
		struct trp__mpsc_node *n =
			trp__mailbox_take_sc(&a->mailbox, done);
		if (n != NULL || i == BUSY_TAKES)
			return n;
		trp__cpu_relax();
	}
}

int trp_port_drain(trp_actor_t *port, uint32_t budget)
{
	if (!is_port(port) || budget == 0)
		return TRP_EINVAL;
	struct trp_actor *a = port;
	struct trp_runtime *rt = a->rt;
	/* A behaviour would run the handler as part of its turn (its
	 * sends, requests and stop would be taken for the turn's). */
	if (trp__worker_of(rt) != NULL)
		return TRP_EPERM;
	struct port *p = port_of(a);
	uint32_t g = 0;
	/* ORDER: acquire pairs with guard_leave's release: the last
	 * drain's consumer state is ours. */
	if (!atomic_compare_exchange_strong_explicit(
		    &p->guard, &g, GUARD_DRAINING, memory_order_acquire,
		    memory_order_relaxed))
		return (g & GUARD_SHUT) != 0 ? TRP_ECLOSED : TRP_EBUSY;
	/* relaxed: only a consumer stores STOPPED, and the last one's store
	 * came before its guard_leave (acquired above). */
	if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
	    TRP__STOPPED) {
		guard_leave(p);
		return TRP_ECLOSED;
	}
	/* Read the eventfd first: a wake-up written from now on stays for
	 * the next drain (see the file comment). */
	(void)trp__eventfd_clear(p->fd);
	if (p->idle) {
		if (trp__mailbox_is_idle(&a->mailbox)) {
			/* Nothing came since we went idle (a spurious
			 * readiness, or one whose messages an earlier drain
			 * took): the next push signals. */
			guard_leave(p);
			return 0;
		}
		/* A push took the tag off (and signalled): ours again. */
		p->idle = false;
	}
	/* Nested drains (of another port, from a handler; or a thread
	 * actor's thread) must not lose the outer message. */
	const trp_msg_t *outer = trp__current_msg;
	uint32_t taken = 0, counted = 0, handled = 0;
	trp_stop_reason_t stop = 0;
	trp_dead_reason_t dead = TRP_DEAD_STOPPED;
	while (taken < budget) {
		struct trp__mpsc_node *done;
		struct trp__mpsc_node *n =
			trp__mailbox_take_sc(&a->mailbox, &done);
		if (n == NULL) {
			if (trp__mailbox_mark_idle_sc(&a->mailbox, &done)) {
				trp__release_done(NULL, a, done);
				p->idle = true;
				break;
			}
			/* A message arrived since the take, or a push is
			 * between its exchange and its link. */
			n = take_busy(a, &done);
			if (n == NULL)
				break; /* still in flight: signalled below */
		}
		trp__release_done(NULL, a, done);
		/* relaxed: a late look costs one more message; the reason
		 * is acquired when it is acted on (kill_reason). */
		if (trp__unlikely(atomic_load_explicit(&a->lifecycle,
						       memory_order_relaxed) ==
				  TRP__KILLED)) {
			/* Not taken after all: the stop dead-letters it. */
			a->carry = n;
			a->carry_off = 0;
			stop = kill_reason(a);
			dead = TRP_DEAD_KILLED;
			break;
		}
		if (trp__unlikely(n == &a->close_node)) {
			stop = TRP_STOP_CLOSED;
			break;
		}
		/* Start fetching the next message (written by another core,
		 * most likely). relaxed: a hint; take_sc acquires it. */
		struct trp__mpsc_node *ahead =
			atomic_load_explicit(&n->next, memory_order_relaxed);
		if (ahead != NULL)
			__builtin_prefetch(ahead);
		taken++;
		handled += handle(a, p, trp__msg_of(n));
		if (trp__unlikely(taken - counted >= CONSUMED_EVERY)) {
			trp__consumed_noted(a, taken - counted);
			counted = taken;
		}
	}
	trp__current_msg = outer;
	trp__consumed_noted(a, taken - counted);
	/* One update per drain, not per message: the outside counters are
	 * shared with every outside sender. */
	if (handled != 0)
		trp__count(NULL, &rt->outside.processed, handled);
	if (trp__unlikely(stop != 0)) {
		port_stop(a, stop, dead);
		guard_leave(p);
		return TRP_ECLOSED;
	}
	if (!p->idle) {
		/* Stopped at the budget, or a push is in flight. Empty after
		 * all: go idle (the next push signals). Otherwise the mailbox
		 * stays ours, no push will signal: do it ourselves, after our
		 * read, so the loop comes back for the rest. */
		struct trp__mpsc_node *done;
		if (trp__mailbox_mark_idle_sc(&a->mailbox, &done)) {
			trp__release_done(NULL, a, done);
			p->idle = true;
		} else {
			trp__eventfd_signal(p->fd);
		}
	}
	guard_leave(p);
	return (int)(handled <= (uint32_t)INT32_MAX ? handled : INT32_MAX);
}

/* ------------------------------------------------------------------ */
/* the feature: destroy                                                */

/* trp__actors_each: retains the first port destroy has not taken yet. */
static bool first_open_port(struct trp_actor *a, void *ctx)
{
	if (a->kind != &kind_port ||
	    /* relaxed: SHUT is set only by ports_quiesce, on this thread. */
	    (atomic_load_explicit(&port_of(a)->guard, memory_order_relaxed) &
	     GUARD_SHUT) != 0)
		return true;
	*(struct trp_actor **)ctx = trp_actor_retain(a);
	return false;
}

/* Takes @p's guard for good, after the drain in progress (if any). */
static void guard_shut(struct port *p)
{
	/* relaxed: validated by the CASes. */
	uint32_t g = atomic_load_explicit(&p->guard, memory_order_relaxed);
	for (;;) {
		if (g == 0) {
			/* ORDER: acquire pairs with guard_leave's release:
			 * the last drain's consumer state is ours. */
			if (atomic_compare_exchange_weak_explicit(
				    &p->guard, &g, GUARD_SHUT,
				    memory_order_acquire, memory_order_relaxed))
				return;
			continue;
		}
		trp__assert((g & GUARD_SHUT) == 0);
		/* relaxed: only asks the drain to wake us; the acquire is
		 * the CAS above, once it left. */
		if ((g & GUARD_WAITER) == 0 &&
		    !atomic_compare_exchange_weak_explicit(
			    &p->guard, &g, g | GUARD_WAITER,
			    memory_order_relaxed, memory_order_relaxed))
			continue;
		trp__futex_wait(&p->guard, g | GUARD_WAITER, -1);
		/* relaxed: validated by the CASes, as above. */
		g = atomic_load_explicit(&p->guard, memory_order_relaxed);
	}
}

/* Destroy, step 1 (runtime.h), workers still running: every open port
 * waits for its drain in progress (whose handler may wait on actors, so
 * before the workers stop), is shut to drains (TRP_ECLOSED) and stops
 * with TRP_STOP_SHUTDOWN. One port per pass: the actors lock is not held
 * while waiting (a handler may need it) or stopping (retirement takes it). */
static void ports_quiesce(struct trp_runtime *rt, void *state)
{
	(void)state;
	for (;;) {
		struct trp_actor *a = NULL;
		trp__actors_each(rt, first_open_port, &a);
		if (a == NULL)
			break;
		struct port *p = port_of(a);
		guard_shut(p);
		/* relaxed: a consumer's STOPPED store came before its
		 * guard_leave, acquired by guard_shut. */
		if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) !=
		    TRP__STOPPED) {
			/* Become the consumer: if the last drain left the
			 * mailbox idle-tagged, take it back (a push that
			 * took the tag first made it ours already). */
			if (p->idle) {
				(void)trp__mailbox_reclaim_sc(&a->mailbox);
				p->idle = false;
			}
			port_stop(a, TRP_STOP_SHUTDOWN, TRP_DEAD_SHUTDOWN);
		} else {
			trp__eventfd_signal(p->fd);
		}
		trp_actor_release(a);
	}
}

const struct trp__feature trp__feature_ports = {
	.name = "ports",
	.quiesce = ports_quiesce,
};
