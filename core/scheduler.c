/*
 * core/scheduler.c - runtime creation and destruction, scheduling, the
 * injection queue, wake-ups and quiescence (see scheduler.h).
 */
#include "scheduler.h"

#include <limits.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "epoch.h"
#include "exchange.h"
#include "thread_actor.h"
#include "timer.h"
#include "registry.h"

#define MAX_WORKERS 256u
#define IDLE_POLL_NS 10000000 /* wait_idle re-checks at least this often */

/* ------------------------------------------------------------------ */
/* activity and wake-ups                                               */

void trp__activity_inc(struct trp_runtime *rt)
{
	/* ORDER: seq_cst; the quiescence check reads activity, the
	 * injection length and activity again, and needs one total order
	 * with these updates. */
	atomic_fetch_add_explicit(&rt->activity, TRP__ACT_INC,
				  memory_order_seq_cst);
}

uint32_t trp__activity_dec(struct trp_runtime *rt)
{
	/* ORDER: seq_cst, as in trp__activity_inc; it also orders this
	 * update before the idle_waiters load (Dekker pair with
	 * trp_runtime_wait_idle). */
	uint64_t old = atomic_fetch_add_explicit(&rt->activity, TRP__ACT_DEC,
						 memory_order_seq_cst);
	if (TRP__ACT_COUNT(old) == 1 &&
	    atomic_load_explicit(&rt->idle_waiters, memory_order_seq_cst) !=
		    0) {
		/* ORDER: release; the waiter re-reads everything anyway. */
		atomic_fetch_add_explicit(&rt->idle_seq, 1,
					  memory_order_release);
		trp__futex_wake(&rt->idle_seq, INT_MAX);
	}
	return TRP__ACT_COUNT(old) - 1;
}

int trp__outside_enter(struct trp_runtime *rt)
{
	trp__activity_inc(rt);
	/* ORDER: seq_cst pairs with destroy's seq_cst store of shutdown:
	 * either we see the flag or destroy sees our activity and waits. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst) != 0) {
		(void)trp__activity_dec(rt);
		return TRP_ESHUTDOWN;
	}
	return 0;
}

void trp__outside_leave(struct trp_runtime *rt)
{
	(void)trp__activity_dec(rt);
}

/* Wakes one parked worker (any kind of sleep). */
static void ring_park_bell(struct trp_runtime *rt)
{
	/* ORDER: release; a parked worker re-checks the queues after it
	 * wakes, the futex word is only a doorbell. */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_release);
	trp__futex_wake(&rt->park_seq, 1);
}

void trp__wake_one(struct trp_runtime *rt)
{
	/* ORDER: a read-modify-write, not a load: it lands in the single
	 * modification order of `sleepers` with the parking worker's
	 * increment. If ours comes later we read its increment and wake it;
	 * if ours comes first, its acq_rel increment reads ours and so sees
	 * the work we published before it (our release), in its re-check.
	 * One of the two always happens (modelled in park.pml). A fence
	 * would do the same; ThreadSanitizer does not understand fences. */
	if (atomic_fetch_add_explicit(&rt->sleepers, 0, memory_order_acq_rel) ==
	    0)
		return;
	ring_park_bell(rt);
}

/* ------------------------------------------------------------------ */
/* scheduling                                                          */

#define INJECT_SHARE_MAX 64u /* actors moved per look beyond the first */

static void inject(struct trp_runtime *rt, struct trp_actor *a)
{
	/* relaxed: published by the push's release exchange, which is
	 * sequenced before the acq_rel sleepers RMW in trp__wake_one; a
	 * parking worker's RMW that reads ours then sees it (see there). */
	atomic_fetch_add_explicit(&rt->inject_len, 1, memory_order_relaxed);
	(void)trp__mailbox_push_mp(&rt->inject, &a->run_node);
	trp__wake_one(rt);
}

