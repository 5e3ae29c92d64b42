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
#define NPUB_THR 2u
#define NPUB_ACT 2u
#define NPUB (NPUB_THR + NPUB_ACT)
#define XS_NPUB NPUB
#include "exchange_stress.h"

#define NCHURN 2u
#define MAXLIVE 6u  /* groups one churn thread holds at most */
#define MAXGROUP 4u /* sinks per scoped group */
#define N_BASE 1500000u
#define N_MIN 2000u
#define CHUNK 64u	     /* publish calls per publisher actor turn */
#define MAXBATCH XS_MAXBATCH /* seqs per publish_n call, at most */
#define LIMIT_S 300.0

enum kind {
	K_ACTOR,
	K_CALLBACK,
	K_TAP
};

struct member {
	enum kind kind;
	trp_sub_t sub;
	trp_actor_t *actor;
	struct xs_subrec *rec;
	trp_tap_t *tap;
};

/* Sinks attached together (one attach, or one scope). */
struct group {
	bool scoped;
	trp_exchange_scope_t scope;
	uint32_t n;
	struct member m[MAXGROUP];
	struct xs_window w;
};

struct churner {
	uint32_t idx;
	uint64_t rng;
	struct group live[MAXLIVE];
	uint32_t nlive;
	struct xs_ids ids;     /* every subscription id this thread got */
	_Atomic(uint64_t) ops; /* attaches + detaches (groups) */
	_Atomic(uint64_t) nlive_now;
	uint64_t by_kind[3];
	uint64_t scopes;
};

/* The exchange, counters and totals are in xs (exchange_stress.h). */
static struct {
	_Atomic(uint32_t) stop_churn;
	struct churner ch[NCHURN];
	struct stress_barrier start;
	_Atomic(uint64_t) throttled;	   /* backpressure pauses (info) */
	_Atomic(uint64_t) pub_actor_turns; /* info */
	trp_actor_t *pub_actors[NPUB_ACT];
} g;

static struct stress_watchdog wd;

/* ------------------------------------------------------ publishers -- */

/* How many seqs the next call publishes: 1 most of the time, else a
 * batch of 2..MAXBATCH (never past n). */
static uint32_t batch_len(uint64_t seq)
{
	uint64_t h = seq * 0x9E3779B97F4A7C15u;
	uint32_t k = (h >> 61) < 3 ? 1 :
				     2 + (uint32_t)((h >> 32) % (MAXBATCH - 1));
	if (seq + k - 1 > xs.n)
		k = (uint32_t)(xs.n - seq + 1);
	return k;
}

static void *publisher_thread(void *arg)
{
	uint32_t p = (uint32_t)(uintptr_t)arg;
	static const char *const names[] = { "publisher-0", "publisher-1",
					     "publisher-2", "publisher-3" };
	stress_watchdog_thread(&wd, names[p]);
	stress_barrier_wait(&g.start);
	for (uint64_t seq = 1; seq <= xs.n;) {
		uint32_t k = batch_len(seq);
		xs_publish(p, seq, k);
		seq += k;
		if ((seq & 255) < k)
			xs_wait_backlog(&g.throttled);
	}
	xs_publisher_finished(p);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static void pubactor_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct rt_pubactor *pa = state;
	STRESS_CHECK(msg->type == XS_MSG_GO, "publisher actor: type %u",
		     msg->type);
	rt_add(&g.pub_actor_turns, 1);
	if (!xs_backlogged()) {
		for (uint32_t i = 0; i < CHUNK && pa->next <= xs.n; i++) {
			uint32_t k = batch_len(pa->next);
			xs_publish(pa->p, pa->next, k);
			pa->next += k;
		}
	} else {
		rt_add(&g.throttled, 1);
	}
	if (pa->next <= xs.n) {
		RT_MUST("trp_send GO", trp_send(self, XS_MSG_GO, NULL, 0));
		return;
	}
	xs_publisher_finished(pa->p);
}

