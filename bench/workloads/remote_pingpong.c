/*
 * bench/workloads/remote_pingpong.c - pingpong between two nodes: one
 * message in flight, round-trip latency (remote.h for the two processes).
 *
 * Actor "ping" on node near, actor "pong" on node far. The main thread
 * hands the first ball to pong's proxy; pong returns every ball to ping's
 * proxy (trp_node_proxy(far, "near", "ping")); ping counts it and sends
 * the next one, WARMUP + P round trips in all. The first WARMUP (the
 * streams' first frames, the far node's proxy to "ping") are setup, not
 * measured: timing starts when ping receives ball WARMUP and ends when it
 * receives the last. rate= counts round trips per second.
 *
 * Latency: as pingpong.c - ping stamps each ball when it sends it and
 * records now - stamp on its return in a bench_hist: p50_ns=, p99_ns=,
 * p999_ns=, max_ns= of the P measured round trips (one clock read per
 * round trip, by ping).
 *
 * Check: ping counted WARMUP + P balls and pong as many (pong reports its
 * count and bad balls on the far node's last line), with sequence numbers
 * 1, 2, ... in order on both sides; P latency samples; no send failed; the
 * node counters show no loss and each side received what the other sent
 * (remote_end). A lost ball would stop the game: the wait gives up after
 * 10 s without progress and the check fails.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "remote.h"

#define WARMUP 100u
#define STALL_S 10u

enum {
	MSG_BALL = 1
};

enum {
	P_P
};

static const struct bench_param rpp_params[] = {
	[P_P] = { "p", "measured round trips (P)", 20000, 1, 1000000000ull },
};

struct ball {
	uint64_t seq;	  /* 1.. */
	uint64_t sent_ns; /* when ping (or main) sent it */
};

struct ping {
	alignas(64) trp_actor_t *pong; /* proxy; reference owned by run() */
	uint64_t seen, total, failed;
	int first_rc;		   /* the first failed send's error */
	uint64_t t0_ns, t1_ns;	   /* ball WARMUP's and the last's return */
	_Atomic uint64_t progress; /* seen, for remote_wait */
	struct bench_hist *hist;
	sem_t done;
};

struct pong {
	alignas(64) trp_actor_t *ping; /* proxy (far side) */
	uint64_t seen, failed;
	int first_rc; /* the first failed send's error */
};

static bool read_ball(const trp_msg_t *msg, struct ball *b)
{
	if (msg->type != MSG_BALL || msg->size != sizeof(*b))
		return false;
	memcpy(b, msg->data, sizeof(*b));
	return true;
}

static void ping_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct ping *pl = state;
	struct ball b;
	uint64_t now = bench_now_ns();
	int rc;

	(void)self;
	if (!read_ball(msg, &b) || b.seq != ++pl->seen) {
		pl->failed++;
		return;
	}
	/* relaxed: a progress hint for the waiting thread. */
	atomic_store_explicit(&pl->progress, pl->seen, memory_order_relaxed);
	if (pl->seen > WARMUP)
		bench_hist_record(pl->hist, now - b.sent_ns);
	else if (pl->seen == WARMUP)
		pl->t0_ns = now;
	if (pl->seen == pl->total) {
		pl->t1_ns = now;
		sem_post(&pl->done); /* publishes the state to the waiter */
		return;
	}
	b.seq++;
	b.sent_ns = now;
	rc = trp_send(pl->pong, MSG_BALL, &b, sizeof(b));
	if (rc != 0 && pl->failed++ == 0)
		pl->first_rc = rc;
}

static void pong_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct pong *pl = state;
	struct ball b;
	int rc;

	(void)self;
	if (!read_ball(msg, &b) || b.seq != ++pl->seen) {
		pl->failed++;
		return;
	}
	rc = trp_send(pl->ping, MSG_BALL, &b, sizeof(b));
	if (rc != 0 && pl->failed++ == 0)
		pl->first_rc = rc;
}

/* --- far node ------------------------------------------------------------ */

static int far_setup(trp_runtime_t *rt, trp_node_t *node, void *ctx)
{
	struct pong *pl = ctx;
	int rc = trp_node_proxy(node, REMOTE_NEAR, "ping", &pl->ping);

	if (rc != 0) {
		pl->ping = NULL;
		return rc;
	}
	return remote_spawn_named(rt, "pong", pong_behavior, pl, NULL);
}

static void far_report(void *ctx, char *buf, size_t size)
{
	struct pong *pl = ctx;

	snprintf(buf, size, "pong_seen=%llu pong_failed=%llu pong_rc=%d",
		 (unsigned long long)pl->seen, (unsigned long long)pl->failed,
		 -pl->first_rc);
}

static int rpp_far(const trp_config_t *cfg, const uint64_t *values,
		   const struct bench_remote_args *ra)
{
	struct pong *pl = bench_alloc_lines(1, sizeof(struct pong));
	int rc;

	(void)values;
	if (pl == NULL)
		return TRP_ENOMEM;
	rc = remote_far_main(cfg, ra, "remote_pingpong", far_setup, far_report,
			     pl);
	if (pl->ping != NULL)
		trp_actor_release(pl->ping);
	free(pl);
	return rc;
}

