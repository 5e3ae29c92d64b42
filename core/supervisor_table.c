/*
 * core/supervisor_table.c - a supervisor's state, its life, and the
 * process-wide table that finds it from the supervisor's handle, for the
 * calls other threads make (trp_supervisor_child, _get_stats, _stop). The
 * locks and the lifetime rules are in supervisor.c's file comment.
 */
#include "supervisor.h"

/* The process-wide map actor id -> struct sup (file comment). */
#define TABLE_BUCKETS 64u
static struct trp__mutex table_lock = TRP__MUTEX_INIT;
static struct sup *table[TABLE_BUCKETS];

static struct sup **bucket_of(uint64_t id)
{
	/* Fibonacci hashing: ids are sequential. */
	return &table[(id * 0x9e3779b97f4a7c15u) >> 58];
}

static_assert(TABLE_BUCKETS == 64, "bucket_of takes the top 6 bits");

void trp__sup_free(struct sup *s)
{
	trp__sup_spec_free(s->spec);
	trp__free(s->ring, 0);
	trp__free(s->child, 0);
	trp__free(s, sizeof *s);
}

void trp__sup_unref(struct sup *s)
{
	/* ORDER: acq_rel: the last holder sees every other holder's use of
	 * the sup before it frees it. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		trp__sup_free(s);
}

int trp__sup_new(trp_runtime_t *rt, struct spec_copy *spec, struct sup **out)
{
	struct sup *s = trp__alloc_aligned(TRP_CACHELINE, sizeof *s);
	if (s == NULL)
		return TRP_ENOMEM;
	memset(s, 0, sizeof *s);
	s->magic = SUP_MAGIC;
	s->rt = rt;
	s->spec = spec;
	s->child = trp__calloc(spec->n, sizeof *s->child);
	if (spec->pub.intensity > 0)
		s->ring = trp__calloc(spec->pub.intensity, sizeof *s->ring);
	if (s->child == NULL || (spec->pub.intensity > 0 && s->ring == NULL)) {
		s->spec = NULL; /* the caller keeps it */
		trp__sup_free(s);
		return TRP_ENOMEM;
	}
	atomic_init(&s->refs, 2); /* the spawner's and the actor's */
	atomic_init(&s->restarts, 0);
	atomic_init(&s->stops, 0);
	s->lock = (struct trp__mutex)TRP__MUTEX_INIT;
	*out = s;
	return 0;
}

/*
 * The listed sup of actor @a with a reference for the caller, or NULL
 * and *rc: TRP_EDEAD if @a has stopped, else TRP_EINVAL (no supervisor).
 */
struct sup *trp__sup_acquire(trp_actor_t *a, int *rc)
{
	uint64_t id = trp_actor_id(a);
	struct sup *s;
	trp__mutex_lock(&table_lock);
	for (s = *bucket_of(id); s != NULL && s->id != id; s = s->next)
		;
	if (s != NULL)
		/* relaxed: the table lock orders it before the stop hook's
		 * unlisting, hence before the actor's own unref. */
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	trp__mutex_unlock(&table_lock);
	if (s == NULL)
		/* The stop hook unlists after the actor is STOPPED, so a
		 * supervisor that is not listed and alive never was one. */
		*rc = trp_actor_alive(a) ? TRP_EINVAL : TRP_EDEAD;
	return s;
}

void trp__sup_list(struct sup *s, uint64_t id)
{
	trp__mutex_lock(&table_lock);
	if (!s->stopped) {
		struct sup **b = bucket_of(id);
		s->id = id;
		s->next = *b;
		*b = s;
		s->listed = true;
	}
	trp__mutex_unlock(&table_lock);
}

void trp__sup_unlist(struct sup *s)
{
	trp__mutex_lock(&table_lock);
	s->stopped = true;
	if (s->listed) {
		struct sup **p = bucket_of(s->id);
		while (*p != s)
			p = &(*p)->next;
		*p = s->next;
		s->listed = false;
	}
	trp__mutex_unlock(&table_lock);
}

void trp__sup_stat_add(_Atomic(uint64_t) *c)
{
	/* relaxed: one writer; readers take a snapshot (statistics). */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void trp__sup_publish(struct sup *s, uint32_t i, trp_actor_t *a)
{
	trp__mutex_lock(&s->lock);
	s->child[i].published = a;
	trp__mutex_unlock(&s->lock);
}

int trp_supervisor_child(trp_actor_t *sup, uint32_t index, trp_actor_t **out)
{
	if (sup == NULL || out == NULL)
		return TRP_EINVAL;
	int rc;
	struct sup *s = trp__sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	trp_actor_t *a = NULL;
	if (index >= s->spec->n) {
		rc = TRP_EINVAL;
	} else {
		trp__mutex_lock(&s->lock);
		if (s->dead) {
			rc = TRP_EDEAD;
		} else if ((a = s->child[index].published) != NULL) {
			/* Published handles are held by the supervisor
			 * until it unpublishes them (under this lock). */
			trp_actor_retain(a);
			rc = 0;
		} else {
			rc = TRP_ENOENT;
		}
		trp__mutex_unlock(&s->lock);
	}
	trp__sup_unref(s);
	if (rc == 0)
		*out = a;
	return rc;
}

int trp_supervisor_get_stats(trp_actor_t *sup, trp_supervisor_stats_t *out)
{
	if (sup == NULL || out == NULL)
		return TRP_EINVAL;
	int rc;
	struct sup *s = trp__sup_acquire(sup, &rc);
	if (s == NULL)
		return rc;
	trp__mutex_lock(&s->lock);
	rc = s->dead ? TRP_EDEAD : 0;
	trp__mutex_unlock(&s->lock);
	if (rc == 0) {
		/* relaxed: statistics (trp__sup_stat_add). */
		out->restarts = atomic_load_explicit(&s->restarts,
						     memory_order_relaxed);
		out->stops =
			atomic_load_explicit(&s->stops, memory_order_relaxed);
	}
	trp__sup_unref(s);
	return rc;
}