void trp__schedule(struct trp_runtime *rt, struct trp_actor *a)
{
	if (trp__unlikely(a->kind == TRP__KIND_THREAD)) {
		/* Its own thread consumes: ring its doorbell instead. */
		trp__thread_actor_wake(a);
		return;
	}
	struct trp__worker *w = trp__worker_of(rt);
	if (trp__likely(w != NULL)) {
		/* The LIFO (deque.h) takes an actor a turn spawns with a
		 * start hook (its first schedule: !started, which its
		 * creator wrote), and one a turn wakes while the LIFO holds
		 * spawned work: replies inside a spawn tree run depth-first
		 * too. Other wake-ups go to the FIFO: a consumer woken by one
		 * of many senders then waits behind them and takes their
		 * messages in one turn (spawn, fanin: 0.4x and 0.8x when
		 * every wake-up went to the LIFO). With no turn running, it
		 * is the actor whose turn just ended with messages left
		 * (actor.c clears w->current first): the FIFO's back. */
		bool lifo = w->current != NULL && (!a->started || w->lifo_used);
		int rc;
		if (lifo) {
			rc = trp__lifo_push_owner(&w->lifo, a);
			if (rc == 0 && !w->lifo_used) {
				w->lifo_used = true;
				w->lifo_since = w->tick;
			}
		} else {
			rc = trp__deque_push_owner(&w->runq, a);
		}
		if (trp__likely(rc == 0)) {
			/* Wake a sleeper only when this worker has surplus
			 * work. The relaxed check may miss a worker that is
			 * just going to sleep; the work is not lost (this
			 * worker runs it), only that bit of parallelism,
			 * until our next push sees it. A fence here would
			 * cost every scheduling. */
			if (atomic_load_explicit(&rt->sleepers,
						 memory_order_relaxed) != 0 &&
			    trp__deque_size(&w->runq) +
					    trp__lifo_size(&w->lifo) >=
				    2)
				ring_park_bell(rt);
			return;
		}
	}
	/* Outside threads, or a run queue that could not grow: the
	 * intrusive injection queue never allocates. */
	inject(rt, a);
}

struct trp_actor *trp__inject_pop(struct trp_runtime *rt, struct trp__worker *w)
{
	/* relaxed: a hint; a stale zero is caught by the park re-check,
	 * which is ordered by the sleepers RMWs (see trp__wake_one). */
	int64_t len =
		atomic_load_explicit(&rt->inject_len, memory_order_relaxed);
	if (len <= 0)
		return NULL;
	/* ORDER: acquire/release make consumers of the single-consumer
	 * queue take turns (the lock hands over the consumer's tail). */
	if (atomic_exchange_explicit(&rt->inject_lock, 1,
				     memory_order_acquire) != 0)
		return NULL;
	struct trp__mpsc_node *n = trp__mailbox_pop_sc(&rt->inject);
	/* Take a fair share of the rest onto our own run queue (Go's
	 * globrunqget): the injection queue is looked at only every few
	 * dozen turns while a worker is busy, and turns may be long, so one
	 * actor per look would let outside traffic pile up. */
	uint32_t share = 0, want = 0;
	if (n != NULL && w != NULL) {
		want = (uint32_t)(len / rt->nworkers);
		if (want > INJECT_SHARE_MAX)
			want = INJECT_SHARE_MAX;
	}
	while (share < want) {
		struct trp__mpsc_node *m = trp__mailbox_pop_sc(&rt->inject);
		if (m == NULL)
			break;
		struct trp_actor *b = trp__actor_of_run_node(m);
		if (trp__deque_push_owner(&w->runq, b) != 0) {
			/* No room (the ring could not grow): back it goes,
			 * behind the others - only fairness suffers. */
			(void)trp__mailbox_push_mp(&rt->inject, m);
			break;
		}
		share++;
	}
	atomic_store_explicit(&rt->inject_lock, 0, memory_order_release);
	if (n == NULL)
		return NULL;
	atomic_fetch_sub_explicit(&rt->inject_len, 1 + (int64_t)share,
				  memory_order_relaxed);
	/* Surplus on our queue: let a parked peer steal some. relaxed, as
	 * in trp__schedule: a missed sleeper costs parallelism only, the
	 * work is on our queue and we run it. */
	if (share != 0 &&
	    atomic_load_explicit(&rt->sleepers, memory_order_relaxed) != 0)
		ring_park_bell(rt);
	return trp__actor_of_run_node(n);
}

/* ------------------------------------------------------------------ */
/* create / destroy                                                    */

static void free_runtime(struct trp_runtime *rt)
{
	trp__free(rt->workers, 0);
	trp__free(rt->pools, 0);
	trp__free(rt, sizeof *rt);
}

void trp__runtime_unref(struct trp_runtime *rt)
{
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
		free_runtime(rt);
}

/* Frees what workers [0, n) own. The array itself (it holds the
 * counters trp_runtime_stats reads) lives until the runtime struct. */
static void free_worker_state(struct trp_runtime *rt, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct trp__worker *w = &rt->workers[i];
		if (w->outbox.self != NULL) /* consumed: nothing queued in it */
			trp__msg_free_block(NULL, w->outbox.self);
		w->outbox.self = NULL;
		trp__msg_pool_destroy(&w->pool);
		trp__deque_destroy(&w->runq);
		trp__lifo_destroy(&w->lifo);
		trp__free(w->last_seen, 0);
		w->last_seen = NULL;
	}
}

