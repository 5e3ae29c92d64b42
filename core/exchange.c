/*
 * core/exchange.c - the life of an exchange (create, get by name, retain,
 * release, close) and the exchanges feature: the runtime's list of its
 * exchanges, which trp_runtime_destroy closes (see exchange.h for the
 * files and the design).
 *
 * Who may call: any thread; all of it is a cold path under the feature's
 * lock or the exchange's.
 */
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "exchange.h"
#include "outbox.h"

struct trp__sub_array trp__subs_empty = { 0 };

static int new_exchange(struct trp_runtime *rt, const char *name, size_t len,
			struct trp_exchange **out)
{
	struct trp_exchange *ex =
		trp__alloc_aligned(TRP_CACHELINE, sizeof(struct trp_exchange));
	if (ex == NULL)
		return TRP_ENOMEM;
	memset(ex, 0, sizeof *ex);
	atomic_init(&ex->subs, &trp__subs_empty);
	ex->rt = rt;
	if (name != NULL) {
		memcpy(ex->name, name, len);
		ex->name[len] = '\0';
		ex->name_len = len;
	}
	/* relaxed: the runtime struct outlives every exchange through this
	 * reference (dropped in free_exchange). */
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	*out = ex;
	return 0;
}

/* ---- the runtime's list of exchanges ---- */

/* Caller holds trp__exchanges_of(rt)->lock. */
static void link_locked(struct trp_runtime *rt, struct trp_exchange *ex)
{
	ex->next_all = trp__exchanges_of(rt)->list;
	ex->prev_all = NULL;
	if (trp__exchanges_of(rt)->list != NULL)
		trp__exchanges_of(rt)->list->prev_all = ex;
	trp__exchanges_of(rt)->list = ex;
}

static void unlink_locked(struct trp_runtime *rt, struct trp_exchange *ex)
{
	if (ex->prev_all != NULL)
		ex->prev_all->next_all = ex->next_all;
	else
		trp__exchanges_of(rt)->list = ex->next_all;
	if (ex->next_all != NULL)
		ex->next_all->prev_all = ex->prev_all;
	ex->next_all = ex->prev_all = NULL;
}

int trp_exchange_get(trp_runtime_t *rt, const char *name, trp_exchange_t **out)
{
	size_t len;
	int rc = TRP_EINVAL;
	if (rt == NULL || out == NULL ||
	    !trp__exchange_name_valid(name, &len, &rc))
		return rt == NULL || out == NULL ? TRP_EINVAL : rc;
	/* relaxed: exchanges are a cold path; destroy closes what it finds
	 * under the lock, and checks the flag there again. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	trp__mutex_lock(&trp__exchanges_of(rt)->lock);
	struct trp__exchange_feature *xs = trp__exchanges_of(rt);
	struct trp_exchange *ex = trp__xdir_find_locked(xs->dir, name, len);
	bool made = false;
	rc = 0;
	if (ex == NULL) {
		if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
			rc = TRP_ESHUTDOWN;
		else if (xs->dir == NULL &&
			 (xs->dir = trp__xdir_new(TRP__NAME_DIR_MIN)) == NULL)
			rc = TRP_ENOMEM;
		else
			made = (rc = new_exchange(rt, name, len, &ex)) == 0;
	}
	if (made) {
		/* new: one reference for the name directory */
		ex->named = true;
		atomic_init(&ex->refs, 1);
		link_locked(rt, ex);
		trp__xdir_insert_locked(rt, ex);
	}
	if (rc == 0) {
		/* relaxed: we hold the lock, the directory's reference is
		 * there. */
		atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
		*out = ex;
	}
	trp__mutex_unlock(&trp__exchanges_of(rt)->lock);
	return rc;
}

int trp_exchange_create(trp_runtime_t *rt, trp_exchange_t **out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	struct trp_exchange *ex;
	trp__mutex_lock(&trp__exchanges_of(rt)->lock);
	int rc = atomic_load_explicit(&rt->shutdown, memory_order_relaxed) ?
			 TRP_ESHUTDOWN :
			 new_exchange(rt, NULL, 0, &ex);
	if (rc == 0) {
		atomic_init(&ex->refs, 1);
		link_locked(rt, ex);
		*out = ex;
	}
	trp__mutex_unlock(&trp__exchanges_of(rt)->lock);
	return rc;
}

