/*
 * core/timer.c - delayed and periodic sends (see troupe/timer.h).
 *
 * One timer thread per runtime, started on first use, owns a binary heap
 * of armed timers ordered by deadline (under a cold-path mutex). It sleeps
 * on a futex word `bell` until the earliest deadline; inserting a new
 * earliest timer rings the bell.
 *
 * Each timer has one atomic state: ARMED -> FIRING -> (ARMED again for a
 * periodic timer | FIRED), or ARMED -> CANCELLED. The timer thread claims
 * a firing with a CAS ARMED -> FIRING; trp_timer_cancel claims with a CAS
 * ARMED -> CANCELLED. Exactly one CAS wins, so a one-shot timer is either
 * fired or cancelled, never both. A cancel that meets FIRING (a periodic
 * timer mid-fire) waits for the fire to finish and tries again.
 *
 * A firing that finds its actor stopped (the send returns TRP_EDEAD) is a
 * dead letter and the timer's last: a periodic timer is not re-armed but
 * ends FIRED, as a one-shot does. An actor's life only moves forward, so
 * every later firing would be a dead letter too; re-arming would keep the
 * timer, its payload and the actor's handle alive, and fill the dead
 * letters, until someone cancels it. (Rejected: ending the timers when
 * their actor stops. The actor would need to know its timers, a list
 * kept on the stop path of every actor for a cold feature; and a timer
 * is cheap to keep until its next deadline.)
 *
 * References: the heap holds one, the caller's handle one. A cancelled
 * timer leaves the heap at once (each timer knows its heap slot).
 */
#include <limits.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "dead_letter.h"
#include "platform.h"
#include "runtime.h"
#include "sim.h"
#include "troupe/timer.h"

#define NOT_IN_HEAP SIZE_MAX

enum {
	ARMED = 0,
	FIRING = 1,
	FIRED = 2,
	CANCELLED = 3
};

struct trp_timer {
	_Atomic(uint64_t) refs;
	_Atomic(uint32_t) state;
	_Atomic(uint64_t) fired;
	uint64_t deadline; /* under the timers' lock */
	uint64_t seq;	   /* arm order: ties of deadlines (same lock) */
	size_t slot;	   /* index in the heap, or NOT_IN_HEAP (same lock) */
	uint64_t period;   /* 0: one-shot */
	struct trp_actor *to; /* holds a reference */
	uint32_t type;
	size_t len;
	alignas(16) unsigned char data[];
};

/* The feature's state (runtime.h): one cold-path lock for the heap and
 * the facility's life. */
struct timer_feature {
	struct trp__mutex lock;
	struct trp__timers *timers; /* started on first use */
	uint64_t armed;		    /* timers armed so far (seq) */
	bool closed;		    /* destroy began: no new timers */
};

static struct timer_feature *ts_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_TIMERS);
}

/* Everything below is under ts_of(rt)->lock. */
struct trp__timers {
	struct trp_timer **heap;
	size_t n, cap;
	_Atomic(uint32_t) bell;
	_Atomic(uint32_t) stop;
	struct trp__thread thread;
	struct trp_runtime *rt; /* the thread's runtime */
};

static void timer_release(struct trp_timer *t)
{
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	trp_actor_release(t->to);
	trp__free(t, sizeof *t + t->len);
}

void trp_timer_release(trp_timer_t *t)
{
	if (t != NULL)
		timer_release(t);
}

uint64_t trp_timer_fired(const trp_timer_t *t)
{
	/* ORDER: acquire, pairs with the release increment in fire(). */
	return t != NULL ? atomic_load_explicit(&((trp_timer_t *)t)->fired,
						memory_order_acquire) :
			   0;
}

/* ---- the heap (under ts_of(rt)->lock) ---- */

static void heap_swap(struct trp__timers *ts, size_t a, size_t b)
{
	struct trp_timer *x = ts->heap[a];
	ts->heap[a] = ts->heap[b];
	ts->heap[b] = x;
	ts->heap[a]->slot = a;
	ts->heap[b]->slot = b;
}

