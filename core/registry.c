/*
 * core/registry.c - the name table (see registry.h and troupe/names.h).
 */
#include "registry.h"

#include <ck_hs.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "platform.h"
#include "scheduler.h"
#include "troupe/names.h"

struct trp__reg_entry {
	struct trp_actor *actor; /* holds one reference */
	size_t len;
	char name[TRP_NAME_MAX + 1];
};

struct trp__registry {
	struct trp__mutex lock; /* writers */
	ck_hs_t hs;
};

static unsigned long name_hash(const void *obj, unsigned long seed)
{
	const struct trp__reg_entry *e = obj;
	/* FNV-1a, seeded. */
	unsigned long h = 1469598103934665603ul ^ seed;
	for (size_t i = 0; i < e->len; i++) {
		h ^= (unsigned char)e->name[i];
		h *= 1099511628211ul;
	}
	return h;
}

static bool name_equal(const void *a, const void *b)
{
	const struct trp__reg_entry *x = a, *y = b;
	/* ck_hs_get calls us on the stored entry before find() returns it:
	 * tell TSan about the writer's publication here already. */
	trp__tsan_acquire(x);
	trp__tsan_acquire(y);
	return x->len == y->len && memcmp(x->name, y->name, x->len) == 0;
}

static void *hs_malloc(size_t size)
{
	return trp__alloc(size);
}

static void hs_free(void *p, size_t size, bool defer)
{
	/* ck_hs replaces its table on growth while readers may still probe
	 * the old one: wait for them (writers hold the registry lock; this
	 * is a cold path). */
	if (defer)
		trp__epoch_synchronize();
	trp__free(p, size);
}

static struct ck_malloc hs_allocator = {
	.malloc = hs_malloc,
	.realloc = NULL,
	.free = hs_free,
};

int trp__registry_create(struct trp__registry **out)
{
	struct trp__registry *r = trp__calloc(1, sizeof *r);
	if (r == NULL)
		return TRP_ENOMEM;
	if (!ck_hs_init(&r->hs,
			CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT | CK_HS_MODE_DELETE,
			name_hash, name_equal, &hs_allocator, 64,
			(unsigned long)(uintptr_t)r ^ trp__now_ns())) {
		trp__free(r, sizeof *r);
		return TRP_ENOMEM;
	}
	*out = r;
	return 0;
}

void trp__registry_destroy(struct trp__registry *r)
{
	if (r == NULL)
		return;
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	void *obj;
	/* Readers are gone (destroy refused outside callers and joined the
	 * workers); one grace period covers any straggling section. */
	trp__epoch_synchronize();
	while (ck_hs_next(&r->hs, &it, &obj)) {
		struct trp__reg_entry *e = obj;
		e->actor->name = NULL;
		trp_actor_release(e->actor);
		trp__free(e, sizeof *e);
	}
	ck_hs_destroy(&r->hs);
	trp__free(r, sizeof *r);
}

/* Validates @name and fills @key with it. */
static int make_key(const char *name, struct trp__reg_entry *key)
{
	if (name == NULL)
		return TRP_EINVAL;
	size_t len = 0;
	while (len <= TRP_NAME_MAX && name[len] != '\0')
		len++;
	if (len == 0)
		return TRP_EINVAL;
	if (len > TRP_NAME_MAX)
		return TRP_ENAMETOOLONG;
	memcpy(key->name, name, len);
	key->name[len] = '\0';
	key->len = len;
	key->actor = NULL;
	return 0;
}

/* Enter the runtime for a registry call (outside threads are counted so
 * destroy can wait for them). */
