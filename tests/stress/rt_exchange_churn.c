/*
 * tests/stress/rt_exchange_churn.c - T7: exchange membership under churn.
 *
 * NPUB publishers (NPUB_THR outside threads and NPUB_ACT publisher actors,
 * which publish a chunk per turn and message themselves to go on) publish
 * (publisher p, seq 1..N) to one named exchange - 3/8 of the calls singly
 * (trp_exchange_publish), the rest as batches of 2..16 consecutive seqs
 * (trp_exchange_publish_n: one call, one membership snapshot, each sink
 * gets all of the batch or none of it) - while NCHURN threads
 * attach and detach sinks continuously: actor sinks, callback sinks, taps,
 * singly (trp_exchange_attach/detach) or as a group of 2..4
 * (trp_exchange_scope_enter/exit). Three anchor sinks (actor, callback,
 * tap) are attached before the start and detached after the last publish.
 *
 * Membership windows. Each publisher p keeps two counters:
 *   started[p]: set to seq by an acq_rel exchange just BEFORE publish(seq);
 *   done[p]:    set to seq by a release store just AFTER publish returns.
 * A churn thread reads, for every p:
 *   pre  = done[p]              (acquire load) just before attach is called
 *   lo   = started[p]           (acq_rel RMW) just after attach returned
 *   hi   = done[p]              (acquire load) just before detach is called
 *   post = started[p]           (acq_rel RMW) just after detach returned
 * The RMWs give real happens-before edges: if the RMW after attach read lo,
 * the publisher's exchange storing lo + 1 comes later in the counter's
 * modification order, reads the value our RMW wrote, and so synchronizes
 * with it: publish(lo + 1) happens after attach returned. (Plain loads
 * would be a store-buffering race and prove nothing.) Likewise a publish
 * <= pre completed before attach began, and one <= hi before detach began.
 * So, per publisher p, the seqs a sink received must:
 *   - include every seq in (lo, hi]   (published after attach returned and
 *                                      completed before detach was called);
 *   - lie within (pre, post]          (nothing published before attach was
 *                                      called or after detach returned);
 *   - rise strictly                   (publish order; no duplicates).
 * A sink records, per publisher, first, last, count and the gaps in what it
 * got (a gap is allowed only outside (lo, hi]); that is exact without
 * storing every seq.
 *
 * Who checks: callback sinks - the churn thread, right after detach
 * returns: it copies the record, FREES the context at once (asan: a
 * callback still running or starting after detach touches freed memory),
 * then checks the copy. Taps: same, with the count only:
 * sum (hi - lo) <= count <= sum (post - pre). Actor sinks - the actor
 * itself: after detach the churn thread sends it FIN carrying the window;
 * every delivery accepted before detach returned is in its mailbox ahead of
 * FIN (detach waited for the publishes that could see the sink, and the
 * mailbox is FIFO), so at FIN the record is complete. The actor checks and
 * stops itself; a data message behind FIN would become a dead letter, and
 * the dead-letter hook fails the test.
 * At the end: every actor sink checked; the exchange's stats show
 * published == NPUB*N, no drops, delivered == the sum of what every sink
 * recorded, no subscribers left; no dead letters; subscription ids unique.
 *
 * Backpressure: outside publishers and publisher actors pause while the
 * runtime holds more than BACKLOG unprocessed messages (sent - processed),
 * so memory stays bounded on slow (sanitizer) builds.
 *
 * Sizes: N = 1.5 M x scale per publisher (at least 2000). No timing is
 * asserted; the churn rate is printed.
 */
#include "rt_util.h"

#define NPUB_THR 2u
#define NPUB_ACT 2u
#define NPUB (NPUB_THR + NPUB_ACT)
#define NCHURN 2u
#define MAXLIVE 6u  /* groups one churn thread holds at most */
#define MAXGROUP 4u /* sinks per scoped group */
#define MAXGAPS 8u  /* gaps per (sink, publisher) outside the window */
#define N_BASE 1500000u
#define N_MIN 2000u
#define CHUNK 64u    /* publish calls per publisher actor turn */
#define MAXBATCH 16u /* seqs per trp_exchange_publish_n call, at most */
#define BACKLOG 100000u
#define LIMIT_S 300.0

enum {
	MSG_DATA = 1,
	MSG_FIN = 2,
	MSG_GO = 3
};

enum kind {
	K_ACTOR,
	K_CALLBACK,
	K_TAP
};

