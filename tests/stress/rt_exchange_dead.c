/*
 * tests/stress/rt_exchange_dead.c - exchange subscribers that stop while
 * publishers publish and the subscriber set churns: auto-detach.
 *
 * NPUB publishers (NPUB_THR outside threads and NPUB_ACT publisher actors)
 * publish (source p, seq 1..N) to one named exchange. NCHURN churn threads
 * each keep up to MAXLIVE *mortal* actor sinks attached: a mortal actor
 * stops itself (trp_actor_stop) after a random number of messages, or is
 * closed by its churn thread (trp_actor_close: it is stopping while it
 * drains), or is detached explicitly by the churn thread while it may be
 * stopping (racing the auto-detach). The churn threads also attach and
 * detach callback sinks (context freed at once after detach: asan catches
 * a late touch), so copies made by attach/detach (which prune stopped
 * sinks too) race the publishers' own removals. Two anchors (an actor and
 * a callback) stay attached for the whole run.
 *
 * Checks:
 *   - every sink sees, per source, strictly rising seqs without gaps while
 *     it lives (deliveries to a live actor are never refused: unbounded
 *     mailboxes), and nothing published before its attach was called;
 *   - auto-detach: once a mortal actor has stopped (trp_actor_alive false),
 *     the churn thread publishes a probe itself (source NPUB + churn
 *     index); when that publish returns the sink is gone: detach of its id
 *     returns TRP_ENOENT (also after an explicit detach returned 0 or
 *     TRP_ENOENT);
 *   - a dead sink is not counted dropped_dead forever: each publishing
 *     thread or actor finds a given dead sink at most once (the publish
 *     that finds it removes it before returning, or finds it removed), so
 *     dropped_dead <= mortal sinks x publishing parties;
 *   - nothing lost: the exchange's delivered == what the sinks recorded +
 *     exchange messages dead-lettered (accepted by a mortal actor, then
 *     drained when it stopped); no delivery refused as full or other;
 *   - the anchors got every publish of every source; after the final probe
 *     only the anchors are subscribers, and 0 after their detach;
 *   - ids unique; no leaks (asan/lsan: the exchange dropped its reference
 *     to every actor it detached).
 *
 * Sizes: N = 1 M x scale per publisher (at least 2000). No timing is
 * asserted; the number of deaths and the rates are printed.
 */
#define NPUB_THR 2u
#define NPUB_ACT 1u
#define NPUB (NPUB_THR + NPUB_ACT)
#define NCHURN 2u
#define NSRC (NPUB + NCHURN) /* publishers + the churn threads' probes */
/* xs.done[] counts per source; this test records without windows or
 * gaps (its own struct srec) and leaves xs.started unused. */
#define XS_NPUB NSRC
#include "exchange_stress.h"

#define PARTIES (NPUB + NCHURN)
#define MAXLIVE 8u /* mortal sinks one churn thread holds at most */
#define MAXCB 3u   /* callback sinks one churn thread holds at most */
#define TTL_MAX 300u
#define N_BASE 1000000u
#define N_MIN 2000u
#define CHUNK 64u
#define LIMIT_S 300.0

enum {
	MSG_DATA = 1,
	MSG_GO = 2
};

/* What a sink got from one source. */
struct track {
	uint64_t first, last, count;
};

/* A sink's record. Mortal actors: written by the actor's turns only, read
 * by its churn thread after `stopped` (acquire). Callbacks: written by
 * the publishers, each in its own track, read after detach returned. */
struct srec {
	struct track t[NSRC];
	uint64_t pre[NSRC];	   /* done[p] just before attach was called */
	uint32_t ttl;		   /* mortal: stop after this many messages */
	uint64_t got;		   /* mortal: messages so far */
	_Atomic(uint32_t) stopped; /* mortal: stop hook ran */
};

enum fate {
	F_TTL,	  /* stops itself after ttl messages */
	F_CLOSE,  /* closed by its churn thread */
	F_DETACH, /* detached explicitly and closed, in either order */
};

