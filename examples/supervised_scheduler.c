/*
 * examples/supervised_scheduler.c - the named-actor scheduler under a
 * supervisor.
 *
 * The seeds' counter, say_hello and say_hi (shared/seeds/
 * python-actor-patterns.txt, as in examples/actor_scheduler.c), started by
 * a supervisor instead of by hand: each child has a name the supervisor
 * registers at every start. The counter fails on a poison value (a
 * negative n): the message it failed on becomes a dead letter (printed by
 * the runtime's dead-letter hook), and the supervisor starts a fresh
 * counter under the same name, so the countdown that follows reaches it
 * by name as before. The counter is transient: its normal end at 0 is not
 * restarted. Then the supervisor shuts down in order: say_hi, then
 * say_hello (reverse spec order; the counter has gone already).
 *
 * Output: actors run on two workers, so lines of different actors may
 * interleave differently; every line is always the same.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

/* The one message type: a signed 64-bit integer n. */
enum {
	MSG_INT = 1
};

/* The counter's failure code (trp_actor_fail): ours to choose. */
#define POISONED 1

/* Failures inside behaviours; main turns any into exit status 1. */
static atomic_int failures;

static void fail(const char *what, int rc)
{
	fprintf(stderr, "supervised_scheduler: %s: %s\n", what,
		trp_strerror(rc));
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

/* For calls made by main: report and exit. */
static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "supervised_scheduler: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

static int64_t msg_int(const trp_msg_t *msg)
{
	int64_t n = 0;

	if (msg->type != MSG_INT || msg->size != sizeof(n)) {
		fail("unexpected message", TRP_EINVAL);
		return 0;
	}
	memcpy(&n, msg->data, sizeof(n));
	return n;
}

static const char *reason_name(trp_stop_reason_t why)
{
	switch (why) {
	case TRP_STOP_NORMAL:
		return "normal";
	case TRP_STOP_CLOSED:
		return "closed";
	case TRP_STOP_SHUTDOWN:
		return "shutdown";
	case TRP_STOP_FAILED:
		return "failed";
	case TRP_STOP_KILLED:
		return "killed";
	default:
		return "other";
	}
}

static void say_hello(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hello %lld\n", (long long)msg_int(msg));
}

static void say_hi(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hi %lld\n", (long long)msg_int(msg));
}

/* The sinks' stop hook: the state pointer is the sink's name. */
static void sink_stopped(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	printf("%s: stopped (%s)\n", (const char *)state, reason_name(why));
}

static void send_int(trp_runtime_t *rt, const char *name, int64_t n)
{
	int rc = trp_send_named(rt, name, MSG_INT, &n, sizeof(n));

	if (rc != 0)
		fail(name, rc);
}

/* Each start of the counter is a new actor (supervisor.h): count them. */
static atomic_int counter_instances;

static void counter_start(trp_actor_t *self, void *state)
{
	(void)self;
	(void)state;
	printf("counter: started (instance %d)\n",
	       atomic_fetch_add(&counter_instances, 1) + 1);
}

static void counter(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	trp_runtime_t *rt = trp_actor_runtime(self);
	int64_t n = msg_int(msg);
	int rc;

	(void)state;
	printf("counter: %lld\n", (long long)n);
	if (n < 0) {
		/* Poison: C has no exceptions; report the failure and
		 * return. The supervisor takes it from here. */
		printf("counter: poisoned, failing\n");
		rc = trp_actor_fail(self, POISONED);
		if (rc != 0)
			fail("trp_actor_fail", rc);
		return;
	}
	if (n == 0) {
		/* The generator's `break`: a normal end, not restarted. */
		rc = trp_actor_stop(self);
		if (rc != 0)
			fail("trp_actor_stop", rc);
		return;
	}
	send_int(rt, "say_hello", n);
	send_int(rt, "say_hi", n);
	send_int(rt, "counter", n - 1);
}

/* The runtime's dead-letter hook: every message never processed. */
static void dead_letter(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	int64_t n = 0;

	if (msg->type == MSG_INT && msg->size == sizeof(n))
		memcpy(&n, msg->data, sizeof(n));
	printf("dead letter: %lld (%s)\n", (long long)n,
	       why == TRP_DEAD_FAILED ? "the message its receiver failed on" :
					"never processed");
}

static uint64_t id_of(trp_runtime_t *rt, const char *name)
{
	trp_actor_t *a;
	uint64_t id;

	check(trp_lookup(rt, name, &a), name);
	id = trp_actor_id(a);
	trp_actor_release(a);
	return id;
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	trp_actor_t *sup;
	trp_future_t *end;
	const trp_msg_t *reply;
	trp_supervisor_stats_t stats;
	trp_down_t down;
	int64_t n;

	cfg.workers = 2;
	cfg.dead_letter = dead_letter;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");

	/* sched.new_actor(...) x 3, as a supervisor's children. */
	trp_child_spec_t children[3] = {
		{ .def = { .behavior = say_hello, .stop = sink_stopped },
		  .arg = "say_hello",
		  .name = "say_hello",
		  .restart = TRP_RESTART_PERMANENT,
		  .shutdown_ns = 1000000000 },
		{ .def = { .behavior = say_hi, .stop = sink_stopped },
		  .arg = "say_hi",
		  .name = "say_hi",
		  .restart = TRP_RESTART_PERMANENT,
		  .shutdown_ns = 1000000000 },
		{ .def = { .behavior = counter, .start = counter_start },
		  .name = "counter",
		  .restart = TRP_RESTART_TRANSIENT,
		  .shutdown_ns = 1000000000 },
	};
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.strategy = TRP_ONE_FOR_ONE;
	spec.children = children;
	spec.nchildren = 3;
	check(trp_supervisor_start(rt, &spec, &sup), "trp_supervisor_start");
	/* The children start in the supervisor's first turn. */
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	uint64_t hello = id_of(rt, "say_hello"), hi = id_of(rt, "say_hi");

	/* Poison: the counter fails, the supervisor restarts it. */
	n = -1;
	check(trp_send_named(rt, "counter", MSG_INT, &n, sizeof(n)),
	      "trp_send_named");
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	check(trp_supervisor_get_stats(sup, &stats),
	      "trp_supervisor_get_stats");
	printf("main: the supervisor restarted the counter (restarts: %llu)\n",
	       (unsigned long long)stats.restarts);

	/* sched.send('counter', 10); sched.run(): the new counter has the
	 * name, the sinks kept theirs. */
	n = 10;
	check(trp_send_named(rt, "counter", MSG_INT, &n, sizeof(n)),
	      "trp_send_named");
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	printf("main: say_hello and say_hi %s\n",
	       id_of(rt, "say_hello") == hello && id_of(rt, "say_hi") == hi ?
		       "are the same actors" :
		       "changed");
	check(trp_supervisor_get_stats(sup, &stats),
	      "trp_supervisor_get_stats");
	printf("main: restarts %llu, stops %llu\n",
	       (unsigned long long)stats.restarts,
	       (unsigned long long)stats.stops);

	/* Ordered shutdown: the children in reverse order, then the
	 * supervisor itself. */
	check(trp_actor_watch(sup, &end), "trp_actor_watch");
	check(trp_supervisor_stop(sup), "trp_supervisor_stop");
	check(trp_future_wait(end, -1, &reply), "trp_future_wait");
	memcpy(&down, reply->data, sizeof(down));
	printf("main: the supervisor stopped (%s)\n",
	       reason_name((trp_stop_reason_t)down.reason));
	trp_future_release(end);
	trp_actor_release(sup);

	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");

	return atomic_load_explicit(&failures, memory_order_relaxed) ? 1 : 0;
}
