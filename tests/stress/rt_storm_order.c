/*
 * tests/stress/rt_storm_order.c - T2: the whole runtime under the storm and
 * fanin workloads (WORKLOADS.md), with every message checked.
 *
 * storm: K counters and two shared sinks registered as "say_hello" and
 * "say_hi"; each counter looks both up by name (trp_lookup) on its first
 * message. A counter receiving n > 0 sends n to both sinks and n-1 to
 * itself. Two outside threads (started on a barrier) send every counter N.
 * Every message carries (counter id, n): each counter checks that it gets
 * N, N-1, ..., 0 exactly once, in that order (its one start message, then
 * its own sends); each sink checks, per counter, that it gets N, N-1, ...,
 * 1 in order (FIFO per sender), and at the end count == K*N and sum ==
 * K*N*(N+1)/2 for each sink.
 *
 * fanin: 4 producer actors send 1..M to one consumer in chunks of 1000 (a
 * producer messages itself to continue). The consumer checks per producer
 * that values arrive as 1, 2, 3, ... (order, nothing lost or duplicated),
 * and at the end count == 4M and sum == 4*M*(M+1)/2. The producers outrun
 * the consumer, so they are muted and unmuted over and over (core/actor.h
 * "Backpressure": a lost unmute is a hang, caught by the watchdog). Each
 * workload runs with the default batch and with batch = 64 (short turns:
 * many more turn ends, reschedules and unmutes).
 *
 * After each phase (trp_runtime_wait_idle): trp_runtime_stats must show
 * sent == processed + dead_lettered, sent == the number of sends that
 * returned 0 here (counted per actor and per thread), processed == the
 * number of behaviour calls counted here, and no dead letter (hook and
 * counter). After trp_runtime_destroy: every stop hook ran exactly once
 * (TRP_STOP_SHUTDOWN) and still no dead letter.
 *
 * Sizes: K = 1000, N = 1000 × scale, M = 10^6 × scale; the four phases run
 * ROUNDS = 3 times (fresh runtimes, new interleavings).
 */
#include "rt_util.h"

#define K_COUNTERS 1000u
#define N_BASE 1000u
#define M_BASE 1000000u
#define CHUNK 1000u
#define NPRODUCERS 4u
#define NSTARTERS 2u
#define LIMIT_S 300.0
#define ROUNDS 3u

enum {
	MSG_N = 1,
	MSG_GO,
	MSG_CONT,
	MSG_VAL
};

/* ------------------------------------------------------------ common -- */

static struct stress_watchdog wd;
static _Atomic(uint64_t) g_dead;	 /* dead-letter hook calls */
static _Atomic(uint64_t) g_outside_sent; /* accepted sends of threads */

/* Stop hooks: each actor has a counter of its own; exactly one call. */
struct stops {
	_Atomic(uint32_t) calls;
	_Atomic(uint32_t) why;
};

static void note_stop(struct stops *s, trp_stop_reason_t why)
{
	/* relaxed: read after trp_runtime_destroy returned (joined). */
	atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
	atomic_store_explicit(&s->why, (uint32_t)why, memory_order_relaxed);
}

static void check_stops(const char *what, struct stops *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t c =
			atomic_load_explicit(&s[i].calls, memory_order_relaxed);
		uint32_t w =
			atomic_load_explicit(&s[i].why, memory_order_relaxed);
		STRESS_CHECK(c == 1, "%s %u: stop hook ran %u times", what, i,
			     c);
		STRESS_CHECK(w == TRP_STOP_SHUTDOWN,
			     "%s %u: stop reason %u, expected SHUTDOWN", what,
			     i, w);
	}
}

static trp_runtime_t *make_runtime(uint32_t batch)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.batch = batch;
	cfg.dead_letter = rt_count_dead_letter;
	cfg.dead_letter_ctx = &g_dead;
	trp_runtime_t *rt = NULL;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &rt));
	return rt;
}

/* Conservation against the runtime's own counters, at quiescence. */
static void check_conservation(const char *phase, trp_runtime_t *rt,
			       uint64_t accepted, uint64_t processed,
			       uint64_t expect)
{
	trp_stats_t s = rt_assert_balanced(rt, phase);
	rt_print_stats(phase, &s);
	STRESS_CHECK(s.sent == accepted,
		     "%s: stats sent %" PRIu64
		     " != sends accepted here %" PRIu64,
		     phase, s.sent, accepted);
	STRESS_CHECK(s.processed == processed,
		     "%s: stats processed %" PRIu64
		     " != behaviour calls counted here %" PRIu64,
		     phase, s.processed, processed);
	STRESS_CHECK(accepted == expect,
		     "%s: %" PRIu64
		     " sends accepted, the workload sends %" PRIu64,
		     phase, accepted, expect);
	STRESS_CHECK(s.dead_lettered == 0 && rt_get(&g_dead) == 0,
		     "%s: %" PRIu64 " dead letters (hook %" PRIu64
		     ") with every actor alive",
		     phase, s.dead_lettered, rt_get(&g_dead));
	STRESS_CHECK(s.rejected == 0, "%s: %" PRIu64 " rejected sends", phase,
		     s.rejected);
}

