/*
 * tests/stress/exchange_stress.h - what the exchange stress tests
 * (rt_exchange_churn.c, rt_exchange_turn.c, rt_exchange_dead.c) share, on
 * top of rt_util.h.
 *
 * Define XS_NPUB (how many publishers - sources of seqs - the sinks track)
 * and include this header FIRST (it includes rt_util.h).
 *
 * What is here:
 * - xs: the one exchange under test, its runtime, the per-publisher seq
 *   counters (started/done/finished) and the delivery totals;
 * - membership windows (the argument is in rt_exchange_churn.c's header
 *   comment): before each publish started[p] = its last seq (acq_rel
 *   exchange), after it done[p] = that seq (release store); around an
 *   attach pre = done, lo = started; around a detach hi = done, post =
 *   started (acq_rel RMWs). A sink must get, per publisher, every seq in
 *   (lo, hi], nothing outside (pre, post], strictly rising;
 * - sink records (first, last, count and the gaps per publisher) and
 *   xs_check_record(), which checks one against its window;
 * - the recording sinks: an actor that checks itself when FIN (carrying
 *   its window) arrives, then stops; a callback whose context is freed at
 *   once after detach (asan: a late touch is a use after free);
 * - xs_publish(): one publish (or publish_n) bracketed by the counters;
 *   xs_backlogged(): backpressure on the runtime's unprocessed messages;
 * - lists of subscription ids and the check that none was handed out
 *   twice; the watchdog's dump lines; the exchange's end-of-run totals.
 */
#ifndef TRP_TESTS_EXCHANGE_STRESS_H
#define TRP_TESTS_EXCHANGE_STRESS_H

#include "rt_util.h"

#ifndef XS_NPUB
#error "define XS_NPUB (publishers the sinks track) before this header"
#endif

#define XS_MAXGAPS 8u	   /* gaps per (sink, publisher) outside the window */
#define XS_MAXBATCH 16u	   /* seqs per xs_publish call, at most */
#define XS_BACKLOG 100000u /* unprocessed messages before publishers pause */

/* Message types of the recording sinks and the publisher actors. */
enum {
	XS_MSG_DATA = 1,
	XS_MSG_FIN = 2, /* payload: struct xs_window */
	XS_MSG_GO = 3
};

static struct {
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint64_t n; /* seqs per publisher */
	_Atomic(uint64_t) started[XS_NPUB];
	_Atomic(uint64_t) done[XS_NPUB];
	_Atomic(uint32_t) finished[XS_NPUB]; /* publisher p is done */
	_Atomic(uint64_t) rx_total;	     /* deliveries recorded, checked */
	_Atomic(uint64_t) actors_attached;   /* recording actor sinks made */
	_Atomic(uint64_t) actors_checked;    /* ... that checked at FIN */
} xs;

/* ----------------------------------------------------------- records -- */

/* What a sink got from one publisher. */
struct xs_track {
	uint64_t first, last, count;
	uint32_t ngaps;
	uint64_t gap_after[XS_MAXGAPS];	 /* last seq before the gap */
	uint64_t gap_before[XS_MAXGAPS]; /* first seq after the gap */
};

/* A sink's record: actor sink state (runtime-owned, zeroed) or callback
 * context (malloc; written by several publishers at once, each only in
 * its own track). */
struct xs_subrec {
	struct xs_track t[XS_NPUB];
	bool fin; /* actor: FIN processed */
};

/* The window of one membership, per publisher (FIN's payload). */
struct xs_window {
	uint64_t pre[XS_NPUB], lo[XS_NPUB], hi[XS_NPUB], post[XS_NPUB];
};

static inline void xs_track_add(struct xs_track *t, uint32_t pub, uint64_t seq,
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
		STRESS_CHECK(t->ngaps < XS_MAXGAPS,
			     "%s: publisher %u: more than %u gaps (last "
			     "%" PRIu64 ", now %" PRIu64 ")",
			     what, pub, XS_MAXGAPS, t->last, seq);
		t->gap_after[t->ngaps] = t->last;
		t->gap_before[t->ngaps] = seq;
		t->ngaps++;
	}
	t->last = seq;
	t->count++;
}