/* What a sink got from one publisher. */
struct track {
	uint64_t first, last, count;
	uint32_t ngaps;
	uint64_t gap_after[MAXGAPS];  /* last seq before the gap */
	uint64_t gap_before[MAXGAPS]; /* first seq after the gap */
};

/* Actor sink state (runtime-owned, zeroed) and callback context (malloc).
 * A callback context is written by several publishers at once, each only
 * in its own track. */
struct subrec {
	struct track t[NPUB];
	bool fin; /* actor: FIN processed */
};

/* The window of one membership, per publisher (FIN's payload). */
struct window {
	uint64_t pre[NPUB], lo[NPUB], hi[NPUB], post[NPUB];
};

struct member {
	enum kind kind;
	trp_sub_t sub;
	trp_actor_t *actor;
	struct subrec *rec;
	trp_tap_t *tap;
};

/* Sinks attached together (one attach, or one scope). */
struct group {
	bool scoped;
	trp_exchange_scope_t scope;
	uint32_t n;
	struct member m[MAXGROUP];
	struct window w;
};

struct churner {
	uint32_t idx;
	uint64_t rng;
	struct group live[MAXLIVE];
	uint32_t nlive;
	trp_sub_t *ids; /* every subscription id this thread got */
	size_t nids, capids;
	_Atomic(uint64_t) ops; /* attaches + detaches (groups) */
	_Atomic(uint64_t) nlive_now;
	uint64_t by_kind[3];
	uint64_t scopes;
};

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint64_t n; /* per publisher */
	_Atomic(uint64_t) started[NPUB];
	_Atomic(uint64_t) done[NPUB];
	_Atomic(uint32_t) pub_finished[NPUB];
	_Atomic(uint32_t) stop_churn;
	struct churner ch[NCHURN];
	struct stress_barrier start;
	/* totals */
	_Atomic(uint64_t) rx_total;	   /* deliveries recorded and checked */
	_Atomic(uint64_t) actors_attached; /* actor sinks attached */
	_Atomic(uint64_t) actors_checked;  /* actor sinks that checked at FIN */
	_Atomic(uint64_t) throttled;	   /* backpressure pauses (info) */
	_Atomic(uint64_t) pub_actor_turns; /* info */
	trp_actor_t *pub_actors[NPUB_ACT];
} g;

static struct stress_watchdog wd;

/* --------------------------------------------------------- recording -- */

static void track_add(struct track *t, uint32_t pub, uint64_t seq,
		      const char *what)
{
	if (t->count == 0) {
		t->first = t->last = seq;
		t->count = 1;
		return;
	}
	STRESS_CHECK(seq > t->last,
		     "%s: publisher %u seq %" PRIu64 " after %" PRIu64 " (%s)",
		     what, pub, seq, t->last,
		     seq == t->last ? "duplicate" : "reordered");
	if (seq != t->last + 1) {
		STRESS_CHECK(t->ngaps < MAXGAPS,
			     "%s: publisher %u: more than %u gaps (last "
			     "%" PRIu64 ", now %" PRIu64 ")",
			     what, pub, MAXGAPS, t->last, seq);
		t->gap_after[t->ngaps] = t->last;
		t->gap_before[t->ngaps] = seq;
		t->ngaps++;
	}
	t->last = seq;
	t->count++;
}

static void record(struct subrec *r, const trp_msg_t *msg, const char *what)
{
	STRESS_CHECK(msg->type == MSG_DATA, "%s: message type %u", what,
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NPUB, "%s: publisher %u", what, p.sender);
	track_add(&r->t[p.sender], p.sender, p.seq, what);
}

