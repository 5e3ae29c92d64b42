/*
 * bench/workloads/port.c - ports (troupe/port.h): how fast a send wakes a
 * loop thread blocked in epoll_wait, and how fast a loop drains.
 *
 * Three modes, one output line each:
 *
 * wake: one message in flight. A sender thread (outside the runtime)
 *   reads the clock and sends to the port; the loop thread, blocked in
 *   epoll_wait on the port's fd (EPOLLET), wakes, calls trp_port_drain(),
 *   and the handler reads the clock: that difference is one sample. The
 *   handler then acks through a plain eventfd the sender blocks on (read),
 *   and the sender sends the next. In the same run, alternating round by
 *   round with the port's, the floor: the sender writes a raw eventfd the
 *   loop's epoll also watches, the loop reads it and reads the clock (the
 *   same wake-up without troupe: eventfd write -> epoll_wait return ->
 *   read), and acks the same way. p50_ns=/p99_ns= are the port's,
 *   floor_p50_ns=/floor_p99_ns= the raw eventfd's (bench_hist: at most
 *   6.25 % above the true value; both medians often share a bucket, so
 *   mean_ns=/floor_mean_ns=, exact, show the difference); rate= counts
 *   port round trips per second
 *   (each including an ack and a floor round). The first N/10 rounds (at
 *   most 1000) warm up and are not recorded.
 * drain: the loop's own rate. A producer actor sends FILL messages to the
 *   idle port (on a worker, untimed); once the runtime is idle they all
 *   wait in the port's mailbox, and the loop thread drains them with
 *   trp_port_drain(port, BUDGET) until it handled FILL, timed; M / FILL
 *   rounds. rate= is messages drained per second of draining.
 * stream: producer actors (PRODUCERS of them, a chunk of 256 per turn,
 *   then a message to themselves) send M messages in all while the loop
 *   waits in epoll_wait (EPOLLET) and drains once per readiness with
 *   BUDGET: the end-to-end rate from actors to the loop, timed from the
 *   start to the last message handled. events= counts readinesses (one
 *   eventfd write per idle period, and per drain stopped at its budget).
 *
 * Check: the handler sees every message exactly once and in order (each
 * carries its sequence number; per producer in stream), the loop handled
 * what was sent (N, FILL per round, M), the histograms hold N samples
 * each, and the runtime's counters agree (bench_check_stats: the port's
 * messages plus the producers' own).
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_ITEM = 1,
	MSG_QUIT,
	MSG_FILL,
	MSG_CONT,
};

enum {
	P_N,
	P_M,
	P_FILL,
	P_BUDGET,
	P_PRODUCERS,
};

enum {
	MODE_WAKE,
	MODE_DRAIN,
	MODE_STREAM,
};

static const struct bench_param port_params[] = {
	[P_N] = { "n", "wake: round trips (N)", 100000, 1, 1000000000ull },
	[P_M] = { "m", "drain, stream: messages (M)", 10000000, 1,
		  10000000000ull },
	[P_FILL] = { "fill", "drain: messages per round (FILL)", 100000, 1,
		     10000000 },
	[P_BUDGET] = { "budget", "drain, stream: trp_port_drain budget", 1024,
		       1, 1u << 30 },
	[P_PRODUCERS] = { "producers", "stream: producer actors (drain: 1)", 1,
			  1, 64 },
};

static int report(const char *what, int rc)
{
	fprintf(stderr, "port: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static int report_errno(const char *what)
{
	fprintf(stderr, "port: %s: %s\n", what, strerror(errno));
	return TRP_ESYSTEM;
}

static void efd_write(int fd)
{
	uint64_t one = 1;
	while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

static uint64_t efd_read(int fd)
{
	uint64_t v = 0;
	while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
		;
	return v;
}

/* ------------------------------------------------------------------ */
/* wake                                                                */

struct item {
	uint64_t seq;
	uint64_t sent_ns; /* wake: the sender's clock reading */
};