trp_exchange_t *trp_exchange_retain(trp_exchange_t *ex)
{
	if (ex != NULL)
		/* relaxed: the caller holds a reference already. */
		atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
	return ex;
}

int trp_exchange_close(trp_exchange_t *ex)
{
	if (ex == NULL)
		return TRP_EINVAL;
	trp__outbox_settle(); /* a turn's held publishes first */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	trp__mutex_lock(&ex->lock);
	struct trp__sub_array *old =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	if (old != NULL)
		old = trp__subs_swap_locked(ex, NULL);
	trp__mutex_unlock(&ex->lock);
	if (old == NULL)
		return TRP_ECLOSED;
	trp__epoch_synchronize();
	trp__subs_release_entries(old);
	trp__subs_free(old);
	return 0;
}

/* Retains @ex only if it has references left (never 0 -> 1). */
static bool try_retain(struct trp_exchange *ex)
{
	/* relaxed: validated by the CAS; the list lock keeps the memory. */
	uint64_t r = atomic_load_explicit(&ex->refs, memory_order_relaxed);
	while (r != 0)
		if (atomic_compare_exchange_weak_explicit(&ex->refs, &r, r + 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

void trp_exchange_release(trp_exchange_t *ex)
{
	if (ex == NULL)
		return;
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Named exchanges hold the table's reference until the runtime is
	 * destroyed (which closes them); anonymous ones close now. Leave
	 * the runtime's list first: exchanges_fini can no longer
	 * find us (it never revives a count of 0), then close and free. */
	struct trp_runtime *rt = ex->rt;
	trp__mutex_lock(&trp__exchanges_of(rt)->lock);
	unlink_locked(rt, ex);
	trp__mutex_unlock(&trp__exchanges_of(rt)->lock);
	(void)trp_exchange_close(ex);
	trp__free(ex, sizeof *ex);
	trp__runtime_unref(rt);
}

/* Destroy, step 4 (runtime.h): closes every exchange and drops the name
 * directory's references. */
static void exchanges_fini(struct trp_runtime *rt, void *state)
{
	(void)state;
	/* Close every exchange and drop the name directory's references. The
	 * list lock is not held while closing (that waits for a grace
	 * period, and a concurrent last release unlinks under the lock). */
	for (;;) {
		bool dying = false;
		trp__mutex_lock(&trp__exchanges_of(rt)->lock);
		struct trp_exchange *ex =
			trp__xdir_pop_locked(trp__exchanges_of(rt)->dir);
		if (ex != NULL)
			/* Leaves the name directory; we take over the
			 * directory's reference. */
			ex->named = false;
		for (struct trp_exchange *e = trp__exchanges_of(rt)->list;
		     ex == NULL && e != NULL; e = e->next_all) {
			/* relaxed: under the list lock, a hint; close
			 * decides under the exchange's lock. */
			if (atomic_load_explicit(&e->subs,
						 memory_order_relaxed) == NULL)
				continue;
			if (try_retain(e)) {
				ex = e;
				break;
			}
			/* its last release is on its way to unlink it */
			dying = true;
		}
		trp__mutex_unlock(&trp__exchanges_of(rt)->lock);
		if (ex == NULL) {
			if (!dying)
				break;
			trp__cpu_relax();
			continue;
		}
		(void)trp_exchange_close(ex);
		trp_exchange_release(ex);
	}
	/* Every name is gone; later gets refuse (the runtime shuts down). */
	trp__mutex_lock(&trp__exchanges_of(rt)->lock);
	trp__xdir_free(trp__exchanges_of(rt)->dir);
	trp__exchanges_of(rt)->dir = NULL;
	trp__mutex_unlock(&trp__exchanges_of(rt)->lock);
}

const struct trp__feature trp__feature_exchanges = {
	.name = "exchanges",
	.state_size = sizeof(struct trp__exchange_feature),
	.fini = exchanges_fini,
};
