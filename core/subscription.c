/*
 * core/subscription.c - an exchange's subscriber set: the copy-on-write
 * arrays, attach, detach, scopes, and pruning actor sinks that stopped
 * (see exchange.h for the ordering argument).
 *
 * Who may call: any thread outside an epoch section (the writers wait for
 * a grace period: TRP_EDEADLK inside one). Writers are serialized by the
 * exchange's lock; publishers never take it.
 */
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "exchange.h"
#include "outbox.h"

/* Releases what an array's entries reference (the actors). */
void trp__subs_release_entries(struct trp__sub_array *arr)
{
	for (uint32_t i = 0; i < arr->n; i++)
		if (arr->v[i].sink.kind == TRP_SINK_ACTOR)
			trp_actor_release(arr->v[i].sink.actor);
}

void trp__subs_free(struct trp__sub_array *arr)
{
	if (arr != NULL && arr != &trp__subs_empty)
		trp__free(arr, 0);
}

/* Swaps in @next (under ex->lock) and returns the array it replaces, which
 * readers may still hold: the caller waits for a grace period outside the
 * lock before freeing it (retire_array, or close's own path). */
struct trp__sub_array *trp__subs_swap_locked(struct trp_exchange *ex,
					     struct trp__sub_array *next)
{
	/* relaxed: writers are serialized by the lock. */
	struct trp__sub_array *old =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	/* ORDER: release publishes the new array and its entries to the
	 * acquire load in publish. */
	atomic_store_explicit(&ex->subs, next, memory_order_release);
	return old;
}

/* An actor sink whose actor has stopped or is stopping: every send to it
 * fails with TRP_EDEAD from now on (the life cycle only moves forward). */
static bool sink_stopped(const trp_sink_t *s)
{
	/* relaxed: a stale TRP__ALIVE only leaves the sink for a later
	 * pass; any other value is final. */
	return s->kind == TRP_SINK_ACTOR &&
	       atomic_load_explicit(&s->actor->lifecycle,
				    memory_order_relaxed) != TRP__ALIVE;
}

/* Sets @arr->ncoal from its first @n entries (before the array is
 * published; the caller adds the entries it fills in later). */
static void count_coalescing(struct trp__sub_array *arr, uint32_t n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		k += arr->v[i].coalesce;
	arr->ncoal = k;
}

/*
 * Under ex->lock: makes the array that replaces @cur (not NULL): @cur's
 * entries in order minus the one with id @drop (0: none) and minus the
 * stopped actor sinks, with @extra more slots at the end (counted in n;
 * the caller fills them). The entries left out are marked retired in
 * @cur and counted in *left_out. *out is @cur itself when nothing
 * changes, the static empty array when nothing is left.
 * Returns 0, or TRP_ENOMEM with nothing marked.
 *
 * Every writer prunes stopped sinks, not only the publish that found one:
 * the copy is made anyway, and it bounds the set for exchanges whose
 * publishers all run nested (callback sinks), which cannot prune.
 */
static int rebuild_locked(struct trp__sub_array *cur, trp_sub_t drop,
			  uint32_t extra, struct trp__sub_array **out,
			  uint32_t *left_out)
{
	uint32_t gone = 0;
	for (uint32_t i = 0; i < cur->n; i++) {
		struct trp__sub_entry *e = &cur->v[i];
		/* decided once here: the life cycle may move on meanwhile */
		e->retired = e->id == drop || sink_stopped(&e->sink);
		gone += e->retired;
	}
	*left_out = 0;
	*out = cur;
	if (gone == 0 && extra == 0)
		return 0;
	uint32_t n = cur->n - gone + extra;
	struct trp__sub_array *next = &trp__subs_empty;
	if (n != 0) {
		next = trp__alloc(sizeof *next + (size_t)n * sizeof next->v[0]);
		if (next == NULL) {
			for (uint32_t i = 0; i < cur->n; i++)
				cur->v[i].retired = false;
			return TRP_ENOMEM;
		}
		next->n = n;
		uint32_t k = 0;
		for (uint32_t i = 0; i < cur->n; i++)
			if (!cur->v[i].retired)
				next->v[k++] = cur->v[i];
	}
	*left_out = gone;
	*out = next;
	if (next != &trp__subs_empty)
		count_coalescing(next, n - extra); /* the kept ones */
	return 0;
}