struct wake {
	alignas(64) trp_actor_t *port;
	int ping; /* the floor's eventfd (the loop watches it) */
	int ack;  /* the sender blocks on it */
	int ep;
	uint64_t n, warm;
	/* the sender's clock reading for the floor round (the eventfd
	 * write and read order it; relaxed) */
	_Atomic(uint64_t) floor_sent_ns;
	/* the loop's */
	alignas(64) uint64_t handled, floor_seen, bad;
	uint64_t sum_ns, floor_sum_ns; /* of the recorded samples */
	_Atomic(bool) quit; /* relaxed: the loop looks at it after each wait */
	struct bench_hist *hist, *floor_hist;
};

static void wake_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	uint64_t now = bench_now_ns();
	struct wake *w = state;
	struct item it;
	(void)self;
	if (msg->type == MSG_QUIT) {
		atomic_store_explicit(&w->quit, true, memory_order_relaxed);
		return;
	}
	if (msg->type != MSG_ITEM || msg->size != sizeof it) {
		w->bad++;
		return;
	}
	memcpy(&it, msg->data, sizeof it);
	if (it.seq != w->handled || now < it.sent_ns)
		w->bad++;
	else if (it.seq >= w->warm) {
		bench_hist_record(w->hist, now - it.sent_ns);
		w->sum_ns += now - it.sent_ns;
	}
	w->handled++;
	efd_write(w->ack);
}

static void *wake_loop(void *arg)
{
	struct wake *w = arg;
	while (!atomic_load_explicit(&w->quit, memory_order_relaxed)) {
		struct epoll_event ev[2];
		int k = epoll_wait(w->ep, ev, 2, -1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			w->bad++;
			break;
		}
		for (int i = 0; i < k; i++) {
			if (ev[i].data.u32 == 1) { /* the floor */
				(void)efd_read(w->ping);
				uint64_t now = bench_now_ns();
				uint64_t sent = atomic_load_explicit(
					&w->floor_sent_ns,
					memory_order_relaxed);
				if (now < sent)
					w->bad++;
				else if (w->floor_seen >= w->warm) {
					bench_hist_record(w->floor_hist,
							  now - sent);
					w->floor_sum_ns += now - sent;
				}
				w->floor_seen++;
				efd_write(w->ack);
			} else if (trp_port_drain(w->port, 64) < 0) {
				w->bad++;
			}
		}
	}
	return NULL;
}

static int run_wake(const trp_config_t *cfg, uint64_t n,
		    struct bench_result *out)
{
	struct wake *w = bench_alloc_lines(1, sizeof(struct wake));
	struct bench_hist *h = calloc(1, sizeof(*h));
	struct bench_hist *fh = calloc(1, sizeof(*fh));
	trp_runtime_t *rt = NULL;
	pthread_t loop;
	bool started = false;
	uint64_t t0 = 0, t1 = 0, failed = 0;
	int rc = 0;

