/*
 * bench/workloads/pingpong.c - two actors bounce one message
 * (shared/WORKLOADS.md, pingpong).
 *
 * The main thread hands the ball to pong; pong returns it to ping; ping
 * counts one round trip and, until it has counted P, sends the ball back to
 * pong. 2P messages; rate= counts round trips per second. Only one message
 * is ever in flight, so this measures the wake-up path (a send to an idle
 * actor that must be scheduled, possibly on the other worker) rather than
 * throughput.
 *
 * Latency: the ball carries the time ping sent it; ping records now - sent
 * in a log-linear histogram (bench_hist) on every return and reports
 * p50_ns=, p99_ns=, p999_ns= (and max_ns=) of the round trip. One clock read
 * per round trip, by ping only (the reading it takes for the latency is the
 * send time of the next ball). The first ball is stamped by the main thread.
 *
 * Check: ping counted P round trips and pong P balls, with sequence numbers
 * 1..P in order on both sides; the histogram holds P samples; the runtime's
 * counters agree (sent == processed == 2P, nothing dead-lettered or
 * rejected).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_BALL = 1
};

enum {
	P_P
};

static const struct bench_param pingpong_params[] = {
	[P_P] = { "p", "round trips (P)", 1000000, 1, 10000000000ull },
};

struct ball {
	uint64_t seq;	  /* 1..P */
	uint64_t sent_ns; /* bench_now_ns() when ping (or main) sent it */
};

struct player {
	alignas(64) trp_actor_t *peer; /* reference owned by run() */
	uint64_t seen;		       /* balls received */
	uint64_t p;		       /* ping: round trips to make */
	uint64_t failed;	       /* failed sends, bad or out-of-order */
	struct bench_hist *hist;       /* ping only */
};

static bool read_ball(const trp_msg_t *msg, struct ball *b)
{
	if (msg->type != MSG_BALL || msg->size != sizeof(*b))
		return false;
	memcpy(b, msg->data, sizeof(*b));
	return true;
}

static void pong_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct player *pl = state;
	struct ball b;

	(void)self;
	if (!read_ball(msg, &b) || b.seq != ++pl->seen) {
		pl->failed++;
		return;
	}
	if (trp_send(pl->peer, MSG_BALL, &b, sizeof(b)) != 0)
		pl->failed++;
}

static void ping_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct player *pl = state;
	struct ball b;
	uint64_t now = bench_now_ns();

	(void)self;
	if (!read_ball(msg, &b) || b.seq != ++pl->seen) {
		pl->failed++;
		return;
	}
	bench_hist_record(pl->hist, now - b.sent_ns);
	if (pl->seen == pl->p)
		return;
	b.seq++;
	b.sent_ns = now;
	if (trp_send(pl->peer, MSG_BALL, &b, sizeof(b)) != 0)
		pl->failed++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "pingpong: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool pingpong_check(const struct player *ping, const struct player *pong,
			   uint64_t p)
{
	if (ping->seen == p && pong->seen == p && ping->failed == 0 &&
	    pong->failed == 0 && ping->hist->count == p)
		return true;
	fprintf(stderr,
		"pingpong: ping saw %llu, pong saw %llu (want %llu each), "
		"failed ping=%llu pong=%llu, latency samples %llu\n",
		(unsigned long long)ping->seen, (unsigned long long)pong->seen,
		(unsigned long long)p, (unsigned long long)ping->failed,
		(unsigned long long)pong->failed,
		(unsigned long long)ping->hist->count);
	return false;
}

static int pingpong_run(const trp_config_t *cfg, const uint64_t *values,
			size_t mode, struct bench_result *out)
{
	uint64_t p = values[P_P];
	trp_actor_def_t ping_def = { .behavior = ping_behavior };
	trp_actor_def_t pong_def = { .behavior = pong_behavior };
	struct player *pl = bench_alloc_lines(2, sizeof(struct player));
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	struct player *ping = pl, *pong = pl + 1;
	trp_runtime_t *rt = NULL;
	struct ball b = { 1, 0 };
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (pl == NULL || hist == NULL) {
		rc = report("allocating state", TRP_ENOMEM);
		goto done;
	}
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		rt = NULL;
		goto done;
	}
	out->workers = trp_runtime_workers(rt);
	ping->p = p;
	ping->hist = hist;
	/* The peers are set before the first send, which publishes them. */
	rc = trp_actor_spawn(rt, &ping_def, ping, &pong->peer);
	if (rc != 0) {
		pong->peer = NULL;
		report("spawn ping", rc);
		goto done;
	}
	rc = trp_actor_spawn(rt, &pong_def, pong, &ping->peer);
	if (rc != 0) {
		ping->peer = NULL;
		report("spawn pong", rc);
		goto done;
	}

	t0 = bench_now_ns();
	b.sent_ns = t0;
	rc = trp_send(ping->peer, MSG_BALL, &b, sizeof(b));
	if (rc != 0) {
		report("send the ball to pong", rc);
		goto done;
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = 2 * p;
	out->items = p;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = pingpong_check(ping, pong, p);
	if (!bench_check_stats(rt, "pingpong", out->messages, out))
		out->ok = false;
	snprintf(out->extra, sizeof(out->extra),
		 "p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)bench_hist_quantile(hist, 0.999),
		 (unsigned long long)hist->max);
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (pl != NULL) {
		if (ping->peer != NULL)
			trp_actor_release(ping->peer);
		if (pong->peer != NULL)
			trp_actor_release(pong->peer);
	}
	free(hist);
	free(pl);
	return rc;
}

const struct bench_workload bench_pingpong = {
	.name = "pingpong",
	.summary = "two actors bounce one message P times; round trips per "
		   "second and round-trip latency percentiles",
	.params = pingpong_params,
	.nparams = sizeof(pingpong_params) / sizeof(pingpong_params[0]),
	.run = pingpong_run,
};