struct mortal {
	trp_actor_t *actor;
	struct srec *rec;
	trp_sub_t sub;
	enum fate fate;
	bool acted; /* close / detach done */
};

struct cbsink {
	struct srec *rec;
	trp_sub_t sub;
};

struct churner {
	uint32_t idx;
	uint64_t rng;
	uint64_t probe_seq;
	struct mortal m[MAXLIVE];
	uint32_t nm;
	struct cbsink cb[MAXCB];
	uint32_t ncb;
	struct xs_ids ids;
	_Atomic(uint64_t) ops;	  /* progress: attaches, detaches, probes */
	_Atomic(uint64_t) deaths; /* progress: mortal sinks finished */
	uint64_t by_fate[3];
	uint64_t explicit_ok;	  /* explicit detach returned 0 */
	uint64_t explicit_enoent; /* ... or found it auto-detached */
};

/* The exchange, xs.done (last seq published, per source), xs.finished
 * and xs.rx_total (deliveries recorded) are in xs (exchange_stress.h). */
static struct {
	_Atomic(uint32_t) stop_churn;
	struct churner ch[NCHURN];
	struct stress_barrier start;
	_Atomic(uint64_t) dead_letters; /* exchange messages dead-lettered */
	_Atomic(uint64_t) mortals;	/* mortal sinks attached */
	_Atomic(uint64_t) throttled;	/* info */
	trp_actor_t *pub_actors[NPUB_ACT];
} g;

static struct stress_watchdog wd;

/* --------------------------------------------------------- recording -- */

static void record(struct srec *r, const trp_msg_t *msg, const char *what)
{
	STRESS_CHECK(msg->type == MSG_DATA, "%s: message type %u", what,
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NSRC, "%s: source %u", what, p.sender);
	struct track *t = &r->t[p.sender];
	STRESS_CHECK(p.seq > r->pre[p.sender],
		     "%s: source %u seq %" PRIu64
		     " was published before attach was called (done %" PRIu64
		     " then)",
		     what, p.sender, p.seq, r->pre[p.sender]);
	if (t->count == 0)
		t->first = p.seq;
	else
		STRESS_CHECK(p.seq == t->last + 1,
			     "%s: source %u seq %" PRIu64 " after %" PRIu64
			     " (%s)",
			     what, p.sender, p.seq, t->last,
			     p.seq <= t->last ? "duplicate or reordered" :
						"lost while alive");
	t->last = p.seq;
	t->count++;
}

static void mortal_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct srec *r = *(struct srec **)state;
	record(r, msg, "mortal sink");
	rt_add(&xs.rx_total, 1);
	if (++r->got == r->ttl)
		RT_MUST("trp_actor_stop", trp_actor_stop(self));
}

static void mortal_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct srec *r = *(struct srec **)state;
	(void)self;
	(void)why;
	/* ORDER: release: the record is complete; the churn thread's
	 * acquire load reads it after this. */
	atomic_store_explicit(&r->stopped, 1, memory_order_release);
}

static void callback_sink(void *ctx, const trp_msg_t *msg)
{
	record(ctx, msg, "callback sink");
	rt_add(&xs.rx_total, 1);
}

static void on_dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			   trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)why;
	/* mortal actors that stop leave what they had queued */
	if (msg->type == MSG_DATA)
		rt_add(&g.dead_letters, 1);
}

static void pre_fill(struct srec *r)
{
	for (uint32_t p = 0; p < NSRC; p++)
		/* ORDER: acquire pairs with publish_one's release store:
		 * every publish <= pre completed before attach is called. */
		r->pre[p] =
			atomic_load_explicit(&xs.done[p], memory_order_acquire);
}

/* ------------------------------------------------------ publishers -- */

static void publish_one(uint32_t src, uint64_t seq)
{
	struct rt_payload pl = { src, 0, seq };
	RT_MUST("trp_exchange_publish",
		trp_exchange_publish(xs.ex, MSG_DATA, &pl, sizeof pl));
	/* ORDER: release: see pre_fill. */
	atomic_store_explicit(&xs.done[src], seq, memory_order_release);
}