static int init_workers(struct trp_runtime *rt)
{
	uint32_t n = rt->nworkers;
	rt->workers =
		trp__alloc_aligned(TRP_CACHELINE, n * sizeof *rt->workers);
	rt->pools = trp__calloc(n, sizeof *rt->pools);
	if (rt->workers == NULL || rt->pools == NULL) {
		trp__free(rt->workers, 0);
		trp__free(rt->pools, 0);
		return TRP_ENOMEM;
	}
	memset(rt->workers, 0, n * sizeof *rt->workers);
	for (uint32_t i = 0; i < n; i++)
		rt->pools[i] = &rt->workers[i].pool;
	for (uint32_t i = 0; i < n; i++) {
		struct trp__worker *w = &rt->workers[i];
		w->rt = rt;
		w->index = i;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
		int rc = trp__deque_init(&w->runq, 8);
		if (rc == 0) {
			rc = trp__lifo_init(&w->lifo, 6);
			if (rc != 0)
				trp__deque_destroy(&w->runq);
		}
		if (rc == 0) {
			rc = trp__msg_pool_init(&w->pool, (uint16_t)i,
						(uint16_t)n, rt->pools);
			if (rc != 0) {
				trp__lifo_destroy(&w->lifo);
				trp__deque_destroy(&w->runq);
			}
		}
		if (rc == 0) {
			w->last_seen = trp__calloc(2 * (size_t)n,
						   sizeof *w->last_seen);
			if (w->last_seen == NULL) {
				trp__msg_pool_destroy(&w->pool);
				trp__lifo_destroy(&w->lifo);
				trp__deque_destroy(&w->runq);
				rc = TRP_ENOMEM;
			}
		}
		if (rc != 0) {
			free_worker_state(rt, i);
			trp__free(rt->workers, 0);
			trp__free(rt->pools, 0);
			return rc;
		}
	}
	return 0;
}

static void stop_threads(struct trp_runtime *rt, uint32_t started)
{
	/* ORDER: seq_cst store of the sticky flag; workers check it on
	 * every loop and after every wake. */
	atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_seq_cst);
	trp__futex_wake(&rt->park_seq, INT_MAX);
	for (uint32_t i = 0; i < started; i++)
		trp__thread_join(&rt->workers[i].thread);
}

int trp_runtime_create(const trp_config_t *cfg, trp_runtime_t **out)
{
	trp_config_t c = TRP_CONFIG_INIT;
	if (out == NULL)
		return TRP_EINVAL;
	if (cfg != NULL) {
		if (cfg->version != TRP_CONFIG_VERSION)
			return TRP_EVERSION;
		c = *cfg;
	}
	if (c.workers > MAX_WORKERS)
		return TRP_EINVAL;
	if (c.workers == 0) {
		c.workers = trp__online_cpus();
		if (c.workers > MAX_WORKERS)
			c.workers = MAX_WORKERS;
	}
	if (c.batch == 0)
		c.batch = TRP_DEFAULT_BATCH;

	struct trp_runtime *rt = trp__alloc_aligned(TRP_CACHELINE, sizeof *rt);
	if (rt == NULL)
		return TRP_ENOMEM;
	memset(rt, 0, sizeof *rt);
	rt->cfg = c;
	rt->nworkers = c.workers;
	trp__mailbox_init(&rt->inject, false);
	atomic_init(&rt->refs, 1);
	/* every worker starts active; it parks when it finds nothing */
	atomic_init(&rt->activity, (uint64_t)c.workers);
	int rc = trp__registry_create(&rt->registry);
	if (rc != 0) {
		trp__free(rt, sizeof *rt);
		return rc;
	}
	rc = init_workers(rt);
	if (rc != 0) {
		trp__registry_destroy(rt->registry);
		trp__free(rt, sizeof *rt);
		return rc;
	}
	for (uint32_t i = 0; i < rt->nworkers; i++) {
		rc = trp__thread_start(&rt->workers[i].thread, trp__worker_main,
				       &rt->workers[i]);
		if (rc != 0) {
			stop_threads(rt, i);
			free_worker_state(rt, rt->nworkers);
			trp__registry_destroy(rt->registry);
			free_runtime(rt);
			return rc;
		}
	}
	*out = rt;
	return 0;
}

/* Blocks until the activity count is 0, or the deadline (ns, < 0: none)
 * passes. With @quiet, also requires an empty injection queue and an
 * unchanged activity word (nothing started meanwhile). */