/* Checks one sink's record against its window; returns its count. */
static uint64_t check_record(const struct subrec *r, const struct window *w,
			     const char *what)
{
	uint64_t total = 0;
	for (uint32_t p = 0; p < NPUB; p++) {
		const struct track *t = &r->t[p];
		uint64_t pre = w->pre[p], lo = w->lo[p], hi = w->hi[p],
			 post = w->post[p];
		STRESS_CHECK(pre <= lo && hi <= post,
			     "%s: publisher %u: bad window pre %" PRIu64
			     " lo %" PRIu64 " hi %" PRIu64 " post %" PRIu64,
			     what, p, pre, lo, hi, post);
		total += t->count;
		if (t->count > 0) {
			STRESS_CHECK(t->first > pre,
				     "%s: publisher %u: got seq %" PRIu64
				     ", published before attach was called "
				     "(done %" PRIu64 " then)",
				     what, p, t->first, pre);
			STRESS_CHECK(t->last <= post,
				     "%s: publisher %u: got seq %" PRIu64
				     ", published after detach returned "
				     "(started %" PRIu64 " then)",
				     what, p, t->last, post);
		}
		if (hi <= lo)
			continue; /* nothing this sink had to get */
		STRESS_CHECK(t->count > 0 && t->first <= lo + 1 &&
				     t->last >= hi,
			     "%s: publisher %u: window (%" PRIu64 ", %" PRIu64
			     "] not covered: got %" PRIu64 " seqs, %" PRIu64
			     "..%" PRIu64,
			     what, p, lo, hi, t->count, t->first, t->last);
		for (uint32_t i = 0; i < t->ngaps; i++) {
			/* missing: gap_after + 1 .. gap_before - 1 */
			bool outside = t->gap_before[i] <= lo + 1 ||
				       t->gap_after[i] >= hi;
			STRESS_CHECK(outside,
				     "%s: publisher %u: lost seqs %" PRIu64
				     "..%" PRIu64 " inside its window (%" PRIu64
				     ", %" PRIu64 "]",
				     what, p, t->gap_after[i] + 1,
				     t->gap_before[i] - 1, lo, hi);
		}
		/* the count follows from first/last/gaps; cross-check */
		uint64_t missing = 0;
		for (uint32_t i = 0; i < t->ngaps; i++)
			missing += t->gap_before[i] - t->gap_after[i] - 1;
		STRESS_CHECK(t->last - t->first + 1 - missing == t->count,
			     "%s: publisher %u: count %" PRIu64
			     " does not match %" PRIu64 "..%" PRIu64
			     " minus %" PRIu64 " missing",
			     what, p, t->count, t->first, t->last, missing);
	}
	return total;
}

/* ----------------------------------------------------------- sinks -- */

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct subrec *r = state;
	if (msg->type == MSG_FIN) {
		struct window w;
		STRESS_CHECK(msg->size == sizeof w, "FIN of size %zu",
			     msg->size);
		memcpy(&w, msg->data, sizeof w);
		STRESS_CHECK(!r->fin, "actor sink: second FIN");
		uint64_t got = check_record(r, &w, "actor sink");
		r->fin = true;
		rt_add(&g.rx_total, got);
		rt_add(&g.actors_checked, 1);
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		return;
	}
	STRESS_CHECK(!r->fin, "actor sink: data after FIN");
	record(r, msg, "actor sink");
}

static void sink_callback(void *ctx, const trp_msg_t *msg)
{
	record(ctx, msg, "callback sink");
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	stress_fail("dead letter (type %u, size %zu, reason %d) for actor "
		    "%" PRIu64
		    ": a delivery after detach returned, or a lost message",
		    msg->type, msg->size, (int)why, trp_actor_id(to));
}

/* ------------------------------------------------------ publishers -- */

/* True while the runtime holds too many unprocessed messages. */
static bool backlogged(void)
{
	trp_stats_t s;
	RT_MUST("trp_runtime_stats", trp_runtime_stats(g.rt, &s));
	return s.sent > s.processed + s.dead_lettered + BACKLOG;
}

/*
 * Publishes seqs seq..seq+k-1 of publisher p: one trp_exchange_publish
 * (k == 1) or one trp_exchange_publish_n. A publish_n is one membership
 * snapshot, so the bracket is the whole call: started[p] is set to its
 * last seq before it, done[p] after it.
 */
static void publish_some(uint32_t p, uint64_t seq, uint32_t k)
{
	struct rt_payload pl[MAXBATCH];
	for (uint32_t i = 0; i < k; i++)
		pl[i] = (struct rt_payload){ p, 0, seq + i };
	uint64_t last = seq + k - 1;
	/* ORDER: acq_rel RMW: reads-from / is read by the churn threads'
	 * RMWs on started[p] (see the header comment). */
	atomic_exchange_explicit(&g.started[p], last, memory_order_acq_rel);
	if (k == 1)
		RT_MUST("trp_exchange_publish",
			trp_exchange_publish(g.ex, MSG_DATA, pl, sizeof pl[0]));
	else
		RT_MUST("trp_exchange_publish_n",
			trp_exchange_publish_n(g.ex, MSG_DATA, pl, sizeof pl[0],
					       k));
	/* ORDER: release: the publish happens-before a churn thread's
	 * acquire load that reads seq. */
	atomic_store_explicit(&g.done[p], last, memory_order_release);
}