static void *publisher_thread(void *arg)
{
	uint32_t p = (uint32_t)(uintptr_t)arg;
	static const char *const names[] = { "publisher-0", "publisher-1" };
	stress_watchdog_thread(&wd, names[p]);
	stress_barrier_wait(&g.start);
	for (uint64_t seq = 1; seq <= xs.n; seq++) {
		publish_one(p, seq);
		if ((seq & 255) == 0)
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
	STRESS_CHECK(msg->type == MSG_GO, "publisher actor: type %u",
		     msg->type);
	if (!xs_backlogged()) {
		for (uint32_t i = 0; i < CHUNK && pa->next <= xs.n; i++)
			publish_one(pa->p, pa->next++);
	} else {
		rt_add(&g.throttled, 1);
	}
	if (pa->next <= xs.n) {
		RT_MUST("trp_send GO", trp_send(self, MSG_GO, NULL, 0));
		return;
	}
	xs_publisher_finished(pa->p);
}

/* ---------------------------------------------------------- churn -- */

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The churn thread's own publish: a probe (source NPUB + idx). */
static void probe(struct churner *c)
{
	publish_one(NPUB + c->idx, ++c->probe_seq);
}

static struct srec *new_rec(void)
{
	struct srec *r = calloc(1, sizeof *r);
	STRESS_CHECK(r != NULL, "out of memory");
	return r;
}

static void mortal_attach(struct churner *c, struct mortal *m)
{
	memset(m, 0, sizeof *m);
	m->rec = new_rec();
	uint64_t f = stress_rand_below(&c->rng, 8);
	m->fate = f < 5 ? F_TTL : f < 7 ? F_CLOSE : F_DETACH;
	c->by_fate[m->fate]++;
	/* a closed or detached one may also reach its ttl first */
	m->rec->ttl = 1 + (uint32_t)stress_rand_below(&c->rng, TTL_MAX);
	trp_actor_def_t def = { mortal_behavior, NULL, mortal_stop,
				sizeof m->rec, TRP_MAILBOX_UNBOUNDED };
	RT_MUST("trp_actor_spawn",
		trp_actor_spawn(xs.rt, &def, &m->rec, &m->actor));
	pre_fill(m->rec);
	RT_MUST("trp_exchange_attach",
		trp_exchange_attach(xs.ex, trp_sink_actor(m->actor), &m->sub));
	xs_ids_add(&c->ids, m->sub);
	rt_add(&g.mortals, 1);
}

/* Closes or detaches @m if its fate says so (once). */
static void mortal_act(struct churner *c, struct mortal *m)
{
	if (m->acted || m->fate == F_TTL)
		return;
	m->acted = true;
	/* half of the explicit detaches come right after the close: the
	 * publishers are finding it stopping at the same time */
	bool close_first = stress_rand_below(&c->rng, 2) == 0;
	if (close_first)
		rt_rc("trp_actor_close", trp_actor_close(m->actor),
		      RT_OK | RT_E(TRP_EDEAD));
	if (m->fate == F_DETACH) {
		int rc = rt_rc("trp_exchange_detach (explicit)",
			       trp_exchange_detach(xs.ex, m->sub),
			       RT_OK | RT_E(TRP_ENOENT));
		if (rc == 0)
			c->explicit_ok++;
		else
			c->explicit_enoent++;
		rt_rc("trp_exchange_detach (explicit, again)",
		      trp_exchange_detach(xs.ex, m->sub), RT_E(TRP_ENOENT));
	}
	/* TRP_EDEAD: it reached its ttl first */
	if (!close_first)
		rt_rc("trp_actor_close", trp_actor_close(m->actor),
		      RT_OK | RT_E(TRP_EDEAD));
}

/* True (and @m finished) once @m has stopped and its sink is gone. */
static bool mortal_reap(struct churner *c, struct mortal *m)
{
	/* ORDER: acquire pairs with mortal_stop's release store. */
	if (atomic_load_explicit(&m->rec->stopped, memory_order_acquire) == 0 ||
	    trp_actor_alive(m->actor))
		return false;
	/* Stopped: a publish that begins now sees it stopped, and has
	 * removed it (or found it removed) when it returns. */
	probe(c);
	rt_rc("trp_exchange_detach (after it stopped)",
	      trp_exchange_detach(xs.ex, m->sub), RT_E(TRP_ENOENT));
	trp_actor_release(m->actor);
	free(m->rec);
	m->actor = NULL;
	m->rec = NULL;
	stress_progress(&c->deaths, 1);
	return true;
}

static void callback_attach(struct churner *c, struct cbsink *s)
{
	s->rec = new_rec();
	pre_fill(s->rec);
	RT_MUST("trp_exchange_attach (callback)",
		trp_exchange_attach(xs.ex,
				    trp_sink_callback(callback_sink, s->rec),
				    &s->sub));
	xs_ids_add(&c->ids, s->sub);
}

static void callback_detach(struct cbsink *s)
{
	RT_MUST("trp_exchange_detach (callback)",
		trp_exchange_detach(xs.ex, s->sub));
	/* Freed at once: the exchange must not touch it any more. */
	memset(s->rec, 0x6b, sizeof *s->rec);
	free(s->rec);
	s->rec = NULL;
}

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	static const char *const names[] = { "churn-0", "churn-1" };
	stress_watchdog_thread(&wd, names[c->idx]);
	stress_barrier_wait(&g.start);
	/* relaxed: a stop request; what the churners did is published by
	 * the join. */
	while (atomic_load_explicit(&g.stop_churn, memory_order_relaxed) == 0) {
		uint64_t r = stress_rand_below(&c->rng, 16);
		if (r == 0 && c->ncb < MAXCB) {
			callback_attach(c, &c->cb[c->ncb++]);
		} else if (r == 1 && c->ncb > 0) {
			uint32_t i =
				(uint32_t)stress_rand_below(&c->rng, c->ncb);
			callback_detach(&c->cb[i]);
			c->cb[i] = c->cb[--c->ncb];
		} else if (c->nm < MAXLIVE) {
			mortal_attach(c, &c->m[c->nm++]);
		} else {
			/* all held: finish the stopped ones, maybe close or
			 * detach one, else wait a little */
			uint32_t reaped = 0;
			for (uint32_t i = 0; i < c->nm;) {
				if (mortal_reap(c, &c->m[i])) {
					c->m[i] = c->m[--c->nm];
					reaped++;
				} else {
					i++;
				}
			}
			if (c->nm > 0 && stress_rand_below(&c->rng, 4) == 0)
				mortal_act(c, &c->m[stress_rand_below(&c->rng,
								      c->nm)]);
			else if (reaped == 0)
				nap_us(200);
		}
		stress_progress(&c->ops, 1);
	}
	/* Wind down: every mortal sink is stopped and checked. */
	for (uint32_t i = 0; i < c->nm; i++) {
		if (c->m[i].fate == F_TTL)
			c->m[i].fate = F_CLOSE;
		mortal_act(c, &c->m[i]);
	}
	while (c->nm > 0) {
		if (mortal_reap(c, &c->m[c->nm - 1]))
			c->nm--;
		else
			stress_sleep_ms(1);
	}
	while (c->ncb > 0)
		callback_detach(&c->cb[--c->ncb]);
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* ----------------------------------------------------------- main -- */

static void anchor_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	(void)self;
	record(state, msg, "anchor actor");
	rt_add(&xs.rx_total, 1);
}