/* Outside the lock, after trp__subs_swap_locked replaced @old: waits until no
 * publish reads it any more, then drops the references of the entries
 * its replacement left out (they are ours alone now) and frees it. */
static void retire_array(struct trp__sub_array *old)
{
	trp__epoch_synchronize();
	for (uint32_t i = 0; i < old->n; i++)
		if (old->v[i].retired && old->v[i].sink.kind == TRP_SINK_ACTOR)
			trp_actor_release(old->v[i].sink.actor);
	trp__subs_free(old);
}

static int check_sink(struct trp_exchange *ex, const trp_sink_t *s)
{
	switch (s->kind) {
	case TRP_SINK_ACTOR:
		if (s->actor == NULL || s->actor->rt != ex->rt)
			return TRP_EINVAL;
		/* relaxed: an early answer; a sink that stops later is
		 * counted as dropped_dead at each publish. */
		if (atomic_load_explicit(&s->actor->lifecycle,
					 memory_order_relaxed) != TRP__ALIVE)
			return TRP_EDEAD;
		return 0;
	case TRP_SINK_CALLBACK:
		return s->fn != NULL ? 0 : TRP_EINVAL;
	case TRP_SINK_TAP:
		return s->tap != NULL ? 0 : TRP_EINVAL;
	default:
		return TRP_EINVAL;
	}
}

/* One sink (same kind, same target) must not be attached twice to one
 * exchange: it would get every message twice. (Refused rather than
 * allowed and documented: no user wants the copies, and a subscription
 * made twice by mistake is hard to see.) */
static bool same_sink(const trp_sink_t *x, const trp_sink_t *y)
{
	if (x->kind != y->kind)
		return false;
	switch (x->kind) {
	case TRP_SINK_ACTOR:
		return x->actor == y->actor;
	case TRP_SINK_CALLBACK:
		return x->fn == y->fn && x->ctx == y->ctx;
	default: /* TRP_SINK_TAP: check_sink refused any other kind */
		return x->tap == y->tap;
	}
}

/* Under ex->lock: TRP_EEXIST if one of the @n new sinks is attached to
 * @cur already or given twice, else 0. O(n * (cur->n + n)): attach is
 * the cold path and copies cur anyway. */
static int check_new_sinks_locked(const struct trp__sub_array *cur,
				  const trp_sink_t *sinks, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (same_sink(&sinks[i], &sinks[j]))
				return TRP_EEXIST;
		for (uint32_t k = 0; k < cur->n; k++)
			if (same_sink(&sinks[i], &cur->v[k].sink))
				return TRP_EEXIST;
	}
	return 0;
}