	if (w == NULL || h == NULL || fh == NULL) {
		rc = report("allocating state", TRP_ENOMEM);
		goto done;
	}
	w->ping = w->ack = w->ep = -1;
	w->n = n;
	w->warm = n / 10 < 1000 ? n / 10 : 1000;
	w->hist = h;
	w->floor_hist = fh;
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		rt = NULL;
		goto done;
	}
	out->workers = trp_runtime_workers(rt);
	rc = trp_port_open(rt, wake_handler, w, &w->port);
	if (rc != 0) {
		w->port = NULL;
		report("trp_port_open", rc);
		goto done;
	}
	w->ping = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->ack = eventfd(0, EFD_CLOEXEC); /* blocking: the sender waits */
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ping < 0 || w->ack < 0 || w->ep < 0) {
		rc = report_errno("eventfd/epoll_create1");
		goto done;
	}
	struct epoll_event e = { .events = EPOLLIN | EPOLLET };
	e.data.u32 = 1;
	struct epoll_event pe = { .events = EPOLLIN | EPOLLET };
	pe.data.u32 = 2;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ping, &e) != 0 ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, trp_port_fd(w->port), &pe) != 0) {
		rc = report_errno("epoll_ctl");
		goto done;
	}
	if (pthread_create(&loop, NULL, wake_loop, w) != 0) {
		rc = report("starting the loop thread", TRP_ESYSTEM);
		goto done;
	}
	started = true;

	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		/* the floor: a raw eventfd wake-up of the same loop */
		atomic_store_explicit(&w->floor_sent_ns, bench_now_ns(),
				      memory_order_relaxed);
		efd_write(w->ping);
		(void)efd_read(w->ack);
		/* the port */
		struct item it = { i, bench_now_ns() };
		int s = trp_send(w->port, MSG_ITEM, &it, sizeof it);
		if (s != 0) {
			failed++;
			report("trp_send", s);
			break;
		}
		(void)efd_read(w->ack);
	}
	t1 = bench_now_ns();
	rc = trp_send(w->port, MSG_QUIT, NULL, 0);
	if (rc != 0) {
		report("send QUIT", rc);
		goto done;
	}
	pthread_join(loop, NULL);
	started = false;

	out->messages = n + 1;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = true;
	uint64_t recorded = n - w->warm;
	if (w->handled != n || w->floor_seen != n || w->bad != 0 ||
	    failed != 0 || h->count != recorded || fh->count != recorded) {
		fprintf(stderr,
			"port: wake: handled %llu, floor rounds %llu (want "
			"%llu each), %llu bad, %llu failed sends, %llu and "
			"%llu samples (want %llu each)\n",
			(unsigned long long)w->handled,
			(unsigned long long)w->floor_seen,
			(unsigned long long)n, (unsigned long long)w->bad,
			(unsigned long long)failed,
			(unsigned long long)h->count,
			(unsigned long long)fh->count,
			(unsigned long long)recorded);
		out->ok = false;
	}
	if (!bench_check_stats(rt, "port", n + 1, out))
		out->ok = false;
	snprintf(out->extra, sizeof(out->extra),
		 "mode=wake p50_ns=%llu p99_ns=%llu mean_ns=%llu "
		 "floor_p50_ns=%llu floor_p99_ns=%llu floor_mean_ns=%llu",
		 (unsigned long long)bench_hist_quantile(h, 0.50),
		 (unsigned long long)bench_hist_quantile(h, 0.99),
		 (unsigned long long)(recorded ? w->sum_ns / recorded : 0),
		 (unsigned long long)bench_hist_quantile(fh, 0.50),
		 (unsigned long long)bench_hist_quantile(fh, 0.99),
		 (unsigned long long)(recorded ? w->floor_sum_ns / recorded :
						 0));
done:
	if (started) { /* an early failure: stop the loop */
		atomic_store_explicit(&w->quit, true, memory_order_relaxed);
		efd_write(w->ping);
		pthread_join(loop, NULL);
	}
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);
		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (w != NULL) {
		if (w->port != NULL)
			trp_actor_release(w->port);
		if (w->ping >= 0)
			close(w->ping);
		if (w->ack >= 0)
			close(w->ack);
		if (w->ep >= 0)
			close(w->ep);
	}
	free(fh);
	free(h);
	free(w);
	return rc;
}

/* ------------------------------------------------------------------ */
/* drain and stream                                                    */

struct producer {
	alignas(64) trp_actor_t *port;
	uint32_t id;
	uint64_t next;	/* sequence of the next message */
	uint64_t until; /* stream: send up to here; drain: FILL's target */
	uint64_t failed;
};

/* The loop's: every message's producer and sequence checked. */
struct sink {
	alignas(64) uint64_t handled;
	uint64_t bad;
	uint64_t *expect; /* per producer */
	uint32_t nproducers;
};

struct pitem {
	uint32_t producer;
	uint32_t pad;
	uint64_t seq;
};

