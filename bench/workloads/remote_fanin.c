/*
 * bench/workloads/remote_fanin.c - many small one-way messages into one
 * actor on another node (remote.h for the two processes).
 *
 * PRODUCERS (--producers, default 1) producer actors on node near each
 * send the integers 1..M (--m, default 10^6) through one proxy to the
 * actor "sink" on node far, CHUNK (1000) per turn, then message themselves
 * to go on, as fanin.c's producers do. Each producer sends with its own
 * type (MSG_INT + index) so the sink checks per-sender order. A send the
 * proxy refuses (TRP_EFULL: its mailbox is at its bound) is retried in the
 * producer's next turn and counted (efull=). PRODUCERS * M messages;
 * rate= counts them per second.
 *
 * Timing: from the first GO to a producer until the sink has received
 * the last message. The sink, which knows the total, reads the clock when
 * its count reaches it; both processes share CLOCK_MONOTONIC (remote.h),
 * so that reading minus this process's start is the interval. (The
 * alternative, stopping when this process gets the answer to a last ask,
 * adds one network round trip, ~0.2 ms, to a run of ~0.5 s; the sink's
 * reading is exact and costs one branch per message.)
 *
 * End and check: after its last message, each producer asks the sink for
 * its counters (trp_ask + trp_future_then): messages from one sender to
 * one remote actor arrive in order, so the sink answers after it has
 * received everything that producer sent, and the answer to the last of
 * the asks the sink handles covers every producer. Check: the sink
 * counted PRODUCERS * M messages summing to PRODUCERS * M(M+1)/2, in
 * order from each producer, and took its final reading; no send failed
 * (EFULL retries are not failures); the node counters show no loss and
 * each side received what the other sent (remote_end; frames_out=, sent=
 * and lost= on the line). A stalled stream gives up after 10 s without
 * progress.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "remote.h"

#define CHUNK 1000u
#define MAX_PRODUCERS 64u
#define STALL_S 10u

enum {
	MSG_GO = 1,
	MSG_STATS,	 /* ask: the sink's counters */
	MSG_STATS_REPLY, /* the answer, through trp_future_then */
	MSG_INT = 16	 /* + producer index; payload: uint64_t n */
};

enum {
	P_M,
	P_PRODUCERS,
	P_WINDOW
};

static const struct bench_param rfi_params[] = {
	[P_M] = { "m", "integers each producer sends (M)", 1000000, 1,
		  10000000000ull },
	[P_PRODUCERS] = { "producers", "producer actors on the near node", 1, 1,
			  MAX_PRODUCERS },
	[P_WINDOW] = { "window",
		       "near's flow-control window (credit_window: 0 the "
		       "default, 4294967295 off)",
		       0, 0, UINT32_MAX },
};

/* What the sink answers to MSG_STATS. */
struct sink_stats {
	uint64_t count, sum, bad;
	uint64_t done_ns; /* when count reached the total; 0: not yet */
};

struct sink {
	alignas(64) struct sink_stats st;
	uint64_t total; /* PRODUCERS * M */
	uint32_t producers;
	uint64_t next[MAX_PRODUCERS]; /* next value expected from each */
	uint64_t asks;		      /* MSG_STATS answered */
};

struct shared {
	alignas(64) _Atomic uint32_t remaining; /* producers without answer */
	_Atomic uint64_t progress;		/* messages sent, chunks */
	sem_t done;
};

struct producer {
	alignas(64) trp_actor_t *sink; /* proxy; reference owned by run() */
	struct shared *sh;
	uint32_t type; /* MSG_INT + index */
	uint64_t next, m;
	uint64_t efull, failed;
	struct sink_stats answer; /* the sink's answer to our ask */
	bool answered;
};

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct sink *s = state;
	uint32_t from = msg->type - MSG_INT;
	uint64_t n;

	(void)self;
	if (msg->type == MSG_STATS) {
		s->asks++;
		if (trp_reply(msg, &s->st, sizeof(s->st)) != 0)
			s->st.bad++;
		return;
	}
	if (msg->type < MSG_INT || from >= s->producers ||
	    msg->size != sizeof(n)) {
		s->st.bad++;
		return;
	}
	memcpy(&n, msg->data, sizeof(n));
	if (n != s->next[from])
		s->st.bad++;
	s->next[from] = n + 1;
	s->st.sum += n;
	if (++s->st.count == s->total)
		s->st.done_ns = bench_now_ns();
}

