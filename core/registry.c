/*
 * core/registry.c - names -> actors, the names feature (public side in
 * troupe/names.h).
 *
 * A ck_hs hash set in single-writer / many-reader mode: lookups run inside
 * an epoch section without locks; writers are serialized by a mutex and
 * free removed entries (and ck_hs's replaced tables) only after a grace
 * period. An entry holds a reference to its actor, so a reader that found
 * the entry inside its section may use the actor (or retain it) safely.
 * A stopping actor loses its name through the feature's actor_stopped hook
 * (runtime.h); at destroy, fini releases every name, so names never keep
 * actors alive past shutdown (CAF #1110).
 *
 * Who may call: any thread (lookups lock-free; writers take the lock and
 * wait for grace periods, so not inside an epoch section: TRP_EDEADLK).
 */
#include <ck_hs.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "outbox.h"
#include "platform.h"
#include "quiescence.h"
#include "runtime.h"
#include "worker.h"
#include "troupe/names.h"

struct trp__reg_entry {
	struct trp_actor *actor; /* holds one reference */
	size_t len;
	char name[TRP_NAME_MAX + 1];
};

/* The feature's state (runtime.h). */
struct trp__registry {
	struct trp__mutex lock; /* writers */
	bool live;		/* between init and fini */
	ck_hs_t hs;
};

static struct trp__registry *reg_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_NAMES);
}

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

static int names_init(struct trp_runtime *rt, void *state)
{
	(void)rt;
	struct trp__registry *r = state;
	if (!ck_hs_init(&r->hs,
			CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT | CK_HS_MODE_DELETE,
			name_hash, name_equal, &hs_allocator, 64,
			(unsigned long)(uintptr_t)r ^ trp__now_ns()))
		return TRP_ENOMEM;
	r->live = true;
	return 0;
}

/* The name slot of @a, a named actor or one being named (trp_register
 * made its cold block first: actor.h, struct trp__actor_ext). */
static _Atomic(void *) *name_slot(struct trp_actor *a)
{
	struct trp__actor_ext *x = trp__actor_ext(a);
	trp__assert(x != NULL);
	return &x->name;
}

static void names_fini(struct trp_runtime *rt, void *state)
{
	(void)rt;
	struct trp__registry *r = state;
	if (!r->live)
		return;
	r->live = false;
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	void *obj;
	/* Readers are gone (destroy refused outside callers and joined the
	 * workers); one grace period covers any straggling section. */
	trp__epoch_synchronize();
	while (ck_hs_next(&r->hs, &it, &obj)) {
		struct trp__reg_entry *e = obj;
		/* relaxed: under the lock (see names_actor_stopped) */
		atomic_store_explicit(name_slot(e->actor), NULL,
				      memory_order_relaxed);
		trp_actor_release(e->actor);
		trp__free(e, sizeof *e);
	}
	ck_hs_destroy(&r->hs);
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
	/* relaxed: under the lock (see names_actor_stopped) */
	atomic_store_explicit(name_slot(e->actor), NULL, memory_order_relaxed);
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
	trp__outbox_settle(); /* a turn's held publishes first */
	/* A table growth waits for a grace period (hs_free). */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	struct trp__registry *r = reg_of(rt);
	struct trp__reg_entry *e = trp__alloc(sizeof *e);
	/* the name's slot: in the actor's cold block (actor.h) */
	if (e == NULL || trp__actor_ext_make(a) == NULL) {
		trp__free(e, sizeof *e);
		leave(rt, w);
		return TRP_ENOMEM;
	}
	*e = key;
	e->actor = a;
	unsigned long h = CK_HS_HASH(&r->hs, name_hash, e);
	trp__mutex_lock(&r->lock);
	/* relaxed: under the lock, ordered against names_actor_stopped
	 * (which runs after the STOPPED store and takes the lock). */
	if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
	    TRP__STOPPED)
		rc = TRP_EDEAD;
	else if (atomic_load_explicit(name_slot(a), memory_order_relaxed) !=
		 NULL)
		rc = TRP_EBUSY;
	else if (ck_hs_get(&r->hs, h, e) != NULL)
		rc = TRP_EEXIST;
	else if (!trp__actor_attach(a)) /* lock order: names, then actors */
		rc = TRP_EDEAD;
	else {
		trp_actor_retain(a);
		/* TSan cannot see ck_hs's publication (inline asm). */
		trp__tsan_release(e);
		if (!ck_hs_put_unique(&r->hs, h, e)) {
			trp_actor_release(a);
			rc = TRP_ENOMEM;
		} else {
			/* relaxed: under the lock */
			atomic_store_explicit(name_slot(a), e,
					      memory_order_relaxed);
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
	trp__outbox_settle(); /* a turn's held publishes first */
	if (trp__epoch_in_section())
		return TRP_EDEADLK;
	struct trp__worker *w;
	if ((rc = enter(rt, &w)) != 0)
		return rc;
	struct trp__registry *r = reg_of(rt);
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

/* A stopping actor loses its name (actor_stopped hook). */
static void names_actor_stopped(struct trp_runtime *rt, void *state,
				struct trp_actor *a)
{
	(void)rt;
	struct trp__registry *r = state;
	/* All actors stop before fini (runtime.h), so the table is live. */
	trp__assert(r->live);
	/* Under the lock, not peeked at: a trp_register that read ALIVE
	 * under the lock before our STOPPED store may have stored the name
	 * without our seeing it; the lock orders the two. */
	trp__mutex_lock(&r->lock);
	struct trp__actor_ext *x = trp__actor_ext(a);
	/* relaxed: under the lock */
	struct trp__reg_entry *e =
		x != NULL ?
			atomic_load_explicit(&x->name, memory_order_relaxed) :
			NULL;
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
		struct trp_actor *a = find(reg_of(rt), &key);
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
		struct trp_actor *a = find(reg_of(rt), &key);
		rc = a != NULL ? trp_send(a, type, data, len) : TRP_ENOENT;
		trp__epoch_exit();
	}
	leave(rt, w);
	return rc;
}

const struct trp__feature trp__feature_names = {
	.name = "names",
	.state_size = sizeof(struct trp__registry),
	.init = names_init,
	.fini = names_fini,
	.actor_stopped = names_actor_stopped,
};
