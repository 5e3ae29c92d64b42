/*
 * tests/stress/port_storm.c - a port (troupe/port.h) under four producers,
 * drained by a loop thread that sleeps in edge-triggered epoll.
 *
 * Producers: two outside threads and two event actors (NPRODUCERS = 4)
 * send M / 4 messages each to one port, every message carrying (producer,
 * sequence). They send in bursts of random length with random pauses
 * (threads: nothing, a spin, a yield or a sleep of up to 100 us; actors:
 * a chunk per turn, now and then the next chunk delayed by a timer), so the port
 * goes idle and busy over and over, and the actors are muted when the
 * port falls behind and unmuted by the loop's drains.
 *
 * The loop (the main thread) registers the port's fd with EPOLLIN |
 * EPOLLET and calls trp_port_drain() exactly once per readiness, with a
 * random budget (1, up to 8, up to 256 or up to 4096), sometimes after
 * letting mail pile up, and sometimes drains with no readiness at all.
 * Edge-triggered with one drain per event is enough only if the port
 * re-signals at its budget: this is the level-triggered behaviour under
 * EPOLLET that troupe/port.h promises.
 *
 * Checked:
 * - every message exactly once, per-producer order: the handler expects
 *   sequence 0, 1, 2, ... from each producer (a gap is a loss or a
 *   reordering, a repeat a duplicate), and at the end each producer's
 *   count is what it sent;
 * - no lost wake-up, as a bounded wait: before each epoll_wait the loop
 *   reads how many sends have returned (acquire; each producer publishes
 *   its count with release after trp_send returned), then how many have
 *   begun. If a returned send is not handled yet and no send is in
 *   progress, the port's protocol says the fd has a write pending after
 *   the last drain's read (the push that cleared the idle tag for that
 *   message has returned, so it wrote), and epoll_wait must return at
 *   once; if it times out instead (WAIT_MS), the test fails with a
 *   diagnosis (what is outstanding, whether the fd is readable, whether a
 *   drain finds mail). A send in progress may be that push, preempted
 *   before its write: then the wait proves nothing and the loop waits on
 *   (a lost wake-up still shows once the producers pause, finish or are
 *   muted). No timing judgement: a correct port never lets a settled wait
 *   time out;
 * - after the last message, one drain finds the port idle and leaves the
 *   fd unreadable; trp_port_close() wakes the loop (a readiness) and the
 *   drain after it returns TRP_ECLOSED;
 * - the delivery identity at quiescence (rt_assert_balanced), no dead
 *   letter.
 *
 * Sizes: M = 10^7 x TRP_STRESS_SCALE messages (asan/tsan presets: 10^6).
 */
#include "rt_util.h"

#include <poll.h>
#include <stdalign.h>
#include <sys/epoll.h>

#define NPRODUCERS 4u /* 0, 1: outside threads; 2, 3: event actors */
#define NTHREADS 2u
#define M_BASE 10000000u
#define LIMIT_S 600.0
#define WAIT_MS 200 /* one epoll_wait; see "no lost wake-up" */
#define CHUNK_MAX 256u

enum {
	MSG_ITEM = 1,
	MSG_GO,
	MSG_CONT,
};

struct producer {
	/* sends that returned 0; written by the producer only (store
	 * release), read by the loop (acquire) and the watchdog */
	alignas(64) _Atomic(uint64_t) sent;
	/* sends begun (sent + 1 while one is in progress); the same */
	_Atomic(uint64_t) entered;
	uint64_t total; /* to send */
	uint64_t rng;	/* the producer's own */
	uint32_t id;
	trp_actor_t *self; /* actors: their handle */
};

static struct stress_watchdog wd;
static _Atomic(uint64_t) g_dead;