static void dump(void *arg)
{
	(void)arg;
	for (uint32_t p = 0; p < NSRC; p++)
		fprintf(stderr, "  source %u: done %" PRIu64 "\n", p,
			rt_get(&xs.done[p]));
	for (uint32_t i = 0; i < NCHURN; i++)
		fprintf(stderr,
			"  churn %u: ops %" PRIu64 " deaths %" PRIu64
			" mortal %u callbacks %u\n",
			i, rt_get(&g.ch[i].ops), rt_get(&g.ch[i].deaths),
			g.ch[i].nm, g.ch[i].ncb);
	xs_dump_exchange();
}

static void check_anchor(const struct srec *r, uint64_t probes[NCHURN],
			 const char *what)
{
	for (uint32_t p = 0; p < NSRC; p++) {
		uint64_t want = p < NPUB ? xs.n : probes[p - NPUB];
		STRESS_CHECK(r->t[p].count == want &&
				     (want == 0 || (r->t[p].first == 1 &&
						    r->t[p].last == want)),
			     "%s: source %u: got %" PRIu64 " (%" PRIu64
			     "..%" PRIu64 "), expected 1..%" PRIu64,
			     what, p, r->t[p].count, r->t[p].first,
			     r->t[p].last, want);
	}
}

int main(void)
{
	uint64_t seed = stress_init("rt_exchange_dead");
	xs.n = stress_scaled(N_BASE, N_MIN);
	printf("  %u publishers (%u threads, %u actors) x %" PRIu64
	       " publishes, %u churn threads x %u mortal sinks, %s\n",
	       NPUB, NPUB_THR, NPUB_ACT, xs.n, NCHURN, MAXLIVE,
	       RT_SANITIZED ? "sanitized" : "not sanitized");
	fflush(stdout);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = on_dead_letter;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &xs.rt));
	RT_MUST("trp_exchange_get", trp_exchange_get(xs.rt, "dead", &xs.ex));

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	for (uint32_t p = 0; p < NSRC; p++)
		stress_watchdog_counter(&wd, "published", &xs.done[p]);
	for (uint32_t i = 0; i < NCHURN; i++) {
		stress_watchdog_counter(&wd, "churn ops", &g.ch[i].ops);
		stress_watchdog_counter(&wd, "deaths", &g.ch[i].deaths);
	}
	stress_watchdog_info(&wd, "throttled", &g.throttled);

	/* anchors: attached before anything is published */
	struct srec *anchor_rec = new_rec(), *anchor_cb = new_rec();
	trp_actor_t *anchor = NULL;
	trp_actor_def_t adef = { anchor_behavior, NULL, NULL, 0,
				 TRP_MAILBOX_UNBOUNDED };
	RT_MUST("trp_actor_spawn (anchor)",
		trp_actor_spawn(xs.rt, &adef, anchor_rec, &anchor));
	trp_sub_t anchor_subs[2];
	struct xs_ids anchor_ids = { 0 };
	RT_MUST("trp_exchange_attach (anchor)",
		trp_exchange_attach(xs.ex, trp_sink_actor(anchor),
				    &anchor_subs[0]));
	RT_MUST("trp_exchange_attach (anchor callback)",
		trp_exchange_attach(xs.ex,
				    trp_sink_callback(callback_sink, anchor_cb),
				    &anchor_subs[1]));

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
		.go_type = MSG_GO,
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
	rt_wait_idle(xs.rt);
	stress_watchdog_stop(&wd);

	/* ------------------------------------------------ final checks -- */
	trp_exchange_stats_t st;
	RT_MUST("trp_exchange_stats", trp_exchange_stats(xs.ex, &st));
	uint64_t probes[NCHURN], nprobes = 0, deaths = 0, fates[3] = { 0 },
				 ex_ok = 0, ex_enoent = 0;
	for (uint32_t i = 0; i < NCHURN; i++) {
		probes[i] = g.ch[i].probe_seq;
		nprobes += probes[i];
		deaths += rt_get(&g.ch[i].deaths);
		ex_ok += g.ch[i].explicit_ok;
		ex_enoent += g.ch[i].explicit_enoent;
		for (int k = 0; k < 3; k++)
			fates[k] += g.ch[i].by_fate[k];
	}
	uint64_t mortals = rt_get(&g.mortals), rx = rt_get(&xs.rx_total),
		 dl = rt_get(&g.dead_letters);
	printf("  %.2f s publishing; %" PRIu64 " mortal sinks (%" PRIu64
	       " ttl, %" PRIu64 " closed, %" PRIu64 " detached: %" PRIu64
	       " ok, %" PRIu64 " found auto-detached), "
	       "%" PRIu64 " probes; %.0f deaths/s\n",
	       pub_s, mortals, fates[F_TTL], fates[F_CLOSE], fates[F_DETACH],
	       ex_ok, ex_enoent, nprobes, (double)deaths / pub_s);
	printf("  exchange: published %" PRIu64 " delivered %" PRIu64
	       " (recorded %" PRIu64 " + dead-lettered %" PRIu64
	       ") full %" PRIu64 " dead %" PRIu64 " other %" PRIu64
	       " subscribers %u; throttled %" PRIu64 "\n",
	       st.published, st.delivered, rx, dl, st.dropped_full,
	       st.dropped_dead, st.dropped_other, st.subscribers,
	       rt_get(&g.throttled));
	STRESS_CHECK(deaths == mortals,
		     "%" PRIu64 " mortal sinks attached, %" PRIu64 " finished",
		     mortals, deaths);
	STRESS_CHECK(st.published == NPUB * xs.n + nprobes,
		     "exchange published %" PRIu64 ", expected %" PRIu64,
		     st.published, NPUB * xs.n + nprobes);
	STRESS_CHECK(st.dropped_full == 0 && st.dropped_other == 0,
		     "deliveries dropped: full %" PRIu64 " other %" PRIu64,
		     st.dropped_full, st.dropped_other);
	STRESS_CHECK(st.delivered == rx + dl,
		     "exchange delivered %" PRIu64
		     " but the sinks recorded %" PRIu64 " and %" PRIu64
		     " were dead-lettered",
		     st.delivered, rx, dl);
	STRESS_CHECK(st.dropped_dead <= mortals * PARTIES,
		     "dropped_dead %" PRIu64 " > %" PRIu64
		     " mortal sinks x %u publishing parties: a dead sink "
		     "stayed attached",
		     st.dropped_dead, mortals, PARTIES);
	STRESS_CHECK(st.subscribers == 2, "%u subscribers, expected 2 anchors",
		     st.subscribers);
	for (int i = 0; i < 2; i++)
		RT_MUST("trp_exchange_detach (anchor)",
			trp_exchange_detach(xs.ex, anchor_subs[i]));
	RT_MUST("trp_exchange_stats", trp_exchange_stats(xs.ex, &st));
	STRESS_CHECK(st.subscribers == 0, "%u subscribers left",
		     st.subscribers);
	rt_wait_idle(xs.rt);
	check_anchor(anchor_cb, probes, "anchor callback");
	/* the anchor actor's records are read after quiescence */
	check_anchor(anchor_rec, probes, "anchor actor");
	STRESS_CHECK(mortals >= 20, "only %" PRIu64 " mortal sinks", mortals);

	/* subscription ids: never reused */
	struct xs_ids *lists[NCHURN + 1] = { &anchor_ids };
	xs_ids_add(&anchor_ids, anchor_subs[0]);
	xs_ids_add(&anchor_ids, anchor_subs[1]);
	for (uint32_t i = 0; i < NCHURN; i++)
		lists[i + 1] = &g.ch[i].ids;
	xs_ids_check_unique(lists, NCHURN + 1);

	for (uint32_t i = 0; i < NPUB_ACT; i++)
		trp_actor_release(g.pub_actors[i]);
	trp_actor_release(anchor);
	trp_exchange_release(xs.ex);
	(void)rt_assert_balanced(xs.rt, "end");
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(xs.rt));
	free(anchor_rec);
	free(anchor_cb);
	printf("  peak rss %ld KiB\nOK rt_exchange_dead\n", rt_rss_kb());
	return 0;
}