/* Deadline order, ties in arm order (simulation replays depend on it). */
static bool before(const struct trp_timer *a, const struct trp_timer *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_up(struct trp__timers *ts, size_t i)
{
	while (i > 0 && before(ts->heap[i], ts->heap[(i - 1) / 2])) {
		heap_swap(ts, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct trp__timers *ts, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < ts->n && before(ts->heap[l], ts->heap[m]))
			m = l;
		if (r < ts->n && before(ts->heap[r], ts->heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(ts, i, m);
		i = m;
	}
}

/* Adds @t; true if it is the new earliest. 0 or TRP_ENOMEM via @rc. */
static int heap_push(struct trp__timers *ts, struct trp_timer *t, bool *first)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 64;
		struct trp_timer **h = trp__alloc(cap * sizeof *h);
		if (h == NULL)
			return TRP_ENOMEM;
		if (ts->n != 0)
			memcpy(h, ts->heap, ts->n * sizeof *h);
		trp__free(ts->heap, 0);
		ts->heap = h;
		ts->cap = cap;
	}
	ts->heap[ts->n] = t;
	t->slot = ts->n;
	heap_up(ts, ts->n++);
	*first = ts->heap[0] == t;
	return 0;
}

/* Removes the timer at @i (any position). */
static struct trp_timer *heap_remove(struct trp__timers *ts, size_t i)
{
	struct trp_timer *t = ts->heap[i];
	ts->n--;
	if (i != ts->n) {
		ts->heap[i] = ts->heap[ts->n];
		ts->heap[i]->slot = i;
		heap_down(ts, i);
		heap_up(ts, i);
	}
	t->slot = NOT_IN_HEAP;
	return t;
}

static struct trp_timer *heap_pop(struct trp__timers *ts)
{
	return heap_remove(ts, 0);
}

/* ---- firing ---- */

/* Sends one firing. Returns whether the timer's actor has stopped (the
 * firing became a dead letter): then the timer must not fire again. */
static bool fire(struct trp_runtime *rt, struct trp_timer *t)
{
	/* Counted before the send: whoever sees the message (and anything
	 * it then publishes) sees the count too. ORDER: release, pairs with
	 * an acquire read in trp_timer_fired. */
	atomic_fetch_add_explicit(&t->fired, 1, memory_order_release);
	int rc = trp_send(t->to, t->type, t->len ? t->data : NULL, t->len);
	if (rc != TRP_EDEAD)
		return false; /* delivered, or refused for now (TRP_EFULL) */
	/* The receiver stopped: the firing is a dead letter. */
	trp_msg_t msg = { t->type, 0, t->len, t->len ? t->data : NULL };
	trp__dead_letter_unsent(rt, NULL, t->to, &msg, TRP_DEAD_STOPPED);
	return true;
}

/* Fires every timer due at @now, earliest first; returns the clock as last
 * read (the heap's first deadline is later). Called and returns with
 * ts_of(rt)->lock held (dropped around each send). */
static uint64_t fire_due_locked(struct trp_runtime *rt, struct trp__timers *ts,
				uint64_t now)
{
	while (ts->n != 0 && ts->heap[0]->deadline <= now) {
		struct trp_timer *t = heap_pop(ts);
		uint32_t s = ARMED;
		/* ORDER: acq_rel claim against trp_timer_cancel. */
		if (!atomic_compare_exchange_strong_explicit(
			    &t->state, &s, FIRING, memory_order_acq_rel,
			    memory_order_acquire)) {
			/* cancelled: drop the heap's reference */
			trp__mutex_unlock(&ts_of(rt)->lock);
			timer_release(t);
			trp__mutex_lock(&ts_of(rt)->lock);
			continue;
		}
		trp__mutex_unlock(&ts_of(rt)->lock);
		bool target_stopped = fire(rt, t);
		trp__mutex_lock(&ts_of(rt)->lock);
		bool again = false;
		if (t->period != 0 && !target_stopped) {
			t->deadline += t->period;
			if (t->deadline < now)
				t->deadline = now + t->period;
			t->seq = ts_of(rt)->armed++;
			bool first;
			again = heap_push(ts, t, &first) == 0;
		}
		/* ORDER: release; a cancel waiting on FIRING retries
		 * (acquire) once it sees the outcome. */
		atomic_store_explicit(&t->state, again ? ARMED : FIRED,
				      memory_order_release);
		if (!again) {
			trp__mutex_unlock(&ts_of(rt)->lock);
			timer_release(t);
			trp__mutex_lock(&ts_of(rt)->lock);
		}
		now = trp__runtime_now_ns(rt);
	}
	return now;
}

static void *timer_main(void *arg)
{
	/* Our own block, not ts_of(rt)->timers: destroy clears that before
	 * it joins us, possibly before this thread first runs; the block
	 * itself lives until the join (timers_quiesce). Thread creation
	 * publishes it. */
	struct trp__timers *ts = arg;
	struct trp_runtime *rt = ts->rt;
	trp__thread_name("troupe-timer");
	/* relaxed: a sticky flag; the bell wakes us to see it. */
	while (!atomic_load_explicit(&ts->stop, memory_order_acquire)) {
		/* ORDER: acquire, read before looking at the heap: a push
		 * after our look rings past this value. */
		uint32_t bell =
			atomic_load_explicit(&ts->bell, memory_order_acquire);
		int64_t wait = -1;
		trp__mutex_lock(&ts_of(rt)->lock);
		uint64_t now = fire_due_locked(rt, ts, trp__now_ns());
		if (ts->n != 0)
			wait = (int64_t)(ts->heap[0]->deadline - now);
		trp__mutex_unlock(&ts_of(rt)->lock);
		trp__futex_wait(&ts->bell, bell, wait);
	}
	return NULL;
}

uint64_t trp__timers_next(struct trp_runtime *rt)
{
	trp__mutex_lock(&ts_of(rt)->lock);
	struct trp__timers *ts = ts_of(rt)->timers;
	uint64_t next = ts != NULL && ts->n != 0 ? ts->heap[0]->deadline :
						   UINT64_MAX;
	trp__mutex_unlock(&ts_of(rt)->lock);
	return next;
}

void trp__timers_fire_due(struct trp_runtime *rt)
{
	trp__mutex_lock(&ts_of(rt)->lock);
	struct trp__timers *ts = ts_of(rt)->timers;
	if (ts != NULL)
		(void)fire_due_locked(rt, ts, trp__runtime_now_ns(rt));
	trp__mutex_unlock(&ts_of(rt)->lock);
}

/* ---- public calls ---- */

/* Caller holds ts_of(rt)->lock. */
static int timers_of_locked(struct trp_runtime *rt, struct trp__timers **out)
{
	int rc = 0;
	if (ts_of(rt)->closed)
		return TRP_ESHUTDOWN;
	if (ts_of(rt)->timers == NULL) {
		struct trp__timers *ts = trp__calloc(1, sizeof *ts);
		if (ts == NULL) {
			rc = TRP_ENOMEM;
		} else {
			atomic_init(&ts->bell, 0);
			atomic_init(&ts->stop, 0);
			ts->rt = rt;
			ts_of(rt)->timers = ts;
			/* simulation mode: no thread, the simulator fires
			 * (trp__timers_fire_due) */
			rc = rt->sim != NULL ?
				     0 :
				     trp__thread_start(&ts->thread, timer_main,
						       ts);
			if (rc != 0) {
				ts_of(rt)->timers = NULL;
				trp__free(ts, sizeof *ts);
			}
		}
	}
	*out = ts_of(rt)->timers;
	return rc;
}

int trp_send_after(trp_runtime_t *rt, trp_actor_t *to, int64_t delay_ns,
		   int64_t period_ns, uint32_t type, const void *data,
		   size_t len, trp_timer_t **out)
{
	if (rt == NULL || to == NULL || to->rt != rt || delay_ns < 0 ||
	    period_ns < 0 || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	uint64_t now = trp__runtime_now_ns(rt);
	if ((uint64_t)delay_ns > UINT64_MAX / 2 - now)
		return TRP_EINVAL;
	/* relaxed: destroy stops the timer thread under the same lock. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	struct trp_timer *t = trp__alloc_aligned(16, sizeof *t + len);
	if (t == NULL)
		return TRP_ENOMEM;
	memset(t, 0, sizeof *t);
	atomic_init(&t->refs, out != NULL ? 2 : 1);
	atomic_init(&t->state, ARMED);
	atomic_init(&t->fired, 0);
	t->deadline = now + (uint64_t)delay_ns;
	t->period = (uint64_t)period_ns;
	t->to = trp_actor_retain(to);
	t->type = type;
	t->len = len;
	if (len != 0)
		memcpy(t->data, data, len);
	bool first = false;
	struct trp__timers *ts;
	trp__mutex_lock(&ts_of(rt)->lock);
	int rc = timers_of_locked(rt, &ts);
	if (rc == 0) {
		t->seq = ts_of(rt)->armed++;
		rc = heap_push(ts, t, &first);
	}
	if (rc == 0 && first) {
		/* ORDER: release; the timer thread re-reads the heap. */
		atomic_fetch_add_explicit(&ts->bell, 1, memory_order_release);
		trp__futex_wake(&ts->bell, 1);
	}
	trp__mutex_unlock(&ts_of(rt)->lock);
	if (rc != 0) {
		trp_actor_release(t->to);
		trp__free(t, sizeof *t + len);
		return rc;
	}
	if (out != NULL)
		*out = t;
	return 0;
}

/* A cancelled timer leaves the heap now, not at its deadline: a long timer
 * cancelled early must not hold memory and its actor until then. */
static void unlink_cancelled(struct trp_timer *t)
{
	struct trp_runtime *rt = t->to->rt;
	bool drop = false;
	trp__mutex_lock(&ts_of(rt)->lock);
	struct trp__timers *ts = ts_of(rt)->timers;
	if (ts != NULL && t->slot != NOT_IN_HEAP) {
		(void)heap_remove(ts, t->slot);
		drop = true;
	}
	trp__mutex_unlock(&ts_of(rt)->lock);
	/* Not in the heap: the timer thread popped it and drops it when its
	 * claim fails (or shutdown dropped it). */
	if (drop)
		timer_release(t);
}

int trp_timer_cancel(trp_timer_t *t)
{
	if (t == NULL)
		return TRP_EINVAL;
	for (unsigned spins = 0;; spins++) {
		/* ORDER: acquire pairs with the timer thread's release of
		 * the outcome of a firing. */
		uint32_t s =
			atomic_load_explicit(&t->state, memory_order_acquire);
		if (s == FIRED || s == CANCELLED)
			return TRP_ENOENT;
		if (s == FIRING) {
			/* a one-shot will be FIRED, a periodic ARMED again
			 * (a send takes microseconds at most) */
			if (spins < 64)
				trp__cpu_relax();
			else
				trp__thread_yield();
			continue;
		}
		/* ORDER: acq_rel claim against the timer thread's CAS. */
		if (atomic_compare_exchange_weak_explicit(
			    &t->state, &s, CANCELLED, memory_order_acq_rel,
			    memory_order_acquire)) {
			unlink_cancelled(t);
			return 0;
		}
	}
}

/* Destroy, step 1 (runtime.h): stops the timer thread and drops every
 * pending timer (they never fire); later trp_send_after calls return
 * TRP_ESHUTDOWN. */
static void timers_quiesce(struct trp_runtime *rt, void *state)
{
	(void)state;
	trp__mutex_lock(&ts_of(rt)->lock);
	struct trp__timers *ts = ts_of(rt)->timers;
	ts_of(rt)->timers = NULL;
	ts_of(rt)->closed = true;
	trp__mutex_unlock(&ts_of(rt)->lock);
	if (ts == NULL)
		return;
	/* ORDER: release; the thread's acquire load sees it after the bell. */
	atomic_store_explicit(&ts->stop, 1, memory_order_release);
	atomic_fetch_add_explicit(&ts->bell, 1, memory_order_release);
	trp__futex_wake(&ts->bell, 1);
	if (rt->sim == NULL)
		trp__thread_join(&ts->thread);
	/* Pending timers never fire: cancel and drop the heap's references. */
	for (size_t i = 0; i < ts->n; i++) {
		struct trp_timer *t = ts->heap[i];
		uint32_t s = ARMED;
		(void)atomic_compare_exchange_strong_explicit(
			&t->state, &s, CANCELLED, memory_order_relaxed,
			memory_order_relaxed);
		timer_release(t);
	}
	trp__free(ts->heap, 0);
	trp__free(ts, sizeof *ts);
}

const struct trp__feature trp__feature_timers = {
	.name = "timers",
	.state_size = sizeof(struct timer_feature),
	.quiesce = timers_quiesce,
};