static struct {
	trp_runtime_t *rt;
	trp_actor_t *port;
	int fd;
	uint64_t total;
	struct producer prod[NPRODUCERS];
	struct stress_barrier start;
	/* the loop's (the handler runs on it) */
	uint64_t expect[NPRODUCERS];
	alignas(64) _Atomic(uint64_t) handled; /* one writer: the loop */
	_Atomic(uint64_t) events;	       /* epoll readiness */
	_Atomic(uint64_t) drains;	       /* after a readiness */
	_Atomic(uint64_t) budget_stops;	       /* drains that used it all */
	_Atomic(uint64_t) spurious;	       /* drains without readiness */
	_Atomic(uint64_t) empty;	       /* drains that found nothing */
	_Atomic(uint64_t) emptied; /* drains that ended below their budget */
	/* waits that timed out with mail outstanding, a send in progress */
	_Atomic(uint64_t) unsettled;
} g;

static uint64_t sent_of(struct producer *p)
{
	/* ORDER: acquire pairs with the producer's release store: the
	 * counted sends (their pushes and wake-ups) happened before. */
	return atomic_load_explicit(&p->sent, memory_order_acquire);
}

static void count_entered(struct producer *p, uint64_t n)
{
	/* ORDER: release, before the send's push; read after sent_of's
	 * acquire by the loop (outstanding). */
	atomic_store_explicit(&p->entered, n, memory_order_release);
}

static void count_sent(struct producer *p, uint64_t n)
{
	/* ORDER: release: published after trp_send returned (see sent_of);
	 * one writer (a thread, or an actor's turns, which the runtime
	 * hands from worker to worker in order). */
	atomic_store_explicit(&p->sent, n, memory_order_release);
}

/* ------------------------------------------------------------ the port -- */

static void port_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	STRESS_CHECK(self == g.port, "handler called for %p, not the port",
		     (void *)self);
	STRESS_CHECK(msg->type == MSG_ITEM, "port got a message of type %u",
		     msg->type);
	struct rt_payload p = rt_payload_of(msg);
	STRESS_CHECK(p.sender < NPRODUCERS, "message from producer %u",
		     p.sender);
	uint64_t want = g.expect[p.sender];
	if (p.seq != want)
		stress_fail("producer %u: got seq %" PRIu64
			    ", expected %" PRIu64 " (%s)",
			    p.sender, p.seq, want,
			    p.seq < want ? "a duplicate, or reordered" :
					   "messages lost, or reordered");
	g.expect[p.sender] = want + 1;
	stress_progress(&g.handled, 1);
}

/* -------------------------------------------------------- producers -- */

static void *thread_producer(void *arg)
{
	struct producer *pr = arg;
	static const char *names[NTHREADS] = { "producer 0", "producer 1" };
	stress_watchdog_thread(&wd, names[pr->id]);
	stress_barrier_wait(&g.start);
	uint64_t burst = 0;
	for (uint64_t s = 0; s < pr->total; s++) {
		count_entered(pr, s + 1);
		rt_rc("trp_send (thread producer)",
		      rt_send(g.port, MSG_ITEM, pr->id, 0, s), RT_OK);
		count_sent(pr, s + 1);
		if (burst-- != 0)
			continue;
		burst = stress_rand_below(&pr->rng, 1024);
		uint64_t r = stress_rand_below(&pr->rng, 16);
		if (r >= 8 && r < 12) {
			for (uint64_t k = stress_rand_below(&pr->rng, 1024);
			     k != 0; k--)
				stress_cpu_relax();
		} else if (r >= 12 && r < 15) {
			sched_yield();
		} else if (r == 15) {
			struct timespec ts = {
				0,
				(long)(1 + stress_rand_below(&pr->rng, 100)) *
					1000
			};
			nanosleep(&ts, NULL);
		}
	}
	stress_watchdog_thread_exit(&wd);
	return NULL;
}

/* An actor producer: a chunk per turn, then CONT to itself (now and then
 * through a timer, so the port may go idle meanwhile). */
static void actor_producer(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct producer *pr = state;
	STRESS_CHECK(msg->type == MSG_GO || msg->type == MSG_CONT,
		     "producer actor got type %u", msg->type);
	/* relaxed: our own counter (one writer). */
	uint64_t s = atomic_load_explicit(&pr->sent, memory_order_relaxed);
	uint64_t end = s + 1 + stress_rand_below(&pr->rng, CHUNK_MAX);
	if (end > pr->total)
		end = pr->total;
	for (; s < end; s++) {
		count_entered(pr, s + 1);
		rt_rc("trp_send (actor producer)",
		      rt_send(g.port, MSG_ITEM, pr->id, 0, s), RT_OK);
		count_sent(pr, s + 1);
	}
	if (s == pr->total)
		return;
	if (stress_rand_below(&pr->rng, 32) == 0)
		RT_MUST("trp_send_after (CONT)",
			trp_send_after(g.rt, self,
				       (int64_t)(50 + stress_rand_below(
							      &pr->rng, 450)) *
					       1000,
				       0, MSG_CONT, NULL, 0, NULL));
	else
		RT_MUST("trp_send (CONT)", trp_send(self, MSG_CONT, NULL, 0));
}

