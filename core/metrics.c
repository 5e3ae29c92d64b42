/*
 * core/metrics.c - reading the metrics (troupe/metrics.h): the workers'
 * blocks summed and their histograms merged, lock-free; the per-actor
 * opt-in block; the top-N of actors by backlog (under the actors lock).
 *
 * Who may call: every function from any thread; only top_backlog takes a
 * lock (the runtime's actors lock, a cold mutex).
 */
#include "metrics.h"

#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "runtime.h"

void trp__hist_read(const struct trp__hist *h, trp_histogram_t *out)
{
	/* relaxed: statistics, read while the single writer moves them
	 * (metrics.h); each word is whole. */
	for (unsigned b = 0; b < TRP_HIST_BUCKETS; b++) {
		uint64_t n = atomic_load_explicit(&h->bucket[b],
						  memory_order_relaxed);
		out->bucket[b] += n;
		out->count += n;
	}
	out->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

void trp__metrics_restarted(struct trp_runtime *rt)
{
	/* relaxed: a statistic; supervisors on several workers: an RMW. */
	atomic_fetch_add_explicit(&rt->restarted, 1, memory_order_relaxed);
}

/* relaxed loads below: statistics (see metrics.h). */
static uint64_t load(_Atomic(uint64_t) *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void read_worker(struct trp__worker *w, trp_worker_metrics_t *out)
{
	memset(out, 0, sizeof *out);
	out->turns = load(&w->turns);
	out->messages = load(&w->stats.processed);
	out->steals = load(&w->stats.steals);
	out->parks = load(&w->stats.parks);
	out->busy_ns = load(&w->metrics.busy_ns);
	out->idle_wakeups = load(&w->metrics.idle_wakeups);
	trp__hist_read(&w->metrics.sched_latency, &out->sched_latency);
}

int trp_runtime_worker_metrics(trp_runtime_t *rt, uint32_t worker,
			       trp_worker_metrics_t *out)
{
	if (rt == NULL || out == NULL || worker >= rt->nworkers)
		return TRP_EINVAL;
	read_worker(&rt->workers[worker], out);
	return 0;
}

int trp_runtime_metrics(trp_runtime_t *rt, trp_metrics_t *out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	if (out->version != TRP_METRICS_VERSION)
		return TRP_EVERSION;
	memset(out, 0, sizeof *out);
	out->version = TRP_METRICS_VERSION;
	out->workers = rt->nworkers;
	(void)trp_runtime_stats(rt, &out->totals);
	for (uint32_t i = 0; i < rt->nworkers; i++) {
		struct trp__worker *w = &rt->workers[i];
		out->turns += load(&w->turns);
		out->busy_ns += load(&w->metrics.busy_ns);
		out->idle_wakeups += load(&w->metrics.idle_wakeups);
		trp__hist_read(&w->metrics.sched_latency, &out->sched_latency);
	}
	/* relaxed: a hint that may dip below 0 for a moment (scheduler.c). */
	int64_t inject =
		atomic_load_explicit(&rt->inject_len, memory_order_relaxed);
	out->inject_depth = inject > 0 ? (uint64_t)inject : 0;
	/* stopped is read after spawned (trp_runtime_stats), and an actor
	 * is counted spawned before it can stop: alive never wraps. */
	out->actors_alive = out->totals.spawned > out->totals.stopped ?
				    out->totals.spawned - out->totals.stopped :
				    0;
	out->actors_failed = load(&rt->failed);
	out->actors_restarted = load(&rt->restarted);
	return 0;
}

/* ------------------------------------------------------------------ */
/* per actor                                                           */

int trp_actor_metrics_enable(trp_actor_t *a)
{
	if (a == NULL)
		return TRP_EINVAL;
	/* relaxed: a snapshot; an actor that stops right after gets a
	 * block it never fills, freed with it. */
	if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
	    TRP__STOPPED)
		return TRP_EDEAD;
	if (trp__actor_metrics_of(a) != NULL)
		return 0;
	struct trp__actor_ext *x = trp__actor_ext_make(a);
	if (x == NULL)
		return TRP_ENOMEM;
	struct trp__actor_metrics *m =
		trp__alloc_aligned(TRP_CACHELINE, sizeof *m);
	if (m == NULL)
		return TRP_ENOMEM;
	memset(m, 0, sizeof *m);
	struct trp__actor_metrics *none = NULL;
	/* ORDER: release publishes the zeroed block to the acquire loads of
	 * trp__actor_metrics_of (turn.c, backpressure.h, here); acquire on
	 * failure, as above. */
	if (!atomic_compare_exchange_strong_explicit(&x->metrics, &none, m,
						     memory_order_release,
						     memory_order_acquire))
		trp__free(m, sizeof *m); /* another thread was first */
	/* ORDER: release, after the block is installed: a consumer that
	 * sees the flag (acquire, turn.c) finds the block. */
	atomic_store_explicit(&a->metrics_on, 1, memory_order_release);
	return 0;
}

int trp_actor_metrics_get(trp_actor_t *a, trp_actor_metrics_t *out)
{
	if (a == NULL || out == NULL)
		return TRP_EINVAL;
	struct trp__actor_metrics *m = trp__actor_metrics_of(a);
	if (m == NULL)
		return TRP_ENOENT;
	memset(out, 0, sizeof *out);
	out->backlog = trp__mailbox_count_hint(&a->mailbox);
	out->backlog_hwm = load(&m->hwm);
	if (out->backlog > out->backlog_hwm)
		out->backlog_hwm = out->backlog;
	out->processed = load(&m->processed);
	trp__hist_read(&m->processing, &out->processing);
	return 0;
}

/* ------------------------------------------------------------------ */
/* top N by backlog                                                    */

struct top {
	trp_backlog_entry_t *out;
	size_t n, found;
};

static bool top_visit(struct trp_actor *a, void *ctx)
{
	struct top *t = ctx;
	uint64_t backlog = trp__mailbox_count_hint(&a->mailbox);
	if (t->found == t->n && backlog <= t->out[t->n - 1].backlog)
		return true;
	if (!trp__actor_try_retain(a))
		return true; /* its last handle is going */
	size_t i;
	if (t->found == t->n) {
		/* The shortest leaves. Never the last reference: every actor
		 * on the live list still has the runtime's (actor.h), and
		 * we hold the actors lock, so none is unlinked meanwhile. */
		i = t->n - 1;
		trp_actor_release(t->out[i].actor);
	} else {
		i = t->found++;
	}
	/* Insertion: longest first; equal backlogs keep the walk's order. */
	while (i > 0 && t->out[i - 1].backlog < backlog) {
		t->out[i] = t->out[i - 1];
		i--;
	}
	t->out[i] = (trp_backlog_entry_t){ a, a->id, backlog };
	return true;
}

int trp_runtime_top_backlog(trp_runtime_t *rt, trp_backlog_entry_t *out,
			    size_t n, size_t *found)
{
	if (rt == NULL || (n > 0 && (out == NULL || found == NULL)))
		return TRP_EINVAL;
	struct top t = { out, n, 0 };
	if (n > 0)
		trp__actors_each(rt, top_visit, &t);
	if (found != NULL)
		*found = t.found;
	return 0;
}
