/*
 * bench/workloads/fanin.c - many senders, one mailbox
 * (shared/WORKLOADS.md, fanin).
 *
 * PRODUCERS (4) producer actors each send the integers 1..M to one
 * consumer, CHUNK (1000) per turn, then message themselves to go on (so
 * they run on the workers like every actor and the consumer gets turns in
 * between). 4M messages to the consumer; rate= counts those per second.
 * This is the multi-producer push of the mailbox under contention, and the
 * consumer's batched pop.
 *
 * Each producer sends with its own message type (MSG_INT + producer), so
 * the consumer can check per-sender order: the values from one producer
 * must arrive as 1, 2, 3, ... (actor.h: messages from one sender to one
 * receiver are processed in the order they were sent).
 *
 * Timing: from the first GO to a producer to the return of
 * trp_runtime_wait_idle().
 *
 * Check: the consumer got 4M messages summing to 4*M(M+1)/2, from each
 * producer M in order; no send failed; the runtime's counters agree (sent
 * == processed == 4M plus the producers' GO messages, nothing
 * dead-lettered or rejected).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "workloads.h"

#define PRODUCERS 4u
#define CHUNK 1000u

enum {
	MSG_GO = 1,
	MSG_INT = 16 /* + producer index; payload: uint64_t n */
};

enum {
	P_M
};

static const struct bench_param fanin_params[] = {
	[P_M] = { "m", "integers each producer sends (M)", 2500000, 1,
		  10000000000ull },
};

struct consumer {
	alignas(64) uint64_t count;
	uint64_t sum;		  /* mod 2^64, like the expected value */
	uint64_t next[PRODUCERS]; /* next value expected from each */
	uint64_t bad;		  /* wrong type/size, out of order */
};

struct producer {
	alignas(64) trp_actor_t *consumer; /* reference owned by run() */
	uint32_t type;			   /* MSG_INT + index */
	uint64_t next, m;
	uint64_t turns; /* GO messages processed */
	uint64_t failed;
};

static void consumer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct consumer *c = state;
	uint32_t from = msg->type - MSG_INT;
	uint64_t n;

	(void)self;
	if (msg->type < MSG_INT || from >= PRODUCERS ||
	    msg->size != sizeof(n)) {
		c->bad++;
		return;
	}
	memcpy(&n, msg->data, sizeof(n));
	if (n != c->next[from])
		c->bad++;
	c->next[from] = n + 1;
	c->count++;
	c->sum += n;
}

static void producer_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct producer *p = state;
	uint64_t end = p->next + CHUNK - 1;

	(void)msg;
	p->turns++;
	if (end > p->m)
		end = p->m;
	for (; p->next <= end; p->next++) {
		if (trp_send(p->consumer, p->type, &p->next, sizeof(p->next)) !=
		    0)
			p->failed++;
	}
	if (p->next <= p->m && trp_send(self, MSG_GO, NULL, 0) != 0)
		p->failed++;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "fanin: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

static bool fanin_check(const struct consumer *c, const struct producer *prods,
			uint64_t m)
{
	uint64_t want_sum = m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
	uint64_t failed = 0;
	bool ok = true;

	want_sum *= PRODUCERS;
	if (c->count != PRODUCERS * m || c->sum != want_sum || c->bad != 0) {
		fprintf(stderr,
			"fanin: consumer count=%llu (want %llu) sum=%llu "
			"(want %llu) bad or out of order=%llu\n",
			(unsigned long long)c->count,
			(unsigned long long)(PRODUCERS * m),
			(unsigned long long)c->sum,
			(unsigned long long)want_sum,
			(unsigned long long)c->bad);
		ok = false;
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		failed += prods[i].failed;
		if (c->next[i] == m + 1 && prods[i].next == m + 1)
			continue;
		fprintf(stderr,
			"fanin: producer %u sent up to %llu, consumer got up "
			"to %llu (want %llu)\n",
			i, (unsigned long long)(prods[i].next - 1),
			(unsigned long long)(c->next[i] - 1),
			(unsigned long long)m);
		ok = false;
	}
	if (failed != 0) {
		fprintf(stderr, "fanin: %llu sends failed\n",
			(unsigned long long)failed);
		ok = false;
	}
	return ok;
}

static int fanin_run(const trp_config_t *cfg, const uint64_t *values,
		     size_t mode, struct bench_result *out)
{
	uint64_t m = values[P_M], turns = 0;
	trp_actor_def_t cdef = { .behavior = consumer_behavior };
	trp_actor_def_t pdef = { .behavior = producer_behavior };
	struct consumer *cons = bench_alloc_lines(1, sizeof(struct consumer));
	struct producer *prods =
		bench_alloc_lines(PRODUCERS, sizeof(struct producer));
	trp_actor_t *handles[PRODUCERS] = { NULL };
	trp_actor_t *consumer = NULL;
	trp_runtime_t *rt = NULL;
	uint64_t t0, t1;
	int rc;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	if (cons == NULL || prods == NULL) {
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
	for (unsigned i = 0; i < PRODUCERS; i++)
		cons->next[i] = 1;
	rc = trp_actor_spawn(rt, &cdef, cons, &consumer);
	if (rc != 0) {
		consumer = NULL;
		report("spawn the consumer", rc);
		goto done;
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		prods[i].consumer = consumer;
		prods[i].type = MSG_INT + i;
		prods[i].next = 1;
		prods[i].m = m;
		rc = trp_actor_spawn(rt, &pdef, &prods[i], &handles[i]);
		if (rc != 0) {
			handles[i] = NULL;
			report("spawn a producer", rc);
			goto done;
		}
	}

	t0 = bench_now_ns();
	for (unsigned i = 0; i < PRODUCERS; i++) {
		rc = trp_send(handles[i], MSG_GO, NULL, 0);
		if (rc != 0) {
			report("send GO to a producer", rc);
			goto done;
		}
	}
	rc = trp_runtime_wait_idle(rt, -1);
	t1 = bench_now_ns();
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	out->messages = PRODUCERS * m;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = fanin_check(cons, prods, m);
	for (unsigned i = 0; i < PRODUCERS; i++)
		turns += prods[i].turns;
	if (!bench_check_stats(rt, "fanin", out->messages + turns, out))
		out->ok = false;
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		if (handles[i] != NULL)
			trp_actor_release(handles[i]);
	}
	if (consumer != NULL)
		trp_actor_release(consumer);
	free(prods);
	free(cons);
	return rc;
}

const struct bench_workload bench_fanin = {
	.name = "fanin",
	.summary = "4 producer actors send 1..M each to one consumer; 4M "
		   "messages",
	.params = fanin_params,
	.nparams = sizeof(fanin_params) / sizeof(fanin_params[0]),
	.run = fanin_run,
};