/* Attaches @n sinks at once (all or none); ids go to @subs. */
static int attach_many(struct trp_exchange *ex, const trp_sink_t *sinks,
		       uint32_t n, trp_sub_t *subs)
{
	if (ex == NULL || sinks == NULL || n == 0)
		return TRP_EINVAL;
	trp__outbox_settle(); /* a turn's held publishes first */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	for (uint32_t i = 0; i < n; i++) {
		int rc = check_sink(ex, &sinks[i]);
		if (rc != 0)
			return rc;
	}
	/* relaxed: courtesy check; runtime destroy closes the exchange. */
	if (atomic_load_explicit(&ex->rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	trp__mutex_lock(&ex->lock);
	struct trp__sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	if (cur == NULL) {
		trp__mutex_unlock(&ex->lock);
		return TRP_ECLOSED;
	}
	int rc = check_new_sinks_locked(cur, sinks, n);
	if (rc != 0) {
		trp__mutex_unlock(&ex->lock);
		return rc;
	}
	struct trp__sub_array *next;
	uint32_t gone;
	if (rebuild_locked(cur, 0, n, &next, &gone) != 0) {
		trp__mutex_unlock(&ex->lock);
		return TRP_ENOMEM;
	}
	uint32_t base = next->n - n;
	for (uint32_t i = 0; i < n; i++) {
		struct trp__sub_entry *e = &next->v[base + i];
		e->id = ++ex->next_id;
		e->sink = sinks[i];
		e->retired = false;
		e->coalesce = trp__sink_coalesces(&e->sink);
		next->ncoal += e->coalesce;
		if (e->sink.kind == TRP_SINK_ACTOR)
			trp_actor_retain(e->sink.actor);
		if (subs != NULL)
			subs[i] = e->id;
	}
	struct trp__sub_array *old = trp__subs_swap_locked(ex, next);
	trp__mutex_unlock(&ex->lock);
	/* The kept entries live on in the new array: the old one's retired
	 * entries (stopped actors pruned) are all we release. */
	retire_array(old);
	return 0;
}

int trp_exchange_attach(trp_exchange_t *ex, trp_sink_t sink, trp_sub_t *sub)
{
	return attach_many(ex, &sink, 1, sub);
}

int trp_exchange_detach(trp_exchange_t *ex, trp_sub_t sub)
{
	if (ex == NULL || sub == 0)
		return ex == NULL ? TRP_EINVAL : TRP_ENOENT;
	trp__outbox_settle(); /* a turn's held publishes first */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	trp__mutex_lock(&ex->lock);
	struct trp__sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	bool found = false;
	for (uint32_t i = 0; cur != NULL && i < cur->n && !found; i++)
		found = cur->v[i].id == sub;
	struct trp__sub_array *next;
	uint32_t gone;
	int rc = !found ? TRP_ENOENT :
			  rebuild_locked(cur, sub, 0, &next, &gone);
	if (rc != 0) {
		trp__mutex_unlock(&ex->lock);
		return rc;
	}
	struct trp__sub_array *old = trp__subs_swap_locked(ex, next);
	trp__mutex_unlock(&ex->lock);
	/* After the grace period no publish holds the old array: the sink
	 * (and any stopped one pruned with it) is ours. */
	retire_array(old);
	return 0;
}

/*
 * Auto-detach of stopped actor sinks (the contract is in
 * troupe/exchange.h). A publish whose delivery got TRP_EDEAD calls this
 * after leaving its read section - and only if it is not nested inside
 * another one (a callback sink publishing), since a grace period would
 * then wait for the caller itself. The publish hot path is unchanged: it
 * counted dropped_dead already, and only the publish that found a dead
 * sink comes here, once per death in the common case (the sink is gone
 * from the array the next publish loads).
 *
 * Done synchronously, with detach's own copy-swap-wait path, rather than
 * deferred with ck_epoch_call: a deferred callback runs only when the
 * record that queued it is polled (ck_epoch_poll/barrier), and nothing
 * polls records today (epoch.c owns them, workers never poll), so the old
 * arrays and actor references would pile up until some unrelated writer
 * ran; a reclaim queue of our own drained by attach/detach would have the
 * same unbounded worst case (one retired array per death between two
 * writers, each O(subscribers)). The price is one grace period (detach's
 * cost) paid by the publisher that found the death, and a lock taken only
 * on that path; concurrent publishers that find the same dead sink queue
 * on the lock, find it gone and return without waiting.
 *
 * Rejected as well: only marking the entry dead in the read section and
 * leaving the pruning to the next attach/detach - on an exchange whose
 * set stops changing the dead sinks would stay (in the array and in
 * stats.subscribers) for good, which is the problem being fixed.
 */
void trp__subs_reap_stopped(struct trp_exchange *ex)
{
	trp__mutex_lock(&ex->lock);
	struct trp__sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	struct trp__sub_array *next, *old = NULL;
	uint32_t gone = 0;
	/* TRP_ENOMEM: the sinks stay, the next publish that finds one dead
	 * tries again. */
	if (cur != NULL && rebuild_locked(cur, 0, 0, &next, &gone) == 0 &&
	    gone != 0)
		old = trp__subs_swap_locked(ex, next);
	trp__mutex_unlock(&ex->lock);
	if (old != NULL)
		retire_array(old);
}

trp_exchange_scope_t trp_exchange_scope_enter(trp_exchange_t *ex,
					      const trp_sink_t *sinks,
					      uint32_t n)
{
	trp_exchange_scope_t s;
	memset(&s, 0, sizeof s);
	s.ex = ex;
	if (n > TRP_EXCHANGE_SCOPE_MAX) {
		s.rc = TRP_EINVAL;
		return s;
	}
	s.rc = attach_many(ex, sinks, n, s.subs);
	if (s.rc == 0)
		s.n = n;
	return s;
}

void trp_exchange_scope_exit(trp_exchange_scope_t *scope)
{
	if (scope == NULL)
		return;
	for (uint32_t i = 0; i < scope->n; i++)
		(void)trp_exchange_detach(scope->ex, scope->subs[i]);
	scope->n = 0;
}