static void ask_stats(trp_actor_t *self, struct producer *p)
{
	trp_future_t *f = NULL;

	if (trp_ask(p->sink, MSG_STATS, NULL, 0, &f) != 0) {
		p->failed++;
		return;
	}
	if (trp_future_then(f, self, MSG_STATS_REPLY) != 0)
		p->failed++;
	trp_future_release(f);
}

static void producer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct producer *p = state;
	uint64_t end = p->next + CHUNK - 1, sent = 0;

	if (msg->type == MSG_STATS_REPLY) {
		if (msg->status == 0 && msg->size == sizeof(p->answer)) {
			memcpy(&p->answer, msg->data, sizeof(p->answer));
			p->answered = true;
		} else {
			p->failed++;
		}
		/* ORDER: acq_rel - the last producer to finish sees the
		 * others' answers (release by each), then posts. */
		if (atomic_fetch_sub_explicit(&p->sh->remaining, 1,
					      memory_order_acq_rel) == 1)
			sem_post(&p->sh->done);
		return;
	}
	if (end > p->m)
		end = p->m;
	while (p->next <= end) {
		int rc = trp_send(p->sink, p->type, &p->next, sizeof(p->next));

		if (rc == TRP_EFULL) {
			p->efull++;
			break; /* the same value again next turn */
		}
		if (rc != 0)
			p->failed++;
		p->next++;
		sent++;
	}
	/* relaxed: a progress hint for the waiting thread. */
	atomic_fetch_add_explicit(&p->sh->progress, sent + 1,
				  memory_order_relaxed);
	if (p->next <= p->m) {
		if (trp_send(self, MSG_GO, NULL, 0) != 0)
			p->failed++;
	} else {
		ask_stats(self, p);
	}
}

/* --- far node ------------------------------------------------------------ */

static int far_setup(trp_runtime_t *rt, trp_node_t *node, void *ctx)
{
	(void)node;
	return remote_spawn_named(rt, "sink", sink_behavior, ctx, NULL);
}

static void far_report(void *ctx, char *buf, size_t size)
{
	struct sink *s = ctx;

	snprintf(buf, size, "sink_count=%llu sink_sum=%llu sink_bad=%llu",
		 (unsigned long long)s->st.count, (unsigned long long)s->st.sum,
		 (unsigned long long)s->st.bad);
}

static int rfi_far(const trp_config_t *cfg, const uint64_t *values,
		   const struct bench_remote_args *ra)
{
	struct sink *s = bench_alloc_lines(1, sizeof(struct sink));
	int rc;

	if (s == NULL)
		return TRP_ENOMEM;
	s->producers = (uint32_t)values[P_PRODUCERS];
	s->total = values[P_M] * values[P_PRODUCERS];
	for (uint32_t i = 0; i < s->producers; i++)
		s->next[i] = 1;
	rc = remote_far_main(cfg, ra, "remote_fanin", far_setup, far_report, s);
	free(s);
	return rc;
}

/* --- measuring side ------------------------------------------------------ */

static bool rfi_check(const struct producer *prods, uint32_t np, uint64_t m,
		      const struct sink_stats *best, uint64_t t0)
{
	uint64_t want_sum = m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
	uint64_t failed = 0;
	bool ok = true;

	want_sum *= np;
	if (best->count != np * m || best->sum != want_sum || best->bad != 0 ||
	    best->done_ns < t0) {
		fprintf(stderr,
			"remote_fanin: sink count=%llu (want %llu) sum=%llu "
			"(want %llu) bad or out of order=%llu, %s\n",
			(unsigned long long)best->count,
			(unsigned long long)(np * m),
			(unsigned long long)best->sum,
			(unsigned long long)want_sum,
			(unsigned long long)best->bad,
			best->done_ns >= t0 ? "finished" :
					      "never counted the last");
		ok = false;
	}
	for (uint32_t i = 0; i < np; i++) {
		failed += prods[i].failed;
		if (prods[i].next != m + 1 || !prods[i].answered) {
			fprintf(stderr,
				"remote_fanin: producer %u sent up to %llu "
				"(want %llu), %s\n",
				i, (unsigned long long)(prods[i].next - 1),
				(unsigned long long)m,
				prods[i].answered ? "answered" : "no answer");
			ok = false;
		}
	}
	if (failed != 0) {
		fprintf(stderr, "remote_fanin: %llu sends or asks failed\n",
			(unsigned long long)failed);
		ok = false;
	}
	return ok;
}