/* ------------------------------------------------------------- storm -- */

struct sink {
	uint32_t index;
	uint64_t *next_n;    /* per counter: the n expected next */
	uint64_t count, sum; /* behaviour-owned; read after destroy */
	_Atomic(uint64_t) calls;
	struct stops stop;
};

struct counter {
	uint32_t id;
	trp_runtime_t *rt;
	trp_actor_t *hello, *hi; /* looked up by name on the first message */
	uint64_t expect_n;	 /* the n expected next */
	bool done;
	_Atomic(uint64_t) accepted; /* sends that returned 0 */
	_Atomic(uint64_t) calls;
	struct stops stop;
};

static struct {
	uint32_t k;
	uint64_t n;
	trp_runtime_t *rt;
	struct sink sinks[2];
	struct counter *counters;
	trp_actor_t **handles;
	struct stress_barrier start;
} st;

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct sink *s = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_N, "sink %u: message type %u", s->index,
		     msg->type);
	STRESS_CHECK(p.sender < st.k, "sink %u: sender %u out of range",
		     s->index, p.sender);
	STRESS_CHECK(p.seq == s->next_n[p.sender] && p.seq > 0,
		     "sink %u: counter %u sent n=%" PRIu64
		     ", expected n=%" PRIu64 " (order or loss)",
		     s->index, p.sender, p.seq, s->next_n[p.sender]);
	s->next_n[p.sender]--;
	s->count++;
	s->sum += p.seq;
	stress_progress(&s->calls, 1);
}

static void sink_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	note_stop(&((struct sink *)state)->stop, why);
}

static void counter_send(struct counter *c, trp_actor_t *to, uint64_t n)
{
	int rc = rt_send(to, MSG_N, c->id, 0, n);
	if (rc != 0)
		stress_fail("counter %u: send of n=%" PRIu64 " returned %s",
			    c->id, n, trp_errname(rc));
	stress_progress(&c->accepted, 1);
}

static void counter_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	struct counter *c = state;
	struct rt_payload p = rt_payload_of(msg);
	stress_progress(&c->calls, 1);
	STRESS_CHECK(msg->type == MSG_N, "counter %u: message type %u", c->id,
		     msg->type);
	STRESS_CHECK(!c->done, "counter %u: message after n=0 (duplicate?)",
		     c->id);
	STRESS_CHECK(p.seq == c->expect_n,
		     "counter %u: got n=%" PRIu64 " from %u, expected %" PRIu64,
		     c->id, p.seq, p.sender, c->expect_n);
	/* The first message comes from a starter thread, the rest from
	 * itself. */
	STRESS_CHECK(p.seq == st.n ? p.sender >= st.k : p.sender == c->id,
		     "counter %u: n=%" PRIu64 " from sender %u", c->id, p.seq,
		     p.sender);
	if (c->hello == NULL) {
		RT_MUST("trp_lookup(say_hello)",
			trp_lookup(c->rt, "say_hello", &c->hello));
		RT_MUST("trp_lookup(say_hi)",
			trp_lookup(c->rt, "say_hi", &c->hi));
	}
	uint64_t n = p.seq;
	if (n == 0) {
		c->done = true;
		return;
	}
	c->expect_n = n - 1;
	counter_send(c, c->hello, n);
	counter_send(c, c->hi, n);
	counter_send(c, self, n - 1);
}

static void counter_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	struct counter *c = state;
	trp_actor_release(c->hello);
	trp_actor_release(c->hi);
	c->hello = c->hi = NULL;
	note_stop(&c->stop, why);
}

static void *starter_main(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;
	static const char *names[NSTARTERS] = { "starter0", "starter1" };
	stress_watchdog_thread(&wd, names[t]);
	stress_barrier_wait(&st.start);
	for (uint32_t i = t; i < st.k; i += NSTARTERS) {
		int rc = rt_send(st.handles[i], MSG_N, st.k + t, 0, st.n);
		rt_rc("trp_send(start)", rc, RT_OK);
		rt_add(&g_outside_sent, 1);
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

static uint64_t storm_behaviour_calls(void)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < 2; i++)
		n += rt_get(&st.sinks[i].calls);
	for (uint32_t i = 0; i < st.k; i++)
		n += rt_get(&st.counters[i].calls);
	return n;
}

