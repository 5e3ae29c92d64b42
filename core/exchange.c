/*
 * core/exchange.c - publish/subscribe hubs (see troupe/exchange.h).
 *
 * The subscriber set is an immutable array behind one atomic pointer:
 *   - publish reads it inside an epoch section (no lock, no shared write
 *     but the deliveries and one counter update per publish);
 *   - attach/detach/close copy it with the change under the exchange's
 *     lock, swap the pointer, wait for a grace period, then free the old
 *     array and release what it alone referenced (a detached actor);
 *   - every such copy also leaves out actor sinks that stopped, and a
 *     publish that found one makes such a copy itself once it has left
 *     its read section (auto-detach, see reap_stopped).
 * NULL means closed; the static empty array means "no subscribers".
 *
 * Memory ordering: the swap is a release store and publish loads with
 * acquire, so a publish that starts after attach returned sees the new
 * array and its entries. The grace period (trp__epoch_synchronize, which
 * TSan is told about in epoch.c) orders every read of the old array before
 * its free, which is what makes "after detach returns, the sink is not
 * touched again" hold.
 *
 * Each runtime keeps a list of its exchanges (cold, under a mutex), which
 * trp_runtime_destroy closes, and a hash directory of the named ones
 * (name_dir) that trp_exchange_get looks up under the same mutex.
 */
#include <ctype.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "message.h"
#include "platform.h"
#include "quiescence.h"
#include "runtime.h"
#include "send.h"
#include "worker.h"
#include "troupe/exchange.h"
#include "troupe/names.h"

/* The feature's state (runtime.h): the runtime's exchanges (cold). */
struct exchange_feature {
	struct trp__mutex lock;
	struct trp_exchange *list; /* every live exchange; ->dir names */
};

static struct exchange_feature *xs_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_EXCHANGES);
}

struct sub_entry {
	trp_sub_t id;
	trp_sink_t sink;
	/* Writer-only (under ex->lock; publishers never read it): set on the
	 * entries of the array being replaced that its replacement leaves
	 * out, so the writer knows, after the grace period, whose references
	 * to drop. Always false in the current array. */
	bool retired;
};

struct sub_array {
	uint32_t n;
	struct sub_entry v[];
};

static struct sub_array empty_array = { 0 };

struct trp_exchange {
	/* read by every publish */
	alignas(64) _Atomic(struct sub_array *) subs;
	struct trp_runtime *rt;
	/* written by publishes: one update each */
	alignas(64) _Atomic(uint64_t) published;
	_Atomic(uint64_t) delivered;
	_Atomic(uint64_t) dropped_full;
	_Atomic(uint64_t) dropped_dead;
	_Atomic(uint64_t) dropped_other;
	/* cold */
	alignas(64) struct trp__mutex lock; /* writers of subs */
	_Atomic(uint64_t) refs;
	uint64_t next_id; /* under lock */
	/* under xs_of(rt)->lock */
	struct trp_exchange *next_all; /* xs_of(rt)->list list */
	struct trp_exchange *prev_all;
	struct name_dir *dir;		/* the runtime's, see name_dir */
	struct trp_exchange *name_next; /* bucket chain while named */
	uint64_t name_hash;
	bool named; /* in the name directory (holds one reference) */
	size_t name_len;
	char name[TRP_NAME_MAX + 1];
};

/*
 * The runtime's named exchanges, hashed by name: trp_exchange_get is O(1)
 * (expected) instead of a walk of every exchange of the runtime.
 *
 * A chained table under xs_of(rt)->lock rather than ck_hs with
 * lock-free readers (as registry.c has): get is a cold path - it also
 * creates on a miss and takes the reference under that lock, so the
 * shutdown scan and a last release never race a lookup - and publishers
 * use the handle, never the name. A lock-free read would need try_retain
 * against shutdown's takeover and deferred frees of grown tables, for a
 * call made once per name and user.
 *
 * Where it hangs: struct trp_runtime (scheduler.h, not this file's) has one
 * pointer for exchanges, the list head. So every exchange on the list
 * points to the same directory (made by the first named get, its pointer
 * copied into every listed exchange then and into each one linked later),
 * the runtime reaches it through its list head, and the last exchange to
 * leave the list frees it. Named exchanges stay listed until the runtime
 * is destroyed, so the directory is empty whenever the list is.
 */