/* How many seqs the next call publishes: 1 most of the time, else a
 * batch of 2..MAXBATCH (never past n). */
static uint32_t batch_len(uint64_t seq)
{
	uint64_t h = seq * 0x9E3779B97F4A7C15u;
	uint32_t k = (h >> 61) < 3 ? 1 :
				     2 + (uint32_t)((h >> 32) % (MAXBATCH - 1));
	if (seq + k - 1 > g.n)
		k = (uint32_t)(g.n - seq + 1);
	return k;
}

static void *publisher_thread(void *arg)
{
	uint32_t p = (uint32_t)(uintptr_t)arg;
	static const char *const names[] = { "publisher-0", "publisher-1",
					     "publisher-2", "publisher-3" };
	stress_watchdog_thread(&wd, names[p]);
	stress_barrier_wait(&g.start);
	for (uint64_t seq = 1; seq <= g.n;) {
		uint32_t k = batch_len(seq);
		publish_some(p, seq, k);
		seq += k;
		if ((seq & 255) < k) {
			while (backlogged()) {
				rt_add(&g.throttled, 1);
				stress_sleep_ms(1);
			}
		}
	}
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&g.pub_finished[p], 1, memory_order_release);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void pubactor_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct rt_pubactor *pa = state;
	STRESS_CHECK(msg->type == MSG_GO, "publisher actor: type %u",
		     msg->type);
	rt_add(&g.pub_actor_turns, 1);
	if (!backlogged()) {
		for (uint32_t i = 0; i < CHUNK && pa->next <= g.n; i++) {
			uint32_t k = batch_len(pa->next);
			publish_some(pa->p, pa->next, k);
			pa->next += k;
		}
	} else {
		rt_add(&g.throttled, 1);
	}
	if (pa->next <= g.n) {
		RT_MUST("trp_send GO", trp_send(self, MSG_GO, NULL, 0));
		return;
	}
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&g.pub_finished[pa->p], 1, memory_order_release);
}

/* ---------------------------------------------------------- churn -- */

static void window_open(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with publish_some's release store. */
		w->pre[p] =
			atomic_load_explicit(&g.done[p], memory_order_acquire);
}

static void window_attached(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acq_rel RMW, see the header comment. */
		w->lo[p] = atomic_fetch_add_explicit(&g.started[p], 0,
						     memory_order_acq_rel);
}

static void window_closing(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acquire pairs with publish_some's release store. */
		w->hi[p] =
			atomic_load_explicit(&g.done[p], memory_order_acquire);
}

static void window_closed(struct window *w)
{
	for (uint32_t p = 0; p < NPUB; p++)
		/* ORDER: acq_rel RMW, see the header comment. */
		w->post[p] = atomic_fetch_add_explicit(&g.started[p], 0,
						       memory_order_acq_rel);
}

static void note_id(struct churner *c, trp_sub_t id)
{
	if (c->nids == c->capids) {
		c->capids = c->capids != 0 ? 2 * c->capids : 4096;
		c->ids = realloc(c->ids, c->capids * sizeof *c->ids);
		STRESS_CHECK(c->ids != NULL, "out of memory (ids)");
	}
	c->ids[c->nids++] = id;
}

/* Makes the sink of a member (spawns the actor, allocates the context). */
static trp_sink_t member_make(struct member *m, enum kind kind)
{
	memset(m, 0, sizeof *m);
	m->kind = kind;
	switch (kind) {
	case K_ACTOR: {
		trp_actor_def_t def = { sink_behavior, NULL, NULL,
					sizeof(struct subrec), 0 };
		RT_MUST("trp_actor_spawn",
			trp_actor_spawn(g.rt, &def, NULL, &m->actor));
		rt_add(&g.actors_attached, 1);
		return trp_sink_actor(m->actor);
	}
	case K_CALLBACK:
		m->rec = calloc(1, sizeof *m->rec);
		STRESS_CHECK(m->rec != NULL, "out of memory");
		return trp_sink_callback(sink_callback, m->rec);
	case K_TAP:
	default:
		m->tap = malloc(sizeof *m->tap);
		STRESS_CHECK(m->tap != NULL, "out of memory");
		trp_tap_init(m->tap, NULL, "churn");
		return trp_sink_tap(m->tap);
	}
}