static void storm_dump(void *arg)
{
	(void)arg;
	uint32_t undone = 0;
	for (uint32_t i = 0; i < st.k; i++)
		if (rt_get(&st.counters[i].calls) != st.n + 1)
			undone++;
	fprintf(stderr,
		"  storm: %u of %u counters not finished; sink calls "
		"%" PRIu64 " / %" PRIu64 " (expected %" PRIu64 " each)\n",
		undone, st.k, rt_get(&st.sinks[0].calls),
		rt_get(&st.sinks[1].calls), (uint64_t)st.k * st.n);
}

static void run_storm(const char *label, uint32_t batch)
{
	st.k = K_COUNTERS;
	st.n = stress_scaled(N_BASE, 2);
	uint64_t expect = (uint64_t)st.k * (3 * st.n + 1);
	printf("%s: K=%u N=%" PRIu64 " batch=%u messages=%" PRIu64 "\n", label,
	       st.k, st.n, batch, expect);
	st.rt = make_runtime(batch);
	memset(st.sinks, 0, sizeof st.sinks);
	atomic_store(&g_dead, 0);
	atomic_store(&g_outside_sent, 0);

	static const char *sink_names[2] = { "say_hello", "say_hi" };
	trp_actor_def_t sdef = { sink_behavior, NULL, sink_stop, 0, 0 };
	for (uint32_t i = 0; i < 2; i++) {
		struct sink *s = &st.sinks[i];
		s->index = i;
		s->next_n = malloc(st.k * sizeof *s->next_n);
		STRESS_CHECK(s->next_n != NULL, "out of memory");
		for (uint32_t c = 0; c < st.k; c++)
			s->next_n[c] = st.n;
		trp_actor_t *h = NULL;
		RT_MUST("trp_actor_spawn(sink)",
			trp_actor_spawn(st.rt, &sdef, s, &h));
		RT_MUST("trp_register", trp_register(st.rt, sink_names[i], h));
		trp_actor_release(h); /* the name and the runtime keep it */
	}
	st.counters = calloc(st.k, sizeof *st.counters);
	st.handles = calloc(st.k, sizeof *st.handles);
	STRESS_CHECK(st.counters != NULL && st.handles != NULL,
		     "out of memory");
	trp_actor_def_t cdef = { counter_behavior, NULL, counter_stop, 0, 0 };
	for (uint32_t i = 0; i < st.k; i++) {
		struct counter *c = &st.counters[i];
		c->id = i;
		c->rt = st.rt;
		c->expect_n = st.n;
		RT_MUST("trp_actor_spawn(counter)",
			trp_actor_spawn(st.rt, &cdef, c, &st.handles[i]));
	}

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = storm_dump;
	stress_watchdog_counter(&wd, "sink say_hello calls",
				&st.sinks[0].calls);
	stress_watchdog_counter(&wd, "sink say_hi calls", &st.sinks[1].calls);
	stress_watchdog_counter(&wd, "outside sends", &g_outside_sent);
	stress_watchdog_info(&wd, "dead letters", &g_dead);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	stress_barrier_init(&st.start, NSTARTERS + 1);
	pthread_t th[NSTARTERS];
	for (uint32_t t = 0; t < NSTARTERS; t++)
		th[t] = stress_thread_start(starter_main, (void *)(uintptr_t)t);
	stress_barrier_wait(&st.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t t = 0; t < NSTARTERS; t++)
		pthread_join(th[t], NULL);
	rt_wait_idle(st.rt);
	double secs = stress_seconds_since(t0);

	uint64_t accepted = rt_get(&g_outside_sent);
	for (uint32_t i = 0; i < st.k; i++)
		accepted += rt_get(&st.counters[i].accepted);
	check_conservation(label, st.rt, accepted, storm_behaviour_calls(),
			   expect);
	printf("  %s: %.2f s, %.1f M msg/s\n", label, secs,
	       (double)expect / secs / 1e6);

	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(st.rt));
	stress_watchdog_stop(&wd);
	/* Workers joined: every behaviour's writes are ours to read. */
	for (uint32_t i = 0; i < 2; i++) {
		struct sink *s = &st.sinks[i];
		uint64_t sum = (uint64_t)st.k * st.n * (st.n + 1) / 2;
		STRESS_CHECK(s->count == (uint64_t)st.k * st.n,
			     "sink %s: count %" PRIu64 ", expected %" PRIu64,
			     sink_names[i], s->count, (uint64_t)st.k * st.n);
		STRESS_CHECK(s->sum == sum,
			     "sink %s: sum %" PRIu64 ", expected %" PRIu64,
			     sink_names[i], s->sum, sum);
		for (uint32_t c = 0; c < st.k; c++)
			STRESS_CHECK(
				s->next_n[c] == 0,
				"sink %s: counter %u stopped at n=%" PRIu64,
				sink_names[i], c, s->next_n[c]);
		check_stops(sink_names[i], &s->stop, 1);
		free(s->next_n);
	}
	for (uint32_t i = 0; i < st.k; i++) {
		STRESS_CHECK(st.counters[i].done, "counter %u never got n=0",
			     i);
		check_stops("counter", &st.counters[i].stop, 1);
		trp_actor_release(st.handles[i]);
	}
	STRESS_CHECK(rt_get(&g_dead) == 0,
		     "%s: %" PRIu64 " dead letters at shutdown (all work "
		     "was done)",
		     label, rt_get(&g_dead));
	free(st.counters);
	free(st.handles);
}

