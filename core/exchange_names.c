/*
 * core/exchange_names.c - the directory of named exchanges (see
 * exchange.h): a chained hash table under the exchange feature's lock.
 *
 * Who may call: exchange.c, holding the feature's lock. Blocking (a cold
 * path: once per name and user).
 */
#include <string.h>

#include "alloc.h"
#include "exchange.h"

bool trp__exchange_name_valid(const char *name, size_t *len, int *rc)
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

static uint64_t name_hash(const struct trp__name_dir *d, const char *name,
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

struct trp__name_dir *trp__xdir_new(uint32_t buckets)
{
	struct trp__name_dir *d = trp__calloc(
		1, sizeof *d + (size_t)buckets * sizeof d->bucket[0]);
	if (d == NULL)
		return NULL;
	d->mask = buckets - 1;
	d->seed = trp__now_ns() ^ (uint64_t)(uintptr_t)d;
	return d;
}

void trp__xdir_free(struct trp__name_dir *d)
{
	if (d != NULL)
		trp__free(d, sizeof *d + ((size_t)d->mask + 1) *
						 sizeof d->bucket[0]);
}

struct trp_exchange *trp__xdir_find_locked(const struct trp__name_dir *d,
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

static void dir_chain(struct trp__name_dir *d, struct trp_exchange *ex)
{
	struct trp_exchange **b = &d->bucket[ex->name_hash & d->mask];
	ex->name_next = *b;
	*b = ex;
}

/* Enters @ex (linked, named, not in the directory) into the runtime's
 * directory, which exists. At load 1 the table doubles; if that allocation
 * fails the chains just grow longer. */
void trp__xdir_insert_locked(struct trp_runtime *rt, struct trp_exchange *ex)
{
	struct trp__exchange_feature *xs = trp__exchanges_of(rt);
	struct trp__name_dir *d = xs->dir;
	ex->name_hash = name_hash(d, ex->name, ex->name_len);
	dir_chain(d, ex);
	if (++d->count <= d->mask + 1 || d->mask >= UINT32_MAX / 4)
		return;
	struct trp__name_dir *big = trp__xdir_new(2 * (d->mask + 1));
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
	xs->dir = big;
	trp__xdir_free(d);
}

/* Shutdown: takes one exchange out of @d (NULL when it is empty). The
 * sweep makes emptying the directory O(buckets + names); a name entered
 * behind it (none should be: get refuses once the runtime shuts down)
 * restarts it. */
struct trp_exchange *trp__xdir_pop_locked(struct trp__name_dir *d)
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