static inline void xs_record(struct xs_subrec *r, const trp_msg_t *msg,
			     const char *what)
{
	STRESS_CHECK(msg->type == XS_MSG_DATA, "%s: message type %u", what,
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < XS_NPUB, "%s: publisher %u", what, p.sender);
	xs_track_add(&r->t[p.sender], p.sender, p.seq, what);
}

/* Checks one sink's record against its window; returns its count. */
static inline uint64_t xs_check_record(const struct xs_subrec *r,
				       const struct xs_window *w,
				       const char *what)
{
	uint64_t total = 0;
	for (uint32_t p = 0; p < XS_NPUB; p++) {
		const struct xs_track *t = &r->t[p];
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

/* ----------------------------------------------------------- windows -- */

/* Just before attach is called. */
static inline void xs_window_open(struct xs_window *w)
{
	for (uint32_t p = 0; p < XS_NPUB; p++)
		/* ORDER: acquire pairs with xs_publish's release store. */
		w->pre[p] =
			atomic_load_explicit(&xs.done[p], memory_order_acquire);
}

/* Just after attach returned. */
static inline void xs_window_attached(struct xs_window *w)
{
	for (uint32_t p = 0; p < XS_NPUB; p++)
		/* ORDER: acq_rel RMW (rt_exchange_churn.c, header). */
		w->lo[p] = atomic_fetch_add_explicit(&xs.started[p], 0,
						     memory_order_acq_rel);
}

/* Just before detach is called. */
static inline void xs_window_closing(struct xs_window *w)
{
	for (uint32_t p = 0; p < XS_NPUB; p++)
		/* ORDER: acquire pairs with xs_publish's release store. */
		w->hi[p] =
			atomic_load_explicit(&xs.done[p], memory_order_acquire);
}

/* Just after detach returned. */
static inline void xs_window_closed(struct xs_window *w)
{
	for (uint32_t p = 0; p < XS_NPUB; p++)
		/* ORDER: acq_rel RMW (rt_exchange_churn.c, header). */
		w->post[p] = atomic_fetch_add_explicit(&xs.started[p], 0,
						       memory_order_acq_rel);
}

/* ------------------------------------------------------------- sinks -- */

/* A recording actor sink: records until FIN, then checks and stops (a
 * delivery behind FIN becomes a dead letter). */
static inline void xs_sink_behavior(trp_actor_t *self, void *state,
				    const trp_msg_t *msg)
{
	struct xs_subrec *r = state;
	if (msg->type == XS_MSG_FIN) {
		struct xs_window w;
		STRESS_CHECK(msg->size == sizeof w, "FIN of size %zu",
			     msg->size);
		memcpy(&w, msg->data, sizeof w);
		STRESS_CHECK(!r->fin, "actor sink: second FIN");
		rt_add(&xs.rx_total, xs_check_record(r, &w, "actor sink"));
		r->fin = true;
		rt_add(&xs.actors_checked, 1);
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
		return;
	}
	STRESS_CHECK(!r->fin, "actor sink: data after FIN");
	xs_record(r, msg, "actor sink");
}

static inline void xs_sink_callback(void *ctx, const trp_msg_t *msg)
{
	xs_record(ctx, msg, "callback sink");
}

/* Spawns a recording actor sink into *@actor; returns its sink. */
static inline trp_sink_t xs_actor_sink_new(trp_actor_t **actor)
{
	trp_actor_def_t def = { xs_sink_behavior, NULL, NULL,
				sizeof(struct xs_subrec), 0 };
	RT_MUST("trp_actor_spawn", trp_actor_spawn(xs.rt, &def, NULL, actor));
	rt_add(&xs.actors_attached, 1);
	return trp_sink_actor(*actor);
}

/* Allocates a recording callback's context into *@rec; returns its sink. */
static inline trp_sink_t xs_callback_sink_new(struct xs_subrec **rec)
{
	*rec = calloc(1, sizeof **rec);
	STRESS_CHECK(*rec != NULL, "out of memory");
	return trp_sink_callback(xs_sink_callback, *rec);
}

/* After detach returned: the actor checks itself at FIN (which goes
 * behind every delivery accepted before detach returned) and stops. */
static inline void xs_actor_sink_finish(trp_actor_t *actor,
					const struct xs_window *w)
{
	RT_MUST("trp_send FIN", trp_send(actor, XS_MSG_FIN, w, sizeof *w));
	trp_actor_release(actor);
}

/* After detach returned: copies the record, frees the context at once
 * (the exchange must not touch it any more), checks the copy. */
static inline void xs_callback_sink_finish(struct xs_subrec *rec,
					   const struct xs_window *w)
{
	struct xs_subrec copy = *rec;
	memset(rec, 0x6b, sizeof *rec);
	free(rec);
	rt_add(&xs.rx_total, xs_check_record(&copy, w, "callback sink"));
}

/* The dead-letter hook of the tests where no delivery may be lost. */
static inline void xs_fail_dead_letter(void *ctx, trp_actor_t *to,
				       const trp_msg_t *msg,
				       trp_dead_reason_t why)
{
	(void)ctx;
	stress_fail("dead letter (type %u, size %zu, reason %d) for actor "
		    "%" PRIu64 ": a delivery after detach returned (behind "
		    "FIN), or a lost message",
		    msg->type, msg->size, (int)why, trp_actor_id(to));
}

/* -------------------------------------------------------- publishing -- */

/* True while the runtime holds too many unprocessed messages. */
static inline bool xs_backlogged(void)
{
	trp_stats_t s;
	RT_MUST("trp_runtime_stats", trp_runtime_stats(xs.rt, &s));
	return s.sent > s.processed + s.dead_lettered + XS_BACKLOG;
}

/* An outside publisher's backpressure: sleeps while xs_backlogged(),
 * counting each pause in *@throttled (NULL: not counted). */
static inline void xs_wait_backlog(_Atomic(uint64_t) *throttled)
{
	while (xs_backlogged()) {
		if (throttled != NULL)
			rt_add(throttled, 1);
		stress_sleep_ms(1);
	}
}

/*
 * Publishes seqs seq..seq+k-1 of publisher p: one trp_exchange_publish
 * (k == 1) or one trp_exchange_publish_n. A publish_n is one membership
 * snapshot, so the bracket is the whole call: started[p] is set to its
 * last seq before it, done[p] after it.
 */
static inline void xs_publish(uint32_t p, uint64_t seq, uint32_t k)
{
	struct rt_payload pl[XS_MAXBATCH];
	STRESS_CHECK(k >= 1 && k <= XS_MAXBATCH, "xs_publish of %u seqs", k);
	for (uint32_t i = 0; i < k; i++)
		pl[i] = (struct rt_payload){ p, 0, seq + i };
	uint64_t last = seq + k - 1;
	/* ORDER: acq_rel RMW: reads-from / is read by the window RMWs on
	 * started[p] (rt_exchange_churn.c, header). */
	atomic_exchange_explicit(&xs.started[p], last, memory_order_acq_rel);
	if (k == 1)
		RT_MUST("trp_exchange_publish",
			trp_exchange_publish(xs.ex, XS_MSG_DATA, pl,
					     sizeof pl[0]));
	else
		RT_MUST("trp_exchange_publish_n",
			trp_exchange_publish_n(xs.ex, XS_MSG_DATA, pl,
					       sizeof pl[0], k));
	/* ORDER: release: the publish happens-before a window's acquire
	 * load that reads last. */
	atomic_store_explicit(&xs.done[p], last, memory_order_release);
}

/* Publisher p has published all it will: main's wait may end. */
static inline void xs_publisher_finished(uint32_t p)
{
	/* ORDER: release: main's acquire load sees the publishes done. */
	atomic_store_explicit(&xs.finished[p], 1, memory_order_release);
}

/* ------------------------------------------------- subscription ids -- */

/* The ids one thread got, to check none is handed out twice. */
struct xs_ids {
	trp_sub_t *v;
	size_t n, cap;
};

static inline void xs_ids_add(struct xs_ids *s, trp_sub_t id)
{
	if (s->n == s->cap) {
		s->cap = s->cap != 0 ? 2 * s->cap : 4096;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		STRESS_CHECK(s->v != NULL, "out of memory (ids)");
	}
	s->v[s->n++] = id;
}

static inline int xs_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Fails if an id stands twice in the @n lists @lists[i]; frees them. */
static inline void xs_ids_check_unique(struct xs_ids *const *lists, uint32_t n)
{
	size_t nids = 0, k = 0;
	for (uint32_t i = 0; i < n; i++)
		nids += lists[i]->n;
	trp_sub_t *all = malloc((nids != 0 ? nids : 1) * sizeof *all);
	STRESS_CHECK(all != NULL, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		if (lists[i]->n != 0)
			memcpy(all + k, lists[i]->v, lists[i]->n * sizeof *all);
		k += lists[i]->n;
		free(lists[i]->v);
		*lists[i] = (struct xs_ids){ 0 };
	}
	qsort(all, nids, sizeof *all, xs_cmp_u64);
	for (size_t i = 1; i < nids; i++)
		STRESS_CHECK(all[i] != all[i - 1],
			     "subscription id %" PRIu64 " handed out twice",
			     all[i]);
	free(all);
}

/* ------------------------------------------------------ dump, totals -- */

/* Watchdog dump lines: each publisher's counters. */
static inline void xs_dump_publishers(void)
{
	for (uint32_t p = 0; p < XS_NPUB; p++)
		fprintf(stderr,
			"  publisher %u: started %" PRIu64 " done %" PRIu64
			" finished %u\n",
			p, rt_get(&xs.started[p]), rt_get(&xs.done[p]),
			atomic_load_explicit(&xs.finished[p],
					     memory_order_relaxed));
}

/* Watchdog dump line: the exchange's stats. */
static inline void xs_dump_exchange(void)
{
	trp_exchange_stats_t st;
	if (trp_exchange_stats(xs.ex, &st) == 0)
		fprintf(stderr,
			"  exchange: published %" PRIu64 " delivered %" PRIu64
			" full %" PRIu64 " dead %" PRIu64 " other %" PRIu64
			" subscribers %u\n",
			st.published, st.delivered, st.dropped_full,
			st.dropped_dead, st.dropped_other, st.subscribers);
}

/* At the end of a run where nothing may be lost: every publisher's n
 * seqs published, no delivery dropped, delivered == what the sinks
 * recorded (@rx), no subscriber left. */
static inline void xs_check_exchange_end(const trp_exchange_stats_t *st,
					 uint64_t rx)
{
	STRESS_CHECK(st->published == XS_NPUB * xs.n,
		     "exchange published %" PRIu64 ", expected %" PRIu64,
		     st->published, XS_NPUB * xs.n);
	STRESS_CHECK(st->dropped_full == 0 && st->dropped_dead == 0 &&
			     st->dropped_other == 0,
		     "deliveries dropped: full %" PRIu64 " dead %" PRIu64
		     " other %" PRIu64,
		     st->dropped_full, st->dropped_dead, st->dropped_other);
	STRESS_CHECK(st->delivered == rx,
		     "exchange delivered %" PRIu64
		     " but the sinks recorded %" PRIu64,
		     st->delivered, rx);
	STRESS_CHECK(st->subscribers == 0, "%u subscribers left",
		     st->subscribers);
}

#endif /* TRP_TESTS_EXCHANGE_STRESS_H */