/* ------------------------------------------------------------- fanin -- */

struct consumer {
	uint64_t next[NPRODUCERS]; /* value expected next, per producer */
	uint64_t count, sum;
	_Atomic(uint64_t) calls;
	struct stops stop;
};

struct producer {
	uint32_t id;
	trp_actor_t *consumer; /* handle owned by main */
	uint64_t v;	       /* next value to send */
	uint64_t m;
	uint64_t self_seq;    /* continuation messages sent to itself */
	uint64_t expect_self; /* continuation expected next */
	bool started;
	_Atomic(uint64_t) accepted;
	_Atomic(uint64_t) calls;
	struct stops stop;
};

static struct consumer fi_consumer;
static struct producer fi_producers[NPRODUCERS];

static void consumer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	(void)self;
	struct consumer *c = state;
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(msg->type == MSG_VAL && p.sender < NPRODUCERS,
		     "consumer: type %u sender %u", msg->type, p.sender);
	STRESS_CHECK(p.seq == c->next[p.sender],
		     "consumer: producer %u sent %" PRIu64 ", expected %" PRIu64
		     " (order or loss)",
		     p.sender, p.seq, c->next[p.sender]);
	c->next[p.sender]++;
	c->count++;
	c->sum += p.seq;
	stress_progress(&c->calls, 1);
}

static void consumer_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	note_stop(&((struct consumer *)state)->stop, why);
}

static void producer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct producer *p = state;
	struct rt_payload pl = rt_payload_of(msg);
	stress_progress(&p->calls, 1);
	if (msg->type == MSG_GO) {
		STRESS_CHECK(!p->started, "producer %u: second GO", p->id);
		p->started = true;
	} else {
		STRESS_CHECK(
			msg->type == MSG_CONT && p->started &&
				pl.sender == p->id && pl.seq == p->expect_self,
			"producer %u: type %u from %u seq %" PRIu64
			" (expected CONT %" PRIu64 ")",
			p->id, msg->type, pl.sender, pl.seq, p->expect_self);
		p->expect_self++;
	}
	for (uint32_t i = 0; i < CHUNK && p->v <= p->m; i++, p->v++) {
		int rc = rt_send(p->consumer, MSG_VAL, p->id, 0, p->v);
		if (rc != 0)
			stress_fail("producer %u: send of %" PRIu64
				    " returned %s",
				    p->id, p->v, trp_errname(rc));
		stress_progress(&p->accepted, 1);
	}
	if (p->v <= p->m) {
		int rc = rt_send(self, MSG_CONT, p->id, 0, p->self_seq++);
		if (rc != 0)
			stress_fail("producer %u: continuation returned %s",
				    p->id, trp_errname(rc));
		stress_progress(&p->accepted, 1);
	}
}

static void producer_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	note_stop(&((struct producer *)state)->stop, why);
}

static void fanin_dump(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		fprintf(stderr,
			"  producer %u: calls %" PRIu64 " accepted %" PRIu64
			"\n",
			i, rt_get(&fi_producers[i].calls),
			rt_get(&fi_producers[i].accepted));
	fprintf(stderr, "  consumer: calls %" PRIu64 "\n",
		rt_get(&fi_consumer.calls));
}