struct name_dir {
	uint64_t seed;
	uint32_t mask; /* buckets - 1; a power of two less one */
	uint32_t count;
	uint32_t sweep; /* shutdown: buckets [0, sweep) are empty */
	struct trp_exchange *bucket[];
};

#define NAME_DIR_MIN 16u

/* A payload shared by the actor sinks of one publish. */
struct shared_buf {
	_Atomic(uint32_t) refs;
	uint32_t size;
	alignas(16) unsigned char data[];
};

/* ------------------------------------------------------------------ */
/* taps                                                                */

void trp_tap_init(trp_tap_t *tap, FILE *out, const char *label)
{
	if (tap == NULL)
		return;
	tap->out = out;
	tap->label = label != NULL ? label : "tap";
	__atomic_store_n(&tap->count, 0, __ATOMIC_RELAXED);
}

unsigned long long trp_tap_count(const trp_tap_t *tap)
{
	/* relaxed: a statistic. */
	return tap != NULL ? __atomic_load_n(&tap->count, __ATOMIC_RELAXED) : 0;
}

static void tap_print(trp_tap_t *tap, const trp_msg_t *msg)
{
	/* relaxed: a statistic; __atomic builtins because the public struct
	 * must stay plain C (and C++) for users. */
	__atomic_fetch_add(&tap->count, 1, __ATOMIC_RELAXED);
	if (tap->out == NULL)
		return;
	const unsigned char *p = msg->data;
	size_t n = msg->size, shown = n > 64 ? 64 : n;
	bool text = true;
	for (size_t i = 0; i < shown; i++)
		if (!isprint(p[i]) && !(i == n - 1 && p[i] == '\0'))
			text = false;
	flockfile(tap->out);
	fprintf(tap->out, "%s: type=%u size=%zu", tap->label, msg->type, n);
	if (n != 0 && text) {
		size_t len = shown;
		if (len > 0 && p[len - 1] == '\0')
			len--;
		fprintf(tap->out, " data=\"%.*s\"%s", (int)len, (const char *)p,
			n > shown ? "..." : "");
	} else if (n != 0) {
		fputs(" data=", tap->out);
		for (size_t i = 0; i < shown && i < 32; i++)
			fprintf(tap->out, "%02x", p[i]);
		if (n > 32)
			fputs("...", tap->out);
	}
	fputc('\n', tap->out);
	funlockfile(tap->out);
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

static int new_exchange(struct trp_runtime *rt, const char *name, size_t len,
			struct trp_exchange **out)
{
	struct trp_exchange *ex =
		trp__alloc_aligned(TRP_CACHELINE, sizeof(struct trp_exchange));
	if (ex == NULL)
		return TRP_ENOMEM;
	memset(ex, 0, sizeof *ex);
	atomic_init(&ex->subs, &empty_array);
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

/* ---- the name directory (all under xs_of(rt)->lock) ---- */

static uint64_t name_hash(const struct name_dir *d, const char *name,
			  size_t len)
{
	/* FNV-1a, seeded per runtime. */
	uint64_t h = 1469598103934665603ull ^ d->seed;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct name_dir *dir_new(uint32_t buckets)
{
	struct name_dir *d = trp__calloc(
		1, sizeof *d + (size_t)buckets * sizeof d->bucket[0]);
	if (d == NULL)
		return NULL;
	d->mask = buckets - 1;
	d->seed = trp__now_ns() ^ (uint64_t)(uintptr_t)d;
	return d;
}

static void dir_free(struct name_dir *d)
{
	if (d != NULL)
		trp__free(d, sizeof *d + ((size_t)d->mask + 1) *
						 sizeof d->bucket[0]);
}

static struct name_dir *dir_of_locked(struct trp_runtime *rt)
{
	return xs_of(rt)->list != NULL ? xs_of(rt)->list->dir : NULL;
}

static struct trp_exchange *dir_find_locked(const struct name_dir *d,
					    const char *name, size_t len)
{
	if (d == NULL)
		return NULL;
	uint64_t h = name_hash(d, name, len);
	struct trp_exchange *e = d->bucket[h & d->mask];
	while (e != NULL && !(e->name_hash == h && e->name_len == len &&
			      memcmp(e->name, name, len) == 0))
		e = e->name_next;
	return e;
}

static void dir_chain(struct name_dir *d, struct trp_exchange *ex)
{
	struct trp_exchange **b = &d->bucket[ex->name_hash & d->mask];
	ex->name_next = *b;
	*b = ex;
}

/* Enters @ex (linked, named, not in @d) into @d, the runtime's directory.
 * At load 1 the table doubles (and every listed exchange is pointed to the
 * copy); if that allocation fails the chains just grow longer. */
static void dir_insert_locked(struct trp_runtime *rt, struct name_dir *d,
			      struct trp_exchange *ex)
{
	ex->name_hash = name_hash(d, ex->name, ex->name_len);
	dir_chain(d, ex);
	if (++d->count <= d->mask + 1 || d->mask >= UINT32_MAX / 4)
		return;
	struct name_dir *big = dir_new(2 * (d->mask + 1));
	if (big == NULL)
		return;
	big->seed = d->seed; /* keeps every stored name_hash valid */
	big->count = d->count;
	for (uint32_t i = 0; i <= d->mask; i++) {
		struct trp_exchange *e = d->bucket[i], *next;
		for (; e != NULL; e = next) {
			next = e->name_next;
			dir_chain(big, e);
		}
	}
	for (struct trp_exchange *e = xs_of(rt)->list; e != NULL;
	     e = e->next_all)
		e->dir = big;
	dir_free(d);
}

/* Shutdown: takes one exchange out of @d (NULL when it is empty). The
 * sweep makes emptying the directory O(buckets + names); a name entered
 * behind it (none should be: get refuses once the runtime shuts down)
 * restarts it. */
static struct trp_exchange *dir_pop_locked(struct name_dir *d)
{
	if (d == NULL || d->count == 0)
		return NULL;
	for (;; d->sweep = 0) {
		for (; d->sweep <= d->mask; d->sweep++) {
			struct trp_exchange *e = d->bucket[d->sweep];
			if (e != NULL) {
				d->bucket[d->sweep] = e->name_next;
				e->name_next = NULL;
				d->count--;
				return e;
			}
		}
	}
}

/* ---- the runtime's list of exchanges ---- */

/* Caller holds xs_of(rt)->lock. */
static void link_locked(struct trp_runtime *rt, struct trp_exchange *ex)
{
	ex->dir = dir_of_locked(rt);
	ex->next_all = xs_of(rt)->list;
	ex->prev_all = NULL;
	if (xs_of(rt)->list != NULL)
		xs_of(rt)->list->prev_all = ex;
	xs_of(rt)->list = ex;
}

static void unlink_locked(struct trp_runtime *rt, struct trp_exchange *ex)
{
	if (ex->prev_all != NULL)
		ex->prev_all->next_all = ex->next_all;
	else
		xs_of(rt)->list = ex->next_all;
	if (ex->next_all != NULL)
		ex->next_all->prev_all = ex->prev_all;
	ex->next_all = ex->prev_all = NULL;
	/* the last one out frees the directory (empty: see name_dir) */
	if (xs_of(rt)->list == NULL)
		dir_free(ex->dir);
	ex->dir = NULL;
}

static bool valid_name(const char *name, size_t *len, int *rc)
{
	*rc = TRP_EINVAL;
	if (name == NULL)
		return false;
	size_t n = 0;
	while (n <= TRP_NAME_MAX && name[n] != '\0')
		n++;
	if (n == 0)
		return false;
	if (n > TRP_NAME_MAX) {
		*rc = TRP_ENAMETOOLONG;
		return false;
	}
	*len = n;
	return true;
}

int trp_exchange_get(trp_runtime_t *rt, const char *name, trp_exchange_t **out)
{
	size_t len;
	int rc = TRP_EINVAL;
	if (rt == NULL || out == NULL || !valid_name(name, &len, &rc))
		return rt == NULL || out == NULL ? TRP_EINVAL : rc;
	/* relaxed: exchanges are a cold path; destroy closes what it finds
	 * under the lock, and checks the flag there again. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	trp__mutex_lock(&xs_of(rt)->lock);
	struct name_dir *dir = dir_of_locked(rt), *fresh = NULL;
	struct trp_exchange *ex = dir_find_locked(dir, name, len);
	bool made = false;
	rc = 0;
	if (ex == NULL) {
		if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
			rc = TRP_ESHUTDOWN;
		else if (dir == NULL &&
			 (dir = fresh = dir_new(NAME_DIR_MIN)) == NULL)
			rc = TRP_ENOMEM;
		else
			made = (rc = new_exchange(rt, name, len, &ex)) == 0;
	}
	if (made) {
		/* new: one reference for the name directory */
		ex->named = true;
		atomic_init(&ex->refs, 1);
		link_locked(rt, ex);
		if (fresh != NULL) {
			/* the first named one: every listed exchange
			 * points to the directory from now on */
			for (struct trp_exchange *e = xs_of(rt)->list;
			     e != NULL; e = e->next_all)
				e->dir = fresh;
			fresh = NULL;
		}
		dir_insert_locked(rt, dir, ex);
	}
	dir_free(fresh); /* made for nothing (out of memory) */
	if (rc == 0) {
		/* relaxed: we hold the lock, the directory's reference is
		 * there. */
		atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
		*out = ex;
	}
	trp__mutex_unlock(&xs_of(rt)->lock);
	return rc;
}

int trp_exchange_create(trp_runtime_t *rt, trp_exchange_t **out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	struct trp_exchange *ex;
	trp__mutex_lock(&xs_of(rt)->lock);
	int rc = atomic_load_explicit(&rt->shutdown, memory_order_relaxed) ?
			 TRP_ESHUTDOWN :
			 new_exchange(rt, NULL, 0, &ex);
	if (rc == 0) {
		atomic_init(&ex->refs, 1);
		link_locked(rt, ex);
		*out = ex;
	}
	trp__mutex_unlock(&xs_of(rt)->lock);
	return rc;
}

trp_exchange_t *trp_exchange_retain(trp_exchange_t *ex)
{
	if (ex != NULL)
		/* relaxed: the caller holds a reference already. */
		atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
	return ex;
}

/* Releases what an array's entries reference (the actors). */
static void release_entries(struct sub_array *arr)
{
	for (uint32_t i = 0; i < arr->n; i++)
		if (arr->v[i].sink.kind == TRP_SINK_ACTOR)
			trp_actor_release(arr->v[i].sink.actor);
}

static void free_array(struct sub_array *arr)
{
	if (arr != NULL && arr != &empty_array)
		trp__free(arr, 0);
}

/* Swaps in @next (under ex->lock) and returns the array it replaces, which
 * readers may still hold: the caller waits for a grace period outside the
 * lock before freeing it (retire_array, or close's own path). */
static struct sub_array *swap_locked(struct trp_exchange *ex,
				     struct sub_array *next)
{
	/* relaxed: writers are serialized by the lock. */
	struct sub_array *old =
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
static int rebuild_locked(struct sub_array *cur, trp_sub_t drop, uint32_t extra,
			  struct sub_array **out, uint32_t *left_out)
{
	uint32_t gone = 0;
	for (uint32_t i = 0; i < cur->n; i++) {
		struct sub_entry *e = &cur->v[i];
		/* decided once here: the life cycle may move on meanwhile */
		e->retired = e->id == drop || sink_stopped(&e->sink);
		gone += e->retired;
	}
	*left_out = 0;
	*out = cur;
	if (gone == 0 && extra == 0)
		return 0;
	uint32_t n = cur->n - gone + extra;
	struct sub_array *next = &empty_array;
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
	return 0;
}

/* Outside the lock, after swap_locked replaced @old: waits until no
 * publish reads it any more, then drops the references of the entries
 * its replacement left out (they are ours alone now) and frees it. */
static void retire_array(struct sub_array *old)
{
	trp__epoch_synchronize();
	for (uint32_t i = 0; i < old->n; i++)
		if (old->v[i].retired && old->v[i].sink.kind == TRP_SINK_ACTOR)
			trp_actor_release(old->v[i].sink.actor);
	free_array(old);
}

int trp_exchange_close(trp_exchange_t *ex)
{
	if (ex == NULL)
		return TRP_EINVAL;
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	trp__mutex_lock(&ex->lock);
	struct sub_array *old =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	if (old != NULL)
		old = swap_locked(ex, NULL);
	trp__mutex_unlock(&ex->lock);
	if (old == NULL)
		return TRP_ECLOSED;
	trp__epoch_synchronize();
	release_entries(old);
	free_array(old);
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
	trp__mutex_lock(&xs_of(rt)->lock);
	unlink_locked(rt, ex);
	trp__mutex_unlock(&xs_of(rt)->lock);
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
		trp__mutex_lock(&xs_of(rt)->lock);
		struct trp_exchange *ex = dir_pop_locked(dir_of_locked(rt));
		if (ex != NULL)
			/* Leaves the name directory; we take over the
			 * directory's reference. */
			ex->named = false;
		for (struct trp_exchange *e = xs_of(rt)->list;
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
		trp__mutex_unlock(&xs_of(rt)->lock);
		if (ex == NULL) {
			if (!dying)
				break;
			trp__cpu_relax();
			continue;
		}
		(void)trp_exchange_close(ex);
		trp_exchange_release(ex);
	}
}

/* ------------------------------------------------------------------ */
/* attach / detach                                                     */

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
static int check_new_sinks_locked(const struct sub_array *cur,
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
	struct sub_array *cur =
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
	struct sub_array *next;
	uint32_t gone;
	if (rebuild_locked(cur, 0, n, &next, &gone) != 0) {
		trp__mutex_unlock(&ex->lock);
		return TRP_ENOMEM;
	}
	uint32_t base = next->n - n;
	for (uint32_t i = 0; i < n; i++) {
		struct sub_entry *e = &next->v[base + i];
		e->id = ++ex->next_id;
		e->sink = sinks[i];
		e->retired = false;
		if (e->sink.kind == TRP_SINK_ACTOR)
			trp_actor_retain(e->sink.actor);
		if (subs != NULL)
			subs[i] = e->id;
	}
	struct sub_array *old = swap_locked(ex, next);
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
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	trp__mutex_lock(&ex->lock);
	struct sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	bool found = false;
	for (uint32_t i = 0; cur != NULL && i < cur->n && !found; i++)
		found = cur->v[i].id == sub;
	struct sub_array *next;
	uint32_t gone;
	int rc = !found ? TRP_ENOENT :
			  rebuild_locked(cur, sub, 0, &next, &gone);
	if (rc != 0) {
		trp__mutex_unlock(&ex->lock);
		return rc;
	}
	struct sub_array *old = swap_locked(ex, next);
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
static void reap_stopped(struct trp_exchange *ex)
{
	trp__mutex_lock(&ex->lock);
	struct sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	struct sub_array *next, *old = NULL;
	uint32_t gone = 0;
	/* TRP_ENOMEM: the sinks stay, the next publish that finds one dead
	 * tries again. */
	if (cur != NULL && rebuild_locked(cur, 0, 0, &next, &gone) == 0 &&
	    gone != 0)
		old = swap_locked(ex, next);
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

/* ------------------------------------------------------------------ */
/* publish                                                             */

static void shared_release(void *data)
{
	struct shared_buf *b =
		(struct shared_buf *)(void *)((unsigned char *)data -
					      offsetof(struct shared_buf,
						       data));
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		trp__free(b, sizeof *b + b->size);
}

/* Outcomes of the deliveries of one publish call. */
struct tally {
	uint64_t ok, full, dead, other;
};

static void tally_add(struct tally *t, int r, uint64_t k)
{
	if (r == 0)
		t->ok += k;
	else if (r == TRP_EFULL)
		t->full += k;
	else if (r == TRP_EDEAD)
		t->dead += k;
	else
		t->other += k;
}

/* Delivers one message to every sink of @arr (inside the read section). */
static int publish_one(const struct sub_array *arr, uint32_t type,
		       const void *data, size_t len, struct tally *t)
{
	struct shared_buf *shared = NULL;
	if (len > TRP_EXCHANGE_SHARE_MIN) {
		uint32_t actors = 0;
		for (uint32_t i = 0; i < arr->n; i++)
			actors += arr->v[i].sink.kind == TRP_SINK_ACTOR;
		if (actors > 1) {
			shared = trp__alloc(sizeof *shared + len);
			if (shared == NULL)
				return TRP_ENOMEM;
			/* ours + one per delivery that may take it */
			atomic_init(&shared->refs, actors + 1);
			shared->size = (uint32_t)len;
			memcpy(shared->data, data, len);
		}
	}
	trp_msg_t msg = { type, 0, len, len != 0 ? data : NULL };
	for (uint32_t i = 0; i < arr->n; i++) {
		const trp_sink_t *s = &arr->v[i].sink;
		int r = 0;
		switch (s->kind) {
		case TRP_SINK_ACTOR:
			if (shared != NULL) {
				struct trp__send_opts o = {
					.owned_free = shared_release,
					.entered = true,
					.now = true
				};
				r = trp__actor_send(s->actor, type,
						    shared->data, len, &o);
				if (r != 0)
					shared_release(shared->data);
			} else {
				/* now: every delivery is in its sink's
				 * mailbox before the read section ends, so
				 * once detach returns nothing is in flight
				 * to the sink (no per-turn batching). */
				static const struct trp__send_opts in = {
					.entered = true, .now = true
				};
				r = trp__actor_send(s->actor, type, data, len,
						    &in);
			}
			break;
		case TRP_SINK_CALLBACK:
			s->fn(s->ctx, &msg);
			break;
		case TRP_SINK_TAP:
			tap_print(s->tap, &msg);
			break;
		}
		tally_add(t, r, 1);
	}
	if (shared != NULL)
		shared_release(shared->data);
	return 0;
}

/*
 * Delivers @n small messages to every sink of @arr, sink by sink: an actor
 * gets them all as one chain of bundles (trp__actor_send_run), the others
 * one call per message.
 */
static void publish_run(const struct sub_array *arr, uint32_t type,
			const unsigned char *items, size_t len, uint32_t n,
			struct tally *t)
{
	/* With two or more actor sinks, the entries are written once and
	 * shared (each mailbox gets a small node that refers to them): the
	 * publisher writes n entries instead of n per sink. Each actor sink's
	 * send takes one of the references made here (one atomic update for
	 * all of them), ours is the last. If that block cannot be allocated,
	 * each sink gets its own copy. */
	struct trp__shared_entries *shared = NULL;
	uint32_t actors = 0;
	for (uint32_t i = 0; i < arr->n; i++)
		actors += arr->v[i].sink.kind == TRP_SINK_ACTOR;
	if (actors > 1)
		shared = trp__shared_entries_make(type, items, len, n,
						  actors + 1);
	for (uint32_t i = 0; i < arr->n; i++) {
		const trp_sink_t *s = &arr->v[i].sink;
		if (s->kind == TRP_SINK_ACTOR) {
			int r;
			uint32_t ok = trp__actor_send_run(s->actor, type, items,
							  len, n, shared, &r);
			tally_add(t, 0, ok);
			tally_add(t, r != 0 ? r : TRP_EDEAD, n - ok);
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			const unsigned char *d = items + (size_t)k * len;
			trp_msg_t msg = { type, 0, len, len != 0 ? d : NULL };
			if (s->kind == TRP_SINK_CALLBACK)
				s->fn(s->ctx, &msg);
			else
				tap_print(s->tap, &msg);
		}
		t->ok += n;
	}
	if (shared != NULL)
		trp__shared_entries_release(shared); /* ours */
}

/* trp_exchange_publish (@n == 1) and trp_exchange_publish_n. */
static int publish(trp_exchange_t *ex, uint32_t type, const void *items,
		   size_t len, size_t n)
{
	struct trp_runtime *rt = ex->rt;
	/* One bracket for all deliveries of an outside publisher. */
	struct trp__worker *w = trp__worker_of(rt);
	bool outside = w == NULL;
	if (outside) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	int rc = trp__epoch_enter();
	if (rc != 0) {
		if (outside)
			trp__outside_leave(rt);
		return rc;
	}
	/* ORDER: acquire pairs with the release store in swap_locked. */
	struct sub_array *arr =
		atomic_load_explicit(&ex->subs, memory_order_acquire);
	struct tally t = { 0 };
	uint64_t published = 0;
	const unsigned char *p = items;
	if (arr == NULL) {
		rc = TRP_ECLOSED;
	} else if (n > 1 && len <= TRP__BUNDLE_PAYLOAD_MAX) {
		publish_run(arr, type, p, len, (uint32_t)n, &t);
		published = n;
	} else {
		for (size_t k = 0; k < n && rc == 0; k++) {
			rc = publish_one(arr, type, p + k * len, len, &t);
			published += rc == 0;
		}
	}
	trp__epoch_exit();
	if (outside)
		trp__outside_leave(rt);
	/* relaxed: statistics; one update per counter per call. */
	if (published != 0)
		atomic_fetch_add_explicit(&ex->published, published,
					  memory_order_relaxed);
	if (t.ok != 0)
		atomic_fetch_add_explicit(&ex->delivered, t.ok,
					  memory_order_relaxed);
	if (t.full != 0)
		atomic_fetch_add_explicit(&ex->dropped_full, t.full,
					  memory_order_relaxed);
	if (t.dead != 0)
		atomic_fetch_add_explicit(&ex->dropped_dead, t.dead,
					  memory_order_relaxed);
	if (t.other != 0)
		atomic_fetch_add_explicit(&ex->dropped_other, t.other,
					  memory_order_relaxed);
	if (trp__unlikely(t.dead != 0) && !trp__epoch_in_section())
		reap_stopped(ex);
	return rc;
}

int trp_exchange_publish(trp_exchange_t *ex, uint32_t type, const void *data,
			 size_t len)
{
	if (ex == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	return publish(ex, type, data, len, 1);
}

int trp_exchange_publish_n(trp_exchange_t *ex, uint32_t type, const void *items,
			   size_t len, size_t n)
{
	if (ex == NULL || n > UINT32_MAX ||
	    (items == NULL && len != 0 && n != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	if (n == 0)
		return 0;
	return publish(ex, type, items, len, n);
}

int trp_exchange_stats(trp_exchange_t *ex, trp_exchange_stats_t *out)
{
	if (ex == NULL || out == NULL)
		return TRP_EINVAL;
	/* relaxed: statistics. */
	out->published =
		atomic_load_explicit(&ex->published, memory_order_relaxed);
	out->delivered =
		atomic_load_explicit(&ex->delivered, memory_order_relaxed);
	out->dropped_full =
		atomic_load_explicit(&ex->dropped_full, memory_order_relaxed);
	out->dropped_dead =
		atomic_load_explicit(&ex->dropped_dead, memory_order_relaxed);
	out->dropped_other =
		atomic_load_explicit(&ex->dropped_other, memory_order_relaxed);
	trp__mutex_lock(&ex->lock);
	struct sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	out->subscribers = cur != NULL ? cur->n : 0;
	trp__mutex_unlock(&ex->lock);
	return 0;
}

const struct trp__feature trp__feature_exchanges = {
	.name = "exchanges",
	.state_size = sizeof(struct exchange_feature),
	.fini = exchanges_fini,
};