static int wait_activity(struct trp_runtime *rt, int64_t timeout_ns, bool quiet)
{
	uint64_t deadline = trp__deadline(timeout_ns);
	int rc = 0;
	/* ORDER: seq_cst, Dekker pair with trp__activity_dec. */
	atomic_fetch_add_explicit(&rt->idle_waiters, 1, memory_order_seq_cst);
	for (;;) {
		/* ORDER: seq_cst loads, see trp__activity_inc. */
		uint32_t seq = atomic_load_explicit(&rt->idle_seq,
						    memory_order_seq_cst);
		uint64_t v1 = atomic_load_explicit(&rt->activity,
						   memory_order_seq_cst);
		if (TRP__ACT_COUNT(v1) == 0 &&
		    (!quiet ||
		     (atomic_load_explicit(&rt->inject_len,
					   memory_order_seq_cst) == 0 &&
		      atomic_load_explicit(&rt->activity,
					   memory_order_seq_cst) == v1)))
			break;
		int64_t wait = trp__remaining(timeout_ns, deadline);
		if (wait == 0) {
			rc = TRP_ETIMEDOUT;
			break;
		}
		/* re-check at least this often (see IDLE_POLL_NS) */
		if (wait < 0 || wait > IDLE_POLL_NS)
			wait = IDLE_POLL_NS;
		trp__futex_wait(&rt->idle_seq, seq, wait);
	}
	atomic_fetch_sub_explicit(&rt->idle_waiters, 1, memory_order_relaxed);
	return rc;
}

int trp_runtime_wait_idle(trp_runtime_t *rt, int64_t timeout_ns)
{
	if (rt == NULL)
		return TRP_EINVAL;
	if (trp__worker_of(rt) != NULL)
		return TRP_EDEADLK;
	/* relaxed: destroy must not run concurrently (documented); this
	 * only catches a wait after destroy began on this thread's view. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed) != 0)
		return TRP_ESHUTDOWN;
	return wait_activity(rt, timeout_ns, true);
}

int trp_runtime_destroy(trp_runtime_t *rt)
{
	return trp_runtime_destroy_ex(rt, NULL);
}

int trp_runtime_destroy_ex(trp_runtime_t *rt, trp_stats_t *final)
{
	if (rt == NULL)
		return TRP_EINVAL;
	if (trp__worker_of(rt) != NULL)
		return TRP_EDEADLK;
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed) != 0)
		return TRP_ESHUTDOWN;
	/* Timers first (nothing fires during shutdown), then thread actors
	 * while the workers still run: they may be waiting on replies. */
	trp__timers_shutdown(rt);
	trp__thread_actors_shutdown(rt);
	stop_threads(rt, rt->nworkers);
	/* Workers left the activity count when they exited; what remains
	 * are outside threads inside a call that passed the shutdown check
	 * just before the flag was set. Let them finish. */
	(void)wait_activity(rt, -1, false);
	trp__actor_stop_all_at_shutdown(rt);
	trp__exchanges_shutdown(rt);
	trp__registry_destroy(rt->registry);
	rt->registry = NULL;
	if (final != NULL)
		(void)trp_runtime_stats(rt, final);
	free_worker_state(rt, rt->nworkers);
	trp__runtime_unref(rt);
	return 0;
}

/* ------------------------------------------------------------------ */
/* stats                                                               */

/* relaxed: statistics, summed while they may move. */
#define TRP__STAT_ADD_TO(name)                                                 \
	o->name += atomic_load_explicit(&s->name, memory_order_relaxed);
#define TRP__STAT_FOLD(name)                                                   \
	atomic_fetch_add_explicit(&o->name,                                    \
				  atomic_load_explicit(&s->name,               \
						       memory_order_relaxed),  \
				  memory_order_relaxed);

static void add_stats(trp_stats_t *o, struct trp__worker_stats *s)
{
	TRP__WORKER_STATS(TRP__STAT_ADD_TO)
	for (uint32_t r = 1; r < TRP_DEAD_REASONS; r++) {
		uint64_t n =
			atomic_load_explicit(&s->dead[r], memory_order_relaxed);
		o->dead_by_reason[r] += n;
		o->dead_lettered += n;
	}
}

int trp_runtime_stats(trp_runtime_t *rt, trp_stats_t *out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	memset(out, 0, sizeof *out);
	/* The workers array lives as long as the runtime struct, so this is
	 * safe during and after destroy (with a handle held). */
	for (uint32_t i = 0; i < rt->nworkers; i++)
		add_stats(out, &rt->workers[i].stats);
	add_stats(out, &rt->outside);
	out->spawned = atomic_load_explicit(&rt->spawned, memory_order_relaxed);
	out->stopped = atomic_load_explicit(&rt->stopped, memory_order_relaxed);
	return 0;
}

uint32_t trp_runtime_workers(const trp_runtime_t *rt)
{
	return rt != NULL ? rt->nworkers : 0;
}
