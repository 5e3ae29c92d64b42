/*
 * examples/producer_consumer.c - a producer that waits for its consumer.
 *
 * Ports "协程生产者消费者" (the coroutine produce(c)/consumer() pair) from
 * shared/seeds/python-actor-patterns.txt. In Python, r = c.send(n) hands n to
 * the consumer coroutine and resumes with its answer. Here both are actors:
 * the producer sends n with a reply-to handle and produces the next item only
 * when the consumer's reply ("200 OK") arrives; after the fifth reply it
 * closes the consumer (c.close()) and stops.
 *
 * Messages carry no sender, so an item carries the producer's handle; the
 * reference it holds travels with the message and the consumer drops it after
 * replying.
 *
 * The output is causal: Producing n, then Consuming n, then Consumer return.
 * main checks that order from a log of events.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

enum {
	MSG_START = 1,
	MSG_ITEM,
	MSG_REPLY
};

#define ITEMS 5

/* An item for the consumer: n and whom to answer. */
struct item {
	trp_actor_t *reply_to; /* one reference, released by the consumer */
	int64_t n;
};

/* The producer's state (owned by the runtime, copied at spawn). */
struct producer {
	trp_actor_t *consumer; /* one reference, released by the stop hook */
	int64_t n;
};

/* Event log: who printed what, in the order it happened. A send happens
 * before the receiver's behaviour, so causally ordered events take rising
 * slots even with relaxed increments (coherence of one atomic). */
struct event {
	char who; /* 'P' producing, 'C' consuming, 'R' producer got reply */
	int64_t n;
};
static struct event events[3 * ITEMS];
static atomic_size_t nevents;

static atomic_int failures;

static void fail(const char *what, int rc)
{
	fprintf(stderr, "producer_consumer: %s: %s\n", what, trp_strerror(rc));
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "producer_consumer: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

static void log_event(char who, int64_t n)
{
	size_t i = atomic_fetch_add_explicit(&nevents, 1, memory_order_relaxed);

	if (i < sizeof(events) / sizeof(events[0]))
		events[i] = (struct event){ who, n };
}

/* n = n + 1; print; r = c.send(n) -- the answer comes as MSG_REPLY. */
static void produce_next(trp_actor_t *self, struct producer *p)
{
	struct item it = { trp_actor_retain(self), ++p->n };
	int rc;

	printf("[PRODUCER] Producing %lld...\n", (long long)p->n);
	log_event('P', p->n);
	rc = trp_send(p->consumer, MSG_ITEM, &it, sizeof(it));
	if (rc != 0) {
		trp_actor_release(it.reply_to); /* not accepted: still ours */
		fail("send item", rc);
	}
}

static void producer(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct producer *p = state;
	int rc;

	switch (msg->type) {
	case MSG_START: /* c.send(None); n = 0 */
		produce_next(self, p);
		break;
	case MSG_REPLY:
		printf("[PRODUCER] Consumer return: %.*s\n", (int)msg->size,
		       (const char *)msg->data);
		log_event('R', p->n);
		if (p->n < ITEMS) {
			produce_next(self, p);
			break;
		}
		rc = trp_actor_close(p->consumer); /* c.close() */
		if (rc != 0)
			fail("trp_actor_close", rc);
		rc = trp_actor_stop(self); /* produce() returns */
		if (rc != 0)
			fail("trp_actor_stop", rc);
		break;
	default:
		fail("producer: unexpected message", TRP_EINVAL);
	}
}

static void producer_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct producer *p = state;

	(void)self;
	(void)why;
	trp_actor_release(p->consumer);
}

static void consumer(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	static const char reply[] = "200 OK";
	struct item it;
	int rc;

	(void)self;
	(void)state;
	if (msg->type != MSG_ITEM || msg->size != sizeof(it)) {
		fail("consumer: unexpected message", TRP_EINVAL);
		return;
	}
	memcpy(&it, msg->data, sizeof(it));
	printf("[CONSUMER] Consuming %lld...\n", (long long)it.n);
	log_event('C', it.n);
	rc = trp_send(it.reply_to, MSG_REPLY, reply, strlen(reply));
	if (rc != 0)
		fail("send reply", rc);
	trp_actor_release(it.reply_to);
}

/* The log reads P1 C1 R1 P2 C2 R2 ... P5 C5 R5. */
static bool events_in_order(void)
{
	static const char cycle[] = "PCR";
	size_t n = atomic_load_explicit(&nevents, memory_order_relaxed);

	if (n != 3 * ITEMS)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (events[i].who != cycle[i % 3] ||
		    events[i].n != (int64_t)(i / 3 + 1))
			return false;
	}
	return true;
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t cdef = { .behavior = consumer };
	trp_actor_def_t pdef = { .behavior = producer,
				 .stop = producer_stop,
				 .state_size = sizeof(struct producer) };
	struct producer init = { 0 };
	trp_runtime_t *rt;
	trp_actor_t *c, *p;
	int status = 0;
	int rc;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");

	check(trp_actor_spawn(rt, &cdef, NULL, &c), "spawn consumer");
	init.consumer = trp_actor_retain(c); /* the producer's reference */
	rc = trp_actor_spawn(rt, &pdef, &init, &p);
	if (rc != 0)
		trp_actor_release(init.consumer);
	check(rc, "spawn producer");

	check(trp_send(p, MSG_START, NULL, 0), "trp_send");
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");

	if (!events_in_order()) {
		fprintf(stderr, "producer_consumer: events out of order\n");
		status = 1;
	}
	if (trp_actor_alive(c) || trp_actor_alive(p)) {
		fprintf(stderr, "producer_consumer: an actor is still alive\n");
		status = 1;
	}
	trp_actor_release(p);
	trp_actor_release(c);
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");

	if (atomic_load_explicit(&failures, memory_order_relaxed))
		status = 1;
	return status;
}