/* --- measuring side ------------------------------------------------------ */

static int rpp_run(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		   const struct bench_remote_args *ra, struct bench_result *out)
{
	uint64_t p = values[P_P], pong_seen = 0, pong_failed = 0;
	struct ping *pl = bench_alloc_lines(1, sizeof(struct ping));
	struct bench_hist *hist = calloc(1, sizeof(*hist));
	struct remote_run r;
	struct ball b = { 1, 0 };
	bool ended = false, began = false;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (pl == NULL || hist == NULL) {
		free(pl);
		free(hist);
		fprintf(stderr, "remote_pingpong: out of memory\n");
		return TRP_ENOMEM;
	}
	pl->total = WARMUP + p;
	pl->hist = hist;
	sem_init(&pl->done, 0, 0);
	rc = remote_begin(&r, &bench_remote_pingpong, cfg, values, ra, out);
	if (rc != 0)
		goto free;
	began = true;
	rc = trp_node_proxy(r.node, REMOTE_FAR, "pong", &pl->pong);
	if (rc != 0) {
		pl->pong = NULL;
		fprintf(stderr, "remote_pingpong: trp_node_proxy: %s\n",
			trp_strerror(rc));
		goto end;
	}
	/* ping is registered before the first ball leaves: pong's answer
	 * finds it. */
	rc = remote_spawn_named(r.rt, "ping", ping_behavior, pl, NULL);
	if (rc != 0) {
		fprintf(stderr, "remote_pingpong: spawn ping: %s\n",
			trp_strerror(rc));
		goto end;
	}
	b.sent_ns = bench_now_ns();
	rc = trp_send(pl->pong, MSG_BALL, &b, sizeof(b));
	if (rc != 0) {
		fprintf(stderr, "remote_pingpong: first ball: %s\n",
			trp_strerror(rc));
		goto end;
	}
	ended = remote_wait(&pl->done, &pl->progress, STALL_S);
	if (!ended)
		fprintf(stderr,
			"remote_pingpong: no ball for %u s, at round trip "
			"%llu of %llu\n",
			STALL_S, (unsigned long long)atomic_load(&pl->progress),
			(unsigned long long)pl->total);
	rc = trp_runtime_wait_idle(r.rt, 5000000000ll);
	if (rc != 0)
		fprintf(stderr, "remote_pingpong: wait_idle: %s\n",
			trp_strerror(rc));
	out->messages = 2 * p;
	out->items = p;
	out->seconds = ended ? (double)(pl->t1_ns - pl->t0_ns) / 1e9 : 0;
	out->ok = ended && rc == 0 && pl->seen == pl->total &&
		  pl->failed == 0 && hist->count == p;
	if (!out->ok)
		fprintf(stderr,
			"remote_pingpong: ping saw %llu balls (want %llu), "
			"%llu bad or failed sends (first error: %s), %llu "
			"samples (want %llu)\n",
			(unsigned long long)pl->seen,
			(unsigned long long)pl->total,
			(unsigned long long)pl->failed,
			pl->first_rc != 0 ? trp_strerror(pl->first_rc) : "none",
			(unsigned long long)hist->count, (unsigned long long)p);
	snprintf(out->extra, sizeof(out->extra),
		 "p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		 (unsigned long long)bench_hist_quantile(hist, 0.50),
		 (unsigned long long)bench_hist_quantile(hist, 0.99),
		 (unsigned long long)bench_hist_quantile(hist, 0.999),
		 (unsigned long long)hist->max);
end:
	if (began) {
		int erc = remote_end(&r, out);

		if (rc == 0)
			rc = erc;
		if (!bench_line_u64(r.far_line, "pong_seen", &pong_seen) ||
		    !bench_line_u64(r.far_line, "pong_failed", &pong_failed) ||
		    pong_seen != pl->total || pong_failed != 0) {
			uint64_t prc = 0;

			bench_line_u64(r.far_line, "pong_rc", &prc);
			fprintf(stderr,
				"remote_pingpong: pong saw %llu balls (want "
				"%llu), %llu bad or failed sends (first "
				"error: %s)\n",
				(unsigned long long)pong_seen,
				(unsigned long long)pl->total,
				(unsigned long long)pong_failed,
				prc != 0 ? trp_strerror(-(int)prc) : "none");
			out->ok = false;
		}
	}
	if (pl->pong != NULL)
		trp_actor_release(pl->pong);
free:
	sem_destroy(&pl->done);
	free(hist);
	free(pl);
	return rc;
}

const struct bench_workload bench_remote_pingpong = {
	.name = "remote_pingpong",
	.summary = "two nodes (processes) over NATS bounce one message P "
		   "times; round trips per second and round-trip latency "
		   "percentiles",
	.params = rpp_params,
	.nparams = sizeof(rpp_params) / sizeof(rpp_params[0]),
	.run_remote = rpp_run,
	.run_far = rpp_far,
};