static void sink_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct sink *s = state;
	struct pitem it;
	(void)self;
	if (msg->type != MSG_ITEM || msg->size != sizeof it) {
		s->bad++;
		return;
	}
	memcpy(&it, msg->data, sizeof it);
	if (it.producer >= s->nproducers || it.seq != s->expect[it.producer])
		s->bad++;
	else
		s->expect[it.producer]++;
	s->handled++;
}

#define CHUNK 256u

/* drain: FILL(k) sends k messages at once; stream: GO/CONT send a chunk
 * and continue with a message to itself. */
static void producer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct producer *p = state;
	uint64_t end;
	if (msg->type == MSG_FILL) {
		uint64_t k;
		memcpy(&k, msg->data, sizeof k);
		end = p->next + k;
	} else {
		end = p->next + CHUNK < p->until ? p->next + CHUNK : p->until;
	}
	for (; p->next < end; p->next++) {
		struct pitem it = { p->id, 0, p->next };
		if (trp_send(p->port, MSG_ITEM, &it, sizeof it) != 0)
			p->failed++;
	}
	if (msg->type == MSG_CONT && p->next < p->until &&
	    trp_send(self, MSG_CONT, NULL, 0) != 0)
		p->failed++;
}

static int run_drain(const trp_config_t *cfg, uint64_t m, uint64_t fill,
		     uint32_t budget, uint32_t nprod, size_t mode,
		     struct bench_result *out)
{
	struct sink *s = bench_alloc_lines(1, sizeof(struct sink));
	struct producer *p = bench_alloc_lines(nprod, sizeof(struct producer));
	uint64_t *expect = calloc(nprod, sizeof(uint64_t));
	trp_actor_t **pa = calloc(nprod, sizeof(trp_actor_t *));
	trp_runtime_t *rt = NULL;
	trp_actor_t *port = NULL;
	trp_actor_def_t pdef = { .behavior = producer_behavior };
	uint64_t ns = 0, rounds = 0, events = 0, own = 0, failed = 0;
	int ep = -1, rc;