/* ---------------------------------------------------------- churn -- */

/* Makes the sink of a member (spawns the actor, allocates the context). */
static trp_sink_t member_make(struct member *m, enum kind kind)
{
	memset(m, 0, sizeof *m);
	m->kind = kind;
	switch (kind) {
	case K_ACTOR:
		return xs_actor_sink_new(&m->actor);
	case K_CALLBACK:
		return xs_callback_sink_new(&m->rec);
	case K_TAP:
	default:
		m->tap = malloc(sizeof *m->tap);
		STRESS_CHECK(m->tap != NULL, "out of memory");
		trp_tap_init(m->tap, NULL, "churn");
		return trp_sink_tap(m->tap);
	}
}

/* After detach returned: check the member and free what it used. */
static void member_finish(struct member *m, const struct xs_window *w)
{
	switch (m->kind) {
	case K_ACTOR:
		xs_actor_sink_finish(m->actor, w);
		break;
	case K_CALLBACK:
		xs_callback_sink_finish(m->rec, w);
		break;
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
		rt_add(&xs.rx_total, cnt);
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
	xs_window_open(&gr->w);
	if (scoped) {
		gr->scope = trp_exchange_scope_enter(xs.ex, sinks, gr->n);
		RT_MUST("trp_exchange_scope_enter", gr->scope.rc);
		STRESS_CHECK(gr->scope.n == gr->n, "scope attached %u of %u",
			     gr->scope.n, gr->n);
		for (uint32_t i = 0; i < gr->n; i++)
			gr->m[i].sub = gr->scope.subs[i];
		c->scopes++;
	} else {
		RT_MUST("trp_exchange_attach",
			trp_exchange_attach(xs.ex, sinks[0], &gr->m[0].sub));
	}
	xs_window_attached(&gr->w);
	for (uint32_t i = 0; i < gr->n; i++)
		xs_ids_add(&c->ids, gr->m[i].sub);
}

static void group_detach(struct group *gr)
{
	xs_window_closing(&gr->w);
	if (gr->scoped) {
		trp_exchange_scope_exit(&gr->scope);
		STRESS_CHECK(gr->scope.n == 0, "scope_exit left n = %u",
			     gr->scope.n);
	} else {
		RT_MUST("trp_exchange_detach",
			trp_exchange_detach(xs.ex, gr->m[0].sub));
	}
	xs_window_closed(&gr->w);
	for (uint32_t i = 0; i < gr->n; i++)
		member_finish(&gr->m[i], &gr->w);
	/* A detached id is gone for good. */
	for (uint32_t i = 0; i < gr->n; i++)
		rt_rc("trp_exchange_detach (again)",
		      trp_exchange_detach(xs.ex, gr->m[i].sub),
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
	xs_dump_publishers();
	for (uint32_t i = 0; i < NCHURN; i++)
		fprintf(stderr,
			"  churn %u: ops %" PRIu64 " live groups %" PRIu64 "\n",
			i, rt_get(&g.ch[i].ops), rt_get(&g.ch[i].nlive_now));
	xs_dump_exchange();
}

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_churn");
	xs.n = stress_scaled(N_BASE, N_MIN);
	printf("  %u publishers (%u threads, %u actors) x %" PRIu64
	       " publishes, %u churn threads, %s\n",
	       NPUB, NPUB_THR, NPUB_ACT, xs.n, NCHURN,
	       RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = xs_fail_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &xs.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(xs.rt, "churn", &xs.ex));

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t p = 0; p < NPUB; p++)
		stress_watchdog_counter(&wd, "published", &xs.done[p]);
	for (uint32_t i = 0; i < NCHURN; i++)
		stress_watchdog_counter(&wd, "churn ops", &g.ch[i].ops);
	stress_watchdog_counter(&wd, "actor sinks checked", &xs.actors_checked);
	stress_watchdog_info(&wd, "throttled", &g.throttled);
	stress_watchdog_info(&wd, "publisher actor turns", &g.pub_actor_turns);

	/* Anchors: attached before anything is published, detached after
	 * the last publish: each must get all NPUB * N messages. */
	struct xs_ids anchor_ids = { 0 };
	struct group anchors[3];
	for (uint32_t i = 0; i < 3; i++) {
		trp_sink_t s = member_make(&anchors[i].m[0], (enum kind)i);
		memset(&anchors[i].w, 0, sizeof anchors[i].w);
		anchors[i].scoped = false;
		anchors[i].n = 1;
		xs_window_open(&anchors[i].w);
		RT_MUST("trp_exchange_attach (anchor)",
			trp_exchange_attach(xs.ex, s, &anchors[i].m[0].sub));
		xs_window_attached(&anchors[i].w);
		xs_ids_add(&anchor_ids, anchors[i].m[0].sub);
	}

	for (uint32_t i = 0; i < NCHURN; i++) {
		g.ch[i].idx = i;
		g.ch[i].rng = stress_rand_init(seed, i + 1);
	}
	const struct rt_pub_phase phase = {
		.rt = xs.rt,
		.nthreads = NPUB_THR,
		.nactors = NPUB_ACT,
		.nchurn = NCHURN,
		.pub_thread = publisher_thread,
		.pub_behavior = pubactor_behavior,
		.go_type = XS_MSG_GO,
		.actors = g.pub_actors,
		.churn_thread = churn_thread,
		.churn_args = g.ch,
		.churn_size = sizeof g.ch[0],
		.start = &g.start,
		.finished = xs.finished,
		.stop_churn = &g.stop_churn,
		.wd = &wd,
	};
	double pub_s = rt_pub_phase_run(&phase);
	for (uint32_t i = 0; i < 3; i++) {
		group_detach(&anchors[i]);
		for (uint32_t p = 0; p < NPUB; p++)
			STRESS_CHECK(anchors[i].w.lo[p] == 0 &&
					     anchors[i].w.hi[p] == xs.n,
				     "anchor window (%" PRIu64 ", %" PRIu64 "]",
				     anchors[i].w.lo[p], anchors[i].w.hi[p]);
	}
	rt_wait_idle(xs.rt);
	stress_watchdog_stop(&wd);

	/* ------------------------------------------------ final checks -- */
	uint64_t ops = 0, kinds[3] = { 0, 0, 0 }, scopes = 0;
	for (uint32_t i = 0; i < NCHURN; i++) {
		ops += rt_get(&g.ch[i].ops);
		scopes += g.ch[i].scopes;
		for (int k = 0; k < 3; k++)
			kinds[k] += g.ch[i].by_kind[k];
	}
	uint64_t attached = rt_get(&xs.actors_attached),
		 checked = rt_get(&xs.actors_checked);
	STRESS_CHECK(attached == checked,
		     "%" PRIu64 " actor sinks attached, %" PRIu64
		     " checked at FIN",
		     attached, checked);

	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(xs.ex, &st));
	uint64_t rx = rt_get(&xs.rx_total);
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
	xs_check_exchange_end(&st, rx);
	STRESS_CHECK(ops >= 20, "only %" PRIu64 " churn operations", ops);

	/* subscription ids: never reused */
	struct xs_ids *lists[NCHURN + 1] = { &anchor_ids };
	for (uint32_t i = 0; i < NCHURN; i++)
		lists[i + 1] = &g.ch[i].ids;
	xs_ids_check_unique(lists, NCHURN + 1);

	trp_stats_t rs = rt_assert_balanced(xs.rt, "end");
	STRESS_CHECK(rs.dead_lettered == 0, "%" PRIu64 " dead letters",
		     rs.dead_lettered);
	for (uint32_t i = 0; i < NPUB_ACT; i++)
		trp_actor_release(g.pub_actors[i]);
	trp_exchange_release(xs.ex);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(xs.rt));
	printf("  peak rss %ld KiB\nOK rt_exchange_churn\n", rt_rss_kb());
	return 0;
}