/* After detach returned: check the member and free what it used. */
static void member_finish(struct member *m, const struct window *w)
{
	switch (m->kind) {
	case K_ACTOR:
		/* The actor checks itself at FIN and stops. */
		RT_MUST("trp_send FIN",
			trp_send(m->actor, MSG_FIN, w, sizeof *w));
		trp_actor_release(m->actor);
		break;
	case K_CALLBACK: {
		struct subrec copy = *m->rec;
		/* Freed at once: the exchange must not touch it any more. */
		memset(m->rec, 0x6b, sizeof *m->rec);
		free(m->rec);
		rt_add(&g.rx_total, check_record(&copy, w, "callback sink"));
		break;
	}
	case K_TAP: {
		uint64_t cnt = trp_tap_count(m->tap);
		free(m->tap);
		uint64_t must = 0, may = 0;
		for (uint32_t p = 0; p < NPUB; p++) {
			must += w->hi[p] > w->lo[p] ? w->hi[p] - w->lo[p] : 0;
			may += w->post[p] - w->pre[p];
		}
		STRESS_CHECK(cnt >= must && cnt <= may,
			     "tap sink: count %" PRIu64 " outside [%" PRIu64
			     ", %" PRIu64 "]",
			     cnt, must, may);
		rt_add(&g.rx_total, cnt);
		break;
	}
	}
	m->actor = NULL;
	m->rec = NULL;
	m->tap = NULL;
}

static enum kind random_kind(uint64_t *rng)
{
	uint64_t r = stress_rand_below(rng, 10);
	return r < 4 ? K_ACTOR : r < 8 ? K_CALLBACK : K_TAP;
}

/* Attaches a new group: one sink, or a scope of 2..MAXGROUP. */
static void group_attach(struct churner *c, struct group *gr, bool scoped)
{
	trp_sink_t sinks[MAXGROUP];
	memset(gr, 0, sizeof *gr);
	gr->scoped = scoped;
	gr->n = scoped ?
			2 + (uint32_t)stress_rand_below(&c->rng, MAXGROUP - 1) :
			1;
	for (uint32_t i = 0; i < gr->n; i++) {
		enum kind k = random_kind(&c->rng);
		sinks[i] = member_make(&gr->m[i], k);
		c->by_kind[k]++;
	}
	window_open(&gr->w);
	if (scoped) {
		gr->scope = trp_exchange_scope_enter(g.ex, sinks, gr->n);
		RT_MUST("trp_exchange_scope_enter", gr->scope.rc);
		STRESS_CHECK(gr->scope.n == gr->n, "scope attached %u of %u",
			     gr->scope.n, gr->n);
		for (uint32_t i = 0; i < gr->n; i++)
			gr->m[i].sub = gr->scope.subs[i];
		c->scopes++;
	} else {
		RT_MUST("trp_exchange_attach",
			trp_exchange_attach(g.ex, sinks[0], &gr->m[0].sub));
	}
	window_attached(&gr->w);
	for (uint32_t i = 0; i < gr->n; i++)
		note_id(c, gr->m[i].sub);
}

static void group_detach(struct group *gr)
{
	window_closing(&gr->w);
	if (gr->scoped) {
		trp_exchange_scope_exit(&gr->scope);
		STRESS_CHECK(gr->scope.n == 0, "scope_exit left n = %u",
			     gr->scope.n);
	} else {
		RT_MUST("trp_exchange_detach",
			trp_exchange_detach(g.ex, gr->m[0].sub));
	}
	window_closed(&gr->w);
	for (uint32_t i = 0; i < gr->n; i++)
		member_finish(&gr->m[i], &gr->w);
	/* A detached id is gone for good. */
	for (uint32_t i = 0; i < gr->n; i++)
		rt_rc("trp_exchange_detach (again)",
		      trp_exchange_detach(g.ex, gr->m[i].sub),
		      RT_E(TRP_ENOENT));
}

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	static const char *const names[] = { "churn-0", "churn-1", "churn-2",
					     "churn-3" };
	stress_watchdog_thread(&wd, names[c->idx]);
	stress_barrier_wait(&g.start);
	/* relaxed: a stop request; what the churners did is published by
	 * the join. */
	while (atomic_load_explicit(&g.stop_churn, memory_order_relaxed) == 0) {
		bool attach;
		if (c->nlive == 0)
			attach = true;
		else if (c->nlive == MAXLIVE)
			attach = false;
		else
			attach = stress_rand_below(&c->rng, 2) == 0;
		if (attach) {
			bool scoped = stress_rand_below(&c->rng, 5) == 0;
			group_attach(c, &c->live[c->nlive++], scoped);
		} else {
			uint32_t i =
				(uint32_t)stress_rand_below(&c->rng, c->nlive);
			group_detach(&c->live[i]);
			c->live[i] = c->live[--c->nlive];
		}
		stress_progress(&c->ops, 1);
		atomic_store_explicit(&c->nlive_now, c->nlive,
				      memory_order_relaxed);
	}
	while (c->nlive > 0)
		group_detach(&c->live[--c->nlive]);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* ----------------------------------------------------------- main -- */