	if (s == NULL || p == NULL || expect == NULL || pa == NULL) {
		rc = report("allocating state", TRP_ENOMEM);
		goto done;
	}
	s->expect = expect;
	s->nproducers = nprod;
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		rt = NULL;
		goto done;
	}
	out->workers = trp_runtime_workers(rt);
	rc = trp_port_open(rt, sink_handler, s, &port);
	if (rc != 0) {
		port = NULL;
		report("trp_port_open", rc);
		goto done;
	}
	for (uint32_t i = 0; i < nprod; i++) {
		p[i].port = port;
		p[i].id = i;
		p[i].until = m / nprod + (i < m % nprod);
		rc = trp_actor_spawn(rt, &pdef, &p[i], &pa[i]);
		if (rc != 0) {
			pa[i] = NULL;
			report("spawning a producer", rc);
			goto done;
		}
	}

	if (mode == MODE_DRAIN) {
		/* FILL at a time into the idle port, then drain them. */
		for (uint64_t done = 0; done < m; rounds++) {
			uint64_t k = m - done < fill ? m - done : fill;
			rc = trp_send(pa[0], MSG_FILL, &k, sizeof k);
			own++;
			if (rc == 0)
				rc = trp_runtime_wait_idle(rt, -1);
			if (rc != 0) {
				report("filling the port", rc);
				goto done;
			}
			uint64_t want = s->handled + k, t0 = bench_now_ns();
			while (s->handled < want) {
				int d = trp_port_drain(port, budget);
				if (d <= 0) { /* nothing left: lost */
					rc = d < 0 ? d : TRP_ENOREPLY;
					report("trp_port_drain", rc);
					goto done;
				}
			}
			ns += bench_now_ns() - t0;
			done += k;
		}
	} else {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event e = { .events = EPOLLIN | EPOLLET };
		if (ep < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, trp_port_fd(port), &e) != 0) {
			rc = report_errno("epoll");
			goto done;
		}
		uint64_t t0 = bench_now_ns();
		for (uint32_t i = 0; i < nprod; i++) {
			rc = trp_send(pa[i], MSG_CONT, NULL, 0);
			if (rc != 0) {
				report("starting a producer", rc);
				goto done;
			}
		}
		while (s->handled < m) {
			struct epoll_event ev;
			int k = epoll_wait(ep, &ev, 1, 10000);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) { /* 10 s without readiness: lost */
				rc = k < 0 ? report_errno("epoll_wait") :
					     report("epoll_wait",
						    TRP_ETIMEDOUT);
				goto done;
			}
			events++;
			int d = trp_port_drain(port, budget);
			if (d < 0) {
				rc = report("trp_port_drain", d);
				goto done;
			}
		}
		ns = bench_now_ns() - t0;
		/* the producers' CONT messages to themselves */
		own = (uint64_t)nprod;
		for (uint32_t i = 0; i < nprod; i++)
			own += (p[i].until + CHUNK - 1) / CHUNK - 1 +
			       (p[i].until == 0);
		rc = trp_runtime_wait_idle(rt, -1);
		if (rc != 0) {
			report("trp_runtime_wait_idle", rc);
			goto done;
		}
	}

	out->messages = m;
	out->seconds = (double)ns / 1e9;
	out->ok = true;
	for (uint32_t i = 0; i < nprod; i++) {
		failed += p[i].failed;
		if (expect[i] != p[i].until || p[i].next != p[i].until)
			s->bad++;
	}
	if (s->handled != m || s->bad != 0 || failed != 0 ||
	    trp_port_drain(port, budget) != 0) {
		fprintf(stderr,
			"port: %s: handled %llu of %llu, %llu bad, %llu failed "
			"sends, or mail left over\n",
			mode == MODE_DRAIN ? "drain" : "stream",
			(unsigned long long)s->handled, (unsigned long long)m,
			(unsigned long long)s->bad, (unsigned long long)failed);
		out->ok = false;
	}
	if (!bench_check_stats(rt, "port", m + own, out))
		out->ok = false;
	if (mode == MODE_DRAIN)
		snprintf(out->extra, sizeof(out->extra),
			 "mode=drain fill=%llu rounds=%llu budget=%u",
			 (unsigned long long)fill, (unsigned long long)rounds,
			 budget);
	else
		snprintf(out->extra, sizeof(out->extra),
			 "mode=stream events=%llu per_event=%.1f budget=%u",
			 (unsigned long long)events,
			 events != 0 ? (double)m / (double)events : 0.0,
			 budget);
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);
		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (ep >= 0)
		close(ep);
	for (uint32_t i = 0; pa != NULL && i < nprod; i++)
		if (pa[i] != NULL)
			trp_actor_release(pa[i]);
	if (port != NULL)
		trp_actor_release(port);
	free(pa);
	free(expect);
	free(p);
	free(s);
	return rc;
}

static int port_run(const trp_config_t *cfg, const uint64_t *values,
		    size_t mode, struct bench_result *out)
{
	memset(out, 0, sizeof(*out));
	if (mode == MODE_WAKE)
		return run_wake(cfg, values[P_N], out);
	/* drain: one producer fills the port (the drain is what is timed) */
	return run_drain(
		cfg, values[P_M], values[P_FILL], (uint32_t)values[P_BUDGET],
		mode == MODE_DRAIN ? 1u : (uint32_t)values[P_PRODUCERS], mode,
		out);
}

static const char *const port_modes[] = {
	[MODE_WAKE] = "wake",
	[MODE_DRAIN] = "drain",
	[MODE_STREAM] = "stream",
};

const struct bench_workload bench_port = {
	.name = "port",
	.summary = "ports: send-to-handler wake latency of a loop in "
		   "epoll_wait beside a raw eventfd floor (wake), the loop's "
		   "drain rate (drain), actors to a loop end to end (stream)",
	.params = port_params,
	.nparams = sizeof(port_params) / sizeof(port_params[0]),
	.modes = port_modes,
	.nmodes = sizeof(port_modes) / sizeof(port_modes[0]),
	.run = port_run,
};
