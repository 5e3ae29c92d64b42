/*
 * core/exchange.h - exchanges inside the runtime (public API in
 * troupe/exchange.h), shared by the exchange feature's files:
 *
 *   exchange.c        life cycle (create, get by name, retain, release,
 *                     close) and the feature (the runtime's list, fini)
 *   exchange_names.c  the directory of named exchanges
 *   subscription.c    the subscriber set: copy-on-write arrays, attach,
 *                     detach, scopes, pruning stopped actor sinks
 *   publish.c         publish and publish_n, per-exchange statistics
 *   tap.c             the tap sink
 *
 * The subscriber set is an immutable array behind one atomic pointer:
 *   - publish reads it inside an epoch section (no lock, no shared write
 *     but the deliveries and one counter update per publish);
 *   - attach/detach/close copy it with the change under the exchange's
 *     lock, swap the pointer, wait for a grace period, then free the old
 *     array and release what it alone referenced (a detached actor);
 *   - every such copy also leaves out actor sinks that stopped, and a
 *     publish that found one makes such a copy itself once it has left
 *     its read section (auto-detach, subscription.c).
 * NULL means closed; trp__subs_empty means "no subscribers".
 *
 * Memory ordering: the swap is a release store and publish loads with
 * acquire, so a publish that starts after attach returned sees the new
 * array and its entries. The grace period (trp__epoch_synchronize, which
 * TSan is told about in epoch.c) orders every read of the old array before
 * its free, which is what makes "after detach returns, the sink is not
 * touched again" hold.
 *
 * Who may call: publish from any thread, lock-free; everything else is a
 * cold path under a mutex (the exchange's, or the feature's for the list
 * and the directory), and the writers that wait for a grace period refuse
 * to run inside an epoch section (TRP_EDEADLK).
 */
#ifndef TRP_CORE_EXCHANGE_H
#define TRP_CORE_EXCHANGE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "platform.h"
#include "runtime.h"
#include "troupe/exchange.h"
#include "troupe/names.h"

struct trp__name_dir;

/* The feature's state (runtime.h): the runtime's exchanges (cold). */
struct trp__exchange_feature {
	struct trp__mutex lock;
	struct trp_exchange *list; /* every live exchange */
	struct trp__name_dir *dir; /* the named ones, or NULL */
};

static inline struct trp__exchange_feature *
trp__exchanges_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_EXCHANGES);
}

struct trp__sub_entry {
	trp_sub_t id;
	trp_sink_t sink;
	/* Writer-only (under ex->lock; publishers never read it): set on the
	 * entries of the array being replaced that its replacement leaves
	 * out, so the writer knows, after the grace period, whose references
	 * to drop. Always false in the current array. */
	bool retired;
	/* trp__sink_coalesces(&sink), decided at attach (it never changes) */
	bool coalesce;
};

struct trp__sub_array {
	uint32_t n;
	uint32_t ncoal; /* entries with `coalesce` set */
	struct trp__sub_entry v[];
};

/* An actor sink that takes a turn's coalesced publishes (publish.c): its
 * mailbox is unbounded and its kind batches (both fixed at spawn). */
static inline bool trp__sink_coalesces(const trp_sink_t *s)
{
	return s->kind == TRP_SINK_ACTOR && s->actor->limit == 0 &&
	       s->actor->kind->batches;
}

/* The subscriber set of an open exchange with no subscribers. */
extern struct trp__sub_array trp__subs_empty;

struct trp_exchange {
	/* read by every publish */
	alignas(64) _Atomic(struct trp__sub_array *) subs;
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
	/* under trp__exchanges_of(rt)->lock */
	struct trp_exchange *next_all; /* trp__exchanges_of(rt)->list list */
	struct trp_exchange *prev_all;
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
 * A chained table under trp__exchanges_of(rt)->lock rather than ck_hs with
 * lock-free readers (as registry.c has): get is a cold path - it also
 * creates on a miss and takes the reference under that lock, so the
 * shutdown scan and a last release never race a lookup - and publishers
 * use the handle, never the name. A lock-free read would need try_retain
 * against shutdown's takeover and deferred frees of grown tables, for a
 * call made once per name and user.
 *
 * It hangs off the feature's state (made by the first named get, freed by
 * the feature's fini).
 */
struct trp__name_dir {
	uint64_t seed;
	uint32_t mask; /* buckets - 1; a power of two less one */
	uint32_t count;
	uint32_t sweep; /* shutdown: buckets [0, sweep) are empty */
	struct trp_exchange *bucket[];
};

#define NAME_DIR_MIN 16u

/* ---- the name directory (exchange_names.c; all under the feature's
 * lock) ---- */

/* Checks a name: true and its length in *@len, or false and the error. */
bool trp__exchange_name_valid(const char *name, size_t *len, int *rc);
/* An empty directory of @buckets (a power of two) buckets, or NULL. */
struct trp__name_dir *trp__xdir_new(uint32_t buckets);
void trp__xdir_free(struct trp__name_dir *d);
/* The exchange named @name in @d (may be NULL), or NULL. */
struct trp_exchange *trp__xdir_find_locked(const struct trp__name_dir *d,
					   const char *name, size_t len);
/* Enters named @ex into the runtime's directory (growing it). */
void trp__xdir_insert_locked(struct trp_runtime *rt, struct trp_exchange *ex);
/* Shutdown: takes one exchange out of @d (NULL when it is empty). */
struct trp_exchange *trp__xdir_pop_locked(struct trp__name_dir *d);

#define TRP__NAME_DIR_MIN 16u

/* ---- the subscriber set (subscription.c) ---- */

/* Releases what an array's entries reference (the actors). */
void trp__subs_release_entries(struct trp__sub_array *arr);
/* Frees an array (not trp__subs_empty). */
void trp__subs_free(struct trp__sub_array *arr);
/* Swaps in @next (under ex->lock); returns the array it replaced, which
 * readers may still hold. */
struct trp__sub_array *trp__subs_swap_locked(struct trp_exchange *ex,
					     struct trp__sub_array *next);
/* Prunes stopped actor sinks (a publish found one dead). */
void trp__subs_reap_stopped(struct trp_exchange *ex);

/* ---- the tap sink (tap.c) ---- */
void trp__tap_print(trp_tap_t *tap, const trp_msg_t *msg);

#endif /* TRP_CORE_EXCHANGE_H */