static int rfi_run(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		   const struct bench_remote_args *ra, struct bench_result *out)
{
	uint64_t m = values[P_M], efull = 0, far_count = 0;
	uint32_t np = (uint32_t)values[P_PRODUCERS];
	trp_actor_def_t pdef = { .behavior = producer_behavior };
	struct producer *prods = bench_alloc_lines(np, sizeof(struct producer));
	struct shared *sh = bench_alloc_lines(1, sizeof(struct shared));
	trp_actor_t *handles[MAX_PRODUCERS] = { NULL };
	trp_actor_t *sink = NULL;
	struct sink_stats best = { 0 };
	struct remote_run r;
	bool ended = false, began = false;
	uint64_t t0 = 0;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (prods == NULL || sh == NULL) {
		free(prods);
		free(sh);
		fprintf(stderr, "remote_fanin: out of memory\n");
		return TRP_ENOMEM;
	}
	atomic_init(&sh->remaining, np);
	sem_init(&sh->done, 0, 0);
	rc = remote_begin(&r, &bench_remote_fanin, cfg, values, ra, out);
	if (rc != 0)
		goto free;
	began = true;
	rc = trp_node_proxy(r.node, REMOTE_FAR, "sink", &sink);
	if (rc != 0) {
		sink = NULL;
		fprintf(stderr, "remote_fanin: trp_node_proxy: %s\n",
			trp_strerror(rc));
		goto end;
	}
	for (uint32_t i = 0; i < np; i++) {
		prods[i].sink = sink;
		prods[i].sh = sh;
		prods[i].type = MSG_INT + i;
		prods[i].next = 1;
		prods[i].m = m;
		rc = trp_actor_spawn(r.rt, &pdef, &prods[i], &handles[i]);
		if (rc != 0) {
			handles[i] = NULL;
			fprintf(stderr, "remote_fanin: spawn a producer: %s\n",
				trp_strerror(rc));
			goto end;
		}
	}

	t0 = bench_now_ns();
	for (uint32_t i = 0; i < np; i++) {
		rc = trp_send(handles[i], MSG_GO, NULL, 0);
		if (rc != 0) {
			fprintf(stderr, "remote_fanin: GO: %s\n",
				trp_strerror(rc));
			goto end;
		}
	}
	ended = remote_wait(&sh->done, &sh->progress, STALL_S);
	if (!ended)
		fprintf(stderr,
			"remote_fanin: no progress for %u s (%u producers "
			"without an answer)\n",
			STALL_S, (unsigned)atomic_load(&sh->remaining));
	rc = trp_runtime_wait_idle(r.rt, 5000000000ll);
	if (rc != 0)
		fprintf(stderr, "remote_fanin: wait_idle: %s\n",
			trp_strerror(rc));
	for (uint32_t i = 0; i < np; i++) {
		efull += prods[i].efull;
		if (prods[i].answered && prods[i].answer.count >= best.count)
			best = prods[i].answer;
	}
	out->messages = np * m;
	out->seconds = best.done_ns > t0 ? (double)(best.done_ns - t0) / 1e9 :
					   0;
	out->ok = ended && rc == 0 && rfi_check(prods, np, m, &best, t0);
	snprintf(out->extra, sizeof(out->extra), "efull=%llu",
		 (unsigned long long)efull);
end:
	if (began) {
		int erc = remote_end(&r, out);

		if (rc == 0)
			rc = erc;
		if (!bench_line_u64(r.far_line, "sink_count", &far_count) ||
		    far_count != np * m) {
			fprintf(stderr,
				"remote_fanin: the sink counted %llu at the "
				"end (want %llu)\n",
				(unsigned long long)far_count,
				(unsigned long long)(np * m));
			out->ok = false;
		}
	}
	for (uint32_t i = 0; i < np; i++) {
		if (handles[i] != NULL)
			trp_actor_release(handles[i]);
	}
	if (sink != NULL)
		trp_actor_release(sink);
free:
	sem_destroy(&sh->done);
	free(prods);
	free(sh);
	return rc;
}

const struct bench_workload bench_remote_fanin = {
	.name = "remote_fanin",
	.summary = "producer actors send 1..M each through one proxy to one "
		   "actor on another node (process) over NATS",
	.params = rfi_params,
	.nparams = sizeof(rfi_params) / sizeof(rfi_params[0]),
	.run_remote = rfi_run,
	.run_far = rfi_far,
};