static void run_fanin(const char *label, uint32_t batch, uint64_t m)
{
	uint64_t chunks = (m + CHUNK - 1) / CHUNK;
	/* per producer: m values, chunks - 1 continuations, 1 GO */
	uint64_t expect = NPRODUCERS * (m + chunks);
	printf("%s: producers=%u M=%" PRIu64 " batch=%u messages=%" PRIu64 "\n",
	       label, NPRODUCERS, m, batch, expect);
	trp_runtime_t *rt = make_runtime(batch);
	atomic_store(&g_dead, 0);
	atomic_store(&g_outside_sent, 0);
	memset(&fi_consumer, 0, sizeof fi_consumer);
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		fi_consumer.next[i] = 1;
	trp_actor_t *consumer = NULL;
	trp_actor_def_t cdef = { consumer_behavior, NULL, consumer_stop, 0, 0 };
	RT_MUST("trp_actor_spawn(consumer)",
		trp_actor_spawn(rt, &cdef, &fi_consumer, &consumer));
	trp_actor_t *prods[NPRODUCERS];
	trp_actor_def_t pdef = { producer_behavior, NULL, producer_stop, 0, 0 };
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &fi_producers[i];
		memset(p, 0, sizeof *p);
		p->id = i;
		p->consumer = consumer;
		p->v = 1;
		p->m = m;
		RT_MUST("trp_actor_spawn(producer)",
			trp_actor_spawn(rt, &pdef, p, &prods[i]));
	}

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = fanin_dump;
	stress_watchdog_counter(&wd, "consumer calls", &fi_consumer.calls);
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		stress_watchdog_counter(&wd, "producer calls",
					&fi_producers[i].calls);
	stress_watchdog_info(&wd, "dead letters", &g_dead);
	stress_watchdog_thread(&wd, "main");
	stress_watchdog_start(&wd);

	uint64_t t0 = stress_now_ns();
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		RT_MUST("trp_send(GO)", rt_send(prods[i], MSG_GO, 99, 0, 0));
		rt_add(&g_outside_sent, 1);
	}
	rt_wait_idle(rt);
	double secs = stress_seconds_since(t0);

	uint64_t accepted = rt_get(&g_outside_sent);
	uint64_t calls = rt_get(&fi_consumer.calls);
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		accepted += rt_get(&fi_producers[i].accepted);
		calls += rt_get(&fi_producers[i].calls);
	}
	check_conservation(label, rt, accepted, calls, expect);
	printf("  %s: %.2f s, %.1f M msg/s\n", label, secs,
	       (double)expect / secs / 1e6);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(rt));
	stress_watchdog_stop(&wd);

	uint64_t sum = NPRODUCERS * (m * (m + 1) / 2);
	STRESS_CHECK(fi_consumer.count == NPRODUCERS * m,
		     "%s: consumer count %" PRIu64 ", expected %" PRIu64, label,
		     fi_consumer.count, NPRODUCERS * m);
	STRESS_CHECK(fi_consumer.sum == sum,
		     "%s: consumer sum %" PRIu64 ", expected %" PRIu64, label,
		     fi_consumer.sum, sum);
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		STRESS_CHECK(fi_consumer.next[i] == m + 1,
			     "%s: producer %u: last value %" PRIu64, label, i,
			     fi_consumer.next[i] - 1);
		check_stops("producer", &fi_producers[i].stop, 1);
		trp_actor_release(prods[i]);
	}
	check_stops("consumer", &fi_consumer.stop, 1);
	trp_actor_release(consumer);
	STRESS_CHECK(rt_get(&g_dead) == 0,
		     "%s: %" PRIu64 " dead letters at shutdown", label,
		     rt_get(&g_dead));
}

int main(void)
{
	stress_init("rt_storm_order");
	uint64_t t0 = stress_now_ns();
	uint64_t m = stress_scaled(M_BASE, 2000);
	/* Each shape a few times: every run is a different interleaving,
	 * and one costs well under a second. */
	for (uint32_t r = 0; r < ROUNDS; r++) {
		run_storm("storm", 0);
		run_storm("storm_batch64", 64);
		run_fanin("fanin", 0, m);
		run_fanin("fanin_batch64", 64, m / 4);
	}
	printf("rt_storm_order: OK %u rounds of storm K=%u N=%" PRIu64
	       " (+ batch 64) and fanin M=%" PRIu64
	       " (+ batch 64, M/4): every message in order, counts and sums "
	       "exact, sent == processed + dead_lettered; %.1f s\n",
	       ROUNDS, st.k, st.n, m, stress_seconds_since(t0));
	return 0;
}