static int enter(struct trp_runtime *rt, struct trp__worker **wp)
{
	if (rt == NULL)
		return TRP_EINVAL;
	*wp = trp__worker_of(rt);
	if (*wp == NULL)
		return trp__outside_enter(rt);
	/* relaxed: workers keep running during shutdown; refusing early is
	 * only a courtesy. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
		return TRP_ESHUTDOWN;
	return 0;
}

static void leave(struct trp_runtime *rt, struct trp__worker *w)
{
	if (w == NULL)
		trp__outside_leave(rt);
}

/* Writer: removes @e (lock held), then frees it after a grace period. */
static void remove_locked(struct trp__registry *r, struct trp__reg_entry *e)
{
	unsigned long h = CK_HS_HASH(&r->hs, name_hash, e);
	(void)ck_hs_remove(&r->hs, h, e);
	e->actor->name = NULL;
}

static void retire_entry(struct trp__reg_entry *e)
{
	/* Readers that found e may still use it and its actor. */
	trp__epoch_synchronize();
	trp_actor_release(e->actor);
	trp__free(e, sizeof *e);
}

int trp_register(trp_runtime_t *rt, const char *name, trp_actor_t *a)
{
	struct trp__reg_entry key;
	int rc = make_key(name, &key);
	if (rc != 0)
		return rc;
	if (a == NULL || a->rt != rt)
		return TRP_EINVAL;
	/* A table growth waits for a grace period (hs_free). */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	struct trp__registry *r = rt->registry;
	struct trp__reg_entry *e = trp__alloc(sizeof *e);
	if (e == NULL) {
		leave(rt, w);
		return TRP_ENOMEM;
	}
	*e = key;
	e->actor = a;
	unsigned long h = CK_HS_HASH(&r->hs, name_hash, e);
	trp__mutex_lock(&r->lock);
	/* relaxed: under the lock, ordered against trp__registry_forget
	 * (which runs after the STOPPED store and takes the lock). */
	if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
	    TRP__STOPPED)
		rc = TRP_EDEAD;
	else if (a->name != NULL)
		rc = TRP_EBUSY;
	else if (ck_hs_get(&r->hs, h, e) != NULL)
		rc = TRP_EEXIST;
	else {
		trp_actor_retain(a);
		/* TSan cannot see ck_hs's publication (inline asm). */
		trp__tsan_release(e);
		if (!ck_hs_put_unique(&r->hs, h, e)) {
			trp_actor_release(a);
			rc = TRP_ENOMEM;
		} else {
			a->name = e;
		}
	}
	trp__mutex_unlock(&r->lock);
	if (rc != 0)
		trp__free(e, sizeof *e);
	leave(rt, w);
	return rc;
}

int trp_unregister(trp_runtime_t *rt, const char *name)
{
	struct trp__reg_entry key;
	int rc = make_key(name, &key);
	if (rc != 0)
		return rc;
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	struct trp__registry *r = rt->registry;
	unsigned long h = CK_HS_HASH(&r->hs, name_hash, &key);
	trp__mutex_lock(&r->lock);
	struct trp__reg_entry *e = ck_hs_get(&r->hs, h, &key);
	if (e != NULL)
		remove_locked(r, e);
	trp__mutex_unlock(&r->lock);
	if (e != NULL)
		retire_entry(e);
	leave(rt, w);
	return e != NULL ? 0 : TRP_ENOENT;
}

void trp__registry_forget(struct trp_runtime *rt, struct trp_actor *a)
{
	struct trp__registry *r = rt->registry;
	/* relaxed peek: a->name only changes under the lock, and a stopping
	 * actor cannot gain a name (trp_register checks STOPPED). */
	if (r == NULL)
		return;
	trp__mutex_lock(&r->lock);
	struct trp__reg_entry *e = a->name;
	if (e != NULL)
		remove_locked(r, e);
	trp__mutex_unlock(&r->lock);
	if (e != NULL)
		retire_entry(e);
}

/* Reader: the actor registered as @key, valid until trp__epoch_exit. */
static struct trp_actor *find(struct trp__registry *r,
			      struct trp__reg_entry *key)
{
	unsigned long h = CK_HS_HASH(&r->hs, name_hash, key);
	struct trp__reg_entry *e = ck_hs_get(&r->hs, h, key);
	if (e == NULL)
		return NULL;
	trp__tsan_acquire(e);
	return e->actor;
}

int trp_lookup(trp_runtime_t *rt, const char *name, trp_actor_t **out)
{
	struct trp__reg_entry key;
	int rc = make_key(name, &key);
	if (rc != 0)
		return rc;
	if (out == NULL)
		return TRP_EINVAL;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	if ((rc = trp__epoch_enter()) == 0) {
		struct trp_actor *a = find(rt->registry, &key);
		/* The entry's reference keeps the count above zero for
		 * the whole section, so this cannot fail. */
		if (a != NULL && trp__actor_try_retain(a))
			*out = a;
		else
			rc = TRP_ENOENT;
		trp__epoch_exit();
	}
	leave(rt, w);
	return rc;
}

int trp_send_named(trp_runtime_t *rt, const char *name, uint32_t type,
		   const void *data, size_t len)
{
	struct trp__reg_entry key;
	int rc = make_key(name, &key);
	if (rc != 0)
		return rc;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	if ((rc = trp__epoch_enter()) == 0) {
		struct trp_actor *a = find(rt->registry, &key);
		rc = a != NULL ? trp_send(a, type, data, len) : TRP_ENOENT;
		trp__epoch_exit();
	}
	leave(rt, w);
	return rc;
}