/* --------------------------------------------------------- the loop -- */

static uint32_t random_budget(uint64_t *rng)
{
	switch (stress_rand_below(rng, 4)) {
	case 0:
		return 1;
	case 1:
		return 1 + (uint32_t)stress_rand_below(rng, 8);
	case 2:
		return 1 + (uint32_t)stress_rand_below(rng, 256);
	default:
		return 1 + (uint32_t)stress_rand_below(rng, 4096);
	}
}

static bool fd_readable(void)
{
	struct pollfd p = { .fd = g.fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

static int drain(uint32_t budget)
{
	int rc = trp_port_drain(g.port, budget);
	if (rc < 0)
		stress_fail("trp_port_drain(%u) returned %d (%s)", budget, rc,
			    trp_errname(rc));
	STRESS_CHECK((uint32_t)rc <= budget,
		     "trp_port_drain(%u) handled %d messages", budget, rc);
	return rc;
}

/* Messages whose send returned and which the handler has not seen (a
 * producer counts a send after it returned, so the handler may be ahead
 * of its count); *@settled: no send was in progress meanwhile. */
static uint64_t outstanding(uint64_t *sent, bool *settled)
{
	uint64_t s[NPRODUCERS], out = 0;
	*sent = 0;
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		s[i] = sent_of(&g.prod[i]);
		*sent += s[i];
		if (s[i] > g.expect[i])
			out += s[i] - g.expect[i];
	}
	/* Read after every sent count: a push that cleared the idle tag
	 * before a counted message's push began before it (the head's
	 * exchanges order them), so its entered count is visible here. */
	*settled = true;
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		/* ORDER: acquire pairs with count_entered's release. */
		if (atomic_load_explicit(&g.prod[i].entered,
					 memory_order_acquire) != s[i])
			*settled = false;
	return out;
}

/* epoll_wait timed out with @out messages outstanding: a lost wake-up.
 * Says what it can see, in this order: the producers' counts and the fd
 * as they are now, then whether epoll or a drain finds anything. */
static void lost_wakeup(int ep, uint64_t out, uint64_t sent)
{
	fprintf(stderr,
		"lost wake-up: %" PRIu64 " messages accepted (of %" PRIu64
		" sent) were not handled, yet epoll_wait saw no readiness "
		"for %d ms\n",
		out, sent, WAIT_MS);
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		fprintf(stderr,
			"  producer %u: sent %" PRIu64
			" by now, handled %" PRIu64 "\n",
			i, sent_of(&g.prod[i]), g.expect[i]);
	bool readable = fd_readable();
	uint32_t len = trp_actor_mailbox_len(g.port);
	struct epoll_event e;
	int late = epoll_wait(ep, &e, 1, 0);
	int found = trp_port_drain(g.port, UINT32_MAX);
	fprintf(stderr,
		"  the fd is %s, the mailbox counts %u; epoll_wait(0) now "
		"reports %d, a drain now handles %d\n",
		readable ? "readable" : "NOT readable", len, late, found);
	stress_fail("lost wake-up (%s)",
		    readable ? "readable fd not reported by epoll" :
			       "mail waits, and the fd was never signalled");
}

static void run_loop(uint64_t seed)
{
	uint64_t rng = stress_rand_init(seed, 99);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	STRESS_CHECK(ep >= 0, "epoll_create1: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	STRESS_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, g.fd, &ev) == 0,
		     "epoll_ctl: %s", strerror(errno));
	/* relaxed: our own counter. */
	while (atomic_load_explicit(&g.handled, memory_order_relaxed) <
	       g.total) {
		uint64_t sent;
		bool settled;
		uint64_t out = outstanding(&sent, &settled);
		struct epoll_event e;
		int n = epoll_wait(ep, &e, 1, WAIT_MS);
		if (n < 0) {
			STRESS_CHECK(errno == EINTR, "epoll_wait: %s",
				     strerror(errno));
			continue;
		}
		if (n == 0) {
			if (out != 0 && settled)
				lost_wakeup(ep, out, sent);
			if (out != 0)
				rt_add(&g.unsettled, 1);
			continue;
		}
		rt_add(&g.events, 1);
		if (stress_rand_below(&rng, 64) == 0) {
			/* let mail pile up: budget stops */
			struct timespec ts = {
				0, (long)stress_rand_below(&rng, 200) * 1000
			};
			nanosleep(&ts, NULL);
		}
		uint32_t budget = random_budget(&rng);
		int got = drain(budget);
		rt_add(&g.drains, 1);
		if ((uint32_t)got == budget)
			rt_add(&g.budget_stops, 1);
		if (got == 0)
			rt_add(&g.empty, 1);
		if ((uint32_t)got < budget)
			rt_add(&g.emptied, 1);
		if (stress_rand_below(&rng, 128) == 0) {
			/* a drain without readiness: harmless, and it may
			 * take what the next readiness announces */
			(void)drain(random_budget(&rng));
			rt_add(&g.spurious, 1);
		}
	}
	/* Everything handled: the port is idle, or one stale readiness
	 * away from it. */
	STRESS_CHECK(drain(4096) == 0, "a message after the last one");
	STRESS_CHECK(!fd_readable(), "the fd is readable with nothing queued");
	STRESS_CHECK(trp_actor_mailbox_len(g.port) == 0,
		     "the mailbox counts %u messages after the last one",
		     trp_actor_mailbox_len(g.port));
	/* The close is a message too: it wakes the loop, the drain that
	 * reaches it stops the port. */
	RT_MUST("trp_port_close", trp_port_close(g.port));
	struct epoll_event e;
	int n;
	while ((n = epoll_wait(ep, &e, 1, WAIT_MS * 10)) < 0 && errno == EINTR)
		;
	STRESS_CHECK(n == 1, "trp_port_close did not signal the fd");
	int rc = trp_port_drain(g.port, 1);
	STRESS_CHECK(rc == TRP_ECLOSED,
		     "the drain after close returned %d, not TRP_ECLOSED", rc);
	STRESS_CHECK(trp_port_drain(g.port, 1) == TRP_ECLOSED,
		     "a closed port drains again");
	close(ep);
}

static void dump(void *arg)
{
	(void)arg;
	fprintf(stderr,
		"  port: mailbox %u, fd %s; events %" PRIu64 ", drains %" PRIu64
		", handled %" PRIu64 " of %" PRIu64 "\n",
		trp_actor_mailbox_len(g.port),
		fd_readable() ? "readable" : "not readable", rt_get(&g.events),
		rt_get(&g.drains), rt_get(&g.handled), g.total);
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		fprintf(stderr,
			"  producer %u: sent %" PRIu64 " of %" PRIu64 "\n", i,
			rt_get(&g.prod[i].sent), g.prod[i].total);
}

int main(void)
{
	uint64_t seed = stress_init("port_storm");
	g.total = stress_scaled(M_BASE, 4 * NPRODUCERS);
	g.total -= g.total % NPRODUCERS;
	printf("port_storm: %" PRIu64
	       " messages from %u producers (%u threads, "
	       "%u actors), one loop on EPOLLET\n",
	       g.total, NPRODUCERS, NTHREADS, NPRODUCERS - NTHREADS);

	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.dead_letter = rt_count_dead_letter;
	cfg.dead_letter_ctx = &g_dead;
	RT_MUST("trp_runtime_create", trp_runtime_create(&cfg, &g.rt));
	RT_MUST("trp_port_open",
		trp_port_open(g.rt, port_handler, NULL, &g.port));
	g.fd = trp_port_fd(g.port);
	STRESS_CHECK(g.fd >= 0, "trp_port_fd returned %d", g.fd);

	trp_actor_def_t adef = { .behavior = actor_producer };
	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &g.prod[i];
		p->id = i;
		p->total = g.total / NPRODUCERS;
		p->rng = stress_rand_init(seed, i);
		atomic_init(&p->sent, 0);
		atomic_init(&p->entered, 0);
		if (i >= NTHREADS)
			RT_MUST("trp_actor_spawn (producer)",
				trp_actor_spawn(g.rt, &adef, p, &p->self));
	}

	stress_watchdog_init(&wd, LIMIT_S);
	wd.dump = dump;
	stress_watchdog_counter(&wd, "handled", &g.handled);
	static const char *sent_names[NPRODUCERS] = {
		"producer 0 (thread) sent", "producer 1 (thread) sent",
		"producer 2 (actor) sent", "producer 3 (actor) sent"
	};
	for (uint32_t i = 0; i < NPRODUCERS; i++)
		stress_watchdog_counter(&wd, sent_names[i], &g.prod[i].sent);
	stress_watchdog_info(&wd, "readiness events", &g.events);
	stress_watchdog_info(&wd, "drains", &g.drains);
	stress_watchdog_info(&wd, "dead letters", &g_dead);
	stress_watchdog_thread(&wd, "loop");
	stress_watchdog_start(&wd);

	stress_barrier_init(&g.start, NTHREADS + 1);
	pthread_t th[NTHREADS];
	for (uint32_t i = 0; i < NTHREADS; i++)
		th[i] = stress_thread_start(thread_producer, &g.prod[i]);
	stress_barrier_wait(&g.start);
	uint64_t t0 = stress_now_ns();
	for (uint32_t i = NTHREADS; i < NPRODUCERS; i++)
		RT_MUST("trp_send GO",
			trp_send(g.prod[i].self, MSG_GO, NULL, 0));
	run_loop(seed);
	double secs = stress_seconds_since(t0);
	for (uint32_t i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	/* An actor producer counts its last send after trp_send returned:
	 * the loop may have handled that message already; its turn is over
	 * once the runtime is idle. */
	rt_wait_idle(g.rt);

	for (uint32_t i = 0; i < NPRODUCERS; i++) {
		STRESS_CHECK(sent_of(&g.prod[i]) == g.prod[i].total,
			     "producer %u sent %" PRIu64 " of %" PRIu64, i,
			     sent_of(&g.prod[i]), g.prod[i].total);
		STRESS_CHECK(g.expect[i] == g.prod[i].total,
			     "producer %u: %" PRIu64 " handled of %" PRIu64, i,
			     g.expect[i], g.prod[i].total);
	}
	trp_stats_t st = rt_assert_balanced(g.rt, "port_storm");
	STRESS_CHECK(rt_get(&g_dead) == 0 && st.dead_lettered == 0,
		     "%" PRIu64 " dead letters", st.dead_lettered);
	STRESS_CHECK(st.processed >= g.total,
		     "processed %" PRIu64 " < %" PRIu64 " handled",
		     st.processed, g.total);
	rt_print_stats("port_storm", &st);
	uint64_t events = rt_get(&g.events), drains = rt_get(&g.drains);
	printf("  %.2f s, %.1f M msg/s; %" PRIu64 " readiness events (%.1f "
	       "messages each); drains: %" PRIu64 " stopped at their budget, "
	       "%" PRIu64 " emptied the port, %" PRIu64 " found nothing, "
	       "%" PRIu64 " more without readiness; %" PRIu64
	       " waits timed out behind a send in progress\n",
	       secs, (double)g.total / secs / 1e6, events,
	       events != 0 ? (double)g.total / (double)events : 0.0,
	       rt_get(&g.budget_stops), rt_get(&g.emptied), rt_get(&g.empty),
	       rt_get(&g.spurious), rt_get(&g.unsettled));
	(void)drains;

	for (uint32_t i = NTHREADS; i < NPRODUCERS; i++)
		trp_actor_release(g.prod[i].self);
	RT_MUST("trp_runtime_destroy", trp_runtime_destroy(g.rt));
	stress_watchdog_stop(&wd);
	trp_actor_release(g.port);
	printf("port_storm: OK\n");
	return 0;
}