static void dump(void *arg)
{
	(void)arg;
	for (uint32_t p = 0; p < NPUB; p++)
		fprintf(stderr,
			"  publisher %u: started %" PRIu64 " done %" PRIu64
			" finished %u\n",
			p, rt_get(&g.started[p]), rt_get(&g.done[p]),
			atomic_load_explicit(&g.pub_finished[p],
					     memory_order_relaxed));
	for (uint32_t i = 0; i < NCHURN; i++)
		fprintf(stderr,
			"  churn %u: ops %" PRIu64 " live groups %" PRIu64 "\n",
			i, rt_get(&g.ch[i].ops), rt_get(&g.ch[i].nlive_now));
	trp_exchange_stats_t st;
	if (trp_exchange_stats(g.ex, &st) == 0)
		fprintf(stderr,
			"  exchange: published %" PRIu64 " delivered %" PRIu64
			" full %" PRIu64 " dead %" PRIu64 " other %" PRIu64
			" subscribers %u\n",
			st.published, st.delivered, st.dropped_full,
			st.dropped_dead, st.dropped_other, st.subscribers);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_churn");
	g.n = stress_scaled(N_BASE, N_MIN);
	printf("  %u publishers (%u threads, %u actors) x %" PRIu64
	       " publishes, %u churn threads, %s\n",
	       NPUB, NPUB_THR, NPUB_ACT, g.n, NCHURN,
	       RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(g.rt, "churn", &g.ex));

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t p = 0; p < NPUB; p++)
		stress_watchdog_counter(&wd, "published", &g.done[p]);
	for (uint32_t i = 0; i < NCHURN; i++)
		stress_watchdog_counter(&wd, "churn ops", &g.ch[i].ops);
	stress_watchdog_counter(&wd, "actor sinks checked", &g.actors_checked);
	stress_watchdog_info(&wd, "throttled", &g.throttled);
	stress_watchdog_info(&wd, "publisher actor turns", &g.pub_actor_turns);

	/* Anchors: attached before anything is published, detached after
	 * the last publish: each must get all NPUB * N messages. */
	struct churner anchor_ids = { 0 };
	struct group anchors[3];
	for (uint32_t i = 0; i < 3; i++) {
		trp_sink_t s = member_make(&anchors[i].m[0], (enum kind)i);
		memset(&anchors[i].w, 0, sizeof anchors[i].w);
		anchors[i].scoped = false;
		anchors[i].n = 1;
		window_open(&anchors[i].w);
		RT_MUST("trp_exchange_attach (anchor)",
			trp_exchange_attach(g.ex, s, &anchors[i].m[0].sub));
		window_attached(&anchors[i].w);
		note_id(&anchor_ids, anchors[i].m[0].sub);
	}

	for (uint32_t i = 0; i < NCHURN; i++) {
		g.ch[i].idx = i;
		g.ch[i].rng = stress_rand_init(seed, i + 1);
	}
	const struct rt_pub_phase phase = {
		.rt = g.rt,
		.nthreads = NPUB_THR,
		.nactors = NPUB_ACT,
		.nchurn = NCHURN,
		.pub_thread = publisher_thread,
		.pub_behavior = pubactor_behavior,
		.go_type = MSG_GO,
		.actors = g.pub_actors,
		.churn_thread = churn_thread,
		.churn_args = g.ch,
		.churn_size = sizeof g.ch[0],
		.start = &g.start,
		.finished = g.pub_finished,
		.stop_churn = &g.stop_churn,
		.wd = &wd,
	};
	double pub_s = rt_pub_phase_run(&phase);
	for (uint32_t i = 0; i < 3; i++) {
		group_detach(&anchors[i]);
		for (uint32_t p = 0; p < NPUB; p++)
			STRESS_CHECK(anchors[i].w.lo[p] == 0 &&
					     anchors[i].w.hi[p] == g.n,
				     "anchor window (%" PRIu64 ", %" PRIu64 "]",
				     anchors[i].w.lo[p], anchors[i].w.hi[p]);
	}
	rt_wait_idle(g.rt);
	stress_watchdog_stop(&wd);

	/* ------------------------------------------------ final checks -- */
	uint64_t ops = 0, kinds[3] = { 0, 0, 0 }, scopes = 0;
	for (uint32_t i = 0; i < NCHURN; i++) {
		ops += rt_get(&g.ch[i].ops);
		scopes += g.ch[i].scopes;
		for (int k = 0; k < 3; k++)
			kinds[k] += g.ch[i].by_kind[k];
	}
	uint64_t attached = rt_get(&g.actors_attached),
		 checked = rt_get(&g.actors_checked);
	STRESS_CHECK(attached == checked,
		     "%" PRIu64 " actor sinks attached, %" PRIu64
		     " checked at FIN",
		     attached, checked);

	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(g.ex, &st));
	uint64_t rx = rt_get(&g.rx_total);
	printf("  %.2f s publishing; churn: %" PRIu64 " group ops (%" PRIu64
	       " scopes), sinks: %" PRIu64 " actor %" PRIu64
	       " callback %" PRIu64 " tap; %.0f churn ops/s\n",
	       pub_s, ops, scopes, kinds[K_ACTOR], kinds[K_CALLBACK],
	       kinds[K_TAP], (double)ops / pub_s);
	printf("  exchange: published %" PRIu64 " delivered %" PRIu64
	       " (sinks recorded %" PRIu64 ") full %" PRIu64 " dead %" PRIu64
	       " other %" PRIu64 " subscribers %u; throttled %" PRIu64 "\n",
	       st.published, st.delivered, rx, st.dropped_full, st.dropped_dead,
	       st.dropped_other, st.subscribers, rt_get(&g.throttled));
	STRESS_CHECK(st.published == NPUB * g.n,
		     "exchange published %" PRIu64 ", expected %" PRIu64,
		     st.published, NPUB * g.n);
	STRESS_CHECK(st.dropped_full == 0 && st.dropped_dead == 0 &&
			     st.dropped_other == 0,
		     "deliveries dropped: full %" PRIu64 " dead %" PRIu64
		     " other %" PRIu64,
		     st.dropped_full, st.dropped_dead, st.dropped_other);
	STRESS_CHECK(st.delivered == rx,
		     "exchange delivered %" PRIu64
		     " but the sinks recorded %" PRIu64,
		     st.delivered, rx);
	STRESS_CHECK(st.subscribers == 0, "%u subscribers left",
		     st.subscribers);
	STRESS_CHECK(ops >= 20, "only %" PRIu64 " churn operations", ops);

	/* subscription ids: never reused */
	size_t nids = anchor_ids.nids;
	for (uint32_t i = 0; i < NCHURN; i++)
		nids += g.ch[i].nids;
	trp_sub_t *all = malloc(nids * sizeof *all);
	STRESS_CHECK(all != NULL, "out of memory");
	size_t k = 0;
	memcpy(all, anchor_ids.ids, anchor_ids.nids * sizeof *all);
	k = anchor_ids.nids;
	for (uint32_t i = 0; i < NCHURN; i++) {
		memcpy(all + k, g.ch[i].ids, g.ch[i].nids * sizeof *all);
		k += g.ch[i].nids;
		free(g.ch[i].ids);
	}
	free(anchor_ids.ids);
	qsort(all, nids, sizeof *all, cmp_u64);
	for (size_t i = 1; i < nids; i++)
		STRESS_CHECK(all[i] != all[i - 1],
			     "subscription id %" PRIu64 " handed out twice",
			     all[i]);
	free(all);

	trp_stats_t rs = rt_assert_balanced(g.rt, "end");
	STRESS_CHECK(rs.dead_lettered == 0, "%" PRIu64 " dead letters",
		     rs.dead_lettered);
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		trp_actor_release(g.pub_actors[i]);
	trp_exchange_release(g.ex);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	printf("  peak rss %ld KiB\nOK rt_exchange_churn\n", rt_rss_kb());
	return 0;
}
